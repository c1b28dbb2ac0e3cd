"""Searching the static index: the ranking the browser client (search.js) implements step by step.

Reads only the files a browser would fetch (meta, the shards of the query's terms, a few
traditional→simplified buckets when needed, the records of the results shown), so
`govsite search` shows exactly what a citizen's browser would, and tests and benchmarks can
count the bytes a query costs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from govsite.search.analysis import (
    CJK_CHAR,
    doc_numbers,
    fold,
    normalize,
    tokens,
    without_question_words,
)
from govsite.search.index import shard_of

Fetch = Callable[[str], str]   # path relative to the index folder → file text
MAX_VARIANTS = 4               # synonym rewrites of one query, at most


@dataclass(frozen=True)
class Hit:
    url: str
    title: str
    site: str
    site_name: str
    column: str
    kind: str
    date: str
    validity: str
    excerpt: str
    score: float


@dataclass
class Result:
    hits: list[Hit]
    total: int
    query: str                    # the query as searched: folded, simplified
    fetched: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    site: str | None = None
    kind: str | None = None
    year: str | None = None
    validity: str | None = None
    by_date: bool = False

    def __bool__(self) -> bool:
        return any((self.site, self.kind, self.year, self.validity, self.by_date))


def query_terms(folded: str) -> list[str]:
    """The terms of a folded query: its tokens without question words, and its document numbers."""
    stripped = without_question_words(folded)
    terms = [t for t, _ in tokens(stripped, {})] or [t for t, _ in tokens(folded, {})]
    terms += [f"#{n}" for n in doc_numbers(folded, {})]
    return list(dict.fromkeys(terms))


def variants(folded: str, synonyms: list[list[str]]) -> list[str]:
    """The query as written, plus the same query in the words of each synonym group it uses."""
    out = [folded]
    for group in synonyms:
        present = [word for word in group if word in folded]
        if not present:
            continue
        used = max(present, key=len)
        out += [folded.replace(used, other) for other in group if other != used]
    return list(dict.fromkeys(out))[: MAX_VARIANTS + 1]


class _Index:
    """The files of one index, each fetched at most once and counted."""

    def __init__(self, fetch: Fetch):
        self._fetch = fetch
        self.fetched: list[str] = []
        self._cache: dict[str, object] = {}
        self.meta: dict = self.load("meta.json")  # type: ignore[assignment]

    def load(self, path: str) -> object:
        if path not in self._cache:
            self.fetched.append(path)
            self._cache[path] = json.loads(self._fetch(path))
        return self._cache[path]

    def postings(self, term: str) -> list[int] | None:
        shard = self.load(f"t/{shard_of(term, self.meta['shards'])}.json")
        assert isinstance(shard, dict)
        return shard.get(term)

    def simplified(self, text: str) -> str:
        """Traditional characters folded, fetching only the table buckets of characters in terms
        the index does not know: the index is folded, so a traditional character's terms are
        never in it, and the query ends up exactly as folding it with the whole table would."""
        unknown = {char for term in query_terms(text) if self.postings(term) is None
                   for char in term if CJK_CHAR.match(char)}
        table: dict[str, str] = {}
        for bucket in sorted({ord(char) % self.meta["t2s"] for char in unknown}):
            bucket_table = self.load(f"{self.meta['t2s_path']}{bucket}.json")
            assert isinstance(bucket_table, dict)
            table.update(bucket_table)
        return fold(text, table)


def search(fetch: Fetch, query: str, limit: int = 10, offset: int = 0,
           filters: Filters = Filters()) -> Result:
    index = _Index(fetch)
    folded = index.simplified(normalize(query))
    best: dict[int, float] = {}
    numbered: set[int] = set()
    for variant in variants(folded, index.meta["synonyms"]):
        terms = query_terms(variant)
        scores: dict[int, float] = {}
        matched: dict[int, int] = {}
        for term in terms:
            doc = 0
            flat = index.postings(term) or []
            for i in range(0, len(flat), 2):
                doc += flat[i]
                scores[doc] = scores.get(doc, 0) + flat[i + 1]
                matched[doc] = matched.get(doc, 0) + 1
                if term.startswith("#"):
                    numbered.add(doc)
        # Pages matching more of the query's terms come first, without requiring all of them.
        for doc, score in scores.items():
            ratio = matched[doc] / len(terms)
            weighted = score / index.meta["scale"] * (ratio * ratio)
            best[doc] = max(best.get(doc, 0.0), weighted)
    ranked = sorted(best, key=lambda d: (-(d in numbered), -best[d], d))
    if filters:
        ranked = _filtered(index, ranked, filters)
    hits = [_hit(index, doc, best[doc]) for doc in ranked[offset:offset + limit]]
    return Result(hits, len(ranked), folded, index.fetched)


def _filtered(index: _Index, ranked: list[int], filters: Filters) -> list[int]:
    attributes = index.load("a.json")
    assert isinstance(attributes, list)
    sites = [s[0] for s in index.meta["sites"]]

    def keep(doc: int) -> bool:
        site, kind, date, validity = attributes[doc]
        return ((not filters.site or sites[site] == filters.site)
                and (not filters.kind or kind == filters.kind)
                and (not filters.year or date[:4] == filters.year)
                and (not filters.validity or validity == filters.validity))

    kept = [doc for doc in ranked if keep(doc)]
    if filters.by_date:  # newest first; undated last; the sort is stable, so ties keep rank
        kept.sort(key=lambda doc: attributes[doc][2] or "0", reverse=True)
    return kept


def _hit(index: _Index, doc: int, score: float) -> Hit:
    per_file = index.meta["records"]
    records = index.load(f"d/{doc // per_file}.json")
    assert isinstance(records, list)
    path, title, site, column, kind, date, validity, excerpt = records[doc % per_file]
    site_id, site_name, site_url = index.meta["sites"][site]
    return Hit(site_url + path, title, site_id, site_name, column, kind, date, validity, excerpt,
               round(score, 6))
