"""Published pages → a BM25 index at build time → static files the browser fetches.

score() computes BM25 (Lucene's variant, checked against bm25s in the tests) with numpy from
govsite's own tokens; what ships is govsite's own format. One index folder:

    meta.json      counts, sites, the score scale, synonyms and hot words: the only file every
                   query needs besides its own terms' shards
    t/<n>.json     term shards, term → [doc delta, contribution, doc delta, contribution, …];
                   a term lives in shard CRC-32(term) mod `shards`, so a query fetches only the
                   shards of its own terms
    d/<n>.json     result records (site-relative path, title, site, column, kind, date, validity,
                   excerpt), `records` documents per file in URL order
    a.json         per document [site, kind, date, validity]: only filters and date sorting need
                   it, so only they fetch it

Each contribution is a term's whole BM25 score for that document (idf, saturation and length
normalisation included, title and document-number occurrences weighted) as an integer, so the
client only adds numbers up and never needs document lengths or collection statistics.

Sizes are chosen for the bytes a query costs: a query fetches about one shard per term and one
record file per result shown, so shards aim at SHARD_BYTES each and record files hold few
documents. The file count is bounded all the same: the portal's index has at most
MAX_TERM_FILES shards and MAX_RECORD_FILES record files, and a site's index the share of those
budgets its pages are of the cluster's, so all sites' indexes together have about as many
files as the portal's, however many pages there are. Past the budget, files grow instead of
multiplying (and a term keeps only its MAX_POSTINGS best documents).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import mmap
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from govsite.cache import Chunks
from govsite.markup import Body
from govsite.model import PUBLISHED, Cluster
from govsite.parallel import ordered_map
from govsite.search.analysis import (
    CJK_RANGES,
    WORD,
    fold,
    number_terms,
    stem,
    t2s_table,
    tokens,
    warm_fold_table,
)
from govsite.search.settings import Ranking

if TYPE_CHECKING:
    from govsite.search.overlay import Overlaid, Range

FORMAT = 3  # search.js checks it: a cached old client never misreads a new index
WEIGHTS = {"title": 3, "docnum": 8}  # occurrences counted this many times over the body
K1, B = 1.2, 0.75
SCALE = 100              # contributions ship as integers: score × SCALE, rounded
COUNT_BATCH = 256        # documents counted together (_TermKeys.count_many)
DOC_SHIFT = 43           # a term key's bits, below a batch's document number
SHARD_BYTES = 6_000      # uncompressed JSON a term shard aims at
MAX_TERM_FILES = 2_048   # term shards of the portal's index at most (a site's: its share)
MAX_RECORD_FILES = 1_024 # record files likewise
MAX_POSTINGS = 5_000     # a term's best documents kept (only ever reached by huge clusters)
MIN_RECORDS = 4          # documents per record file, at least
EXCERPT = 100            # characters of body text kept for the result snippet (two lines)
T2S_BUCKETS = 16         # traditional→simplified table files, by code point
T2S_PATH = "t2s/"        # where they are, relative to an index folder (a build puts them per host)


@dataclass(slots=True)   # not frozen: a frozen dataclass is made 8 times slower, 10,000 per build
class SearchDoc:
    url: str
    title: str
    text: str
    site: str
    site_name: str
    site_url: str
    column: str
    kind: str
    date: str
    validity: str
    doc_number: str              # its 发文字号 as written: number_terms() of it and the title
    issuer: str = ""             # 发文机关, searchable like the body
    text_digest: str = ""        # stands for the text in document digests (its body's digest)
    # The body the text comes from, when `text` holds only its start (Body.lead: all that the
    # records' excerpts read): counting reads the whole text from it (full_text()).
    body: Body | None = None


def doc_column(docs: Sequence[SearchDoc], name: str) -> list[Any]:
    """One field of every document, without making a document that was kept by an earlier
    build and not used since (publish.KeptDocs)."""
    column = getattr(docs, "column", None)
    return column(name) if column is not None else [getattr(doc, name) for doc in docs]


def full_text(doc: SearchDoc) -> str:
    return doc.body.text if doc.body is not None else doc.text


def documents(cluster: Cluster, bodies: Mapping[str, Body],
              keys: Iterable[str] | None = None, leads: bool = True) -> list[SearchDoc]:
    """Every published page in URL order, never a draft, scheduled, expired or withdrawn one;
    or those among the pages of `keys`."""
    return [doc for _, doc in keyed_documents(cluster, bodies, keys, leads)]


def keyed_documents(cluster: Cluster, bodies: Mapping[str, Body],
                    keys: Iterable[str] | None = None, leads: bool = True) -> list[tuple[str, SearchDoc]]:
    """documents(), each with its page's key. Without `leads`, a document's text is left empty
    for whoever has its body to fill in (Body.lead: read from a spool, not held)."""
    states, previewed, urls = cluster.states, cluster.previewed, cluster.urls
    pages = cluster.pages if keys is None else {k: cluster.pages[k] for k in keys if k in cluster.pages}
    # Sorted by key, each page read in its turn: a model's pages are held packed (snapshot.Chunked),
    # and all of them at once, unpacked, were 172 MB at 100,000 pages.
    chosen = sorted((urls[key], key) for key in pages
                    if states.get(key) == PUBLISHED and key not in previewed)
    # What a document takes from its site and column, worked out once per site, not per page.
    sites = {site_id: (site.config.name, site.config.url, site.config.timezone,
                       {column_id: column.title for column_id, column in site.columns.items()})
             for site_id, site in cluster.sites.items()}
    docs = []
    for url, key in chosen:
        page = pages[key]
        name, site_url, zone, columns = sites[page.site]
        body, policy = bodies[page.key], page.policy
        docs.append((page.key, SearchDoc(
            url, page.title, body.lead if leads else "", page.site, name, site_url, columns[page.column],
            page.kind, page.date.astimezone(zone).date().isoformat() if page.date else "",
            policy.validity if policy else "", policy.doc_number if policy else "",
            policy.issuer if policy else "", body.digest, body)))
    return docs


def index_terms(doc: SearchDoc) -> list[str]:
    """The document as a bag of terms, field weights by repetition: a title word counts three
    times, a document number eight, the body and the issuer (发文机关) once; BM25 then saturates
    and length-normalises the counts."""
    return (tokens(doc.title) * WEIGHTS["title"] + tokens(full_text(doc)) + tokens(doc.issuer)
            + numbers_of(doc) * WEIGHTS["docnum"])


def numbers_of(doc: SearchDoc) -> list[str]:
    """Worked out only for a document being counted: a rebuild reads the others' counts."""
    return number_terms(f"{doc.doc_number} {doc.title}")


