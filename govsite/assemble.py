"""Parsed sources → the Cluster: publishing states, URLs, references and column lists.

This is where the cluster becomes one resource library: every reference an editor wrote
(`interprets:`, `also_in:`, `repealed_by:`, links in bodies) is resolved against every site, and a
page can appear in other sites' columns while its canonical URL stays on its own site.
"""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from govsite.cache import key as cache_key
from govsite.config import ClusterConfig
from govsite.diagnostics import Report, did_you_mean
from govsite.frontmatter import Parsed
from govsite.model import (
    DRAFT,
    EXPIRED,
    PUBLISHED,
    SCHEDULED,
    WITHDRAWN,
    Attachment,
    Cluster,
    Column,
    Link,
    Page,
    Site,
    SiteIntro,
)
from govsite.urls import quote_path

SITE_PREFIX = "site:"
INVALID = "invalid"  # a source that failed to parse: references to it are not errors too


class Target(NamedTuple):
    """What a reference points at: a page, a column, a site home or an attachment. (A named
    tuple: a kept model reads 230,000 of them back at 100,000 pages, in half a dataclass's time.)"""

    kind: str   # "page" | "column" | "site" | "file"
    key: str    # page key, "site/column", site id, or "site/rel" of an attachment
    url: str


def state_of(page: Page, now: datetime) -> str:
    if page.draft:
        return DRAFT
    if page.withdrawn and page.withdrawn.date <= now:
        return WITHDRAWN
    if page.expires and page.expires <= now:
        return EXPIRED
    if page.date and page.date > now:
        return SCHEDULED
    return PUBLISHED


def joined(page: Page) -> tuple:
    """All that assemble() reads of a page: what decides its state, its URL, where it is listed
    and in what order, and what its references resolve to. An edit that leaves this as it was
    (its text, its summary, a policy's validity) changes that page and nothing assemble()
    worked out from it, and a kept model takes the new page as it is (govsite.snapshot). Read
    a new field of a page here, and add it to this."""
    policy, service = page.policy, page.service
    return (page.key, page.site, page.column, page.name, page.kind, page.source, page.draft,
            page.withdrawn.date if page.withdrawn else None, page.expires, page.date,
            page.weight, page.title if page.date is None else None, page.image, page.also_in, page.interprets,
            (policy.index_no, policy.index_no_line, policy.repealed_by) if policy else None,
            tuple(m.template for m in service.materials) if service else None)


def transitions(pages: Iterable[Page]) -> list[datetime]:
    """Every moment at which a page's state changes by itself (state_of): a page coming due, a
    withdrawal or an expiry taking effect."""
    moments = []
    for page in pages:
        if not page.draft:
            moments += [m for m in (page.withdrawn.date if page.withdrawn else None, page.expires,
                                    page.date) if m is not None]
    return moments


