"""The assembled model, kept between builds: an edit to a page's text costs that page.

A rebuild used to parse (or read back) every source, assemble the whole cluster and read back
every body: 4 s at 100,000 pages before anything was rendered, to rebuild a model that one edit
to one page's text leaves as it was but for that page. A build keeps its model in the cache:
the cluster's joins (states, URLs, references, column lists, the resolver) as one record, and
each site's sources, pages and bodies as one record per site, so an edit rewrites one site's.

The next build takes the kept model when every source that changed is a page edited in nothing
assemble() joins on (assemble.joined): its text, its summary, a policy's validity. It parses
and converts those pages again and puts them in their places. Anything else (a page added,
removed or renamed, a column or site intro, sites.yaml, a date, a link in the front matter, a
moment that publishes or withdraws a page, a page with a problem to report) assembles the
cluster from the sources as before. Either way the model is the one a clean build makes.
"""

from __future__ import annotations

import bisect
import functools
import gc
import hashlib
import itertools
import pickle
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from govsite import assemble, frontmatter, markup, model
from govsite.cache import Cache
from govsite.cache import key as cache_key
from govsite.config import ClusterConfig
from govsite.diagnostics import Diagnostic, Report
from govsite.discover import Discovery
from govsite.markup import Body
from govsite.model import Cluster, Page, Site

MODEL = "model"       # cache namespace: CLUSTER → the joins; a site id → its pages and bodies
CLUSTER = "\0cluster"  # (no site id starts with a NUL)


@dataclass
class Kept:
    """A build's model as the next build finds it."""

    key: str                        # model_key(): the settings it was assembled under
    cluster: Cluster
    bodies: dict[str, Body]
    sources: dict[str, dict[str, str]]   # site → its Markdown sources' digests, by rel
    findings: list[Diagnostic]      # what parsing, assembling and converting reported
    window: tuple[datetime | None, datetime | None]   # the moments between which no state changes
    assembled_files: frozenset[str]  # the attachments assemble() found used (images, forms)


@dataclass
class Patched:
    """A model made from a kept one, and what it changed."""

    cluster: Cluster
    bodies: dict[str, Body]
    edited: frozenset[str]   # the keys of the pages taken anew
    kept: Kept               # the model to keep for the next build
    sites: frozenset[str]    # the sites those pages are in


def model_key(config: ClusterConfig, preview: bool) -> str:
    """What a model is assembled under but its sources and the moment: the cluster's settings,
    whether drafts are shown, and the code that makes and keeps it (govsite's version is in
    every key, but a checkout between releases has the same one)."""
    return cache_key(MODEL, repr(config), preview, _code_digest())


@functools.cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for module in (sys.modules[__name__], assemble, markup, frontmatter, model):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def window(pages: Iterable[Page], now: datetime) -> tuple[datetime | None, datetime | None]:
    """The last moment at or before `now` and the first after it at which a page's state
    changes (assemble.transitions): between them, every state is what it is at `now`."""
    moments = sorted(set(assemble.transitions(pages)))
    at = bisect.bisect_right(moments, now)
    return (moments[at - 1] if at else None, moments[at] if at < len(moments) else None)


def load(store: Cache, config: ClusterConfig, preview: bool, now: datetime) -> Kept | None:
    """The previous build's model, if it was assembled under these settings and no page's
    state has changed since by the clock alone."""
    if store.path is None:
        return None
    rest = _record(store, CLUSTER)
    if not isinstance(rest, dict) or rest.get("key") != model_key(config, preview):
        return None
    since, until = rest["window"]
    if (since is not None and now < since) or (until is not None and now >= until):
        return None
    parts = {site: _record(store, site) for site in rest["sites"]}
    if not all(isinstance(part, dict) for part in parts.values()):
        return None
    sites = {site: iter(part["pages"]) for site, part in parts.items()}
    pages = {page.key: page for site, count in rest["runs"]   # in the order assemble() gave them
             for page in itertools.islice(sites[site], count)}
    cluster = replace(rest["cluster"], config=config, pages=pages,
                      sites={s: Site(config.site(s), site.intro, site.columns)
                             for s, site in rest["cluster"].sites.items()})
    # The bodies in the order convert_all() gave them; each knows its source by its key alone
    # (markup.body_source works it out if it is ever converted again).
    heads = {site: iter(part["bodies"]) for site, part in parts.items()}
    bodies = {key: Body(None, None, digest, entry, key, lead, files)
              for site, count in rest["body_runs"]
              for key, lead, digest, entry, files in itertools.islice(heads[site], count)}
    markup.reconverting(cluster, config.root)
    return Kept(rest["key"], cluster, bodies, {s: part["sources"] for s, part in parts.items()},
                rest["findings"], rest["window"], rest["assembled_files"])


