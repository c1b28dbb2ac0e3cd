"""Faked freshness (伪造发稿日期, a veto item): a page's publication date changed after the page was
published, found in git history.

Every commit that rewrote a `date:` line of a page's front matter is looked at: when the old date
had already passed at the time of the commit, the page was public with that date, and moving it
makes old news look new. That is an error unless the page records why (`date_correction:`).
Uncommitted edits count as made now. Rescheduling a page before it came out is fine.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timezone
from pathlib import Path

from govsite.check.rules import ERROR
from govsite.model import Cluster

HEADER = re.compile(r"^\x00([0-9a-f]{40}) (\d+)$")
FILE = re.compile(r"^\+\+\+ b/(.+)$")
HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
DATE_LINE = re.compile(r"^date:\s*['\"]?([^'\"#]+?)['\"]?\s*(?:#.*)?$")


def check(cluster: Cluster, as_of: datetime) -> list:
    from govsite.check import Finding

    root = cluster.config.root
    by_source = {page.source: page for page in cluster.pages.values()}
    findings = []
    for source, old, new, when in date_changes(root, as_of):
        page = by_source.get(source)
        if page is None or page.date_correction:
            continue
        tz = cluster.sites[page.site].config.timezone
        before, after = _time(old, tz), _time(new, tz)
        if before is None or after is None or before == after or before > when:
            continue
        findings.append(Finding(
            page.site, source, _date_line(root / source), "date-integrity", ERROR,
            f"the publication date was changed from {old} to {new} on {when:%Y-%m-%d}, after the "
            "page had been published with it",
            "restore the original date, or add `date_correction: <reason>` if the date was wrong"))
    return findings


def date_changes(root: Path, as_of: datetime) -> Iterator[tuple[str, str, str, datetime]]:
    """(source, old date, new date, when) for every change of a front-matter `date:` line."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return
    prefix = Path(top.strip()).resolve()
    inside = root.resolve().relative_to(prefix).as_posix()
    inside = "" if inside == "." else inside + "/"
    # -G: only the commits that touched a date line, which keeps this fast on long histories.
    history = _git(root, "log", "--format=%x00%H %ct", "-p", "-U0", "--no-renames", "--no-color",
                   "-G^date:", "--", "content") or ""
    pending = _git(root, "diff", "HEAD", "-U0", "--no-renames", "--no-color", "--", "content") or ""
    now = int(as_of.timestamp())
    yield from _parse(history, inside)
    yield from _parse(f"\x00{'0' * 40} {now}\n" + pending, inside)


def _parse(text: str, inside: str) -> Iterator[tuple[str, str, str, datetime]]:
    when = datetime.fromtimestamp(0, UTC)
    source, old_line, removed = "", 0, ""
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            when = datetime.fromtimestamp(int(header.group(2)), UTC)
            continue
        path = FILE.match(line)
        if path:
            source = path.group(1).removeprefix(inside)
            continue
        hunk = HUNK.match(line)
        if hunk:
            old_line, removed = int(hunk.group(1)), ""
            continue
        # Front matter is the top of the file: a date line further down is body text.
        if line.startswith("-") and not line.startswith("---") and old_line < 60:
            match = DATE_LINE.match(line[1:])
            removed = match.group(1) if match else removed
        elif line.startswith("+") and not line.startswith("+++") and removed:
            match = DATE_LINE.match(line[1:])
            if match and source.endswith(".md"):
                yield source, removed, match.group(1), when
                removed = ""


def _time(text: str, tz: timezone) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _date_line(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    return next((n for n, line in enumerate(lines, start=1) if DATE_LINE.match(line)), 0)


def _git(root: Path, *args: str) -> str | None:
    try:
        run = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                             encoding="utf-8", errors="replace", check=False)
    except OSError:
        return None
    return run.stdout if run.returncode == 0 else None