def assemble(config: ClusterConfig, parsed: Parsed, attachments: tuple[Attachment, ...],
             now: datetime, preview: bool, report: Report,
             invalid: frozenset[str] = frozenset()) -> Cluster:
    sites = {s.id: Site(s, SiteIntro()) for s in config.sites}
    for site_id, intro in parsed.intros:
        sites[site_id].intro = intro
    for column in parsed.columns:
        sites[column.site].columns[column.id] = column
    _check_navigation(config, sites, report)

    states = {p.key: state_of(p, now) for p in parsed.pages}
    shown = {PUBLISHED, WITHDRAWN} | ({DRAFT, SCHEDULED} if preview else set())
    pages = {p.key: p for p in parsed.pages if states[p.key] in shown}
    previewed = frozenset(k for k, v in states.items() if v in (DRAFT, SCHEDULED)) if preview \
        else frozenset()
    # A preview build lists drafts and scheduled pages like published ones, each with a banner.
    states = {k: (PUBLISHED if k in previewed else v) for k, v in states.items()}

    urls: dict[str, str] = {}
    targets: dict[str, Target] = {}
    for site in sites.values():
        base = site.config.url
        urls[f"{site.config.id}/"] = base
        targets[site.config.id] = Target("site", site.config.id, base)
        targets[f"{site.config.id}/_index.md"] = targets[site.config.id]
        for column in site.columns.values():
            url = column.link or f"{base}{quote_path(column.id)}/"
            urls[f"{column.site}/{column.id}/"] = url
            target = Target("column", f"{column.site}/{column.id}", url)
            targets[f"{column.site}/{column.id}"] = target
            targets[f"{column.site}/{column.id}/_index.md"] = target
    for page in pages.values():
        url = f"{sites[page.site].config.url}{quote_path(page.column + '/' + page.name)}.html"
        urls[page.key] = url
        targets[page.key + ".md"] = Target("page", page.key, url)
    for attachment in attachments:
        url = sites[attachment.site].config.url + quote_path(attachment.rel)
        targets[f"{attachment.site}/{attachment.rel}"] = Target("file", attachment.site + "/"
                                                                + attachment.rel, url)
    hidden = {p.key + ".md": states[p.key] for p in parsed.pages if p.key not in pages}
    hidden.update({rel: INVALID for rel in invalid})
    resolver = Resolver(targets, hidden, tuple(sites))

    _check_index_numbers(parsed.pages, report)
    interprets, interpretations = _interpretations(
        {k: p for k, p in pages.items() if states[k] == PUBLISHED}, resolver, report)
    repealed_by = _repeals(
        {k: p for k, p in pages.items() if states[k] == PUBLISHED}, resolver, report)
    for page in pages.values():
        if states[page.key] == WITHDRAWN:
            continue
        if page.image:
            resolver.resolve(page.image, page.source, report, kinds=("file",))
        for material in page.service.materials if page.service else ():
            if material.template:
                resolver.resolve(material.template, page.source, report, kinds=("file",),
                                 rule="service-forms")
    column_items = _column_items(sites, pages, states, resolver, report)
    policies: dict[str, list[str]] = {}   # (for each site's catalogue, 信息公开目录)
    for page in sorted((p for p in pages.values() if p.policy and states[p.key] == PUBLISHED),
                       key=lambda p: (-p.date.timestamp() if p.date else 0.0, p.key)):
        policies.setdefault(page.site, []).append(page.key)

    return Cluster(
        config=config, sites=sites, pages=pages, states=states, urls=urls,
        column_items=column_items, interpretations=interpretations, interprets=interprets,
        repealed_by=repealed_by, policies={site: tuple(keys) for site, keys in policies.items()},
        attachments=attachments, resolver=resolver, previewed=previewed)


class Resolver:
    """Resolves editor references: relative paths from a file, or `site:<site>/<path>`."""

    def __init__(self, targets: dict[str, Target], hidden: dict[str, str], site_ids: tuple[str, ...]):
        self.targets = targets
        self.hidden = hidden
        self.site_ids = site_ids
        self.used_files: set[str] = set()  # attachments something published links to

    def extends(self, earlier: Mapping[str, Target]) -> bool:
        """Whether every target of an earlier resolver is here, the same: then whatever
        resolved there resolves here to the same place."""
        return all(self.targets.get(key) == target for key, target in earlier.items())

    @functools.cached_property
    def digest(self) -> str:
        """Everything a link can resolve to, or be refused for (lookup): a body whose links
        were checked against the same digest links the same way (markup.convert_all)."""
        return cache_key("link targets", sorted((k, t.kind, t.key, t.url) for k, t in self.targets.items()),
                         sorted(self.hidden.items()), self.site_ids)

    def lookup(self, raw: str, source: str) -> tuple[Target | None, str]:
        """The target of `raw` written in `source` (a project-relative path), or why not."""
        path = raw.split("#", 1)[0]
        if path.startswith(SITE_PREFIX):
            key = posixpath.normpath(path[len(SITE_PREFIX):].lstrip("/"))
        else:
            base = posixpath.dirname(source.removeprefix("content/"))
            key = posixpath.normpath(posixpath.join(base, path))
        key = key.rstrip("/")
        if key.startswith("..") or key in ("", "."):
            return None, "it points outside content/"
        target = self.targets.get(key)
        if target:
            return target, ""
        if self.hidden.get(key) == INVALID:
            return None, INVALID
        if key in self.hidden:
            return None, f"the page is {self.hidden[key]} and will not be published"
        site = key.split("/", 1)[0]
        if site not in self.site_ids:
            return None, f"there is no site `{site}` ({did_you_mean(site, self.site_ids)})"
        return None, f"content/{key} does not exist"

    def resolve(self, link: Link, source: str, report: Report,
                kinds: tuple[str, ...] = ("page", "column", "site", "file"),
                rule: str = "link-internal") -> Target | None:
        target, why = self.lookup(link.raw, source)
        if target is None and why == INVALID:
            return None  # the target's own error is already reported
        if target is None:
            report.error(source, link.line, f"broken link `{link.raw}`: {why}",
                         "link to an existing file, relative to this one or as site:<site>/<column>/<file>.md",
                         rule)
            return None
        if target.kind not in kinds:
            report.error(source, link.line, f"`{link.raw}` is a {target.kind}, not a {' or '.join(kinds)}",
                         "point it at the right file")
            return None
        if target.kind == "file":
            self.used_files.add(target.key)
        return target


