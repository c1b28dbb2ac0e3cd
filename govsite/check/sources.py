"""Rules on the cluster model (what the sources say, as of a date): freshness of home pages and
columns, empty columns, online service links, domains and banned terms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from govsite.check.rules import ERROR, WARNING
from govsite.model import Cluster, Column, Site

# Column types the spot check expects to be kept up to date, by how long they may rest (the
# key of the threshold in `check:`), and which of them count towards veto V4(a).
FRESHNESS = {"news": "news_days", "response": "news_days", "data": "news_days",
             "notice": "notice_days", "policy": "notice_days", "interpretation": "notice_days",
             "personnel": "yearly_days", "plan": "yearly_days"}
VETO_A = ("news", "notice", "policy")


@dataclass(frozen=True)
class ColumnAge:
    column: Column
    newest: datetime | None
    limit: int            # days it may rest
    counts_for_a: bool    # counts towards V4(a) (news, top-level notice and policy columns)

    def stale_from(self) -> datetime | None:
        return self.newest + timedelta(days=self.limit) if self.newest else None


def check(cluster: Cluster, as_of: datetime) -> list:
    from govsite.check import Finding

    findings: list[Finding] = []
    for site in cluster.sites.values():
        findings += _home(cluster, site, as_of)
        findings += _columns(cluster, site, as_of)
        findings += _services(cluster, site)
        findings += _domains(cluster, site)
        findings += _banned_terms(cluster, site)
    return findings


def newest_on_home(cluster: Cluster, site: Site) -> datetime | None:
    """The newest dated item the home page shows: its columns' items, and for a portal the
    sub-sites' news it aggregates."""
    dates = [cluster.pages[key].date for column in site.columns.values() if not column.link
             for key in cluster.column_items.get(f"{site.config.id}/{column.id}", ())[:1]]
    for child in cluster.sites.values():
        if child.config.parent == site.config.id and child.config.type != "edition":
            dates += [cluster.pages[key].date for column in child.columns.values()
                      if column.type == "news"
                      for key in cluster.column_items.get(f"{child.config.id}/{column.id}", ())[:1]]
    return max((d for d in dates if d), default=None)


def column_ages(cluster: Cluster, site: Site) -> list[ColumnAge]:
    ages = []
    for column in site.columns.values():
        limit = FRESHNESS.get(column.type)
        if column.link or limit is None:
            continue
        keys = cluster.column_items.get(f"{site.config.id}/{column.id}", ())
        dates = [date for k in keys if (date := cluster.pages[k].date)]
        ages.append(ColumnAge(column, max(dates, default=None), site.config.check[limit],
                              column.type in VETO_A))
    return ages


def _home(cluster: Cluster, site: Site, as_of: datetime) -> Iterator:
    from govsite.check import Finding

    settings = site.config.check
    newest = newest_on_home(cluster, site)
    intro = f"content/{site.config.id}/_index.md"
    where = (intro, 0) if (cluster.config.root / intro).is_file() else ("sites.yaml", site.config.line)
    if newest is None:
        yield Finding(site.config.id, *where, "fresh-home", ERROR,
                      f"the home page of `{site.config.id}` shows no dated item: the inspection "
                      "counts it as never updated", "publish dated news or notices on the site")
        return
    days = (as_of - newest).days
    for limit, level in ((settings["home_error_days"], ERROR), (settings["home_warn_days"], WARNING)):
        if days >= limit:
            fails = newest + timedelta(days=settings["home_error_days"])
            yield Finding(site.config.id, *where, "fresh-home", level,
                          f"the newest item on the home page of `{site.config.id}` is {days} days "
                          f"old ({newest:%Y-%m-%d}); the inspection fails a home page without a new "
                          f"item for {settings['home_error_days']} days"
                          + ("" if level == ERROR else f", from {fails:%Y-%m-%d}"),
                          "publish something new that the home page shows")
            return


