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

import math
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import accumulate

import numpy as np
import orjson

from govsite.markup import Body
from govsite.model import PUBLISHED, Cluster
from govsite.parallel import ordered_map
from govsite.search.analysis import CJK_RANGES, WORD, fold, number_terms, stem, t2s_table, tokens
from govsite.search.settings import Ranking

FORMAT = 3  # search.js checks it: a cached old client never misreads a new index
WEIGHTS = {"title": 3, "docnum": 8}  # occurrences counted this many times over the body
K1, B = 1.2, 0.75
SCALE = 100              # contributions ship as integers: score × SCALE, rounded
SHARD_BYTES = 6_000      # uncompressed JSON a term shard aims at
MAX_TERM_FILES = 2_048   # term shards of the portal's index at most (a site's: its share)
MAX_RECORD_FILES = 1_024 # record files likewise
MAX_POSTINGS = 5_000     # a term's best documents kept (only ever reached by huge clusters)
MIN_RECORDS = 4          # documents per record file, at least
EXCERPT = 100            # characters of body text kept for the result snippet (two lines)
T2S_BUCKETS = 16         # traditional→simplified table files, by code point
T2S_PATH = "t2s/"        # where they are, relative to an index folder (a build puts them per host)


@dataclass(frozen=True)
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
    numbers: tuple[str, ...]     # number_terms() of its 发文字号 and title
    issuer: str = ""             # 发文机关, searchable like the body


def documents(cluster: Cluster, bodies: Mapping[str, Body]) -> list[SearchDoc]:
    """Every published page in URL order, never a draft, scheduled, expired or withdrawn one."""
    pages = sorted((p for p in cluster.pages.values() if cluster.states.get(p.key) == PUBLISHED
                    and p.key not in cluster.previewed), key=lambda p: cluster.urls[p.key])
    docs = []
    for page in pages:
        site = cluster.sites[page.site]
        written = page.policy.doc_number if page.policy else ""
        date = page.date.astimezone(site.config.timezone).strftime("%Y-%m-%d") if page.date else ""
        docs.append(SearchDoc(
            cluster.urls[page.key], page.title, bodies[page.key].text, page.site,
            site.config.name, site.config.url, site.columns[page.column].title, page.kind, date,
            page.policy.validity if page.policy else "",
            tuple(number_terms(f"{written} {page.title}")), page.policy.issuer if page.policy else ""))
    return docs


def index_terms(doc: SearchDoc) -> list[str]:
    """The document as a bag of terms, field weights by repetition: a title word counts three
    times, a document number eight, the body and the issuer (发文机关) once; BM25 then saturates
    and length-normalises the counts."""
    return (tokens(doc.title) * WEIGHTS["title"] + tokens(doc.text) + tokens(doc.issuer)
            + list(doc.numbers) * WEIGHTS["docnum"])


