"""The assembled model, kept between builds: an edit to a page's text costs that page.

A rebuild used to parse (or read back) every source, assemble the whole cluster and read back
every body: 4 s at 100,000 pages before anything was rendered, to rebuild a model that one edit
to one page's text leaves as it was but for that page. A build keeps its model in the cache:
an index (every source's digest, and which record holds each site), the cluster's joins (states,
URLs, references, column lists, the resolver) as one record, and each site's pages and bodies as
one record named by what it holds, so an edit writes one site's record and the index again.

The next build takes the kept model when every source that changed is a page edited in nothing
assemble() joins on (assemble.joined): its text, its summary, a policy's validity. It parses
and converts those pages again and puts them in their places. Anything else (a page added,
removed or renamed, a column or site intro, sites.yaml, a date, a link in the front matter, a
moment that publishes or withdraws a page, a page with a problem to report) assembles the
cluster from the sources as before. Either way the model is the one a clean build makes.
"""

from __future__ import annotations

import bisect
import copy
import functools
import gc
import hashlib
import itertools
import pickle
import sys
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from govsite import assemble, frontmatter, markup, model
from govsite.cache import Cache, kept_from, pickled, pickled_file, unpickled
from govsite.cache import key as cache_key
from govsite.config import ClusterConfig
from govsite.diagnostics import Diagnostic, Report
from govsite.discover import Discovery, Since, Vouched
from govsite.markup import Body
from govsite.model import Cluster, Page, Site
from govsite.spool import Spooled

MODEL = "model"        # cache namespace: INDEX, CLUSTER, TARGETS, site records by fingerprint
INDEX = "\0index"      # (no fingerprint starts with a NUL)
CLUSTER = "\0cluster"
TARGETS = "\0targets"  # the link targets and their digest, for markup.convert_all
CHUNK = 64             # pages pickled together in a site record: a read of one unpickles these


class Chunked(MutableMapping):
    """A model's values by key, held as chunks of CHUNK values pickled and compressed, and
    unpickled when read. A process holds the chunks (a 100,000-page cluster's pages: 172 MB
    as objects, 15 MB packed) and the RECENT chunks it read last, whatever it reads: an edit
    renders its site and the few lists elsewhere that show it, a render worker its tasks'
    sites, each a site at a time. Values set here (a patched page, a preview's edit) stand
    over the kept ones, and are held."""

    RECENT = 128   # chunks held unpickled: a site's lists read a few columns' pages at once

    def __init__(self, chunks: list[tuple[tuple[str, ...], bytes]], where: dict[str, int]):
        self._keys = [keys for keys, _ in chunks]
        self._chunks = [blob for _, blob in chunks]
        self._where = where     # key → its chunk (-1: set here), in the cluster's order
        self._set: dict[str, Any] = {}
        self._changed: set[int] = set()   # chunks a value of which was set or deleted here
        self._recent: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._read: set[int] = set()      # every chunk ever unpickled (held())

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process (parallel.apart): without the chunks unpickled here."""
        return {**self.__dict__, "_recent": OrderedDict(), "_read": set()}

    @classmethod
    def packed(cls, values: Mapping[str, Any]) -> Chunked:
        """These values, packed each site's by CHUNK in their order, as a site record keeps
        them (_parts): saved, the chunks are taken as they are (kept_chunk)."""
        return cls(*_packed_by_site(values, cls.kept))

    @staticmethod
    def kept(value: Any) -> Any:
        """What a chunk holds of a value."""
        return value

    def _made(self, key: str, kept: Any) -> Any:
        """The value of a key from what its chunk holds of it."""
        return kept

    def __getitem__(self, key: str) -> Any:
        value = self._set.get(key)
        if value is None:
            value = self._chunk(self._where[key])[key]
        return value

    def _chunk(self, n: int) -> dict[str, Any]:
        found = self._recent.get(n)
        if found is not None:
            self._recent.move_to_end(n)
            return found
        collecting = gc.isenabled()   # (no cycles among them: nothing for a collection to find)
        gc.disable()
        try:
            found = {key: self._made(key, kept)
                     for key, kept in zip(self._keys[n], unpacked(self._chunks[n]), strict=True)}
        finally:
            if collecting:
                gc.enable()
        self._recent[n] = found
        self._read.add(n)
        if len(self._recent) > self.RECENT:
            self._recent.popitem(last=False)
        return found

    def __setitem__(self, key: str, value: Any) -> None:
        n = self._where.setdefault(key, -1)
        if n >= 0:
            self._changed.add(n)
        self._set[key] = value

    def __delitem__(self, key: str) -> None:
        n = self._where.pop(key)
        self._set.pop(key, None)
        if n >= 0:
            self._changed.add(n)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def hold(self, keys: Iterable[str]) -> list[str]:
        """Hold these values from now on, as read: bodies whose HTML is about to be read back
        for the outputs made again, which must keep it however much is read after them
        (without it, each would be converted again). Keys it does not have are passed over.
        Returns the keys held."""
        held = [key for key in keys if key in self._where]
        for key in held:
            if key not in self._set:
                self._set[key] = self[key]
        return held

    def held(self) -> set[str]:
        """The keys of the values read (unpickled) or set so far."""
        return {key for n in self._read for key in self._keys[n] if key in self._where} | set(self._set)

    def holds(self, key: str) -> bool:
        """Whether the value of this key has been read (unpickled) or set."""
        return key in self._set or self._where.get(key, -1) in self._read

    def kept_chunk(self, keys: tuple[str, ...]) -> bytes | None:
        """These values packed as they were kept, when they were kept as one chunk and none
        of them has been set since: a site record written again reuses what it can."""
        n = self._where.get(keys[0], -1) if keys else -1
        return self._chunks[n] if n >= 0 and n not in self._changed and self._keys[n] == keys \
            else None


def packed(values: list[Any]) -> bytes:
    """A chunk of values, pickled and compressed (zlib's fastest level: a page's fields are
    mostly words its column's other pages use too, a fourth of the pickle's size)."""
    return zlib.compress(pickle.dumps(values, pickle.HIGHEST_PROTOCOL), 1)


def unpacked(blob: bytes) -> list[Any]:
    return pickle.loads(zlib.decompress(blob))


class KeptPages(Chunked):
    """The pages of a kept model (a chunk holds the Page objects)."""

    def by_site(self, keys: Mapping[str, tuple[str, ...]]) -> Mapping[str, tuple[Page, ...]]:
        """Cluster.pages_by_site, a site's pages unpickled when it is first asked for."""
        return _SitePages(self, keys)