def _columns(cluster: Cluster, site: Site, as_of: datetime) -> Iterator:
    from govsite.check import Finding

    settings = site.config.check
    stale_a, stale_all = [], []
    for age in column_ages(cluster, site):
        if age.newest is None:
            continue  # empty: its own rule below
        days = (as_of - age.newest).days
        if days > age.limit:
            stale_all.append(age)
            stale_a += [age] if age.counts_for_a else []
    veto = len(stale_a) >= settings["stale_veto"] or len(stale_all) >= settings["should_update_veto"]
    for age in stale_all:
        assert age.newest is not None
        yield Finding(site.config.id, age.column.source, 1, "fresh-column", ERROR if veto else WARNING,
                      f"column `{age.column.id}` ({age.column.title}) has had nothing new for "
                      f"{(as_of - age.newest).days} days (since {age.newest:%Y-%m-%d}; a {age.column.type} "
                      f"column may rest {age.limit} days)",
                      f"{len(stale_a)} stale news/notice/policy columns of {settings['stale_veto']} "
                      f"and {len(stale_all)} stale columns of {settings['should_update_veto']} fail "
                      f"the site" if veto else "publish something new in it, or change its type")
    if not veto and len(stale_a) >= settings["stale_warn"]:
        yield Finding(site.config.id, "sites.yaml", site.config.line, "fresh-column", WARNING,
                      f"site `{site.config.id}` has {len(stale_a)} stale news, notice and policy "
                      f"columns; {settings['stale_veto']} fail the inspection",
                      "update those columns before the next spot check")
    for column in site.columns.values():
        keys = cluster.column_items.get(f"{site.config.id}/{column.id}", ())
        if not column.link and not keys:
            yield Finding(site.config.id, column.source, 1, "empty-column", ERROR,
                          f"column `{column.id}` ({column.title}) has nothing published",
                          "publish its first item, or remove the column from sites.yaml")


def _services(cluster: Cluster, site: Site) -> Iterator:
    from govsite.check import Finding

    for page in cluster.pages.values():
        if page.site == site.config.id and page.service and cluster.published(page.key) \
                and not page.service.online_url:
            yield Finding(site.config.id, page.source, 1, "service-online", ERROR,
                          f"service guide “{page.title}” has no online-handling link",
                          "add `online_url: https://…` (the 在线办理 address on the service platform)")


def _domains(cluster: Cluster, site: Site) -> Iterator:
    from govsite.check import Finding

    config = site.config
    if not config.check.domain_rules or config.type == "edition":
        return
    host = config.host.split(":")[0]
    if not host.endswith(".gov.cn"):
        yield Finding(config.id, "sites.yaml", config.line, "domain-gov-cn", WARNING,
                      f"site `{config.id}` is at {host}, outside .gov.cn",
                      "government sites use .gov.cn domains; set check.domain_rules: false "
                      "where other rules apply")
    parent = cluster.sites.get(config.parent or "")
    if parent is not None:
        portal = parent.config.host.split(":")[0].removeprefix("www.")
        if host != portal and not host.endswith("." + portal):
            yield Finding(config.id, "sites.yaml", config.line, "domain-portal", WARNING,
                          f"site `{config.id}` is at {host}, not under its portal's domain {portal}",
                          f"use a subdomain such as {config.id}.{portal}")


def banned_terms(cluster: Cluster, site: Site) -> tuple[str, ...]:
    settings = site.config.check
    terms = list(settings.banned_terms)
    if settings.banned_terms_file:
        path = cluster.config.root / settings.banned_terms_file
        terms += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    return tuple(dict.fromkeys(terms))


def _banned_terms(cluster: Cluster, site: Site) -> Iterator:
    from govsite.check import Finding

    terms = banned_terms(cluster, site)
    if not terms:
        return
    pattern = re.compile("|".join(map(re.escape, sorted(terms, key=len, reverse=True))))
    for page in sorted(cluster.pages.values(), key=lambda p: p.source):
        if page.site != site.config.id or not cluster.published(page.key):
            continue
        text = (cluster.config.root / page.source).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            for match in dict.fromkeys(pattern.findall(line)):
                yield Finding(site.config.id, page.source, number, "banned-term", ERROR,
                              f"“{match}” is on the cluster's banned terms list",
                              "reword it, or ask the site's editor in charge")