@dataclass(frozen=True)
class Scores:
    """Every term's BM25 contribution to every page holding it, as arrays sorted by term and
    then by page: what an index ships, for all pages or for one site's."""
    terms: list[str]            # by column number
    hashes: np.ndarray          # CRC-32 of each term (shard_of), by column number
    columns: np.ndarray
    docs: np.ndarray
    values: np.ndarray          # contribution × SCALE, rounded, at least 1

    def only(self, keep: list[int]) -> Scores:
        """The scores of some pages (positions, ascending), renumbered 0, 1, 2 … in order. A
        site's index keeps the whole cluster's term statistics: more stable than a small
        site's own, and computed once."""
        # Sized for pages without any term too (a title of punctuation, an empty body).
        size = max(int(self.docs.max(initial=-1)), max(keep, default=-1)) + 1
        renumber = np.full(size, -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        mask = renumber[self.docs] >= 0
        return Scores(self.terms, self.hashes, self.columns[mask], renumber[self.docs[mask]],
                      self.values[mask])


def score(docs: list[SearchDoc], jobs: int = 1) -> Scores:
    """BM25 (Lucene's variant) of every term for every document holding it.

    Terms are counted as integer keys (_TermKeys) with numpy rather than as Python strings:
    a corpus has millions of term occurrences but only a few hundred thousand distinct terms,
    and only those ever become strings. The arithmetic is bm25s's (a test compares them) but for
    the rounding of the collection statistics below."""
    keys = _TermKeys()
    counted = keys.count_all(docs, jobs)
    lengths = np.array([length for _, _, length in counted], dtype=np.float64)
    sizes = [len(found) for found, _, _ in counted]
    if not sum(sizes):
        empty = np.zeros(0, dtype=np.int64)
        return Scores([], empty, empty, empty, empty)
    vocabulary, columns = np.unique(np.concatenate([found for found, _, _ in counted]),
                                    return_inverse=True)
    docs_of = np.repeat(np.arange(len(docs)), sizes)
    tf = np.concatenate([counts for _, counts, _ in counted]).astype(np.float64)
    df = np.bincount(columns, minlength=len(vocabulary))
    # Rounded (idf to 0.01, the average length to 3 digits) so that one edited page changes
    # only its own contributions and those of the rare terms it adds or drops: the other sites'
    # indexes keep their bytes (publish.py links them from the previous build), and a purge
    # list stays short. Ranking moves by less than the integer rounding of contributions.
    idf = np.round(np.log(1 + (len(docs) - df + 0.5) / (df + 0.5)), 2)
    norm = K1 * (1 - B + B * lengths / float(f"{lengths.mean():.3g}"))
    values = np.maximum(1, np.rint(idf[columns] * tf / (norm[docs_of] + tf) * SCALE))
    order = np.argsort(columns, kind="stable")    # by term, then (already) by document
    terms = keys.terms(vocabulary)
    hashes = np.array([zlib.crc32(term.encode("utf-8")) for term in terms], dtype=np.int64)
    return Scores(terms, hashes, columns[order], docs_of[order], values[order].astype(np.int64))


class _TermKeys:
    """index_terms() as integer keys: a Chinese bigram is its two code points (21 bits each), a
    lone character its code point, and any other term (a stemmed word, a document number) a
    number from WORDS upward, in order of first appearance. Same terms, same counts: only
    their spelling differs, and terms() spells the distinct ones back."""

    WORDS = 1 << 42

    def __init__(self) -> None:
        self.words: dict[str, int] = {}
        self.raw: dict[str, int] = {}   # a word as written → its stem's key

    def count_all(self, docs: list[SearchDoc], jobs: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """count() of every document, a slice of them per process; each process numbers the
        words it meets itself, so their numbers are translated into this one's."""
        size = -(-len(docs) // max(1, jobs))

        def count_slice(n: int) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], list[str]]:
            keys = _TermKeys()
            return [keys.count(doc) for doc in docs[n * size:(n + 1) * size]], list(keys.words)

        counted = []
        for part, words in ordered_map(count_slice, -(-len(docs) // size) if docs else 0, jobs):
            ours = np.array([self._word(word) for word in words], dtype=np.int64)
            for found, counts, length in part:
                theirs = found >= self.WORDS
                found[theirs] = ours[found[theirs] - self.WORDS]
                counted.append((found, counts, length))
        return counted

    def count(self, doc: SearchDoc) -> tuple[np.ndarray, np.ndarray, int]:
        """The document's distinct keys, ascending, their weighted counts, and its length."""
        title, body, issuer = (self._keys(fold(text)) for text in (doc.title, doc.text, doc.issuer))
        numbers = np.array([self._word(n) for n in doc.numbers], dtype=np.int64)
        every = np.concatenate([title] * WEIGHTS["title"] + [body, issuer]
                               + [numbers] * WEIGHTS["docnum"])
        found, counts = np.unique(every, return_counts=True)
        return found, counts, len(every)

    def _keys(self, folded: str) -> np.ndarray:
        if not folded:
            return np.zeros(0, dtype=np.int64)
        points = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        cjk = np.zeros(len(points), dtype=bool)
        for low, high in CJK_RANGES:
            cjk |= (points >= low) & (points <= high)
        pairs = cjk[:-1] & cjk[1:]
        before, after = np.append(False, pairs), np.append(pairs, False)
        lone = cjk & ~before & ~after
        # Counted first: English text repeats its words, and each distinct one is looked up once.
        counted = Counter(WORD.findall(folded))
        words = np.repeat(np.array([self._stemmed(word) for word in counted], dtype=np.int64),
                          np.array(list(counted.values()), dtype=np.int64))
        return np.concatenate(((points[:-1][pairs] << 21) | points[1:][pairs], points[lone], words))

    def _stemmed(self, word: str) -> int:
        key = self.raw.get(word)
        if key is None:
            key = self.raw[word] = self._word(stem(word))
        return key

    def _word(self, term: str) -> int:
        return self.words.setdefault(term, self.WORDS + len(self.words))

    def terms(self, keys: np.ndarray) -> list[str]:
        spelled = {key: word for word, key in self.words.items()}
        return [spelled[key] if key >= self.WORDS else
                chr(key >> 21) + chr(key & 0x1FFFFF) if key >= 0x110000 else chr(key)
                for key in keys.tolist()]


def build_index(docs: list[SearchDoc], synonyms: Iterable[Iterable[str]] = (),
                hot_words: Iterable[str] = (), ranking: Ranking | None = None,
                scores: Scores | None = None,
                shard_bytes: int = SHARD_BYTES, records: int | None = None,
                t2s_path: str = T2S_PATH, share: float = 1.0) -> dict[str, str]:
    """The index files, by path inside the index folder. `scores` are the documents' own, or
    computed here; `t2s_path` leads from the index folder to the host's t2s_files(); `share`
    is the part of the file budgets this index may use (a site's pages ÷ the cluster's)."""
    if scores is None:
        scores = score(docs)
    ranking = ranking or Ranking()
    sites = sorted({(d.site, d.site_name, d.site_url) for d in docs})
    per_file = records or max(MIN_RECORDS, -(-len(docs) // _budget(MAX_RECORD_FILES, share)))
    files = _term_shards(scores, shard_bytes, _budget(MAX_TERM_FILES, share))
    files.update(_records(docs, [s[0] for s in sites], per_file))
    files["meta.json"] = _json({
        "format": FORMAT, "docs": len(docs), "shards": sum(p.startswith("t/") for p in files),
        "records": per_file, "scale": SCALE,
        "sites": [list(s) for s in sites], "t2s": T2S_BUCKETS, "t2s_path": t2s_path,
        # Folded here once, so the client compares them with a folded query as they are.
        "synonyms": [[fold(word) for word in group] for group in synonyms],
        "hot": list(hot_words),
        "ranking": {"kinds": dict(ranking.kinds), "service_questions": ranking.service_questions,
                    "freshness": ranking.freshness,
                    "newest": max((d.date for d in docs if d.date), default="")},
    })
    return files


def _term_shards(scores: Scores, shard_bytes: int, most: int) -> dict[str, str]:
    """Shards of term → [doc delta, contribution, …] in document order. numpy does the arithmetic
    for all terms at once (deltas, shard numbers, the size estimate); Python only cuts the
    result into lists and dicts."""
    columns, docs = scores.columns, scores.docs
    if not len(docs):
        return {"t/0.json": "{}"}
    starts = np.flatnonzero(np.concatenate(([True], columns[1:] != columns[:-1])))
    present = columns[starts]
    # About four bytes of JSON per number and the quoted term: near enough to size the shards.
    lengths = np.array([len(scores.terms[c]) for c in present.tolist()], dtype=np.int64)
    size = 8 * len(docs) + int((3 * lengths + 4).sum())
    count = min(most, max(1, -(-size // shard_bytes)))
    deltas = docs - np.concatenate(([0], docs[:-1]))
    deltas[starts] = docs[starts]
    flat = np.empty(2 * len(docs), dtype=np.int64)
    flat[0::2], flat[1::2] = deltas, scores.values
    everything = flat.tolist()
    bounds = (2 * np.append(starts, len(docs))).tolist()
    shards: list[dict[str, list[int]]] = [{} for _ in range(count)]
    for i, (column, shard) in enumerate(zip(present.tolist(), (scores.hashes[present] % count).tolist(),
                                            strict=True)):
        postings = everything[bounds[i]:bounds[i + 1]]
        if len(postings) > 2 * MAX_POSTINGS:
            postings = _best(postings)
        shards[shard][scores.terms[column]] = postings
    return {f"t/{n}.json": _json(shard) for n, shard in enumerate(shards)}


def _best(flat: list[int]) -> list[int]:
    """The MAX_POSTINGS highest contributions of a posting list, still in document order."""
    docs = list(accumulate(flat[0::2]))
    kept = sorted(sorted(range(len(docs)), key=lambda i: (-flat[2 * i + 1], docs[i]))[:MAX_POSTINGS])
    out, previous = [], 0
    for i in kept:
        out += [docs[i] - previous, flat[2 * i + 1]]
        previous = docs[i]
    return out


def shard_of(term: str, count: int) -> int:
    """A stable hash both sides compute: CRC-32 of the UTF-8 term (the client has a CRC table)."""
    return zlib.crc32(term.encode("utf-8")) % count


def _budget(files: int, share: float) -> int:
    return max(1, math.ceil(files * share))


def _records(docs: list[SearchDoc], site_ids: list[str], per_file: int) -> dict[str, str]:
    files = {}
    for start in range(0, len(docs), per_file):
        files[f"d/{start // per_file}.json"] = _json([
            [d.url.removeprefix(d.site_url), d.title, site_ids.index(d.site), d.column, d.kind,
             d.date, d.validity, " ".join(d.text[:EXCERPT * 2].split())[:EXCERPT]]
            for d in docs[start:start + per_file]])
    files["a.json"] = _json([[site_ids.index(d.site), d.kind, d.date, d.validity] for d in docs])
    return files


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
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
