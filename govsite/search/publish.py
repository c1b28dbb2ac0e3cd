"""The search stage of a build: an index per site, and the portal's over the whole cluster.

    <site url>_search/…     one index (index.py); a portal's holds every site's pages, so the
                            portal searches the cluster and filters by site, while a county or
                            department searches itself and links to the portal to widen
    <host>/_t2s/<n>.json    the traditional→simplified table, once per host
"""

from __future__ import annotations

import itertools
import os
import pickle
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit

from govsite import markup, output
from govsite.cache import Cache, ForkedCache, unpickled
from govsite.cache import key as cache_key
from govsite.diagnostics import Report
from govsite.model import Cluster, Site
from govsite.parallel import ordered_map
from govsite.search import DocumentBasis, index_url, is_cluster_wide
from govsite.search.index import (
    CountCache,
    Scores,
    SearchDoc,
    doc_column,
    documents,
    index_files,
    keyed_documents,
    t2s_files,
)
from govsite.search.overlay import Overlaid, score
from govsite.search.settings import SearchSettings
from govsite.urls import host_root, output_path

T2S_FOLDER = "_t2s/"


DOCUMENTS = "search documents"   # cache namespace: DOCUMENTS_INDEX, and each site's by name
DOCUMENTS_INDEX = "\0index"      # {"format", "build", "runs", "sites": {site id: record name}}
DOCUMENTS_FORMAT = 2
# What a kept document holds: not what its body gives (index.keyed_documents), the body being
# the model's, kept too. Its text was three quarters of the bytes read back.
_FIELDS = [f.name for f in fields(SearchDoc)]
_TEXT_AT = _FIELDS.index("text")
assert _FIELDS[-2:] == ["text_digest", "body"]   # (_document() puts them last)
_STORED = [name for name in _FIELDS if name not in ("text", "text_digest", "body")]
_VALUES = attrgetter(*_STORED)


def _document(values: tuple[Any, ...], body: Any) -> SearchDoc:
    made: list[Any] = [*values[:_TEXT_AT], body.lead, *values[_TEXT_AT:], body.digest, body]
    return SearchDoc(*made)


class _MadeWhenRead(Sequence[SearchDoc]):
    """Documents each made when it is read (_doc), by position or by slice."""

    @overload
    def __getitem__(self, n: int) -> SearchDoc: ...

    @overload
    def __getitem__(self, n: slice) -> list[SearchDoc]: ...

    def __getitem__(self, n: int | slice) -> SearchDoc | list[SearchDoc]:
        if isinstance(n, slice):
            return [self._doc(i) for i in range(*n.indices(len(self)))]
        if n < 0:
            n += len(self)
        if not 0 <= n < len(self):
            raise IndexError(n)
        return self._doc(n)

    def _doc(self, n: int) -> SearchDoc:   # (0 <= n < len(self))
        raise NotImplementedError


class KeptDocs(_MadeWhenRead):
    """Documents kept by the previous build, each made a SearchDoc only when it is used: an
    edit's indexes need a few of the cluster's, and of the others a few fields (doc_column),
    read from what was kept. Making all 100,000 was a third of the search of one edit."""

    def __init__(self, values: list[tuple[Any, ...]], keys: list[str], bodies: Mapping[str, Any]):
        self._values, self._keys, self._bodies = values, keys, bodies   # (bodies read when used)
        self._made: list[SearchDoc | None] = [None] * len(values)
        self._set: dict[int, SearchDoc] = {}   # documents put in the places of kept ones

    def __len__(self) -> int:
        return len(self._values)

    def _doc(self, n: int) -> SearchDoc:
        doc = self._made[n]
        if doc is None:
            doc = self._made[n] = _document(self._values[n], self._bodies[self._keys[n]])
        return doc

    def __setitem__(self, n: int, doc: SearchDoc) -> None:
        self._made[n] = self._set[n] = doc

    def column(self, name: str) -> list[Any]:
        """One field of every document (index.doc_column)."""
        if name in _STORED:
            found = list(map(itemgetter(_STORED.index(name)), self._values))
        else:
            found = [getattr(doc, name) for doc in self]
        for n, doc in self._set.items():
            found[n] = getattr(doc, name)
        return found