class KeptBodies(Chunked):
    """The bodies of a kept model, as heads: a chunk holds each one's (lead, digest, cache
    entry, attachments linked); its HTML and text are read back when asked for (Body)."""

    def _made(self, key: str, kept: Any) -> Body:
        lead, digest, entry, files = kept
        return Body(None, None, digest, entry, key, lead, files)

    @staticmethod
    def kept(value: Any) -> tuple[str, str, str, tuple[str, ...]]:
        return value.lead, value.digest, value.entry, value.files


class ConvertedBodies(Chunked):
    """A cold build's bodies as the process that converted them hands them over (parallel.apart,
    which passes open files as such), and as this one holds them: packed by CHUNK as they were
    converted (Packing), each as its HTML and text when it holds them, its lead, digest, cache
    entry, the attachments it links to, and where it waits in its spool (the spool's number
    among `spools`, and its place) when it does. As objects the bodies were 60 MB of the
    parent's memory at the end of a 100,000-page build, where it peaks; packed, 15 MB, and
    unpickled where read."""

    def __init__(self, chunks: list[tuple[tuple[str, ...], bytes]], where: dict[str, int],
                 spools: list[Any], unread: set[str]):
        super().__init__(chunks, where)
        self._spools = spools
        self._unread = unread   # read back from the cache without their HTML (Body.unread)

    def _made(self, key: str, kept: Any) -> Body:
        html, text, lead, digest, entry, files, place = kept
        body = Body(html, text, digest, entry, key, lead, files,
                    Spooled(self._spools[place[0]], *place[1:]) if place else None)
        body._lead = lead   # (None for a spooled body: read from there, see Body.lead)
        return body

    def hold(self, keys: Iterable[str]) -> list[str]:
        """Only the bodies whose HTML is read back from the cache need holding: the others'
        is in their chunk or their spool."""
        return super().hold(key for key in keys if key in self._unread)

    def kept_chunk(self, keys: tuple[str, ...]) -> bytes | None:
        return None   # (its chunks are not a kept model's: KeptBodies.kept packs those)