@dataclass(frozen=True)
class Scores:
    """Every term's BM25 contribution to every page holding it, as arrays sorted by term and
    then by page: what an index ships, for all pages or for one site's."""
    terms: list[str]            # by column number
    hashes: np.ndarray          # CRC-32 of each term (shard_of), by column number
    # Each posting's column, or None where `starts` says the same (the `columns` property).
    _columns: np.ndarray | None
    docs: np.ndarray | Docs
    values: np.ndarray          # contribution × SCALE, rounded, at least 1
    # Whether every document counted in the previous build has the contributions it had then,
    # but for terms whose idf moved (their columns): its index may then be kept as it was.
    kept: bool = False
    moved: frozenset[int] = frozenset()
    # When `kept` and no document moved in the numbering: every term whose postings may differ
    # from the previous build's, those a changed document holds or held. Else None.
    touched: frozenset[str] | None = None
    # Where each column's postings start, and their end: what score() knows, which spares
    # the cluster's scores a column per posting (164 MB at 100,000 pages, in the search
    # process and every index worker forked from it).
    starts: np.ndarray | None = None

    @property
    def columns(self) -> np.ndarray:
        if self._columns is not None:
            return self._columns
        assert self.starts is not None
        return np.repeat(np.arange(len(self.starts) - 1, dtype=np.int32), np.diff(self.starts))

    def _columns_of(self, taken: np.ndarray) -> np.ndarray:
        """The columns of the postings at these positions (ascending), from `starts`."""
        assert self.starts is not None
        return of_spans(np.arange(len(self.starts) - 1, dtype=np.int32), self.starts, taken)

    def _taken(self, test: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The columns of the postings whose documents pass `test`, and their positions. Tested
        a block at a time: a mask over every posting of a large cluster (43 million at 100,000
        pages) and its temporaries were 130 MB, at the peak of each process writing a site's
        index."""
        # Positions as 32-bit numbers where they fit: a large site's are millions.
        kind = np.int32 if len(self.docs) < np.iinfo(np.int32).max else np.int64
        taken = np.concatenate([np.flatnonzero(test(self.docs[start:start + SCORE_BLOCK])).astype(kind) + start
                                for start in range(0, len(self.docs), SCORE_BLOCK)]
                               or [np.zeros(0, dtype=kind)])
        return (self._columns[taken] if self._columns is not None else self._columns_of(taken)), taken

    def term_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """The columns that have postings, and where each one's postings start."""
        if self._columns is not None:
            firsts = _firsts(self._columns)
            return self._columns[firsts], firsts
        assert self.starts is not None
        present = np.flatnonzero(np.diff(self.starts) > 0)
        return present, self.starts[present]

    def _spans_of(self, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the postings of these columns (ascending) start, and how many each has."""
        if self._columns is not None:
            low = np.searchsorted(self._columns, terms)
            return low, np.searchsorted(self._columns, terms, "right") - low
        assert self.starts is not None
        return self.starts[terms], self.starts[terms + 1] - self.starts[terms]

    def only(self, keep: list[int]) -> Scores:
        """The scores of some pages (positions, ascending), renumbered 0, 1, 2 … in order. A
        site's index keeps the whole cluster's term statistics: more stable than a small
        site's own, and computed once.

        `touched` carries over: when these pages are the very ones of the previous build's
        index (publish.site_key() found it), their postings differ from it only in terms a
        changed document holds or held, and an index can be patched like the portal's."""
        if keep and keep[-1] - keep[0] + 1 == len(keep):   # a site's pages are one URL range
            low, high = keep[0], keep[-1]
            columns, taken = self._taken(lambda docs: (docs >= low) & (docs <= high))
            return Scores(self.terms, self.hashes, columns, self.docs[taken] - keep[0],
                          self.values[taken], touched=self.touched)
        # Sized for pages without any term too (a title of punctuation, an empty body).
        size = max(int(self.docs.max(initial=-1)), max(keep, default=-1)) + 1
        renumber = np.full(size, -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        columns, taken = self._taken(lambda docs: renumber[docs] >= 0)
        return Scores(self.terms, self.hashes, columns, renumber[self.docs[taken]],
                      self.values[taken], touched=self.touched)

    def whole(self) -> Scores:
        """The scores as arrays (an overlay.Overlaid works them out once asked)."""
        return self

    @property
    def postings(self) -> int:
        return len(self.docs)

    def size(self) -> int:
        """About the bytes of JSON of an index of these scores' term shards (_term_shards): four a
        number, and each term quoted."""
        present = self.term_spans()[0]
        return 8 * len(self.docs) + _term_bytes(self.terms[c] for c in present.tolist())

    def shard_count(self, shard_bytes: int, most: int, previous: Mapping[str, str] | None) -> int:
        """How many term shards an index of these scores has (none: no posting at all)."""
        return shards_for(self.postings, self.size(), shard_bytes, most)

    def in_shards(self, shards: list[int], count: int) -> Scores:
        """Every posting of every term in some of `count` shards (sorted), in the same order."""
        low, widths = self._spans_of(np.flatnonzero(np.isin(self.hashes % count, shards)))
        take = spans(low, widths)
        columns = self._columns[take] if self._columns is not None else self._columns_of(take)
        return Scores(self.terms, self.hashes, columns, self.docs[take],
                      self.values[take])

    def holders(self) -> np.ndarray:
        """The documents holding a term whose idf moved (`moved`)."""
        starts, widths = self._spans_of(np.array(sorted(self.moved), dtype=np.int64))
        return np.concatenate([self.docs[a:a + n] for a, n in zip(starts.tolist(), widths.tolist(),
                                                                   strict=True)] + [np.zeros(0, np.int64)])


class Docs:
    """Each posting's document, as its low 16 bits and one bit array for each bit above them:
    2.1 bytes a posting at 100,000 pages instead of 4. There are 43 million postings then,
    held by the search process at its peak and read by every index worker forked from it
    (86 MB fewer in each). Read as an int32 array: a slice of it, or the postings at some
    positions."""

    def __init__(self, postings: int, documents: int):
        self.low = np.zeros(postings, dtype=np.uint16)
        self.high = [np.zeros(-(-postings // 8), dtype=np.uint8)
                     for _ in range(max(0, (documents - 1).bit_length() - 16))]

    def __len__(self) -> int:
        return len(self.low)

    def put(self, places: np.ndarray, docs: np.ndarray) -> None:
        """docs[i] as the document of posting places[i] (as ndarray.put does)."""
        self.low[places] = docs & 0xFFFF
        for bit, plane in enumerate(self.high):
            at = places[(docs >> (16 + bit)) & 1 == 1]
            np.bitwise_or.at(plane, at >> 3, (0x80 >> (at & 7)).astype(np.uint8))

    def __getitem__(self, where: slice | np.ndarray) -> np.ndarray:
        if isinstance(where, slice):
            first, end, step = where.indices(len(self.low))
            assert step == 1, "a slice of postings is one run"
            end = max(first, end)
            docs = self.low[first:end].astype(np.int32)
            for bit, plane in enumerate(self.high):
                bits = np.unpackbits(plane[first >> 3:-(-end // 8)])[first & 7:(first & 7) + end - first]
                docs |= bits.astype(np.int32) << (16 + bit)
            return docs
        docs = self.low[where].astype(np.int32)
        for bit, plane in enumerate(self.high):
            docs |= ((plane[where >> 3] >> (7 - (where & 7))) & 1).astype(np.int32) << (16 + bit)
        return docs

    def max(self, initial: int) -> int:
        return max((int(self[start:start + SCORE_BLOCK].max()) for start in range(0, len(self), SCORE_BLOCK)),
                   default=initial)

    def whole(self) -> np.ndarray:
        return self[0:len(self)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.whole() if dtype is None else self.whole().astype(dtype)

    def tolist(self) -> list[int]:
        return self.whole().tolist()


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys as each distinct one and how many times it comes."""
    firsts = _firsts(keys)
    return keys[firsts], np.diff(np.append(firsts, len(keys)))


def of_spans(per_span: np.ndarray, starts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The value of each position's span (per_span), for positions in ascending order among
    spans that start at `starts` (its last item is where the last one ends)."""
    return np.repeat(per_span, np.diff(np.searchsorted(positions, starts)))


def spans(starts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The positions start, start + 1 … of every span, one span after the other."""
    return np.repeat(starts - np.cumsum(widths) + widths, widths) + np.arange(int(widths.sum()))


def shards_for(postings: int, size: int, shard_bytes: int, most: int) -> int:
    return min(most, max(1, -(-size // shard_bytes))) if postings else 0


def _firsts(columns: np.ndarray) -> np.ndarray:
    """Where each column's postings start."""
    return np.flatnonzero(np.concatenate(([True], columns[1:] != columns[:-1]))) if len(columns) \
        else np.zeros(0, dtype=np.int64)


@dataclass
class TermState:
    """Every document's counted terms as score() left them, sorted by term and then document,
    with the digests of the documents they belong to: the next build starts from these and
    only takes out the documents gone and puts in the new ones (_TermKeys.update), instead of
    reading back and sorting every document's counts again. With them, what score() worked
    out: each posting's contribution, and each distinct key's first posting and CRC-32, from
    which an edit is scored without merging anything (overlay.py)."""
    digests: list[str]
    # int64 term keys (_TermKeys), sorted, one per posting: the `keys` property, worked out
    # from `vocabulary` and `starts` if it is ever asked for whole. Neither the cache nor an
    # edit holds one per posting (at 100,000 pages, 328 MB on disk and mapped in): keys_at()
    # and keys_in() answer from the spans.
    _keys: np.ndarray | None
    docs: np.ndarray | Docs   # int32 document positions (Docs, as count_all() made them)
    tf: np.ndarray        # int32 weighted counts
    lengths: np.ndarray   # float64, one per document
    words: list[str]      # spelling of the keys from _TermKeys.WORDS upward
    values: np.ndarray    # int32 contributions (Scores.values)
    vocabulary: np.ndarray   # int64 distinct keys, sorted
    starts: np.ndarray    # int64 first posting of each distinct key, and the number of postings
    hashes: np.ndarray    # int64 CRC-32 of each distinct key's term (Scores.hashes)
    term_bytes: int       # what the terms add to an index's size estimate (Scores.size)
    # The cache file's memory map the arrays are views of, when read from one (from_bytes).
    mapped: mmap.mmap | None = None
    # Works the contributions out over `tf` (score()), once chunks() has written the counts
    # or it is asked (values_now): until then `values` is `tf`.
    later: Callable[[], np.ndarray] | None = None

    def values_now(self) -> np.ndarray:
        if self.later is not None:
            self.values, self.later = self.later(), None
        return self.values

    @cached_property
    def tag(self) -> str:
        return state_tag(self.digests)

    @property
    def keys(self) -> np.ndarray:
        if self._keys is None:
            self._keys = np.repeat(self.vocabulary, np.diff(self.starts))
        return self._keys

    @property
    def postings(self) -> int:
        return int(self.starts[-1])

    def keys_at(self, positions: np.ndarray) -> np.ndarray:
        """The keys of the postings at these positions, which are in ascending order."""
        return of_spans(self.vocabulary, self.starts, positions)

    def keys_in(self, low: int, high: int) -> np.ndarray:
        """The keys of postings low … high - 1."""
        return _spread(self.vocabulary, self.starts, low, high)

    def key_span(self, key: int) -> tuple[int, int]:
        """The postings of a key (first, end): an empty span where it would be if it has none."""
        at = int(np.searchsorted(self.vocabulary, key))
        held = at < len(self.vocabulary) and int(self.vocabulary[at]) == key
        return int(self.starts[at]), int(self.starts[at + 1] if held else self.starts[at])

    def key_counts(self, keys: np.ndarray) -> np.ndarray:
        """The number of postings of each of these keys."""
        if not len(self.vocabulary):
            return np.zeros(len(keys), dtype=np.int64)
        at = np.minimum(np.searchsorted(self.vocabulary, keys), len(self.vocabulary) - 1)
        held = self.vocabulary[at] == keys
        return np.where(held, self.starts[at + 1] - self.starts[at], 0)

    @property
    def mean(self) -> str:
        return _mean(self.lengths)

    def release(self, array: np.ndarray | Docs) -> None:
        """Drop from memory the pages of one of the arrays, once merged (_splice): they stay in
        the file, and are read again if used again. At 100,000 pages the previous build's
        arrays are 700 MB, and an update held them all beside the new ones."""
        if self.mapped is None or not hasattr(mmap, "MADV_DONTNEED") or \
                not isinstance(array, np.ndarray) or not array.nbytes:
            return
        base = np.frombuffer(self.mapped, dtype=np.uint8).ctypes.data
        start = array.ctypes.data - base
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE          # whole pages inside it only
        last = (start + array.nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
        if 0 <= first < last <= len(self.mapped):
            self.mapped.madvise(mmap.MADV_DONTNEED, first, last - first)

    def release_all(self) -> None:
        """Drop from memory every page of the cache's file read so far: they are read again
        where used again. An edit's indexes read the state site by site, and the pages read,
        counted as the process's own, stayed to its end (at 100,000 pages, 15 MB of its peak)."""
        if self.mapped is not None and hasattr(mmap, "MADV_DONTNEED") and len(self.mapped):
            self.mapped.madvise(mmap.MADV_DONTNEED, 0, len(self.mapped))

    def populate(self, *arrays: np.ndarray) -> None:
        """Map these arrays' pages of the cache's file in now, in one call each: touched one at
        a time, each 4 KB page cost a fault (0.4 s for the whole file at 100,000 pages)."""
        if self.mapped is None or _POPULATE_READ is None:
            return
        base = np.frombuffer(self.mapped, dtype=np.uint8).ctypes.data
        for array in arrays:
            first = (array.ctypes.data - base) // mmap.PAGESIZE * mmap.PAGESIZE
            last = min(array.ctypes.data - base + array.nbytes, len(self.mapped))
            if array.nbytes and 0 <= first < last:
                try:
                    self.mapped.madvise(_POPULATE_READ, first, last - first)
                except OSError:   # a kernel before 5.14: faulted in as touched
                    return

    def chunks(self) -> Chunks:
        """The state as the cache writes it to a file: a header, then the arrays as they are."""
        n = len(self.docs)
        head = orjson.dumps({"digests": self.digests, "words": self.words, "postings": n,
                             "vocabulary": len(self.vocabulary), "term_bytes": self.term_bytes,
                             "tag": self.tag})
        # The arrays start on a multiple of eight bytes: numpy copies a misaligned array whole
        # before it searches it (a quarter of a second per search at 100,000 pages).
        pad = b" " * (-len(head) % 8)
        return Chunks((len(head).to_bytes(8, "little"), head, pad,
                       lambda: _as_int32(self.docs),
                       lambda: _as_int32(self.tf),
                       lambda: _as_int32(self.values_now()),
                       b"\0" * (4 * (n % 2)),
                       np.ascontiguousarray(self.lengths, dtype=np.float64),
                       np.ascontiguousarray(self.vocabulary, dtype=np.int64),
                       np.ascontiguousarray(self.starts, dtype=np.int64),
                       np.ascontiguousarray(self.hashes, dtype=np.int64)))

    @classmethod
    def from_bytes(cls, data: bytes | mmap.mmap) -> TermState | None:
        """The state, or None when the bytes are not one (a cache written by other code). The
        arrays are views of `data`, a memory map of the cache's file or bytes."""
        try:
            size = int.from_bytes(data[:8], "little")
            head = orjson.loads(data[8:8 + size])
            n, docs, v = head["postings"], len(head["digests"]), head["vocabulary"]
            at = 8 + size + (-size % 8)
            arrays = []
            for dtype, count in ((np.int32, n), (np.int32, n), (np.int32, n),
                                 (None, n % 2), (np.float64, docs), (np.int64, v),
                                 (np.int64, v + 1), (np.int64, v)):
                if dtype is None:   # the padding after the 32-bit arrays
                    at += 4 * count
                    continue
                arrays.append(np.frombuffer(data, dtype=dtype, count=count, offset=at))
                at += arrays[-1].nbytes
            if at != len(data):
                return None
            if not arrays[0].flags.aligned:   # bytes that do not start on a word: one copy, once
                arrays = [a.copy() for a in arrays]
            positions, tf, values, lengths, vocabulary, starts, hashes = arrays
            state = cls(head["digests"], None, positions, tf, lengths, head["words"], values,
                        vocabulary, starts, hashes, head["term_bytes"],
                        data if isinstance(data, mmap.mmap) and positions.base is not None else None)
            state.__dict__["tag"] = head["tag"]
            # Searched all over: mapped in at once, not a fault a page. The postings' arrays
            # are mapped in where they are read (an edit's pass over them, an update's merge).
            state.populate(vocabulary, starts, hashes)
            return state
        except (ValueError, KeyError, TypeError):
            return None


def _as_int32(array: np.ndarray | Docs) -> Iterator[np.ndarray]:
    """An array as 32-bit numbers, as the state's file holds them: a block at a time when it
    holds narrower ones (count_all's counts and documents), never a second copy of it whole."""
    if isinstance(array, np.ndarray) and array.dtype == np.int32:
        yield np.ascontiguousarray(array)
        return
    for start in range(0, len(array), SCORE_BLOCK):
        yield np.asarray(array[start:start + SCORE_BLOCK], dtype=np.int32)


# madvise(MADV_POPULATE_READ), Linux's since 5.14 (Python's mmap module names it from 3.13).
_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22 if sys.platform == "linux" else None)


@dataclass
class CountCache:
    """Counted terms from earlier builds, by document digest (publish.document_digests): a
    document whose digest is known is not analysed again. What was counted goes to `sink`
    as soon as it is (the build cache writes it out), or else into `new`. `known` is consumed:
    each entry is dropped once read, so a large cluster's counts are not held twice."""
    digests: list[str]                # one per document, in order
    known: dict[str, bytes]
    new: dict[str, bytes] = field(default_factory=dict)
    sink: Callable[[str, bytes], None] | None = None
    state: TermState | None = None       # the previous build's, if any; dropped once used
    state_out: TermState | None = None   # this build's (keep_state), unless given to state_sink
    state_sink: Callable[[TermState], None] | None = None
    # Told the documents about to be counted, before any process starts (the build reads
    # their bodies' text from its cache then: SearchDoc.body).
    prepare: Callable[[Iterable[SearchDoc]], None] | None = None
    # The previous build's documents that differed from `state` (position → digest), when it
    # scored them as an overlay of it (overlay.py); and this build's, for the next one.
    overlaid: dict[int, str] = field(default_factory=dict)
    overlay_out: tuple[str, dict[int, str]] | None = None   # (the state's tag, the overlay)
    overlay_sink: Callable[[str, dict[int, str]], None] | None = None
    # Reads the counts of documents not among `known` (those of earlier builds), if it can.
    lookup: Callable[[list[str]], dict[str, bytes]] | None = None
    used: set[str] = field(default_factory=set)   # such documents the next build reads again
    state_kept: bool = False   # `state` is this build's too (overlaid), not written again
    # Runs a function in a process of its own and gives what it returned, with what `sink`
    # kept there carried back (build._apart_noting): the counting of a cold build's documents
    # runs there, so that what it leaves behind (the workers' results taken apart, 100 MB at
    # 100,000 pages, held in memory the C library and Python keep) is not in the process that
    # then places every posting and forks the index writers.
    apart: Callable[[Callable[[], Any]], Any] | None = None

    def keep_overlay(self, tag: str, overlay: dict[int, str]) -> None:
        if self.overlay_sink is not None:
            self.overlay_sink(tag, overlay)
        self.overlay_out = tag, overlay

    def keep_state(self, state: TermState) -> None:
        if self.state_sink is not None:
            self.state_sink(state)   # written out now: its arrays need not outlive score()
        else:
            self.state_out = state

    def keep(self, digest: str, packed: bytes) -> None:
        if self.sink is not None:
            self.sink(digest, packed)
        else:
            self.new[digest] = packed


def score(docs: Sequence[SearchDoc], jobs: int = 1, cache: CountCache | None = None) -> Scores:
    """BM25 (Lucene's variant) of every term for every document holding it.

    Terms are counted as integer keys (_TermKeys) with numpy rather than as Python strings:
    a corpus has millions of term occurrences but only a few hundred thousand distinct terms,
    and only those ever become strings. The arithmetic is bm25s's (a test compares them) but for
    the rounding of the collection statistics below."""
    keys = _TermKeys()
    vocabulary, df, docs_of, tf, lengths = keys.sorted_postings(docs, jobs, cache)
    if not len(docs_of):
        empty = np.zeros(0, dtype=np.int64)
        if cache is not None:
            cache.keep_state(TermState(cache.digests, empty, docs_of, tf, lengths, [],
                                       empty.astype(np.int32), empty, np.zeros(1, np.int64), empty, 0))
        return Scores([], empty, empty, empty, empty)
    # Positions, counts and scores are 32-bit, and each array is dropped once used: at 100,000
    # pages there are tens of millions of occurrences.
    starts = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
    # Rounded (idf to 0.01, the average length to 3 digits) so that one edited page changes
    # only its own contributions and those of the rare terms it adds or drops: the other sites'
    # indexes keep their bytes (publish.py links them from the previous build), and a purge
    # list stays short. Ranking moves by less than the integer rounding of contributions.
    idf = _idf(len(docs), df)
    mean = _mean(lengths)
    norm = _norm(lengths, mean)
    kept, moved = _moved(keys.before, len(docs), mean, vocabulary, df, idf)
    before = keys.before
    # A state written out at once (state_sink) has its counts written before its
    # contributions are worked out over them: 164 MB fewer at 100,000 pages, at the peak.
    over_counts = cache is not None and cache.state_sink is not None and (
        tf.dtype == np.int32 or float(idf.max()) * SCALE <= np.iinfo(tf.dtype).max)
    values = tf if over_counts else np.empty(len(tf), dtype=np.int32)

    def contribute(counts: np.ndarray = tf) -> np.ndarray:
        for start in range(0, len(counts), SCORE_BLOCK):   # in blocks: float temporaries stay small
            block = slice(start, start + SCORE_BLOCK)
            values[block] = _contributions(_spread(idf, starts, block.start, min(block.stop, len(counts))),
                                           counts[block], norm[docs_of[block]])
        return values

    if not over_counts:
        contribute()
    terms = keys.terms(vocabulary)
    hashes = np.array([zlib.crc32(term.encode("utf-8")) for term in terms], dtype=np.int64)
    if cache is not None:
        state = TermState(cache.digests, None, docs_of, tf, lengths, keys.sorted, values,
                          vocabulary, starts, hashes, _term_bytes(terms),
                          later=contribute if over_counts else None)
        cache.keep_state(state)
        state.values_now()   # (when the sink did not write it: a cache without a folder)
        del state
    del tf, contribute
    touched = _touched(before, terms, np.repeat(np.arange(len(vocabulary), dtype=np.int32), df),
                       np.asarray(docs_of), values) if kept and before is not None and not before.renumbered else None
    return Scores(terms, hashes, None, docs_of, values, kept, moved, touched, starts)


def _spread(per_term: np.ndarray, starts: np.ndarray, first: int, end: int) -> np.ndarray:
    """Postings first … end - 1 of terms whose postings start at `starts` (ascending; the last
    is their end), each with its term's value from `per_term`."""
    low, high = (np.searchsorted(starts, [first, end - 1], "right") - 1).tolist()
    return np.repeat(per_term[low:high + 1], np.diff(np.clip(starts[low:high + 2], first, end)))


def state_tag(digests: list[str]) -> str:
    """Names a state by its documents: an overlay of it (overlay.py) says which it overlays."""
    return hashlib.sha256("\0".join(digests).encode()).hexdigest()


def _mean(lengths: np.ndarray) -> str:
    return f"{lengths.mean():.3g}" if len(lengths) else "0"


def _norm(lengths: np.ndarray, mean: str) -> np.ndarray:
    """BM25's length normalisation of documents, from their lengths (as norm_lengths() keeps
    them) and the rounded average."""
    return K1 * (1 - B + B * norm_lengths(lengths) / float(mean))


NORM_BITS: int | None = 3   # binary digits of a length kept after its leading one; None: all


def norm_lengths(lengths: np.ndarray) -> np.ndarray:
    """Lengths cut to their leading 1 + NORM_BITS binary digits (at most an eighth less), as
    Lucene keeps them in a one-byte norm. A sentence added to a page then seldom changes its
    length as scored, nor so the contributions of the terms it already held: an edit touches
    the shards of the terms it adds or recounts, not of every term of the page (at 10,000
    pages, a few dozen of the portal's shards instead of hundreds, and as many fewer files
    to upload and purge)."""
    if NORM_BITS is None:
        return lengths
    mantissa, exponent = np.frexp(lengths)
    scale = 1 << (NORM_BITS + 1)
    return np.ldexp(np.floor(mantissa * scale) / scale, exponent)


def _contributions(idf: np.ndarray, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Postings' contributions as shipped, from their terms' idf, their counts and their
    documents' _norm(): the one formula every way of scoring uses, to the last bit."""
    weight = tf.astype(np.float64)
    return np.maximum(1, np.rint(idf * weight / (norm + weight) * SCALE)).astype(np.int32)


def _term_bytes(terms: Iterable[str]) -> int:
    """What terms add to the size estimate of an index holding them (Scores.size)."""
    return sum(3 * len(term) + 4 for term in terms)


def _touched(before: _Before, terms: list[str], columns: np.ndarray, docs: np.ndarray,
             values: np.ndarray) -> frozenset[str]:
    """The terms whose postings differ from the previous build's, the documents' numbering
    being the same: those of a changed document whose contribution to it came, went or changed. A sentence added to a page changes its length and so every
    contribution of that page a little, but most of them round to the same integer, and each
    term left out is a shard of the portal's index not worked out again."""
    now: dict[tuple[int, str], int] = {}
    if before.changed:
        at = np.flatnonzero(np.isin(docs, np.array(sorted(before.changed), dtype=docs.dtype)))
        now = {(doc, terms[column]): value for column, doc, value in zip(
            columns[at].tolist(), docs[at].tolist(), values[at].tolist(), strict=True)}
    differ = {term for (doc, term), value in now.items()
              if before.contributed.get((doc, term)) != value}
    differ.update(term for doc_term, term in ((k, k[1]) for k in before.contributed)
                  if doc_term not in now)
    # A term whose idf moved is among them: its frequency moved, so a changed document gained
    # or lost it, and that posting came or went.
    return frozenset(differ)


SCORE_BLOCK = 1 << 18


def _idf(documents: int, df: np.ndarray) -> np.ndarray:
    return np.round(np.log(1 + (documents - df + 0.5) / (df + 0.5)), 2)


@dataclass(frozen=True)
class _Then:
    """The previous build's arrays' word on the changed documents (_TermKeys._then)."""
    removed: np.ndarray                        # keys (numbered then) of their dropped postings
    df: dict[int, int]                         # key then → document frequency then
    mean: str                                  # the average length then, as rounded
    contributed: dict[tuple[int, str], int]    # as _Before.contributed


@dataclass(frozen=True)
class _Before:
    """What an update (_TermKeys.update) knew of the previous build: enough to tell whose
    contributions changed. A contribution is a function of the term's idf, the document's own
    counts and length, and the average length: a document not changed keeps its contributions
    unless the number of documents, the rounded average or the idf of one of its terms moved,
    and only the terms of changed documents changed their document frequency."""
    documents: int
    mean: str                 # the average length as rounded
    df: dict[int, int]        # term key (this build's numbering) → document frequency then
    renumbered: bool = True   # documents came or went before others, which moved up or down
    changed: frozenset[int] = frozenset()   # this build's positions of the changed documents
    # (document, term) → what each posting of a changed document contributed in the previous
    # build (numbered as then, which is as now when not renumbered)
    contributed: dict[tuple[int, str], int] = field(default_factory=dict)


def _moved(before: _Before | None, documents: int, mean: str, vocabulary: np.ndarray,
           df: np.ndarray, idf: np.ndarray) -> tuple[bool, frozenset[int]]:
    """Whether unchanged documents kept their contributions, and the columns of the terms
    whose rounded idf moved (held by unchanged documents too, their contributions did not)."""
    if before is None or before.documents != documents or before.mean != mean:
        return False, frozenset()
    keys = np.array(list(before.df), dtype=np.int64)
    then = np.array(list(before.df.values()), dtype=np.int64)
    at = np.minimum(np.searchsorted(vocabulary, keys), len(vocabulary) - 1)
    present = vocabulary[at] == keys
    both = present & (then > 0)
    changed = both & (_idf(documents, then) != idf[at])
    return True, frozenset(at[changed].tolist())


# One document's terms as count() finds them, in a form any process can read back: the keys
# and counts of its Chinese terms, its other terms spelled out with their counts, its length.
Counted = tuple[np.ndarray, np.ndarray, list[str], np.ndarray, int]


def _places_in_old(state: TermState, kept: np.ndarray, dropped: np.ndarray, words_from: int,
                   words: list[str], keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Where new postings, sorted by (key, document) in the new numbering, go among the
    previous build's: each key and document put in the old numbering first (a new word goes
    before the first old word it sorts before; a new document before the first kept one it
    precedes), then found by binary search."""
    old_words = state.words
    old_docs = np.flatnonzero(~dropped)          # old number of each kept document, in order
    after = np.searchsorted(kept, docs)          # kept documents before each new one
    doc_in_old = np.where(after < len(old_docs), old_docs[np.minimum(after, len(old_docs) - 1)],
                          len(state.digests))
    places = []
    for key, doc in zip(keys.tolist(), doc_in_old.tolist(), strict=True):
        if key >= words_from:
            word = words[key - words_from]
            at = bisect.bisect_left(old_words, word)
            if at == len(old_words) or old_words[at] != word:   # a word the old state lacks
                places.append(state.key_span(words_from + at)[0])
                continue
            key = words_from + at
        low, high = state.key_span(key)
        places.append(low + int(np.searchsorted(state.docs[low:high], doc)))
    return np.array(places, dtype=np.int64)


class _PostingKeys:
    """A state's key of every posting, as _splice() reads an array: a slice at a time."""

    dtype = np.dtype(np.int64)

    def __init__(self, state: TermState):
        self.state = state

    def __len__(self) -> int:
        return self.state.postings

    def __getitem__(self, span: slice) -> np.ndarray:
        return self.state.keys_in(span.start, span.stop)


def _splice(arrays: list[tuple[Any, np.ndarray, Callable[[np.ndarray], np.ndarray] | None]],
            removed: np.ndarray, places: np.ndarray,
            done: Callable[[np.ndarray], None] | None = None) -> list[np.ndarray]:
    """np.insert(np.delete(old, removed), …, new) for parallel arrays in one copy each: the old
    runs between removed positions and insertion places are copied (through `convert` when
    given), the new items written at their places (sorted; an item at place p goes before
    old[p]). `done` is told each old array once it is copied."""
    size = len(arrays[0][0])
    # (start, end) of each old run to copy, or (-1, n) for the new item n, in output order.
    pieces: list[tuple[int, int]] = []
    removed_list, place_list = removed.tolist(), places.tolist()
    r = p = start = 0
    while True:
        next_removed = removed_list[r] if r < len(removed_list) else size
        next_place = place_list[p] if p < len(place_list) else size + 1
        stop = min(next_removed, next_place, size)
        if stop > start:
            pieces.append((start, stop))
            start = stop
        if next_place <= next_removed and p < len(place_list):
            pieces.append((-1, p))
            p += 1
        elif r < len(removed_list):
            start = next_removed + 1
            r += 1
        else:
            break
    total = size - len(removed_list) + len(place_list)
    out = []
    for old, new, convert in arrays:
        result = np.empty(total, dtype=np.result_type(old.dtype, new.dtype))
        at = 0
        for a, b in pieces:
            if a < 0:
                result[at] = new[b]
                at += 1
            else:
                result[at:at + b - a] = convert(old[a:b]) if convert else old[a:b]
                at += b - a
        out.append(result)
        if done is not None:
            done(old)
    return out


PLACE_ONE_BY_ONE = 20_000   # new postings placed by binary search each, at most
PLACE_BLOCK = 1 << 18       # counted postings moved into place at a time
COUNT_SLICE = 5_000         # documents counted by one task, at most


def _merge_places(keys: np.ndarray, docs: np.ndarray, new_keys: np.ndarray,
                  new_docs: np.ndarray) -> np.ndarray:
    """Where postings sorted by (key, document) go among others sorted alike (np.insert's
    indexes; no posting is in both). A few new postings are placed one by one by binary
    search; many at once by comparing (key, document) as one number, the key by its rank among
    the old distinct keys (odd), or between two of them (even)."""
    if len(new_keys) <= PLACE_ONE_BY_ONE:
        low = np.searchsorted(keys, new_keys, "left").tolist()
        high = np.searchsorted(keys, new_keys, "right").tolist()
        return np.array([a + int(np.searchsorted(docs[a:b], d)) if b > a else a
                         for a, b, d in zip(low, high, new_docs.tolist(), strict=True)],
                        dtype=np.int64)
    first = np.concatenate(([True], keys[1:] != keys[:-1]))
    distinct = keys[first]
    ranks = np.cumsum(first) - 1
    at = np.searchsorted(distinct, new_keys)
    known = (at < len(distinct)) & (distinct[np.minimum(at, len(distinct) - 1)] == new_keys) \
        if len(distinct) else np.zeros(len(at), dtype=bool)
    return np.searchsorted(((2 * ranks + 1) << 32) | docs.astype(np.int64),
                           ((2 * at + known) << 32) | new_docs)


@cache
def _cjk_table() -> np.ndarray:
    """Whether each code point is in CJK_RANGES: one lookup per character."""
    table = np.zeros(0x110000, dtype=bool)
    for low, high in CJK_RANGES:
        table[low:high + 1] = True
    return table


class _TermKeys:
    """index_terms() as integer keys: a Chinese bigram is its two code points (21 bits each), a
    lone character its code point, and any other term (a stemmed word, a document number) a
    number from WORDS upward. Same terms, same counts: only their spelling differs, and terms()
    spells the distinct ones back. Words are numbered in sorted order once all are known, so
    the numbering depends only on the words, never on which process or cache counted them."""

    WORDS = 1 << 42

    def __init__(self) -> None:
        self.words: dict[str, int] = {}
        self.raw: dict[str, int] = {}   # a word as written → its stem's key
        self.spelled: list[str] = []    # words by the number this process gave them
        self.sorted: list[str] = []     # every document's words, sorted: their final numbers
        self.before: _Before | None = None   # set by an update that changed few postings

    def sorted_postings(self, docs: Sequence[SearchDoc], jobs: int, cache: CountCache | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | Docs, np.ndarray, np.ndarray]:
        """Every document's postings, sorted by key and then document (count_all()). From the
        previous build's state when there is one, else from every document's counts."""
        if cache is not None and cache.state is not None:
            state, cache.state = cache.state, None   # its hundreds of megabytes freed once merged
            updated = self.update(state, docs, jobs, cache)
            del state
            if updated is not None:
                found, docs_of, tf, lengths = updated
                return *_runs(found), docs_of, tf, lengths
        return self.count_all(docs, jobs, cache)

    def update(self, state: TermState, docs: Sequence[SearchDoc], jobs: int, cache: CountCache
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """sorted_postings() from the previous build's: the postings of documents gone or
        changed are dropped, the others renumbered, and the new documents' counted and merged
        in at their places. The same arrays, word numbering included, as counting everything."""
        if isinstance(state.docs, Docs):   # a state made in this process (the cache's is int32)
            state.docs = state.docs.whole()
        position = {digest: n for n, digest in enumerate(state.digests)}
        renumber = np.full(len(state.digests), -1, dtype=np.int64)
        fresh: list[int] = []
        for n, digest in enumerate(cache.digests):
            old = position.get(digest)
            if old is None:
                fresh.append(n)
            else:
                renumber[old] = n
        kept = renumber[renumber >= 0]
        if np.any(kept[1:] <= kept[:-1]) or len(fresh) > max(100, len(docs) // 4):
            return None   # not the same order (a changed URL scheme), or mostly new: count all
        # The new documents, counted (or read back) like any; their words numbered apart.
        counter = _TermKeys()
        sub = CountCache([cache.digests[n] for n in fresh], cache.known, cache.new, cache.sink,
                         prepare=cache.prepare)
        f_vocabulary, f_widths, counted, f_tf, f_lengths = counter.count_all([docs[n] for n in fresh], jobs, sub)
        f_keys = np.repeat(f_vocabulary, f_widths)
        f_docs = np.array(fresh, dtype=np.int32)[counted.whole()]   # as the state's: spliced without a copy
        # One numbering for the words of both: sorted, so the old keys keep their order.
        words = sorted(set(state.words).union(counter.sorted))
        rank = {word: n for n, word in enumerate(words)}
        dropped = renumber < 0
        moved = bool(np.any(kept != np.flatnonzero(~dropped)))   # documents came or went before
        old_rank = np.array([rank[w] for w in state.words], dtype=np.int64) \
            if len(words) != len(state.words) else None        # new words came between
        is_word = f_keys >= self.WORDS
        new_rank = np.array([rank[w] for w in counter.sorted], dtype=np.int64)
        f_keys[is_word] = self.WORDS + new_rank[f_keys[is_word] - self.WORDS]
        order = np.lexsort((f_docs, f_keys))
        f_keys, f_docs, f_tf = f_keys[order], f_docs[order], f_tf[order]
        state.populate(state.docs)   # (read whole from here on)
        removed = np.flatnonzero(dropped[state.docs]) if dropped.any() else np.zeros(0, np.int64)
        if len(f_keys) + len(removed) <= PLACE_ONE_BY_ONE:
            # An edit: the arrays are copied once, segment by segment around the few postings
            # that go and come, renumbered on the way only where something moved.
            places = _places_in_old(state, kept, dropped, self.WORDS, words, f_keys, f_docs)
            then = self._then(state, removed, f_keys, words)

            def renumbered(segment: np.ndarray) -> np.ndarray:
                return renumber[segment]

            def rewritten(segment: np.ndarray) -> np.ndarray:
                assert old_rank is not None
                if not len(segment) or segment[-1] < self.WORDS:   # no word in it
                    return segment
                segment = segment.copy()
                tail = segment[int(np.searchsorted(segment, self.WORDS)):]
                tail[:] = self.WORDS + old_rank[tail - self.WORDS]
                return segment

            keys, positions, tf = _splice(
                [(_PostingKeys(state), f_keys, rewritten if old_rank is not None else None),
                 (state.docs, f_docs,
                  renumbered if moved else None),
                 (state.tf, f_tf, None)], removed, places, state.release)
        else:
            wanted = ~dropped[state.docs]
            keys, positions, tf = state.keys[wanted], state.docs[wanted], state.tf[wanted]
            del wanted
            if moved:
                positions = renumber[positions]
            if old_rank is not None:   # words are the sorted keys' tail
                tail = keys[int(np.searchsorted(keys, self.WORDS)):]
                tail[:] = self.WORDS + old_rank[tail - self.WORDS]
            if len(f_keys):
                places = _merge_places(keys, positions, f_keys, f_docs)
                keys = np.insert(keys, places, f_keys)
                positions = np.insert(positions, places, f_docs)
                tf = np.insert(tf, places, f_tf)
        lengths = np.empty(len(docs), dtype=np.float64)
        lengths[kept] = state.lengths[~dropped]
        lengths[fresh] = f_lengths
        # Words no document holds any more are dropped, and the rest numbered densely again.
        tail = keys[int(np.searchsorted(keys, self.WORDS)):]
        if len(tail):
            first = np.concatenate(([True], tail[1:] != tail[:-1]))
            present = tail[first]
            if len(present) != len(words):
                tail[:] = self.WORDS + np.cumsum(first) - 1
            self.sorted = [words[k - self.WORDS] for k in present.tolist()]
        else:
            self.sorted = []
        # What the previous build scored is the state only if it was not an overlay of it.
        if len(f_keys) + len(removed) <= PLACE_ONE_BY_ONE and not cache.overlaid:
            self.before = self._before(state, then, f_keys, f_docs, words, moved)
        return keys, positions.astype(np.int32, copy=False), tf.astype(np.int32, copy=False), lengths

    def _then(self, state: TermState, dropped: np.ndarray, added: np.ndarray,
              merged_words: list[str]) -> _Then:
        """What the previous build's arrays tell of the changed documents, read before the
        update lets go of those arrays (TermState.release): the document frequency then of
        every term they hold or held, and what each of their previous postings contributed.
        `dropped` are positions in the state's arrays, `added` keys in the merged numbering."""
        removed = state.keys_at(dropped)
        wanted = set(np.unique(removed).tolist())
        for key in np.unique(added).tolist():
            if key < self.WORDS:
                wanted.add(key)
            elif (old := _word_key(merged_words[key - self.WORDS], state.words, self.WORDS)) is not None:
                wanted.add(old)
        asked = np.array(sorted(wanted), dtype=np.int64)
        counts = state.key_counts(asked)
        df = dict(zip(asked.tolist(), counts.tolist(), strict=True))
        # The dropped postings' contributions as score() worked them out in the previous build.
        docs, values = state.docs[dropped], state.values[dropped]
        contributed = {(doc, _spell(key, state.words, self.WORDS)): int(value) for doc, key, value
                       in zip(docs.tolist(), removed.tolist(), values.tolist(), strict=True)}
        return _Then(removed, df, state.mean, contributed)

    def _before(self, state: TermState, then: _Then, added: np.ndarray, added_docs: np.ndarray,
                merged_words: list[str], renumbered: bool) -> _Before:
        """The previous document frequency of every term the changed documents hold or held,
        by its key in this build's numbering (self.sorted), and what each of them contributed
        to the documents that held it. `added` are keys in the merged numbering (merged_words),
        held by the documents `added_docs`."""
        def final(word: str) -> int | None:
            at = bisect.bisect_left(self.sorted, word)
            return self.WORDS + at if at < len(self.sorted) and self.sorted[at] == word else None

        df: dict[int, int] = {}
        for key in np.unique(then.removed).tolist():
            if key < self.WORDS:
                df[key] = then.df[key]
            else:
                now = final(state.words[key - self.WORDS])
                if now is not None:
                    df[now] = then.df[key]
        for key in np.unique(added).tolist():
            if key < self.WORDS:
                df.setdefault(key, then.df[key])
            else:
                word = merged_words[key - self.WORDS]
                now, old = final(word), _word_key(word, state.words, self.WORDS)
                if now is not None and now not in df:
                    df[now] = then.df[old] if old is not None else 0
        return _Before(len(state.digests), then.mean, df, renumbered,
                       frozenset(np.unique(added_docs).tolist()), then.contributed)

    def count_all(self, docs: Sequence[SearchDoc], jobs: int, cache: CountCache | None = None
                  ) -> tuple[np.ndarray, np.ndarray, Docs, np.ndarray, np.ndarray]:
        """Every document's terms as postings sorted by key and then by document: the distinct
        keys and the postings of each, each posting's document and weighted count; and each
        document's length. Documents the cache knows are read back from it; the others are
        counted in slices over the processes, each slice sorted where it was counted
        (_Postings), so that what is left here is to renumber their words and move each
        slice's postings into place."""
        known: dict[str, bytes] = cache.known if cache else {}
        digests = cache.digests if cache else [""] * len(docs)
        todo = [i for i in range(len(docs)) if not cache or digests[i] not in known]
        # A few slices per process: the merge here overlaps the counting of the next ones.
        # And no slice of more than COUNT_SLICE documents: a worker sorts its slice's
        # postings, 200 MB of temporaries for an eighth of 100,000 pages.
        size = min(-(-len(todo) // max(1, 4 * jobs)) if jobs > 1 else len(todo), COUNT_SLICE) or 1
        if len(todo) > 100:
            warm_fold_table()
        if cache is not None and cache.prepare is not None and todo:
            cache.prepare(docs[i] for i in todo)   # before the processes that count them

        def count_slice(n: int) -> tuple[_Postings, list[bytes]]:
            keys = _TermKeys()
            counted = keys.count_many([docs[i] for i in todo[n * size:(n + 1) * size]])
            packed = [_pack(c) for c in counted] if cache else []   # packed here, in parallel
            return _Postings.of(counted), packed

        # Each slice's documents and counts wait in a file until every slice is in and each
        # key's place is known: at 100,000 pages they are 330 MB.
        spill = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)

        def count_every_slice() -> list[tuple[list[int], _Postings]]:
            """(the documents' positions, their postings) of each slice."""
            parts = []
            for n, (part, packed) in enumerate(ordered_map(count_slice, -(-len(todo) // size), jobs)):
                positions = todo[n * size:(n + 1) * size]
                if cache is not None:
                    for i, value in zip(positions, packed, strict=True):
                        cache.keep(digests[i], value)
                parts.append((positions, part.spilled(spill)))
            spill.flush()   # (written by another process, perhaps: see CountCache.apart)
            return parts

        parts = cache.apart(count_every_slice) \
            if cache is not None and cache.apart is not None and jobs > 1 and todo else count_every_slice()
        read_back = [i for i in range(len(docs)) if cache and digests[i] in known]
        if read_back:
            parts.append((read_back, _Postings.of(_unpack(known.pop(digests[i])) for i in read_back)))
        # One numbering of the words, sorted: it depends only on the words, never on which
        # process or cache counted them; and, each part's own being sorted, it keeps the order.
        self.sorted = sorted(set().union(*(part.words for _, part in parts)))
        rank = {word: n for n, word in enumerate(self.sorted)}
        # The keys of all the parts merged one part at a time, not all concatenated and sorted
        # at once. (A part's keys stay sorted: the words' numbering is each part's own order.)
        vocabulary = np.zeros(0, np.int64)
        for _, part in parts:
            is_word = part.keys >= self.WORDS
            if is_word.any():
                renumbered = np.array([rank[w] for w in part.words], dtype=np.int64)
                part.keys[is_word] = self.WORDS + renumbered[part.keys[is_word] - self.WORDS]
            part.words = []
            vocabulary = np.union1d(vocabulary, part.keys)
        del rank
        # Every key's postings get one span of the arrays, each part's in turn: the parts are
        # moved into place, never concatenated and sorted (at 100,000 pages the sort's order
        # and copies were a gigabyte at the parent's peak). Each part's keys wait in the spill
        # file too until it is placed: at 100,000 pages this process had 394 MB as the placing
        # began and 797 MB at its peak, and now 371–378 and 774–780 MB.
        df = np.zeros(len(vocabulary), dtype=np.int64)
        for _, part in parts:
            part.keys = np.searchsorted(vocabulary, part.keys)   # distinct in a part: no add.at
            df[part.keys] += part.widths
            part.spill_keys(spill)
        free = np.concatenate(([0], np.cumsum(df)[:-1]))   # each key's next place
        docs_of = Docs(int(df.sum()), len(docs))
        # Counts as 16-bit numbers when every one fits (a term 65,536 times in one document
        # would not): at 100,000 pages, 43 million of them, 86 MB fewer at this process's peak
        # and in every process it forks to write the indexes (score() puts the contributions,
        # which fit too, in their place).
        most = max((part.most if part.spill else int(part.counts.max(initial=0)) for _, part in parts),
                   default=0)
        tf = np.empty(len(docs_of), dtype=np.uint16 if most <= np.iinfo(np.uint16).max else np.int32)
        lengths = np.zeros(len(docs), dtype=np.float64)
        # The counted slices hold consecutive documents, in order, and so each key's postings
        # come in document order; the documents read back come between them, and are ordered
        # by document afterwards.
        parts.reverse()
        with spill:
            while parts:
                positions, part = parts.pop()
                part.keys, part.widths = part.unspilled_keys(spill)
                lengths[positions] = part.lengths
                numbers = np.asarray(positions, dtype=np.int32)
                # A block of keys at a time, its documents and counts read then: the places
                # of a whole slice's postings, and their temporaries, were 120 MB at 100,000
                # pages, at the process's peak, and its documents and counts 43 MB.
                ends = np.cumsum(part.widths)
                cuts = np.searchsorted(ends, np.arange(PLACE_BLOCK, int(ends[-1]) if len(ends) else 0,
                                                       PLACE_BLOCK), "right").tolist()
                for low, high in itertools.pairwise([0, *cuts, len(part.keys)]):
                    first = int(ends[low - 1]) if low else 0
                    places = spans(free[part.keys[low:high]], part.widths[low:high])
                    part_docs, counts = part.block(spill, first, len(places))
                    docs_of.put(places, numbers[part_docs])
                    tf[places] = counts
                free[part.keys] += part.widths
                del part, places, part_docs, counts
        if read_back and todo:
            whole = docs_of.whole()
            order = np.lexsort((whole, np.repeat(np.arange(len(df)), df)))
            docs_of, tf = Docs(len(order), len(docs)), tf[order]
            docs_of.put(np.arange(len(order)), whole[order])
        return vocabulary, df, docs_of, tf, lengths

    def count(self, doc: SearchDoc) -> Counted:
        """The document's distinct terms with their weighted counts, and its length."""
        return self.count_many([doc])[0]

    def count_many(self, docs: Sequence[SearchDoc]) -> list[Counted]:
        """count() of each document, worked out COUNT_BATCH documents at a time: a document's
        own numpy calls (a dozen, on arrays of a few thousand terms) cost more than their
        arithmetic, and at 100,000 pages counting one by one was a fifth of a cold build's CPU
        time. Words are numbered in the order a batch meets them (any order does: see
        _Postings.of, which ranks them by their spelling)."""
        return [counted for start in range(0, len(docs), COUNT_BATCH)
                for counted in self._count_batch(docs[start:start + COUNT_BATCH])]

    def _count_batch(self, docs: Sequence[SearchDoc]) -> list[Counted]:
        # A document's title, body and issuer, in turn; the times each of their terms counts.
        folded = [fold(text) for doc in docs for text in (doc.title, full_text(doc), doc.issuer)]
        weight = np.array((WEIGHTS["title"], 1, 1) * len(docs), dtype=np.int64)
        # Each word stemmed and numbered once, as first met.
        words = [WORD.findall(text) for text in folded]
        met = list(itertools.chain.from_iterable(words))
        for word in dict.fromkeys(met):
            self._stemmed(word)
        numbers = [[self._word(term) for term in numbers_of(doc)] for doc in docs]
        # Every text one after the other, a NUL between: no bigram spans two of them.
        points = np.frombuffer("\0".join(folded).encode("utf-32-le"), dtype=np.uint32)
        cjk = _cjk_table()[points]
        pairs = cjk[:-1] & cjk[1:]
        lone = cjk   # (a character in no pair)
        lone[1:] &= ~pairs
        lone[:-1] &= ~pairs
        paired = np.flatnonzero(pairs)
        at = np.concatenate((paired, np.flatnonzero(lone)))
        chinese = points[at].astype(np.int64)
        chinese[:len(paired)] = (chinese[:len(paired)] << 21) | points[paired + 1]
        text_of = np.searchsorted(np.cumsum([len(text) + 1 for text in folded]), at, "right")
        word_text = np.repeat(np.arange(len(folded)), [len(found) for found in words])
        number_doc = np.repeat(np.arange(len(docs)), [len(found) for found in numbers])
        keys = np.concatenate((chinese, np.fromiter(map(self.raw.__getitem__, met), np.int64, len(met)),
                               np.array(list(itertools.chain.from_iterable(numbers)), dtype=np.int64)))
        of_doc = np.concatenate((text_of // 3, word_text // 3, number_doc))
        times = np.concatenate((weight[text_of], weight[word_text],
                                np.full(len(number_doc), WEIGHTS["docnum"], dtype=np.int64)))
        # Each term as often as it counts, keyed by its document too. (A term's key is below
        # 2 ** 43; a batch's documents are numbered in the bits above.)
        found = np.repeat((of_doc << DOC_SHIFT) | keys, times)
        found.sort()
        lengths = np.diff(np.searchsorted(found, np.arange(len(docs) + 1) << DOC_SHIFT)).tolist()
        first = np.flatnonzero(np.diff(found, prepend=-1))   # each (document, term) once
        counts = np.diff(np.append(first, len(found)))
        found = found[first]
        ends = np.searchsorted(found, np.arange(len(docs) + 1) << DOC_SHIFT).tolist()
        found &= (1 << DOC_SHIFT) - 1
        counted: list[Counted] = []
        for n, (low, high) in enumerate(itertools.pairwise(ends)):
            words_at = low + int(np.searchsorted(found[low:high], self.WORDS))
            counted.append((found[low:words_at], counts[low:words_at],
                            [self.spelled[k - self.WORDS] for k in found[words_at:high].tolist()],
                            counts[words_at:high], lengths[n]))
        return counted

    def _stemmed(self, word: str) -> int:
        key = self.raw.get(word)
        if key is None:
            key = self.raw[word] = self._word(stem(word))
        return key

    def _word(self, term: str) -> int:
        key = self.words.get(term)
        if key is None:
            key = self.words[term] = self.WORDS + len(self.spelled)
            self.spelled.append(term)
        return key

    def terms(self, keys: np.ndarray) -> list[str]:
        return [_spell(key, self.sorted, self.WORDS) for key in keys.tolist()]


@dataclass
class _Postings:
    """Documents' counts (Counted) as postings sorted by key and then by document: the keys
    (each distinct one once, with `widths`, its number of postings; words numbered from WORDS
    up in sorted order, which `words` spells), each posting's document (its place among those
    counted) and count; and the documents' lengths. Flat arrays travel between processes in
    one piece each."""
    keys: np.ndarray
    widths: np.ndarray
    docs: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray
    words: list[str]
    spill: tuple[int, int] | None = None   # where the documents and counts are, once spilled
    keys_spill: tuple[int, int] | None = None   # where the keys and widths are, likewise
    most: int = 0   # the largest count (the type count_all() places the counts in)

    @classmethod
    def of(cls, counted: Iterable[Counted]) -> _Postings:
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        sizes: list[int] = []
        lengths: list[int] = []
        appeared: dict[str, int] = {}
        for cjk, cjk_counts, words, word_counts, length in counted:
            keys += cjk, np.array([_TermKeys.WORDS + appeared.setdefault(w, len(appeared))
                                   for w in words], dtype=np.int64)
            counts += cjk_counts, word_counts
            sizes.append(len(cjk) + len(words))
            lengths.append(length)
        if not keys:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32),
                       np.zeros(0, np.int32), np.zeros(0, np.float64), [])
        flat, tf = np.concatenate(keys), np.concatenate(counts).astype(np.int32)
        # Words get their sorted rank instead of their number in order of appearance.
        words = sorted(appeared)
        rank = np.empty(len(words), dtype=np.int64)
        rank[[appeared[w] for w in words]] = np.arange(len(words))
        is_word = flat >= _TermKeys.WORDS
        flat[is_word] = _TermKeys.WORDS + rank[flat[is_word] - _TermKeys.WORDS]
        # The documents are one after the other: a stable sort by key orders them within a key.
        order = np.argsort(flat, kind="stable")
        docs = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)[order]
        return cls(*_runs(flat[order]), docs, tf[order], np.array(lengths, dtype=np.float64), words)

    def spilled(self, file: Any) -> _Postings:
        """These postings with their documents and counts (the per-posting arrays) moved to the
        end of `file`, until read back a block at a time (block())."""
        self.most = int(self.counts.max()) if len(self.counts) else 0
        self.spill = _spill(file, self.docs, self.counts)
        self.docs = self.counts = np.zeros(0, np.int32)
        return self

    def spill_keys(self, file: Any) -> None:
        """The keys and widths moved to the end of `file` too, as 32-bit numbers (keys are a
        vocabulary's positions by then), until unspilled_keys()."""
        self.keys_spill = _spill(file, self.keys, self.widths)
        self.keys = self.widths = np.zeros(0, np.int64)

    def unspilled_keys(self, file: Any) -> tuple[np.ndarray, np.ndarray]:
        """The keys and widths, from where spill_keys() put them (or as they are)."""
        if self.keys_spill is None:
            return self.keys, self.widths
        keys, widths = _unspill(file, self.keys_spill)
        return keys.astype(np.int64), widths.astype(np.int64)

    def block(self, file: Any, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The documents and counts of postings first … first + count - 1, from where
        spilled() put them (or as they are)."""
        if self.spill is None:
            return self.docs[first:first + count], self.counts[first:first + count]
        at, n = self.spill
        file.seek(at + 4 * first)
        docs = np.fromfile(file, np.int32, count)
        file.seek(at + 4 * (n + first))
        return docs, np.fromfile(file, np.int32, count)


def _spill(file: Any, first: np.ndarray, second: np.ndarray) -> tuple[int, int]:
    """Two arrays of one length written at the end of `file` as 32-bit numbers: where they are."""
    at = file.seek(0, 2)
    file.write(np.ascontiguousarray(first, dtype=np.int32))
    file.write(np.ascontiguousarray(second, dtype=np.int32))
    return at, len(first)


def _unspill(file: Any, where: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    at, n = where
    file.seek(at)
    return np.fromfile(file, np.int32, n), np.fromfile(file, np.int32, n)


def _word_key(word: str, words: list[str], first_word: int) -> int | None:
    """A word's key in a numbering (words: the spelling of the keys from first_word upward)."""
    at = bisect.bisect_left(words, word)
    return first_word + at if at < len(words) and words[at] == word else None


def _spell(key: int, words: list[str], first_word: int) -> str:
    """A term key as the term (words: the spelling of the keys from first_word upward)."""
    if key >= first_word:
        return words[key - first_word]
    return chr(key >> 21) + chr(key & 0x1FFFFF) if key >= 0x110000 else chr(key)


def _pack(counted: Counted) -> bytes:
    """A document's counted terms in about six bytes a term (the cache holds every document's):
    a Chinese character fits 16 bits once the start of the CJK ranges is subtracted."""
    cjk, cjk_counts, words, word_counts, length = counted
    lone, pairs = cjk[cjk < 0x110000], cjk[cjk >= 0x110000]
    counts = np.concatenate((cjk_counts, word_counts))
    wide = 4 if counts.max(initial=0) > 0xFFFF else 2
    head = np.array([len(lone), len(pairs), len(words), length, wide], dtype=np.int64)
    low = CJK_RANGES[0][0]
    packed_pairs = (((pairs >> 21) - low) << 16) | ((pairs & 0x1FFFFF) - low)
    return b"".join((head.tobytes(), lone.astype(np.uint16).tobytes(),
                     packed_pairs.astype(np.uint32).tobytes(),
                     counts.astype(np.uint32 if wide == 4 else np.uint16).tobytes(),
                     "\0".join(words).encode("utf-8")))


def _unpack(packed: bytes) -> Counted:
    lone, pairs, words, length, wide = np.frombuffer(packed, dtype=np.int64, count=5).tolist()
    at = 40
    lone_keys = np.frombuffer(packed, dtype=np.uint16, count=lone, offset=at).astype(np.int64)
    at += 2 * lone
    pair_keys = np.frombuffer(packed, dtype=np.uint32, count=pairs, offset=at).astype(np.int64)
    at += 4 * pairs
    counts = np.frombuffer(packed, dtype=np.uint32 if wide == 4 else np.uint16,
                           count=lone + pairs + words, offset=at).astype(np.int32)
    at += wide * (lone + pairs + words)
    low = CJK_RANGES[0][0]
    pair_keys = (((pair_keys >> 16) + low) << 21) | ((pair_keys & 0xFFFF) + low)
    spelled = packed[at:].decode("utf-8").split("\0") if words else []
    return (np.concatenate((lone_keys, pair_keys)), counts[:lone + pairs], spelled,
            counts[lone + pairs:], length)


# Given an index file's name and the digest of its content, what to ship instead of writing it
# again (publish.py links the previous build's copy), or None.
Reuse = Callable[[str, str], "str | None"]


def index_files(docs: Sequence[SearchDoc], synonyms: Iterable[Iterable[str]] = (),
                hot_words: Iterable[str] = (), ranking: Ranking | None = None,
                scores: Scores | Overlaid | Range | None = None,
                shard_bytes: int | None = None, records: int | None = None,
                t2s_path: str = T2S_PATH, share: float = 1.0,
                doc_digests: list[str] | None = None, reuse: Reuse | None = None,
                made: dict[str, str] | None = None,
                previous: Mapping[str, str] | None = None) -> Iterator[tuple[str, str]]:
    """The index files, (path inside the index folder, content), one at a time: the portal's
    index of a large cluster is hundreds of megabytes of JSON, written as it is made. `scores`
    are the documents' own, or computed here; `t2s_path` leads from the index folder to the
    host's t2s_files(); `share` is the part of the file budgets this index may use (a site's
    pages ÷ the cluster's).

    Term shards and record files have a content digest, computed before any JSON is (from the
    postings, or from `doc_digests`, one per document): `reuse` may supply such a file instead,
    and `made` receives every one's digest. An edit touches few shards of a big index, and
    with the previous build's digests (`previous`, by file name) only those are worked out."""
    if scores is None:
        scores = score(docs)
    ranking = ranking or Ranking()
    sites = sorted(set(zip(doc_column(docs, "site"), doc_column(docs, "site_name"),
                           doc_column(docs, "site_url"), strict=True)))
    per_file = records or max(MIN_RECORDS, -(-len(docs) // _budget(MAX_RECORD_FILES, share)))
    made = {} if made is None else made
    shards = 0
    for name, text in _term_shards(scores, shard_bytes or SHARD_BYTES, _budget(MAX_TERM_FILES, share),
                                   reuse, made, previous):
        shards += 1
        yield name, text
    yield from _records(docs, [s[0] for s in sites], per_file, doc_digests, reuse, made)
    yield "meta.json", _json({
        "format": FORMAT, "docs": len(docs), "shards": shards,
        "records": per_file, "scale": SCALE,
        "sites": [list(s) for s in sites], "t2s": T2S_BUCKETS, "t2s_path": t2s_path,
        # Folded here once, so the client compares them with a folded query as they are.
        "synonyms": [[fold(word) for word in group] for group in synonyms],
        "hot": list(hot_words),
        "ranking": {"kinds": dict(ranking.kinds), "service_questions": ranking.service_questions,
                    "freshness": ranking.freshness,
                    "newest": max((date for date in doc_column(docs, "date") if date), default="")},
    })


def build_index(docs: Sequence[SearchDoc], *args: Any, **options: Any) -> dict[str, str]:
    """index_files() as a dictionary, for what wants them all at once."""
    return dict(index_files(docs, *args, **options))


def _term_shards(scores: Scores | Overlaid | Range, shard_bytes: int, most: int, reuse: Reuse | None,
                 made: dict[str, str], previous: Mapping[str, str] | None = None
                 ) -> Iterator[tuple[str, str]]:
    """Shards of term → [doc delta, contribution, …] in document order. numpy does the arithmetic
    for all terms at once (deltas, shard numbers, the size estimate, each shard's digest);
    Python only cuts the shards not reused into lists and dicts.

    With the previous build's shard digests (`previous`, by file name) and the terms whose
    postings may have changed since (Scores.touched), only the shards holding such a term are
    worked out; the others are the previous build's (an edit touches a few hundred of a
    portal's 2,048, and working out all of them went over every posting of the cluster)."""
    count = scores.shard_count(shard_bytes, most, previous)
    if not count:
        return iter([("t/0.json", "{}")])
    if previous is not None and scores.touched is not None and reuse is not None and \
            sum(name.startswith("t/") for name in previous) == count:
        patched = _patched_shards(scores, count, previous, reuse, made)
        if patched is not None:
            return patched
    return _shards(scores.whole(), count, range(count), reuse, made)


def _patched_shards(scores: Scores | Overlaid | Range, count: int, previous: Mapping[str, str], reuse: Reuse,
                    made: dict[str, str]) -> Iterator[tuple[str, str]] | None:
    """The shards as _term_shards makes them, the untouched ones taken from the previous
    build; None when one of those is not at hand."""
    assert scores.touched is not None
    changed = sorted({shard_of(term, count) for term in scores.touched})
    kept: dict[str, str] = {}
    touched = set(changed)
    for n in range(count):
        name = f"t/{n}.json"
        if n in touched:
            continue
        digest = previous.get(name)
        found = reuse(name, digest) if digest else None
        if found is None or digest is None:
            return None
        kept[name] = found
        made[name] = digest
    return _shards_in_order(scores, count, changed, kept, reuse, made)


SHARDS_AT_ONCE = 64   # changed shards whose postings are gathered together


def _shards_in_order(scores: Scores | Overlaid | Range, count: int, changed: list[int],
                     kept: dict[str, str], reuse: Reuse, made: dict[str, str]
                     ) -> Iterator[tuple[str, str]]:
    """Every shard in order: the `kept` as they are, the changed worked out SHARDS_AT_ONCE at a
    time. An edit that changes a document's length class changes every contribution it makes:
    hundreds of a portal's shards, whose postings gathered at once (a third of the cluster's)
    took an edit's search process to 1.7 GB at 100,000 pages."""
    batches = [changed[at:at + SHARDS_AT_ONCE] for at in range(0, len(changed), SHARDS_AT_ONCE)]
    batch_of = {n: b for b, batch in enumerate(batches) for n in batch}
    files: dict[str, str] = {}
    for n in range(count):
        name = f"t/{n}.json"
        if n not in batch_of:
            yield name, kept[name]
            continue
        if name not in files:   # the first shard of its batch: the batch, worked out
            batch = batches[batch_of[n]]
            # Every posting of every term in these shards (whole shards, so their bytes and
            # digests are what working out every shard would give), in the same order.
            part = scores.in_shards(batch, count)
            files = dict(_shards(part, count, batch, reuse, made)) if len(part.docs) else {}
            del part
            for m in batch:   # a shard no term is left in
                if f"t/{m}.json" not in files:
                    files[f"t/{m}.json"] = _empty_shard(m, reuse, made)
        yield name, files.pop(name)


def _empty_shard(n: int, reuse: Reuse | None, made: dict[str, str]) -> str:
    name = f"t/{n}.json"
    made[name] = _shard_digest(np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int32), [])
    kept = reuse(name, made[name]) if reuse else None
    return kept if kept is not None else _json({})


def _shard_digest(widths: np.ndarray, block: np.ndarray, names: list[str]) -> str:
    # Each term's name and number of postings, then every posting: nothing else is in it.
    digest = hashlib.sha256(widths.tobytes())
    digest.update(block.tobytes())
    digest.update("\0".join(names).encode("utf-8"))
    return digest.hexdigest()


def _shards(scores: Scores, count: int, wanted: Iterable[int],
            reuse: Reuse | None, made: dict[str, str]) -> Iterator[tuple[str, str]]:
    """The `wanted` shards of `count`, from postings holding every term of each of them, one
    at a time: the portal's index of a 100,000-page cluster has tens of millions of postings,
    and its JSON and each copy of them gathered by shard took hundreds of megabytes at once."""
    present, starts = scores.term_spans()
    # Terms grouped by shard (in term order within one), and their postings with them.
    shard_of_term = scores.hashes[present] % count
    by_shard = np.argsort(shard_of_term, kind="stable")
    ends = np.append(starts[1:], len(scores.docs))
    widths = (ends - starts)[by_shard]
    firsts = starts[by_shard]
    term_bounds = np.searchsorted(shard_of_term[by_shard], np.arange(count + 1)).tolist()
    names = [scores.terms[c] for c in present[by_shard].tolist()]
    for n in wanted:
        first, last = term_bounds[n], term_bounds[n + 1]
        block = _postings_block(scores, firsts[first:last], widths[first:last])
        name = f"t/{n}.json"
        made[name] = _shard_digest(widths[first:last], block, names[first:last])
        kept = reuse(name, made[name]) if reuse else None
        if kept is not None:
            yield name, kept
            continue
        # Each term's postings stay a numpy view: orjson writes them as the same JSON arrays
        # without a Python int for every number.
        everything = block.ravel()
        shard: dict[str, np.ndarray | list[int]] = {}
        at = 0
        for i, width in enumerate((2 * widths[first:last]).tolist(), first):
            postings = everything[at:at + width]
            at += width
            shard[names[i]] = postings if width <= 2 * MAX_POSTINGS else _best(postings)
        yield name, _json(shard)


def _postings_block(scores: Scores, firsts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """The postings of some terms (each `widths` long from `firsts`), one after the other, as
    rows [document delta, contribution]: a term's first delta is its document's number."""
    take = spans(firsts, widths)
    docs = scores.docs[take]
    block = np.empty((len(take), 2), dtype=np.int32)   # 32-bit: a shard's digest is of these bytes
    block[1:, 0] = docs[1:] - docs[:-1]
    heads = np.cumsum(widths) - widths
    block[heads, 0] = docs[heads]
    block[:, 1] = scores.values[take]
    return block


def _best(flat: np.ndarray) -> np.ndarray:
    """The MAX_POSTINGS highest contributions of a posting list, still in document order (ties
    go to the earlier document)."""
    docs, values = np.cumsum(flat[0::2], dtype=np.int64), flat[1::2].astype(np.int64)
    kept = np.sort(np.lexsort((docs, -values))[:MAX_POSTINGS])
    out = np.empty(2 * len(kept), dtype=np.int64)
    out[0::2] = np.diff(docs[kept], prepend=0)
    out[1::2] = values[kept]
    return out


def shard_of(term: str, count: int) -> int:
    """A stable hash both sides compute: CRC-32 of the UTF-8 term (the client has a CRC table)."""
    return zlib.crc32(term.encode("utf-8")) % count


def _budget(files: int, share: float) -> int:
    return max(1, math.ceil(files * share))


def _records(docs: Sequence[SearchDoc], site_ids: list[str], per_file: int,
             doc_digests: list[str] | None, reuse: Reuse | None,
             made: dict[str, str]) -> Iterator[tuple[str, str]]:
    """The record files, one at a time, as written: a portal's are every document's URL, title
    and excerpt, and held all at once they were 60 MB at 100,000 pages, at the peak of the
    process writing it (forked from the one that holds every posting)."""
    numbers = {site: n for n, site in enumerate(site_ids)}
    for start in range(0, len(docs), per_file):
        name = f"d/{start // per_file}.json"
        if doc_digests is not None:
            made[name] = hashlib.sha256("\0".join(
                [*site_ids, *doc_digests[start:start + per_file]]).encode()).hexdigest()
            kept = reuse(name, made[name]) if reuse else None
            if kept is not None:
                yield name, kept
                continue
        yield name, _json([
            [d.url.removeprefix(d.site_url), d.title, numbers[d.site], d.column, d.kind,
             d.date, d.validity, " ".join(d.text[:EXCERPT * 2].split())[:EXCERPT]]
            for d in docs[start:start + per_file]])
    yield "a.json", _json([[numbers[site], kind, date, validity] for site, kind, date, validity in zip(
        doc_column(docs, "site"), doc_column(docs, "kind"), doc_column(docs, "date"),
        doc_column(docs, "validity"), strict=True)])


@cache
def t2s_files() -> dict[str, str]:
    """The traditional→simplified table in T2S_BUCKETS files by code point, written once per
    host: a query fetches a bucket only for characters none of whose terms the index knows."""
    buckets: list[dict[str, str]] = [{} for _ in range(T2S_BUCKETS)]
    for traditional, simplified in t2s_table().items():
        buckets[ord(traditional) % T2S_BUCKETS][traditional] = simplified
    return {f"{n}.json": _json(bucket) for n, bucket in enumerate(buckets)}


def _json(value: object) -> str:
    # orjson writes the same bytes as json.dumps(ensure_ascii=False, sort_keys=True, compact
    # separators), five times faster: the index is thousands of files.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
