"""Published pages → a BM25 index at build time → static shards the browser fetches.

bm25s does the indexing (a sparse matrix of BM25 term contributions, computed with numpy) from
govsite's own tokens; what ships is govsite's format, never the library's files:

    _search/meta.json          counts, sites, shard counts, the score scale, synonyms, hot words
    _search/t/<n>.json         term shards: term → [doc frequency, postings]; a query fetches
                               only the shards of its own terms (term → shard by a stable hash)
    _search/d/<n>.json         result records, DOCS_PER_RECORD_SHARD documents per file

Postings are flat `[doc delta, contribution, …]` pairs: the term's whole BM25 contribution to
that document (idf, saturation and length normalisation included, title and document-number
occurrences weighted) as an integer. The client only adds them up, so it never needs document
lengths or collection statistics. JSON with sorted keys, so the same cluster gives the same bytes.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import bm25s

from govsite.markup import Body
from govsite.model import PUBLISHED, Cluster
from govsite.search.analysis import doc_numbers, fold, tokens
from govsite.search.settings import SearchSettings

FORMAT = 1
WEIGHTS = {"title": 3, "docnum": 8}  # occurrences counted this many times over the body
K1, B = 1.2, 0.75
SCALE = 100  # BM25 contributions ship as integers: score × SCALE, rounded
TERMS_PER_SHARD = 400        # aim; the shard count is derived from the vocabulary size
DOCS_PER_RECORD_SHARD = 16
EXCERPT = 240                # characters of body text kept for snippets


@dataclass(frozen=True)
class SearchDoc:
    id: int
    url: str
    title: str
    text: str
    site: str
    column: str
    kind: str
    date: str
    validity: str
    docnums: tuple[str, ...]


def documents(cluster: Cluster, bodies: dict[str, Body]) -> list[SearchDoc]:
    """Every published page, never a draft, scheduled, expired or withdrawn one."""
    pages = sorted((p for p in cluster.pages.values() if cluster.states.get(p.key) == PUBLISHED
                    and p.key not in cluster.previewed), key=lambda p: cluster.urls[p.key])
    docs = []
    for number, page in enumerate(pages):
        site = cluster.sites[page.site]
        column = site.columns[page.column]
        written = page.policy.doc_number if page.policy else ""
        numbers = tuple(doc_numbers(f"{written} {page.title}"))
        date = page.date.astimezone(site.config.timezone).strftime("%Y-%m-%d") if page.date else ""
        docs.append(SearchDoc(number, cluster.urls[page.key], page.title, bodies[page.key].text,
                              page.site, column.title, page.kind, date,
                              page.policy.validity if page.policy else "", numbers))
    return docs


def build_index(docs: list[SearchDoc], settings: SearchSettings | None = None,
                terms_per_shard: int = TERMS_PER_SHARD,
                docs_per_record_shard: int = DOCS_PER_RECORD_SHARD) -> dict[str, str]:
    """The static index files, by path under `_search/`."""
    # Field weights by repetition: a title word counts three times, a document number eight;
    # bm25s then applies BM25's saturation and length normalisation to the weighted counts.
    corpus = []
    for doc in docs:
        title = [t for t, _ in tokens(doc.title)]
        body = [t for t, _ in tokens(doc.text)]
        numbers = [f"#{n}" for n in doc.docnums]
        corpus.append(title * WEIGHTS["title"] + body + numbers * WEIGHTS["docnum"])
    retriever = bm25s.BM25(k1=K1, b=B)
    retriever.index(corpus, show_progress=False)
    vocabulary = retriever.vocab_dict
    matrix = retriever.scores
    postings: dict[str, list[tuple[int, int]]] = {}
    for term, column in vocabulary.items():
        if not term:
            continue  # bm25s's placeholder for empty documents
        start, end = matrix["indptr"][column], matrix["indptr"][column + 1]
        postings[term] = [(int(d), max(1, round(float(v) * SCALE)))
                          for d, v in zip(matrix["indices"][start:end], matrix["data"][start:end],
                                          strict=True)]
    return _export(docs, postings, settings or SearchSettings(), terms_per_shard,
                   docs_per_record_shard)


def shard_of(term: str, count: int) -> int:
    """A stable hash both sides compute: CRC-32 of the UTF-8 term (the client has a CRC table)."""
    return zlib.crc32(term.encode("utf-8")) % count


def _export(docs: list[SearchDoc], postings: dict[str, list[tuple[int, int]]],
            settings: SearchSettings, terms_per_shard: int,
            docs_per_record_shard: int) -> dict[str, str]:
    shards = max(1, -(-len(postings) // terms_per_shard))
    buckets: list[dict[str, list]] = [{} for _ in range(shards)]
    for term in sorted(postings):
        flat: list[int] = []
        previous = 0
        for doc, value in sorted(postings[term]):
            flat += [doc - previous, value]
            previous = doc
        buckets[shard_of(term, shards)][term] = [len(postings[term]), flat]
    sites = sorted({d.site for d in docs})
    files = {f"t/{n}.json": _json(bucket) for n, bucket in enumerate(buckets)}
    for start in range(0, len(docs), docs_per_record_shard):
        records = [[d.url, d.title, sites.index(d.site), d.column, d.kind, d.date, d.validity,
                    d.text[:EXCERPT]] for d in docs[start:start + docs_per_record_shard]]
        files[f"d/{start // docs_per_record_shard}.json"] = _json(records)
    files["meta.json"] = _json({
        "format": FORMAT, "docs": len(docs), "term_shards": shards,
        "docs_per_record_shard": docs_per_record_shard, "sites": sites, "scale": SCALE,
        # Folded once here, so the client compares them with a folded query as they are.
        "synonyms": [[fold(word) for word in group] for group in settings.synonyms],
        "hot_words": {site: list(words) for site, words in settings.hot_words},
    })
    return files


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

