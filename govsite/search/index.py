"""Published pages → a BM25 index at build time → static files the browser fetches.

bm25s computes the index (a sparse matrix of BM25 term contributions, with numpy) from govsite's
own tokens; what ships is govsite's format, never the library's files. One index folder:

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

Sizes are chosen for the bytes a query costs, not the file count: a query fetches about one
shard per term, so shards aim at SHARD_BYTES each, up to MAX_FILES of them. Past that (well
beyond 100,000 pages) shards grow instead of multiplying, and a term keeps only its
MAX_POSTINGS best documents, which bounds both.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bm25s

from govsite.markup import Body
from govsite.model import PUBLISHED, Cluster
from govsite.search.analysis import fold, number_terms, t2s_table, tokens

FORMAT = 2
WEIGHTS = {"title": 3, "docnum": 8}  # occurrences counted this many times over the body
K1, B = 1.2, 0.75
SCALE = 100              # contributions ship as integers: score × SCALE, rounded
SHARD_BYTES = 6_000      # uncompressed JSON a term shard aims at
MAX_FILES = 2_048        # term shards, and record files, per index at most
MAX_POSTINGS = 5_000     # a term's best documents kept (only ever reached by huge clusters)
MIN_RECORDS = 4          # documents per record file, at least
EXCERPT = 150            # characters of body text kept for the result snippet
T2S_BUCKETS = 32         # traditional→simplified table files, by code point
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
            tuple(number_terms(f"{written} {page.title}"))))
    return docs


def index_terms(doc: SearchDoc) -> list[str]:
    """The document as a bag of terms, field weights by repetition: a title word counts three
    times, a document number eight; BM25 then saturates and length-normalises the counts."""
    title = [t for t, _ in tokens(doc.title)]
    body = [t for t, _ in tokens(doc.text)]
    return title * WEIGHTS["title"] + body + list(doc.numbers) * WEIGHTS["docnum"]


def build_index(docs: list[SearchDoc], synonyms: Iterable[Iterable[str]] = (),
                hot_words: Iterable[str] = (), terms: Mapping[str, list[str]] | None = None,
                shard_bytes: int = SHARD_BYTES, records: int | None = None,
                t2s_path: str = T2S_PATH) -> dict[str, str]:
    """The index files, by path inside the index folder. `terms` maps URL → index_terms(doc),
    so a build that indexes a page twice (its site, and the whole cluster) analyses it once.
    `t2s_path` leads from the index folder to the host's t2s_files()."""
    corpus = [terms[d.url] if terms is not None else index_terms(d) for d in docs]
    postings: dict[str, list[tuple[int, int]]] = {}
    if docs:
        retriever = bm25s.BM25(k1=K1, b=B)
        retriever.index(corpus, show_progress=False)
        matrix = retriever.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        for term, column in retriever.vocab_dict.items():
            if not term:
                continue  # bm25s's placeholder for empty documents
            start, end = indptr[column], indptr[column + 1]
            found = [(max(1, round(float(v) * SCALE)), int(d))
                     for d, v in zip(indices[start:end], data[start:end], strict=True)]
            if len(found) > MAX_POSTINGS:
                found = sorted(found, key=lambda p: (-p[0], p[1]))[:MAX_POSTINGS]
            postings[term] = sorted((doc, value) for value, doc in found)
    sites = sorted({(d.site, d.site_name, d.site_url) for d in docs})
    files = _term_shards(postings, shard_bytes)
    files.update(_records(docs, [s[0] for s in sites], records))
    files["meta.json"] = _json({
        "format": FORMAT, "docs": len(docs), "shards": sum(p.startswith("t/") for p in files),
        "records": _records_per_file(len(docs), records), "scale": SCALE,
        "sites": [list(s) for s in sites], "t2s": T2S_BUCKETS, "t2s_path": t2s_path,
        # Folded here once, so the client compares them with a folded query as they are.
        "synonyms": [[fold(word) for word in group] for group in synonyms],
        "hot": list(hot_words),
    })
    return files


def shard_of(term: str, count: int) -> int:
    """A stable hash both sides compute: CRC-32 of the UTF-8 term (the client has a CRC table)."""
    return zlib.crc32(term.encode("utf-8")) % count


def _term_shards(postings: dict[str, list[tuple[int, int]]], shard_bytes: int) -> dict[str, str]:
    entries = {}
    for term, found in postings.items():
        flat: list[int] = []
        previous = 0
        for doc, value in found:
            flat += [doc - previous, value]
            previous = doc
        entries[term] = flat
    size = sum(len(term.encode()) + 4 + len(_json(flat)) for term, flat in entries.items())
    count = min(MAX_FILES, max(1, -(-size // shard_bytes)))
    shards: list[dict[str, list[int]]] = [{} for _ in range(count)]
    for term, flat in entries.items():
        shards[shard_of(term, count)][term] = flat
    return {f"t/{n}.json": _json(shard) for n, shard in enumerate(shards)}


def _records_per_file(docs: int, records: int | None) -> int:
    return records or max(MIN_RECORDS, -(-docs // MAX_FILES))


def _records(docs: list[SearchDoc], site_ids: list[str], records: int | None) -> dict[str, str]:
    per_file = _records_per_file(len(docs), records)
    files = {}
    for start in range(0, len(docs), per_file):
        files[f"d/{start // per_file}.json"] = _json([
            [d.url.removeprefix(d.site_url), d.title, site_ids.index(d.site), d.column, d.kind,
             d.date, d.validity, " ".join(d.text[:EXCERPT * 2].split())[:EXCERPT]]
            for d in docs[start:start + per_file]])
    files["a.json"] = _json([[site_ids.index(d.site), d.kind, d.date, d.validity] for d in docs])
    return files


def t2s_files() -> dict[str, str]:
    """The traditional→simplified table in T2S_BUCKETS files by code point, written once per
    host: a query fetches a bucket only for characters none of whose terms the index knows."""
    buckets: list[dict[str, str]] = [{} for _ in range(T2S_BUCKETS)]
    for traditional, simplified in t2s_table().items():
        buckets[ord(traditional) % T2S_BUCKETS][traditional] = simplified
    return {f"{n}.json": _json(bucket) for n, bucket in enumerate(buckets)}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