DOCS_PER_CHUNK = 512   # documents written and read back together (FiledDocs)
# The fields asked of every document at once (index.doc_column): held, not read back.
FILED_COLUMNS = ("site", "site_name", "site_url", "kind", "date", "validity")
Filed = tuple[list[tuple[int, int]], dict[str, list[Any]]]   # (each chunk's place, the columns)


def file_documents(docs: Sequence[SearchDoc], heads: Mapping[int, markup.PortableBody],
                   file: Any) -> Filed:
    """The documents written into `file` (new and empty) a chunk at a time, each without its
    body but with how that travels (`heads`, by position: markup.portable()): what FiledDocs
    reads them back from, with the file and the bodies' spool files."""
    places: list[tuple[int, int]] = []
    at = 0
    for start in range(0, len(docs), DOCS_PER_CHUNK):
        chunk = [(replace(doc, body=None), heads.get(n))
                 for n, doc in enumerate(docs[start:start + DOCS_PER_CHUNK], start)]
        data = pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)
        file.write(data)
        places.append((at, len(data)))
        at += len(data)
    file.flush()
    return places, {name: doc_column(docs, name) for name in FILED_COLUMNS}


class FiledDocs(_MadeWhenRead):
    """file_documents()'s documents, read back a chunk at a time where they are used. The
    process that indexes a cold build's documents (build._lean_search) holds one chunk and a
    few columns, not every document: at 100,000 pages those were 190 MB beside the postings it
    works out, in it and in every process it forks to count terms or write an index. Read with
    pread: the processes forked from it share the file's descriptor."""

    def __init__(self, fd: int, filed: Filed, spools: list[int]):
        self._fd, (self._places, self._columns), self._spools = fd, filed, spools
        self._size = len(self._columns[FILED_COLUMNS[0]])
        self._at, self._chunk = -1, list[SearchDoc]()

    def __len__(self) -> int:
        return self._size

    def _doc(self, n: int) -> SearchDoc:
        at = n // DOCS_PER_CHUNK
        if at != self._at:
            self._at, self._chunk = at, self._read(at)
        return self._chunk[n - at * DOCS_PER_CHUNK]

    def _read(self, at: int) -> list[SearchDoc]:
        start, size = self._places[at]
        data = os.pread(self._fd, size, start)
        if len(data) != size:   # the file is the sender's, never truncated while it waits
            raise OSError(f"a chunk of search documents came back short: {len(data)} of {size} bytes")
        pairs = pickle.loads(data)
        bodies = iter(markup.restored([head for _, head in pairs if head is not None], self._spools))
        for doc, head in pairs:
            if head is not None:
                doc.body = next(bodies)
                doc.text = doc.text or doc.body.lead   # (sent without it: searched_documents)
        return [doc for doc, _ in pairs]

    def column(self, name: str) -> list[Any]:
        """One field of every document (index.doc_column)."""
        if name in self._columns:
            return list(self._columns[name])
        return [getattr(doc, name) for doc in self]


class NotPatched(Exception):
    """The previous build's documents cannot be patched with the ones given (searched_documents)."""