def patched(kept: Kept, config: ClusterConfig, found: Discovery, report: Report,
            store: Cache, jobs: int) -> Patched | None:
    """The kept model with the pages whose sources changed taken anew, or None when anything
    else changed (see the module's doc). What the kept model reported is reported again."""
    cluster = kept.cluster
    digests = {source.rel: source for source in found.sources}
    known = {rel: digest for site in kept.sources.values() for rel, digest in site.items()}
    if digests.keys() != known.keys() or \
            [(a.site, a.rel, a.path) for a in found.attachments] != \
            [(a.site, a.rel, a.path) for a in cluster.attachments]:
        return None
    changed = [source for rel, source in digests.items() if known[rel] != source.digest]
    named = {"content/" + source.rel for source in changed}
    if any(d.path in named for d in kept.findings):
        return None
    local = Report(report.root)
    pages: dict[str, Page] = {}
    for source in changed:
        key = source.rel.removesuffix(".md")
        old = cluster.pages.get(key)
        column = cluster.sites[source.site].columns.get(key.split("/")[1]) if old else None
        page = frontmatter.parse_page(config, source, column, local) if column else None
        if page is None or old is None or local.items or assemble.joined(page) != assemble.joined(old):
            return None
        pages[key] = page
    # Into a copy of the pages (in assemble()'s order): the kept model stays as it was read.
    cluster = replace(cluster, pages={**cluster.pages, **pages}, attachments=found.attachments)
    edited = frozenset(pages)
    markup.reconverting(cluster, config.root)
    fresh = markup.convert_all(cluster, local, jobs, store, only=edited) if edited else {}
    if local.items:
        return None
    bodies = {key: fresh.get(key, body) for key, body in kept.bodies.items()}
    cluster.resolver.used_files = set(kept.assembled_files).union(
        *(body.files for body in bodies.values() if body.files))
    report.items.extend(kept.findings)
    for namespace in (frontmatter.PARSED, markup.CACHE, markup.CACHE_LINKS, markup.CACHE_TEXT,
                      markup.CACHE_HTML):
        store.retain(namespace)   # what the pages kept were read from, for a build that needs it
    sources = {site: dict(part) for site, part in kept.sources.items()}
    for source in changed:
        sources[source.site][source.rel] = source.digest
    return Patched(cluster, bodies, edited, replace(kept, cluster=cluster, bodies=bodies,
                                                     sources=sources),
                   frozenset(source.site for source in changed))


def save(store: Cache, kept: Kept, previous: Kept | None, sites: frozenset[str] | None = None
         ) -> None:
    """Keep a model for the next build. `previous` is the model this one was made from, when
    it was read: a site record equal to its record is left as it is, not written again.
    `sites`, from a Patched model: the only sites whose records can differ."""
    parts = _parts(kept)
    before = _parts(previous) if previous is not None and previous.key == kept.key \
        and sites is None else {}
    for site, part in parts.items():
        if previous is not None and (site not in sites if sites is not None
                                     else before.get(site) == part):
            store.used(MODEL, site)
        else:
            store.keep(MODEL, site, pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
    cluster = kept.cluster
    if sites is not None and previous is not None and \
            cluster.attachments == previous.cluster.attachments:
        store.used(MODEL, CLUSTER)   # patched pages change nothing in it
        return
    store.keep(MODEL, CLUSTER, pickle.dumps({
        "key": kept.key, "cluster": replace(cluster, pages={}), "sites": sorted(parts),
        "runs": _runs(page.site for page in cluster.pages.values()),
        "body_runs": _runs(key.split("/", 1)[0] for key in kept.bodies),
        "findings": kept.findings, "window": kept.window,
        "assembled_files": kept.assembled_files}, pickle.HIGHEST_PROTOCOL))


def _runs(sites: Iterable[str]) -> list[tuple[str, int]]:
    """(site, count) for each run of one site's items: their order across the site records."""
    return [(site, len(list(run))) for site, run in itertools.groupby(sites)]


def _parts(kept: Kept) -> dict[str, dict[str, Any]]:
    """A model's site records: each site's sources, pages (in the cluster's order) and bodies."""
    parts: dict[str, dict[str, Any]] = {}

    def part(site: str) -> dict[str, Any]:
        if site not in parts:
            parts[site] = {"sources": kept.sources.get(site, {}), "pages": [], "bodies": []}
        return parts[site]

    for site in kept.sources:
        part(site)
    for page in kept.cluster.pages.values():
        part(page.site)["pages"].append(page)
    for key, body in kept.bodies.items():
        part(key.split("/", 1)[0])["bodies"].append((key, body.lead, body.digest, body.entry,
                                                     body.files))
    return parts


def _record(store: Cache, name: str) -> Any:
    value = store.load(MODEL, [name]).get(name)
    # Unpickling makes objects that live to the end of the build, by the hundred thousand: the
    # collector's passes over them find nothing, and took half the time. They are moved out of
    # its sight as build() does with the model it made (and undoes when it is over).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(value) if isinstance(value, bytes) else None
    except Exception:   # noqa: BLE001 — a damaged record is no record
        return None
    finally:
        gc.freeze()
        if collecting:
            gc.enable()