def _check_navigation(config: ClusterConfig, sites: dict[str, Site], report: Report) -> None:
    for site_config in config.sites:
        columns = sites[site_config.id].columns
        for column_id, line in zip(site_config.columns, site_config.column_lines, strict=True):
            index = f"content/{site_config.id}/{column_id}/_index.md"
            if column_id in columns or (config.root / index).is_file():
                continue  # a column whose _index.md is invalid has its own error
            report.error(config.root / "sites.yaml", line,
                         f"site `{site_config.id}` lists column `{column_id}`, but {index} "
                         "does not exist", did_you_mean(column_id, columns, f"create {index}"))


def _check_index_numbers(pages: tuple[Page, ...], report: Report) -> None:
    # Every parsed policy counts, drafts included: an index number is issued once, forever.
    seen: dict[str, Page] = {}
    for page in sorted(pages, key=lambda p: p.source):
        if not page.policy or not page.policy.index_no:
            continue
        first = seen.setdefault(page.policy.index_no, page)
        if first is not page:
            assert first.policy is not None
            report.error(page.source, page.policy.index_no_line,
                         f"索引号 `{page.policy.index_no}` is already used by "
                         f"{first.source}:{first.policy.index_no_line}",
                         "each policy document needs its own index number in the cluster",
                         "policy-index-number")


def _interpretations(pages: dict[str, Page], resolver: Resolver, report: Report
                     ) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    interprets: dict[str, str] = {}
    by_policy: dict[str, list[str]] = {}
    for page in pages.values():
        if page.interprets is None:
            continue
        target = resolver.resolve(page.interprets, page.source, report, kinds=("page",),
                                  rule="policy-links")
        if target is None:
            continue
        policy = pages.get(target.key)
        if policy is None:
            report.error(page.source, page.interprets.line,
                         f"`interprets` names {target.key}.md, which is withdrawn",
                         "an interpretation of a withdrawn policy should be withdrawn too",
                         "policy-links")
            continue
        if policy.kind != "policy":
            report.error(page.source, page.interprets.line,
                         f"`interprets` must name a policy document, but {target.key}.md is a "
                         f"{policy.kind}", "point it at the policy this interpretation explains",
                         "policy-links")
            continue
        interprets[page.key] = policy.key
        by_policy.setdefault(policy.key, []).append(page.key)
    ordered = {k: tuple(sorted(v, key=lambda key: _newest_first(pages[key])))
               for k, v in by_policy.items()}
    return interprets, ordered


def _repeals(pages: dict[str, Page], resolver: Resolver, report: Report) -> dict[str, str]:
    repealed: dict[str, str] = {}
    for page in pages.values():
        link = page.policy.repealed_by if page.policy else None
        if link is None or not (link.raw.endswith(".md") or link.raw.startswith(SITE_PREFIX)):
            continue  # the repealing document's name, written as text
        target = resolver.resolve(link, page.source, report, kinds=("page",),
                                  rule="policy-repealed")
        if target:
            repealed[page.key] = target.key
    return repealed


def _newest_first(page: Page) -> tuple:
    if page.date:
        return (0, -page.date.timestamp(), page.key)
    return (1, page.weight, page.title, page.key)


def _column_items(sites: dict[str, Site], pages: dict[str, Page], states: dict[str, str],
                  resolver: Resolver, report: Report) -> dict[str, tuple[str, ...]]:
    listed = [p for p in pages.values() if states[p.key] == PUBLISHED]
    items: dict[str, list[str]] = {f"{c.site}/{c.id}": [] for s in sites.values()
                                   for c in s.columns.values()}
    for page in listed:
        items[f"{page.site}/{page.column}"].append(page.key)
        for link in page.also_in:
            target = resolver.resolve(link, page.source, report, kinds=("column",))
            if target and page.key not in items[target.key]:
                items[target.key].append(page.key)
    for site in sites.values():
        for column in site.columns.values():
            sources = _collected_sites(sites, site.config.id, column)
            if not sources:
                continue
            own = items[f"{column.site}/{column.id}"]
            for page in listed:
                source_column = sites[page.site].columns[page.column]
                if (page.site in sources and page.key not in own
                        and (not column.collect_types or source_column.type in column.collect_types)):
                    own.append(page.key)
    return {k: tuple(sorted(v, key=lambda key: _newest_first(pages[key]))) for k, v in items.items()}


def _collected_sites(sites: dict[str, Site], site_id: str, column: Column) -> set[str]:
    if column.collect_children:
        return {s.config.id for s in sites.values() if s.config.parent == site_id
                and s.config.type != "edition"}
    return set(column.collect_sites)