class Packing:
    """Bodies packed by CHUNK as convert_all() puts them (markup.Bodies), into ConvertedBodies:
    the process that converts a cold build's bodies holds none of them as objects. Held until
    every one was in, and packed then, they were the top of its peak at 100,000 pages."""

    def __init__(self) -> None:
        self._places = markup.SpoolPlaces()
        self._chunks: list[tuple[tuple[str, ...], bytes]] = []
        self._waiting: dict[str, Body] = {}
        self._unread: set[str] = set()   # read back from the cache without their HTML

    def __setitem__(self, key: str, body: Body) -> None:
        if body.unread():
            self._unread.add(key)
        self._waiting[key] = body
        if len(self._waiting) == CHUNK:
            self._pack()

    def _pack(self) -> None:
        places = self._places
        rows = [(body._html, body._text, body._lead, body.digest, body.entry, body.files,
                 places.of(body.spooled) if body.spooled else None)
                for body in self._waiting.values()]
        self._chunks.append((tuple(self._waiting), packed(rows)))
        self._waiting = {}

    def done(self, order: list[str]) -> ConvertedBodies:
        if self._waiting:
            self._pack()
        at = {key: n for n, (keys, _) in enumerate(self._chunks) for key in keys}
        return ConvertedBodies(self._chunks, {key: at[key] for key in order}, self._places.files,
                               self._unread)