def searched_documents(cluster: Cluster, bodies: Mapping[str, Any], store: Cache,
                       basis: DocumentBasis, leads: bool = True,
                       fresh: dict[str, SearchDoc] | None = None
                       ) -> tuple[Sequence[SearchDoc], list[str] | None]:
    """The published documents (index.documents()) and their digests (document_digests(),
    None without a cache), kept for the next build. When the model is the previous build's
    with some pages taken anew, so are the documents: that build's, read back by site, with
    those pages' made again. Making and hashing every document was half the search stage of a
    one-page rebuild (0.6 s at 100,000 pages). `fresh`: those pages' documents, made by the
    caller, whose cluster is then without its pages (a lean process's): where the previous
    build's cannot be patched with them, NotPatched is raised."""
    if store.path is None:
        return documents(cluster, bodies, leads=leads), None
    before = unpickled(store.load(DOCUMENTS, [DOCUMENTS_INDEX]).get(DOCUMENTS_INDEX))
    index = before if isinstance(before, dict) else {}
    kept = _patched_documents(cluster, bodies, store, basis, index, fresh) \
        if basis.edited is not None and basis.previous and index.get("build") == basis.previous \
        and index.get("format") == DOCUMENTS_FORMAT else None
    docs: Sequence[SearchDoc]
    if kept is None and fresh is not None:
        raise NotPatched
    if kept is None:
        keyed = keyed_documents(cluster, bodies, leads=leads)
        keys, docs = [key for key, _ in keyed], [doc for _, doc in keyed]
        digests = document_digests(docs)
        _keep_documents(store, keys, docs, digests, basis.build, index)
    else:
        keys, docs, digests, touched = kept
        _keep_documents(store, keys, docs, digests, basis.build, index, touched)
    return docs, digests


def _patched_documents(cluster: Cluster, bodies: Mapping[str, Any], store: Cache,
                       basis: DocumentBasis, index: dict[str, Any],
                       fresh: dict[str, SearchDoc] | None = None
                       ) -> tuple[list[str], Sequence[SearchDoc], list[str], set[str]] | None:
    """The previous build's documents, in its order, with those of the pages taken anew made
    again; and the sites of those."""
    parts = _site_documents(store, index["sites"])
    if not all(isinstance(part, list) for part in parts.values()):
        return None
    sites = {site: iter(part) for site, part in parts.items()}
    keys, kept, digests = [], [], []
    for site, count in index["runs"]:   # in URL order, as documents() gives them
        for key, values, digest in itertools.islice(sites[site], count):
            keys.append(key)
            kept.append(values)
            digests.append(digest)
    docs = KeptDocs(kept, keys, bodies)
    position = {key: n for n, key in enumerate(keys)}
    if fresh is None:
        fresh = dict(keyed_documents(cluster, bodies, basis.edited or ()))
    if not fresh.keys() <= position.keys():
        return None   # (a page taken anew is published as it was, or the model was not patched)
    for key, doc in fresh.items():
        docs[position[key]] = doc
        digests[position[key]] = document_digests([doc])[0]
    return keys, docs, digests, {doc.site for doc in fresh.values()}


def _site_documents(store: Cache, names: dict[str, str]) -> dict[str, Any]:
    """Each site's record of the previous build's documents, by site: as preread_documents()
    read them, where it did (a record's name is its content's), else read now."""
    preread = _PREREAD_DOCUMENTS.pop(store.path, None) if store.path is not None else None
    if preread is not None and all(name in preread for name in names.values()):
        for name in names.values():
            store.used(DOCUMENTS, name)
        return {site: preread[name] for site, name in names.items()}
    records = store.load(DOCUMENTS, list(names.values()))
    return {site: unpickled(records.get(name)) for site, name in names.items()}


# The previous build's documents, by the cache's path and record name, as a lean process read
# them while it waited for its job (preread_documents).
_PREREAD_DOCUMENTS: dict[Any, dict[str, Any]] = {}


def preread_documents(folder: Path | None) -> None:
    """Read the previous build's documents now, in a lean process waiting for its job: an
    edit's search starts by reading them, 0.2 s at 100,000 pages that its build waited for.
    Nothing is written meanwhile (the build writes the cache when it is saved)."""
    if folder is None:
        return
    store = ForkedCache(folder)
    try:
        index = unpickled(store.load(DOCUMENTS, [DOCUMENTS_INDEX]).get(DOCUMENTS_INDEX))
        if isinstance(index, dict) and isinstance(index.get("sites"), dict):
            records = store.load(DOCUMENTS, list(index["sites"].values()))
            _PREREAD_DOCUMENTS[store.path] = {name: unpickled(value) for name, value in records.items()}
    except Exception:   # (only ever saves time: the job reads what it needs itself)
        _PREREAD_DOCUMENTS.clear()
    finally:
        store.close()


