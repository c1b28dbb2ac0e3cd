"""`govsite check`: the national spot-check rules, links and content accessibility, on the sources
and on the built output, as findings that name a file, a line and a rule.

    rules.py     the catalogue: stable ids, severities, what each means, its legal basis
    sources.py   rules on the cluster model: freshness, empty columns, services, domains, terms
    history.py   publication dates changed after publication, from git history
    pages.py     rules on the built HTML: tags, identity, links, accessibility, weight
    scorecard.py which veto items each site is near, and from when it would fail them
    report.py    the findings as text, JSON, JUnit XML and an HTML scorecard

The output checked is `--out` when it holds a govsite build; otherwise check builds the cluster
into a folder of its own, going on past errors, so one run reports every fault even when the
build itself would refuse the sources.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from govsite.check.rules import ERROR, RULES, WARNING
from govsite.diagnostics import Diagnostic, Report, format_problem
from govsite.output import MANIFEST

if TYPE_CHECKING:  # the model imports config, which imports the rule ids from this package
    from govsite.model import Cluster


@dataclass(frozen=True, order=True)
class Finding:
    site: str          # "" for the cluster as a whole (sites.yaml)
    path: str          # project-relative source, or build/<host>/… for an output file
    line: int
    rule: str
    level: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return format_problem(self.path, self.line, f"{self.rule}: {self.level}", self.message, self.hint)


@dataclass
class CheckResult:
    as_of: datetime
    sites: tuple[str, ...]
    output: str                        # what was checked: the build folder, or "a fresh build"
    findings: list[Finding] = field(default_factory=list)
    scorecards: dict[str, list] = field(default_factory=dict)

    def failed(self, strict: bool = False) -> bool:
        return any(f.level == ERROR or strict for f in self.findings)


def check(project: Path, out: Path, as_of: datetime, sites: tuple[str, ...] = (),
          external: bool = False, jobs: int | None = None) -> CheckResult:
    # Imported here: the build imports check.guard, so check must not import the build first.
    from govsite.build import _Stages, build, load_cluster
    from govsite.check import history, pages, scorecard, sources

    project = project.absolute()
    report = Report(project)
    cluster = load_cluster(project, report, as_of, False, _Stages(report, False, keep_going=True))
    selected = sites or tuple(cluster.sites)
    with tempfile.TemporaryDirectory(prefix="govsite-check-") as scratch:
        if (out / MANIFEST).is_file():
            built = out
            shown = out.absolute().relative_to(project) if out.absolute().is_relative_to(project) else out
        else:
            built, shown = Path(scratch) / "build", Path("build")
            fresh = build(project, built, now=as_of, jobs=jobs, keep_going=True)
            report.items.extend(fresh.report.items)
        findings = [_from_diagnostic(d, cluster) for d in report.sorted()]
        findings += sources.check(cluster, as_of)
        findings += history.check(cluster, as_of)
        findings += pages.check(cluster, built, shown, as_of, external, findings)
    result = CheckResult(as_of, selected, str(shown))
    result.findings = sorted(f for f in set(findings) if _wanted(f, cluster, selected))
    result.scorecards = {site: scorecard.veto_items(cluster, site, as_of, result.findings)
                         for site in selected}
    return result


def _from_diagnostic(item: Diagnostic, cluster: Cluster) -> Finding:
    rule = item.rule if item.rule in RULES else "content-error"
    return Finding(site_of(item.path, cluster), item.path, item.line, rule,
                   ERROR if item.level == "error" else WARNING, item.message, item.hint)


def site_of(path: str, cluster: Cluster) -> str:
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "content" and parts[1] in cluster.sites else ""


def _wanted(finding: Finding, cluster: Cluster, selected: tuple[str, ...]) -> bool:
    if finding.site and finding.site not in selected:
        return False
    site = cluster.sites.get(finding.site)
    disabled = site.config.check.disable if site else cluster.config.sites[0].check.disable
    return finding.rule not in disabled
