"""The checks every `govsite build` runs before it replaces build/, because they protect the
output itself: every link and asset a written page points to on the cluster's hosts is a file
the build writes (or keeps), and no unpublished page is written at all.

Fast by design: links are read with one regular expression from the HTML already in memory;
`govsite check` parses pages properly and does the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape
from urllib.parse import urljoin, urlsplit

from govsite.diagnostics import Report
from govsite.model import DRAFT, EXPIRED, SCHEDULED, Cluster
from govsite.urls import output_path, output_path_from, quote_path

_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+)(?=[/?#]|$)")
_PLAIN_ABSOLUTE = re.compile(r"https?://[A-Za-z0-9.-]+(?:/[A-Za-z0-9_.~/-]*)?")
LINK = re.compile(r'<(?:a|link|img|script|source|iframe)\b[^>]*?\s(?:href|src)="([^"]*)"')


class OutputGuard:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.hosts = {urlsplit(s.url).netloc: urlsplit(s.url).scheme for s in cluster.config.sites}
        self.links: dict[str, tuple[str, str]] = {}   # target file → (a page linking, its source)
        self._resolved: dict[str, dict[str, str]] = {}   # folder → link as written → target

    def saw(self, rel: str, data: str | bytes, origin: str) -> None:
        self.add(self.links_in(rel, data, origin))

    def links_in(self, rel: str, data: str | bytes, origin: str) -> dict[str, tuple[str, str]]:
        """Target file → (this page, its source) for each link of a page on the cluster's hosts."""
        if not rel.endswith(".html") or not isinstance(data, str):
            return {}
        folder = rel.rsplit("/", 1)[0]
        resolved = self._resolved.get(folder)
        if resolved is None:
            resolved = self._resolved[folder] = {}
        targets = []
        for raw in LINK.findall(data):
            target = resolved.get(raw)
            if target is None:
                target = resolved[raw] = self._resolve(folder, raw)
            targets.append(target)
        found = dict.fromkeys(targets, (rel, origin))   # (one page: the same place for each)
        found.pop("", None)   # (links elsewhere)
        return found

    def _resolve(self, folder: str, raw: str) -> str:
        # Memoised by folder: pages repeat the same navigation and footer links, and resolving
        # every one of them again cost as much as rendering the pages.
        host = folder.split("/", 1)[0]
        joined = output_path_from(folder, raw) if host in self.hosts else None
        if joined is not None:
            return joined
        # Absolute links are each page's own (its canonical URL, the 找错 link naming it): too
        # many to memoise, and urljoin and urlsplit cost more than the rest of a page's links.
        # Another host's is let go, a plain one to a host of the cluster is its file; anything
        # urlsplit would read apart (an entity, a port, a query) goes the general way.
        origin = _ORIGIN.match(raw)
        if origin is not None and origin.group(1) not in self.hosts:
            return ""
        if origin is not None and _PLAIN_ABSOLUTE.fullmatch(raw):
            return output_path(raw)
        target = urlsplit(urljoin(f"{self.hosts.get(host, 'https')}://{folder}/", unescape(raw)))
        if target.netloc in self.hosts and target.scheme in ("http", "https"):
            return output_path(target._replace(query="", fragment="").geturl())
        return ""

    def add(self, links: dict[str, tuple[str, str]]) -> None:
        """note() for each of these links: the targets not known yet at once (a standing site's
        record brings tens of thousands at 100,000 pages, most of them its own pages')."""
        mine = self.links
        common = links.keys() & mine.keys()
        mine.update(links if not common else
                    {target: where for target, where in links.items() if target not in common})
        for target in common:
            note(mine, target, links[target])

    def report(self, written: set[str], report: Report) -> None:
        # A broken link in a page's Markdown is already reported at its line.
        known = {item.path for item in report.items if item.rule.startswith("link-")}
        for target in sorted(self.links.keys() - written):   # (few, if any, to sort)
            page, origin = self.links[target]
            if origin not in known and f"{origin}/_index.md" not in known:
                report.error(origin, 0, f"{page} links to {target}, which this build does not write",
                             "fix the link in the template or the page", "link-internal")
        for key, state in sorted(self.cluster.resolver.hidden.items()):
            site_id, _, rest = key.removesuffix(".md").partition("/")
            site = self.cluster.sites.get(site_id)
            if site is None or state not in (DRAFT, SCHEDULED, EXPIRED):
                continue
            target = output_path(f"{site.config.url}{quote_path(rest)}.html")
            if target in written:
                report.error(f"content/{key}", 0, f"the {state} page was written to {target}",
                             "unpublished pages never reach the output: this is a bug, report it",
                             "content-error")


def note(links: dict[str, tuple[str, str]], target: str, where: tuple[str, str]) -> None:
    """Remember a page linking to `target`: the first by path, whatever order pages come in
    (an incremental build links most of them from the previous build before making any)."""
    known = links.get(target)
    if known is None or where < known:
        links[target] = where


def note_all(links: dict[str, tuple[str, str]], targets: Iterable[str],
             where: tuple[str, str]) -> None:
    """note() for each link of one page, in one call: a rebuild at 100,000 pages notes
    2.4 million links of pages it keeps."""
    get = links.get
    for target in targets:
        known = get(target)
        if known is None or where < known:
            links[target] = where