def _keep_documents(store: Cache, keys: list[str], docs: Sequence[SearchDoc], digests: list[str],
                    build: str, before: dict[str, Any], touched: set[str] | None = None) -> None:
    """One record per site, named by its documents' keys and digests: written when new, kept
    as it is otherwise; and the index, which names this build. `touched`: the documents are
    the previous build's (`before`), in its order, with only these sites' made again: the
    others' records stand without naming their documents again."""
    if touched is None:
        doc_sites = doc_column(docs, "site")
        runs = [(site, len(list(run))) for site, run in itertools.groupby(doc_sites)]
    else:
        runs = before["runs"]
    by_site: dict[str, list[int]] = {}
    at = 0
    for site, count in runs:
        if touched is None or site in touched:
            by_site.setdefault(site, []).extend(range(at, at + count))
        at += count
    names = set(before.get("sites", {}).values())
    sites: dict[str, str] = {}
    if touched is not None:
        sites = dict(before["sites"])
        for site, name in sites.items():
            if site not in touched:
                store.used(DOCUMENTS, name)
    for site, positions in by_site.items():
        name = sites[site] = cache_key(DOCUMENTS, DOCUMENTS_FORMAT, site, [keys[n] for n in positions],
                                       [digests[n] for n in positions])
        if name in names:
            store.used(DOCUMENTS, name)
        else:
            store.keep(DOCUMENTS, name, pickle.dumps(
                [(keys[n], _VALUES(docs[n]), digests[n]) for n in positions],
                pickle.HIGHEST_PROTOCOL))
    store.keep(DOCUMENTS, DOCUMENTS_INDEX, pickle.dumps(
        {"format": DOCUMENTS_FORMAT, "build": build, "runs": runs, "sites": sites},
        pickle.HIGHEST_PROTOCOL))


def document_digests(docs: list[SearchDoc]) -> list[str]:
    """One digest per document as indexed: the cache keys below are made of these. A text is
    named by its digest where it has one (its body's, made when it was converted): hashing
    every text again cost a second per 100,000 pages."""
    # Not astuple(), which copies the body deeply; a tuple is written as the list it was.
    values = attrgetter(*[f.name for f in fields(SearchDoc) if f.name not in ("text", "body")])
    return [cache_key("search document", doc.text_digest or doc.text, values(doc)) for doc in docs]


def inputs_key(cluster: Cluster, digests: list[str], settings: SearchSettings,
               selected: tuple[str, ...]) -> str:
    """Everything the search files are made from: every published document as indexed, the
    settings, the sites and their hosts, and which sites are built (govsite's version, which
    fixes the format and the budgets, is in every cache key)."""
    sites = [(s.config.id, s.config.url, s.config.type, s.config.name) for s in cluster.sites.values()]
    return cache_key("search", digests, repr(settings), sites, selected)


@dataclass
class SearchCache:
    """The search stage's share of the build cache (build._search reads and saves it): term
    counts by document, and each site's index as the previous build holds it, by site id:
    {"key": what it was made from (site_key(), or a portal's), "files": {file name: [output
    path, content digest, sha256]}}, only the files still in the previous build, and "key"
    empty when one is missing."""
    counts: CountCache
    sites: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    # Filled: this build's indexes by site id, {"key", "files": {name: (path, content digest)}},
    # and which of them were linked whole.
    sites_made: dict[str, dict[str, Any]] = field(default_factory=dict)
    sites_linked: set[str] = field(default_factory=set)


