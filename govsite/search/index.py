"""Published pages → a whoosh index at build time → static shards the browser fetches.

whoosh does the indexing (term statistics, postings, field lengths); what ships is govsite's
own format, never whoosh's segment files:

    _search/meta.json          counts, average field lengths, weights, sites, shard counts
    _search/t/<n>.json         term shards: term → [doc frequency, postings]; a query fetches
                               only the shards of its own terms (term → shard by a stable hash)
    _search/d/<n>.json         result records, DOCS_PER_RECORD_SHARD documents per file

Postings are flat `[doc delta, impact, …]` pairs. The impact (1–255) is the BM25F term weight of
the document, computed here once: title, body and document-number frequencies weighted and
length-normalised, then saturated. The client only adds idf × impact per term, so it never needs
document lengths. JSON with sorted keys, so the same cluster gives the same bytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from whoosh import fields
from whoosh.analysis import Token, Tokenizer
from whoosh.filedb.filestore import RamStorage

from govsite.markup import Body
from govsite.model import PUBLISHED, Cluster
from govsite.search.analysis import doc_numbers, fold, tokens
from govsite.search.settings import SearchSettings

FORMAT = 1
FIELDS = ("title", "body", "docnum")
WEIGHTS = {"title": 3.0, "body": 1.0, "docnum": 8.0}
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


class _Analyzer(Tokenizer):
    """Feeds govsite's own tokens to whoosh, so index and client agree on every term."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for text, position in tokens(value):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = start_pos + position
            yield token


def _docnum_analyzer(value, **kwargs):
    token = Token(**{k: v for k, v in kwargs.items() if k in ("positions", "chars", "mode")})
    for number in value.split("\n"):
        if number:
            token.text, token.boost, token.stopped = number, 1.0, False
            yield token


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
    schema = fields.Schema(
        title=fields.TEXT(analyzer=_Analyzer(), phrase=False),
        body=fields.TEXT(analyzer=_Analyzer(), phrase=False),
        docnum=fields.KEYWORD(analyzer=_DocnumAnalyzer(), lowercase=False))
    index = RamStorage().create_index(schema)
    writer = index.writer()
    for doc in docs:
        writer.add_document(title=doc.title, body=doc.text, docnum="\n".join(doc.docnums))
    writer.commit()
    postings: dict[str, dict[int, list[int]]] = {}
    lengths: dict[str, list[int]] = {f: [0] * len(docs) for f in FIELDS}
    with index.searcher() as searcher:
        reader = searcher.reader()
        for slot, field in enumerate(FIELDS):
            for docnum in range(len(docs)):
                lengths[field][docnum] = reader.doc_field_length(docnum, field, 0)
            for term in reader.field_terms(field):
                text = term.decode("utf-8") if isinstance(term, bytes) else term
                matcher = reader.postings(field, term)
                entry = postings.setdefault(f"{'#' if field == 'docnum' else ''}{text}", {})
                while matcher.is_active():
                    counts = entry.setdefault(matcher.id(), [0, 0, 0])
                    counts[slot] = int(matcher.weight())
                    matcher.next()
    return _export(docs, postings, lengths, settings or SearchSettings(), terms_per_shard,
                   docs_per_record_shard)


class _DocnumAnalyzer(Tokenizer):
    def __call__(self, value, **kwargs):
        yield from _docnum_analyzer(value, **kwargs)


def shard_of(term: str, count: int) -> int:
    """A stable hash both sides compute: CRC-32 of the UTF-8 term (the client has a CRC table)."""
    return zlib.crc32(term.encode("utf-8")) % count


K1, B = 1.2, 0.75


def impact(counts: list[int], doc: int, lengths: dict[str, list[int]],
           averages: dict[str, float]) -> int:
    """BM25F's saturated term weight for one document, quantised to 1–255."""
    weighted = 0.0
    for slot, field in enumerate(FIELDS):
        if not counts[slot]:
            continue
        norm = 1.0 if field == "docnum" else (
            1 - B + B * lengths[field][doc] / (averages[field] or 1.0))
        weighted += WEIGHTS[field] * counts[slot] / norm
    return max(1, min(255, round(255 * weighted / (K1 + weighted))))


def _export(docs: list[SearchDoc], postings: dict[str, dict[int, list[int]]],
            lengths: dict[str, list[int]], settings: SearchSettings, terms_per_shard: int,
            docs_per_record_shard: int) -> dict[str, str]:
    count = max(1, len(docs))
    averages = {f: sum(lengths[f]) / count for f in FIELDS}
    shards = max(1, -(-len(postings) // terms_per_shard))
    buckets: list[dict[str, list]] = [{} for _ in range(shards)]
    for term in sorted(postings):
        entry = postings[term]
        flat: list[int] = []
        previous = 0
        for doc in sorted(entry):
            flat += [doc - previous, impact(entry[doc], doc, lengths, averages)]
            previous = doc
        buckets[shard_of(term, shards)][term] = [len(entry), flat]
    sites = sorted({d.site for d in docs})
    files = {f"t/{n}.json": _json(bucket) for n, bucket in enumerate(buckets)}
    for start in range(0, len(docs), docs_per_record_shard):
        records = [[d.url, d.title, sites.index(d.site), d.column, d.kind, d.date, d.validity,
                    d.text[:EXCERPT]] for d in docs[start:start + docs_per_record_shard]]
        files[f"d/{start // docs_per_record_shard}.json"] = _json(records)
    files["meta.json"] = _json({
        "format": FORMAT, "docs": len(docs), "term_shards": shards,
        "docs_per_record_shard": docs_per_record_shard, "sites": sites,
        # Folded once here, so the client compares them with a folded query as they are.
        "synonyms": [[fold(word) for word in group] for group in settings.synonyms],
        "hot_words": {site: list(words) for site, words in settings.hot_words},
    })
    return files


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def iter_files(cluster: Cluster, bodies: dict[str, Body]) -> Iterator[tuple[str, str]]:
    yield from sorted(build_index(documents(cluster, bodies)).items())