class _SitePages(Mapping):
    """A site's pages as they are asked for (its lists, its sitemap, its search page each
    ask): those of the last site asked for are held, no more."""

    def __init__(self, pages: KeptPages, keys: Mapping[str, tuple[str, ...]]):
        self._pages, self._keys = pages, keys
        self._last: tuple[str, tuple[Page, ...]] = ("", ())

    def __getitem__(self, site: str) -> tuple[Page, ...]:
        if self._last[0] != site or not site:
            self._last = (site, tuple(self._pages[key] for key in self._keys[site]))
        return self._last[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class Index:
    """What a kept model is made of, read before the model itself: enough to tell whether an
    edit can be patched in, without reading a record that will not be used."""

    key: str                               # model_key()
    sources: dict[str, dict[str, str]]     # site → its Markdown sources' digests, by rel
    fingerprints: dict[str, str]           # site → the name of its record (_fingerprint)
    targets: str = ""                      # the digest of the link targets kept (TARGETS)
    build: str = ""                        # the id of the build that kept it (Kept.build)
    vouched: Vouched | None = None         # what git vouched for (discover.changed_since)


@dataclass
class Kept:
    """A build's model as the next build finds it."""

    key: str                        # model_key(): the settings it was assembled under
    cluster: Cluster
    bodies: MutableMapping[str, Body]
    sources: dict[str, dict[str, str]]   # site → its Markdown sources' digests, by rel
    findings: list[Diagnostic]      # what parsing, assembling and converting reported
    window: tuple[datetime | None, datetime | None]   # the moments between which no state changes
    assembled_files: frozenset[str]  # the attachments assemble() found used (images, forms)
    # An id of the build that keeps it, for what other stages keep of the same build to name
    # (search.DocumentBasis): the model and those are saved together or not at all.
    build: str = ""
    # The attachments each body links to, of those that link to any, as the site records
    # keep them: their union is the resolver's used files, without reading every body.
    linked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Records pickled into files where the model was made (pickled_records), by name; the
    # others are pickled by save(). Pickling the link targets and the cluster's joins (a memo
    # of every object) was the top of the parent's peak at the end of a 100,000-page build.
    pickled: dict[str, Any] = field(default_factory=dict)
    vouched: Vouched | None = None   # (discover.Discovery.vouched, of the sources found)


@dataclass
class Patched:
    """A model made from a kept one, and what it changed."""

    cluster: Cluster
    bodies: MutableMapping[str, Body]
    edited: frozenset[str]   # the keys of the pages taken anew
    kept: Kept               # the model to keep for the next build
    sites: frozenset[str]    # the sites those pages are in
    joins_kept: bool         # whether the joins record holds as it is (no attachment changed)


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


def index(store: Cache, config: ClusterConfig, preview: bool) -> Index | None:
    """The previous build's index, if its model was assembled under these settings."""
    if store.path is None:
        return None
    found = _record(store, INDEX)
    if not isinstance(found, Index) or found.key != model_key(config, preview):
        return None
    return found


def earlier_targets(store: Cache, kept_index: Index | None
                    ) -> tuple[str, dict[str, assemble.Target]] | None:
    """The previous build's link targets, by the digest of them (markup.convert_all)."""
    if kept_index is None or not kept_index.targets:
        return None
    found = _record(store, TARGETS)
    return found if isinstance(found, tuple) and found[0] == kept_index.targets else None


def patched(kept_index: Index, store: Cache, config: ClusterConfig, found: Discovery | Since,
            now: datetime, report: Report, jobs: int,
            loaded: Callable[[], Kept | None] | None = None) -> Patched | None:
    """The kept model with the pages whose sources changed taken anew, or None when anything
    else changed (see the module's doc). What the kept model reported is reported again.
    `loaded`: the kept model, when it was read already (load())."""
    if found.digests.keys() != kept_index.sources.keys():
        return None
    edited_sites: list[str] = []
    for site, digests in found.digests.items():
        known = kept_index.sources[site]
        if digests != known:   # (compared whole, in C: most sites are as they were)
            if digests.keys() != known.keys():
                return None
            edited_sites.append(site)
    changed_rels = {rel for site in edited_sites for rel, digest in found.digests[site].items()
                    if kept_index.sources[site][rel] != digest}
    changed = [source for source in found.sources if source.rel in changed_rels]
    if any(source.rel.endswith("/_index.md") for source in changed):
        return None
    kept = loaded() if loaded else load(kept_index, store, config, now)
    if kept is None:
        return None
    attachments = kept.cluster.attachments if found.attachments is None else found.attachments
    if [(a.site, a.rel, a.path) for a in attachments] != \
            [(a.site, a.rel, a.path) for a in kept.cluster.attachments]:
        return None
    named = {"content/" + source.rel for source in changed}
    if any(d.path in named for d in kept.findings):
        return None
    cluster = kept.cluster
    local = Report(report.root)
    pages: dict[str, Page] = {}
    for source in changed:
        key = source.rel.removesuffix(".md")
        old = cluster.pages.get(key)
        column = cluster.sites[source.site].columns.get(key.split("/")[1]) if old else None
        page = frontmatter.parse_page(config, source, column, local) if column else None
        if page is None or old is None or local.items or \
                assemble.joined(page) != assemble.joined(old):
            return None
        pages[key] = page
    # In their places among the kept pages, which are this build's now (kept.cluster is).
    joins_kept = attachments == cluster.attachments
    cluster.pages.update(pages)
    cluster = replace(cluster, attachments=attachments)
    edited = frozenset(pages)
    markup.reconverting(cluster, config.root)
    fresh = markup.convert_all(cluster, local, jobs, store, only=edited) if edited else {}
    if local.items:
        return None
    bodies = kept.bodies
    bodies.update(fresh)   # (in their places: this build's bodies now, as the pages are)
    linked = {**kept.linked, **{key: body.files for key, body in fresh.items()}}
    cluster.resolver.used_files = set(kept.assembled_files).union(
        *(files for files in linked.values() if files))
    report.items.extend(kept.findings)
    for namespace in (frontmatter.PARSED, markup.CACHE, markup.CACHE_LINKS, markup.CACHE_TEXT,
                      markup.CACHE_HTML):
        store.retain(namespace)   # what the pages kept were read from, for a build that needs it
    sources = {site: dict(part) if site in edited_sites else part
               for site, part in kept.sources.items()}
    for source in changed:
        sources[source.site][source.rel] = source.digest
    return Patched(cluster, bodies, edited, replace(kept, cluster=cluster, bodies=bodies,
                                                     sources=sources, linked=linked,
                                                     vouched=found.vouched),
                   frozenset(source.site for source in changed), joins_kept)


def load(kept_index: Index, store: Cache, config: ClusterConfig, now: datetime) -> Kept | None:
    """The model the index names, if no page's state has changed since by the clock alone."""
    joins = _record(store, CLUSTER)
    if not isinstance(joins, dict) or joins.get("key") != kept_index.key:
        return None
    since, until = joins["window"]
    if (since is not None and now < since) or (until is not None and now >= until):
        return None
    parts = {site: _record(store, name) for site, name in kept_index.fingerprints.items()}
    if not all(isinstance(part, dict) for part in parts.values()):
        return None
    targets = earlier_targets(store, kept_index)   # (kept apart: see save())
    if targets is None or joins["cluster"].resolver is None:
        return None
    joins["cluster"].resolver.targets = targets[1]
    cluster = under(config, replace(   # pages in the order assemble() gave
        joins["cluster"], pages=KeptPages(*_chunked(parts, "pages", joins["runs"]))))
    # The bodies in the order convert_all() gave them; each knows its source by its key alone
    # (markup.body_source works it out if it is ever converted again).
    bodies = KeptBodies(*_chunked(parts, "bodies", joins["body_runs"]))
    linked = {key: files for part in parts.values() for key, files in part["files"].items()}
    return Kept(kept_index.key, cluster, bodies, kept_index.sources, joins["findings"],
                joins["window"], joins["assembled_files"], linked=linked)


def under(config: ClusterConfig, cluster: Cluster) -> Cluster:
    """A cluster made elsewhere (kept by an earlier build, or made in a process of its own)
    with this process's settings, site by site."""
    return replace(cluster, config=config, sites={s: Site(config.site(s), site.intro, site.columns)
                                                  for s, site in cluster.sites.items()})


def _chunked(parts: dict[str, dict[str, Any]], name: str, runs: list[tuple[str, int]]
             ) -> tuple[list[tuple[tuple[str, ...], bytes]], dict[str, int]]:
    """The chunks of the site records' `name`, and where each key is, in the order of `runs`."""
    chunks: list[tuple[tuple[str, ...], bytes]] = []
    placed: dict[str, Iterator[tuple[str, int]]] = {}
    for site, part in parts.items():
        first = len(chunks)
        chunks += part[name]
        placed[site] = ((key, n) for n in range(first, len(chunks)) for key in chunks[n][0])
    return chunks, dict(pair for site, count in runs
                        for pair in itertools.islice(placed[site], count))


def save(store: Cache, kept: Kept, previous: Index | None, patched: Patched | None = None
         ) -> None:
    """Keep a model for the next build: a site record the previous build's index names
    already (the same fingerprint, the same content) is left as it is, not written again; of
    a patched model, only the patched sites' records are looked at."""
    known = previous if previous is not None and previous.key == kept.key else None
    names = set(known.fingerprints.values()) if known else set()
    # A patched model's other sites are what the index names; any other model's, looked at.
    patched_on = patched if patched is not None and known is not None else None
    fingerprints = dict(known.fingerprints) if patched_on and known else {}
    wanted = set(patched_on.sites) if patched_on else \
        set(kept.sources) | {key.split("/", 1)[0] for key in kept.cluster.pages}
    for site, part in _parts(kept, wanted):
        name = fingerprints[site] = _fingerprint(kept, site, part)
        if name in names and store.has(MODEL, name):   # (unless something took it away)
            store.used(MODEL, name)
        else:
            store.keep(MODEL, name, pickled(part))
    for site, name in fingerprints.items():
        if site not in wanted:
            store.used(MODEL, name)
    resolver = kept.cluster.resolver
    if known and known.targets == resolver.digest and store.has(MODEL, TARGETS):
        store.used(MODEL, TARGETS)
    else:
        store.keep(MODEL, TARGETS, _pickled(kept, TARGETS, lambda: (resolver.digest, resolver.targets)))
    store.keep(MODEL, INDEX, pickled(Index(kept.key, kept.sources, fingerprints, resolver.digest,
                                           kept.build, kept.vouched)))
    if patched_on and patched_on.joins_kept:
        store.used(MODEL, CLUSTER)   # patched pages change nothing in it
        return
    store.keep(MODEL, CLUSTER, _pickled(kept, CLUSTER, lambda: joins_record(kept)))


def _pickled(kept: Kept, name: str, record: Callable[[], Any]) -> Any:
    """A record to keep, as pickled where the model was made (Kept.pickled) or pickled now."""
    return kept_from(kept.pickled.pop(name)) if name in kept.pickled else pickled(record())


def pickled_records(kept: Kept, previous: Index | None) -> dict[str, Any]:
    """The records of a cold build's model that save() would pickle whole, each pickled into
    a file (cache.pickled_file): where the model is made, for the parent to keep (Kept.pickled).
    The link targets only when they are not the ones the previous index names (save() keeps
    those as they are)."""
    resolver = kept.cluster.resolver
    records = {CLUSTER: pickled_file(joins_record(kept))}
    if previous is None or previous.key != kept.key or previous.targets != resolver.digest:
        records[TARGETS] = pickled_file((resolver.digest, resolver.targets))
    return records


def joins_record(kept: Kept) -> dict[str, Any]:
    """The CLUSTER record: the cluster without its pages, and what else the model keeps once."""
    cluster = kept.cluster
    # Its link targets are kept once, in TARGETS, and joined to it again when it is read: a
    # second copy here made this record's pickling (its memo of every object) the largest of
    # the build's end, +48 MB at 100,000 pages, where the parent's memory peaks.
    apart = copy.copy(cluster.resolver)
    if apart is not None:
        apart.targets = {}
    return {"key": kept.key, "cluster": replace(cluster, pages={}, resolver=apart),
            "runs": _runs(key.split("/", 1)[0] for key in cluster.pages),
            "body_runs": _runs(key.split("/", 1)[0] for key in kept.bodies),
            "findings": kept.findings, "window": kept.window,
            "assembled_files": kept.assembled_files}


def _fingerprint(kept: Kept, site: str, part: dict[str, Any]) -> str:
    """Names a site record by what decides it: a page is the product of its source file, its
    column (an _index.md among the sources) and the settings (the key); which of them the
    record holds, and the bodies' heads, are spelled out."""
    return cache_key(MODEL, kept.key, site, sorted(kept.sources.get(site, {}).items()),
                     [key for keys, _ in part["pages"] for key in keys],
                     [(keys, hashlib.sha256(blob).hexdigest()) for keys, blob in part["bodies"]])


def _runs(sites: Iterable[str]) -> list[tuple[str, int]]:
    """(site, count) for each run of one site's items: their order across the site records."""
    return [(site, len(list(run))) for site, run in itertools.groupby(sites)]


def _parts(kept: Kept, sites: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The records of these sites, one at a time (all of them at once were 140 MB at 100,000
    pages): each one's pages (in the cluster's order) and bodies' heads (in convert_all()'s),
    pickled by CHUNK as (keys, pickled values), and the attachments its bodies link to."""
    pages, bodies = _site_keys(kept.cluster.pages, sites), _site_keys(kept.bodies, sites)
    for site in sorted(sites):
        yield site, {"pages": _chunks(kept.cluster.pages, pages[site], KeptPages.kept),
                     "bodies": _chunks(kept.bodies, bodies[site], KeptBodies.kept),
                     "files": {key: files for key in bodies[site] if (files := _linked(kept, key))}}


def _site_keys(values: Mapping[str, Any], sites: set[str]) -> dict[str, list[str]]:
    """The keys of these sites, each site's in the order of `values` (a key starts with its site)."""
    keys: dict[str, list[str]] = {site: [] for site in sites}
    for key in values:
        site = key.split("/", 1)[0]
        if site in keys:
            keys[site].append(key)
    return keys


