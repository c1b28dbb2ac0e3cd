"""Per site, the veto items (单项否决) of the spot check: failed, at risk, or clear, and for the
freshness items the day the site would fail them if nothing new were published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from govsite.check.rules import ERROR, RULES
from govsite.check.sources import column_ages, newest_on_home
from govsite.model import Cluster

FAILS, AT_RISK, CLEAR = "fails", "at risk", "clear"
SOON = timedelta(days=30)   # a freshness veto closer than this is "at risk"


@dataclass(frozen=True)
class VetoItem:
    veto: str            # e.g. "V3 首页不更新"
    status: str
    fails_on: str        # YYYY-MM-DD the site would fail it, for freshness; else ""
    findings: int        # findings of the rules behind it


def veto_items(cluster: Cluster, site_id: str, as_of: datetime, findings: list) -> list[VetoItem]:
    site = cluster.sites[site_id]
    settings = site.config.check
    mine = [f for f in findings if f.site == site_id]
    items = []
    for veto in sorted({rule.veto for rule in RULES.values() if rule.veto}):
        related = [f for f in mine if RULES[f.rule].veto == veto]
        status = FAILS if any(f.level == ERROR for f in related) else AT_RISK if related else CLEAR
        fails_on = None
        if veto.startswith("V3"):
            newest = newest_on_home(cluster, site)
            fails_on = newest + timedelta(days=settings["home_error_days"]) if newest else as_of
        elif veto == "V4 栏目不更新":
            ages = [a for a in column_ages(cluster, site) if a.counts_for_a and a.stale_from()]
            dates = sorted(a.stale_from() for a in ages)  # type: ignore[type-var]
            if len(dates) >= settings["stale_veto"]:
                fails_on = dates[settings["stale_veto"] - 1]
        if fails_on is not None and status == CLEAR and fails_on - as_of < SOON:
            status = AT_RISK
        items.append(VetoItem(veto, status, f"{fails_on:%Y-%m-%d}" if fails_on else "", len(related)))
    return items
