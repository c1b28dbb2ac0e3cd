"""Searching the static index: the ranking the browser client implements line for line.

Reads only the files a browser would fetch (meta, the shards of the query's terms, the records of
the results), so `govsite search` shows exactly what a citizen's browser would, and tests can
count the bytes a query costs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from govsite.search.analysis import doc_numbers, fold, tokens
from govsite.search.index import shard_of

Fetch = Callable[[str], str]   # path under _search/ → file text


@dataclass(frozen=True)
class Hit:
    url: str
    title: str
    site: str
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
    fetched: list[str] = field(default_factory=list)


MAX_VARIANTS = 4


def variants(query: str, synonyms: list[list[str]]) -> list[str]:
    """The query as written, plus the same query in the words of each synonym group it uses."""
    folded = fold(query)
    out = [folded]
    for group in synonyms:
        present = [word for word in group if word in folded]
        if not present:
            continue
        used = max(present, key=len)
        out += [folded.replace(used, other) for other in group if other != used]
    return list(dict.fromkeys(out))[: MAX_VARIANTS + 1]


def search(fetch: Fetch, query: str, site: str | None = None, limit: int = 10) -> Result:
    fetched: list[str] = []

    def load(path: str) -> object:
        fetched.append(path)
        return json.loads(fetch(path))

    meta = load("meta.json")
    assert isinstance(meta, dict)
    shards: dict[int, dict] = {}
    best: dict[int, float] = {}
    numbered: set[int] = set()
    for variant in variants(query, meta.get("synonyms", [])):
        terms = list(dict.fromkeys(t for t, _ in tokens(variant)))
        terms += [f"#{n}" for n in doc_numbers(variant)]
        scores: dict[int, float] = {}
        matched: dict[int, int] = {}
        for term in terms:
            number = shard_of(term, meta["term_shards"])
            if number not in shards:
                shards[number] = load(f"t/{number}.json")  # type: ignore[assignment]
            entry = shards[number].get(term)
            if not entry:
                continue
            _df, flat = entry
            doc = 0
            for i in range(0, len(flat), 2):
                doc += flat[i]
                scores[doc] = scores.get(doc, 0.0) + flat[i + 1] / meta["scale"]
                matched[doc] = matched.get(doc, 0) + 1
                if term.startswith("#"):
                    numbered.add(doc)
        # Pages matching more of the query's terms come first, without requiring all of them.
        for doc, score in scores.items():
            score *= (matched[doc] / len(terms)) ** 2
            if score > best.get(doc, 0.0):
                best[doc] = score
    # A document whose number the query names comes first.
    ranked = sorted(best, key=lambda d: (-(d in numbered), -best[d], d))
    hits: list[Hit] = []
    records: dict[int, list] = {}
    per_shard = meta["docs_per_record_shard"]
    for doc in ranked:
        number = doc // per_shard
        if number not in records:
            records[number] = load(f"d/{number}.json")  # type: ignore[assignment]
        url, title, site_index, column, kind, date, validity, excerpt = records[number][doc % per_shard]
        if site and meta["sites"][site_index] != site:
            continue
        hits.append(Hit(url, title, meta["sites"][site_index], column, kind, date, validity,
                        excerpt, round(best[doc], 6)))
        if len(hits) == limit:
            break
    return Result(hits, len(ranked) if not site else len(hits), fetched)
