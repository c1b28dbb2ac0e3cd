"""Searching the static index: the ranking the browser client (search.js) implements step by step.

Reads only the files a browser would fetch (meta, the shards of the query's terms, a few
traditional→simplified buckets when needed, the records of the results shown), so
`govsite search` shows exactly what a citizen's browser would, and tests and benchmarks can
count the bytes a query costs.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from govsite.search.analysis import (
    CJK_CHAR,
    ENGLISH_STOP,
    QUESTION,
    RUN,
    fold,
    normalize,
    number_terms,
    tokens,
    without_question_words,
)
from govsite.search.index import FORMAT, shard_of

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
    suggestion: str               # the query with a typo corrected, or ""
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
    terms = [t for t in tokens(stripped, {}) if t not in ENGLISH_STOP] or tokens(folded, {})
    terms += number_terms(folded, {}, query=True)
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
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"search index format {self.meta.get('format')}, expected {FORMAT}: "
                             "rebuild the site")

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
    ranking = _Ranking(index)
    for variant in variants(folded, index.meta["synonyms"]):
        ranking.add(variant)
    # A mistyped word: if the top titles hold a word one character away from it, search for
    # that word too, and offer it ("did you mean").
    suggestion = correction(folded, ranking.titles())
    if suggestion:
        ranking.add(suggestion)
    ranking.rerank(suggestion or folded)
    ranked = ranking.ranked()
    if filters:
        ranked = _filtered(index, ranked, filters)
    hits = [_hit(index, doc, ranking.best[doc]) for doc in ranked[offset:offset + limit]]
    return Result(hits, len(ranked), folded, suggestion, index.fetched)


CHECKED = 10            # top results whose titles correct typos and rerank by title
TITLE_BOOST = 0.5
EXACT_TITLE_BOOST = 1.0
NATIONAL = "中华人民共和国"


class _Ranking:
    def __init__(self, index: _Index):
        self.index = index
        self.best: dict[int, float] = {}
        self.numbered: set[int] = set()

    def add(self, variant: str) -> None:
        """Score the documents for one wording of the query; each keeps its best wording."""
        terms = query_terms(variant)
        scores: dict[int, int] = {}
        matched: dict[int, int] = {}
        for term in terms:
            doc = 0
            flat = self.index.postings(term) or []
            for i in range(0, len(flat), 2):
                doc += flat[i]
                scores[doc] = scores.get(doc, 0) + flat[i + 1]
                matched[doc] = matched.get(doc, 0) + 1
                if term.startswith("#"):
                    self.numbered.add(doc)
        # Pages matching more of the query's terms come first, without requiring all of them.
        for doc, score in scores.items():
            weighted = score / self.index.meta["scale"] * (matched[doc] / len(terms))
            self.best[doc] = max(self.best.get(doc, 0.0), weighted)

    def titles(self) -> list[str]:
        return [normalize(_record(self.index, doc)[1]) for doc in self.ranked()[:CHECKED]]

    def rerank(self, query: str) -> None:
        """The top results, by what their records say: titles holding the query's words rank
        higher, and a title that is the query itself (中华人民共和国 aside) highest, the law before
        the rules citing it; then search.yaml's weights by kind, service guides for questions,
        and freshness (linear over two years before the newest page)."""
        words = RUN.findall(without_question_words(query)) or RUN.findall(query)
        if not words:
            return
        ranking = self.index.meta["ranking"]
        asks = bool(QUESTION.search(query)) or "how" in tokens(query, {})
        newest = _days(ranking["newest"])
        for doc in self.ranked()[:CHECKED]:
            record = _record(self.index, doc)
            title, kind, date = normalize(record[1]), record[4], record[5]
            held = sum(word in title for word in words) / len(words)
            exact = "".join(RUN.findall(title.removeprefix(NATIONAL))) == "".join(words)
            factor = 1 + TITLE_BOOST * held + EXACT_TITLE_BOOST * exact
            factor *= ranking["kinds"].get(kind, 1)
            if asks and kind == "service":
                factor *= ranking["service_questions"]
            if ranking["freshness"] and date:
                factor *= 1 + ranking["freshness"] * max(0, 1 - (newest - _days(date)) / 730)
            self.best[doc] *= factor

    def ranked(self) -> list[int]:
        """A document whose number the query names first, then by score."""
        return sorted(self.best, key=lambda d: (-(d in self.numbered), -self.best[d], d))


def correction(folded: str, titles: list[str]) -> str:
    """The query with one mistyped word corrected from the top titles, or "".

    A word (a run of three or more Chinese characters) that no top title holds may be mistyped;
    its correction is the first stretch of a title, in rank order, one character away: one
    replaced (工商保险 → 工伤保险), missing (失业险 → 失业保险) or extra.
    """
    stripped = without_question_words(folded)
    for word in dict.fromkeys(RUN.findall(stripped)):
        if len(word) < 3 or not CJK_CHAR.match(word):
            continue
        if any(word in title for title in titles):
            continue
        for title in titles:
            found = _one_away(word, title)
            if found:
                return folded.replace(word, found)
    return ""


def _one_away(word: str, title: str) -> str:
    for size in (len(word), len(word) + 1, len(word) - 1):
        for start in range(len(title) - size + 1):
            window = title[start:start + size]
            if size == len(word):
                close = sum(a != b for a, b in zip(word, window, strict=True)) == 1
            else:
                longer, shorter = (window, word) if size > len(word) else (word, window)
                close = any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))
            if close and CJK_CHAR.match(window[0]) and CJK_CHAR.match(window[-1]):
                return window
    return ""


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


def _days(date: str) -> int:
    """Days since 1970 of a YYYY-MM-DD date (0 without one); the client's Date.UTC agrees."""
    return (datetime.date.fromisoformat(date) - EPOCH).days if date else 0


EPOCH = datetime.date(1970, 1, 1)


def _record(index: _Index, doc: int) -> list:
    per_file = index.meta["records"]
    records = index.load(f"d/{doc // per_file}.json")
    assert isinstance(records, list)
    return records[doc % per_file]


def _hit(index: _Index, doc: int, score: float) -> Hit:
    path, title, site, column, kind, date, validity, excerpt = _record(index, doc)
    site_id, site_name, site_url = index.meta["sites"][site]
    return Hit(site_url + path, title, site_id, site_name, column, kind, date, validity, excerpt,
               round(score, 6))