def site_key(site: Site, digests: list[str], documents: int, settings: SearchSettings) -> str:
    """What a site's own index is made from, but for the contributions of its documents' terms
    (index.Scores.kept says when those are as they were)."""
    return cache_key("search site", site.config.id, index_url(site), _t2s_path(site), digests,
                     documents, repr(settings))


# What write_indexes() put into the staging folder: path → (site, origin, sha256).
Written = dict[str, tuple[str, str, str]]


def write_indexes(cluster: Cluster, docs: Sequence[SearchDoc], settings: SearchSettings,
                  selected: tuple[str, ...], staging: output.Staging, jobs: int = 1,
                  cache: SearchCache | None = None) -> Written | None:
    """Every site's index, and the portal's, from the published documents (documents()),
    written into `staging` (not recorded: the caller records what comes back). With a `cache`,
    documents counted before are not counted again, and an index file whose content the
    previous build already holds is linked, not exported again; None when such a file is gone
    from the previous build (the caller writes them all again, without the cache's files)."""
    scores = score(docs, jobs, cache.counts if cache else None)
    hot = dict(settings.hot_words)
    # A portal's index covers other sites' pages, so it is rebuilt whatever `--site` says.
    sites = [site for site in cluster.sites.values()
             if is_cluster_wide(site) or site.config.id in selected]

    # A site's index whose documents and settings are as in the previous build is that build's,
    # file for file, when the unchanged documents kept their contributions and none of its
    # documents holds a term whose idf moved: it is linked whole, not worked out again.
    moved = _sites_holding(scores, docs) if scores.kept else set()
    positions: dict[str, list[int]] = {}   # each site's documents, by position among all
    for i, site_id in enumerate(doc_column(docs, "site")):
        positions.setdefault(site_id, []).append(i)
    keys: dict[str, str] = {}
    wide_keys: dict[str, str] = {}   # a portal's index: its shards are patched, never linked whole
    if cache is not None:
        for site in sites:
            if is_cluster_wide(site):
                wide_keys[site.config.id] = cache_key("search wide", site.config.id, index_url(site),
                                                      _t2s_path(site), repr(settings))
            else:
                mine = [cache.counts.digests[i] for i in positions.get(site.config.id, [])]
                keys[site.config.id] = site_key(site, mine, len(docs), settings)

    def previous(site: Site, key: str | None) -> dict[str, list[str]] | None:
        """The previous build's index of the site, if it was made from the same `key`."""
        entry = cache.sites.get(site.config.id) if cache and key else None
        return entry["files"] if entry and entry["key"] == key else None

    def unchanged(site: Site) -> dict[str, list[str]] | None:
        """The previous build's index of the site, if it is this build's too."""
        if not scores.kept or site.config.id in moved:
            return None
        return previous(site, keys.get(site.config.id))

    def site_index(n: int) -> tuple[Iterable[tuple[str, str]], dict[str, str]]:
        """The site's index files, (name, content) as they are made (Linked where the previous
        build's are these), and the content digests of those index_files() knew without
        exporting them, complete once the files are."""
        site = sites[n]
        wide = is_cluster_wide(site)
        same = unchanged(site)
        if same:
            return ([(name, Linked(sha)) for name, (_, _, sha) in same.items()],
                    {name: content for name, (_, content, _) in same.items()})
        keep = list(range(len(docs))) if wide else positions.get(site.config.id, [])
        made: dict[str, str] = {}
        # The previous build's index of these very documents, when there is one: a portal's
        # always (its shards are patched), a site's when a term of its unchanged documents
        # moved (then only the shards holding such a term are worked out again).
        before = previous(site, wide_keys.get(site.config.id) or keys.get(site.config.id))
        # Any file of the site's previous index, documents changed or not, is linked where this
        # one's content is the same (most shards, after an edit to one page).
        last = cache.sites.get(site.config.id, {}).get("files", {}) if cache else {}
        folder = _folder(site)

        def reuse(name: str, content: str) -> str | None:
            found = last.get(name)
            return Linked(found[2]) if found and found[1] == content and found[0] == folder + name \
                else None

        files = index_files(docs if wide else [docs[i] for i in keep], settings.synonyms, hot.get(site.config.id, ()),
                            settings.ranking, scores if wide else scores.only(keep),
                            t2s_path=_t2s_path(site), share=1.0 if wide else len(keep) / max(1, len(docs)),
                            doc_digests=[cache.counts.digests[i] for i in keep] if cache else None,
                            reuse=reuse if cache else None, made=made,
                            previous={name: content for name, (_, content, _) in before.items()}
                            if before else None)
        return files, made

    def write_site(n: int) -> tuple[Written, dict[str, Any] | None, bool, list] | None:
        """The site's index written where it runs (a worker: the files' text never travels
        back), what the cache keeps of it, whether it was all linked, and the problems; None
        when a file to link is gone."""
        site = sites[n]
        files, made = site_index(n)
        owner = output.CLUSTER if is_cluster_wide(site) else site.config.id
        folder, local = _folder(site), Report(staging.report.root)
        written: Written = {}
        digests: dict[str, str] = {}
        linked = True
        for name, text in files:
            rel = folder + name
            linked = linked and isinstance(text, Linked)
            if isinstance(text, Linked):
                digest = staging.link_previous(rel, text.sha256, ORIGIN, local)
                if not digest:
                    return None
            else:
                digest = staging.put(rel, text, ORIGIN, local)
            digests[name] = digest
            if digest:
                written[rel] = (owner, ORIGIN, digest)
        key = keys.get(site.config.id) or wide_keys.get(site.config.id)
        # Every file, meta.json and a.json too (their content digests are their files').
        kept = {"key": key, "files": {name: (folder + name, made.get(name) or digest)
                                      for name, digest in digests.items()}} if cache and key else None
        linked = linked and bool(kept) and previous(site, key) is not None
        return written, kept, linked, local.items

    # Forking costs more than a linked index: processes only when several are worked out.
    workers = jobs if sum(not unchanged(site) for site in sites) > 2 else 1
    if workers > 1:
        staging.settle()   # (once, here: not in each worker)
    everything: Written = {}
    missing = False
    state = scores.state if isinstance(scores, Overlaid) else None
    for site, result in zip(sites, ordered_map(write_site, len(sites), workers), strict=True):
        if state is not None:   # (what a site's index read of the state is not read again)
            state.release_all()
        if result is None:
            missing = True
            continue
        written, kept, linked, problems = result
        everything.update(written)
        staging.report.items.extend(problems)
        if cache and kept:
            cache.sites_made[site.config.id] = kept
            if linked:
                cache.sites_linked.add(site.config.id)
    if missing:
        return None
    for root in sorted({host_root(s.url) for s in cluster.config.sites}):
        for name, text in t2s_files().items():
            rel = output_path(root + T2S_FOLDER + name)
            if digest := staging.put(rel, text, ORIGIN):
                everything[rel] = (output.CLUSTER, ORIGIN, digest)
    return everything


ORIGIN = "search.yaml"   # what an index file is reported as made from


def _sites_holding(scores: Scores | Overlaid, docs: Sequence[SearchDoc]) -> set[str]:
    """The sites whose documents hold a term whose idf moved (Scores.moved)."""
    if not scores.moved:
        return set()
    sites = doc_column(docs, "site")
    return {sites[d] for d in scores.holders().tolist()}


def _folder(site: Site) -> str:
    """Where a site's index files go in the output, as a prefix of their names."""
    return output_path(index_url(site) + "_")[:-1]   # every name is a plain relative path


def _t2s_path(site: Site) -> str:
    return posixpath.relpath("/" + T2S_FOLDER, urlsplit(index_url(site)).path) + "/"


class Linked(str):
    """An index file the previous build wrote from the same inputs: linked, not written."""

    def __new__(cls, sha256: str) -> Linked:
        linked = super().__new__(cls, "")
        linked.sha256 = sha256
        return linked

    sha256: str