def _packed_by_site(values: Mapping[str, Any], kept: Callable[[Any], Any]
                    ) -> tuple[list[tuple[tuple[str, ...], bytes]], dict[str, int]]:
    """The values packed each site's by CHUNK in their order (_chunks), and each key's chunk,
    the keys in the order of `values`."""
    order = list(values)
    keys = _site_keys(values, {key.split("/", 1)[0] for key in values})
    chunks = [chunk for site in sorted(keys) for chunk in _chunks(values, keys[site], kept)]
    at = {key: n for n, (chunk, _) in enumerate(chunks) for key in chunk}
    return chunks, {key: at[key] for key in order}


def _chunks(values: Mapping[str, Any], keys: list[str], kept: Callable[[Any], Any]
            ) -> list[tuple[tuple[str, ...], bytes]]:
    """These keys' values by CHUNK, each chunk as it was kept when nothing in it changed."""
    chunks = []
    for at in range(0, len(keys), CHUNK):
        chunk = tuple(keys[at:at + CHUNK])
        blob = values.kept_chunk(chunk) if isinstance(values, Chunked) else None
        chunks.append((chunk, blob or packed([kept(values[key]) for key in chunk])))
    return chunks


def _linked(kept: Kept, key: str) -> tuple[str, ...]:
    """The attachments a body links to, without reading it when the kept model knows."""
    bodies = kept.bodies
    if isinstance(bodies, KeptBodies) and not bodies.holds(key):
        return kept.linked.get(key, ())
    return bodies[key].files


def _record(store: Cache, name: str) -> Any:
    value = store.load(MODEL, [name]).get(name)
    # Unpickling makes objects that live to the end of the build, by the hundred thousand: the
    # collector's passes over them find nothing, and took half the time. They are moved out of
    # its sight as build() does with the model it made (and undoes when it is over).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return unpickled(value)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()

