"""An edit's scores as the previous builds' term state with the documents changed since laid
over it: the state is neither merged nor written again.

Merging one edited page's postings into the state (index._TermKeys.update) copied every
posting of the cluster, and scoring and writing the merged state went over every one again:
at 100,000 pages, 43 million postings and some six seconds for one page. Yet after most builds
the number of documents and the rounded average length are as in the state (index.score), and
then every other document's contributions are the state's but for the terms whose idf the
changed documents moved. The index files ask for little: the postings of the terms in the
shards an edit touched (Scores.in_shards), and those of the sites it changed (Scores.only).
Overlaid answers both from the state and the changed documents alone, so an edit costs what
it changed (and, for its own site's index, one pass over the state's document numbers).

The next build overlays its changes on the same state, and so on, until the overlay holds
more documents than OVERLAY_LEAST and a twentieth of the cluster (OVERLAY_SHARE), or the
statistics move: index.score then merges and scores everything and writes a new state. A site
none of whose documents changed since the previous build is a Range, whose shards are
gathered from the postings of their own terms.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property

import numpy as np

from govsite.search import index
from govsite.search.index import (
    CountCache,
    Scores,
    SearchDoc,
    TermState,
    _contributions,
    _idf,
    _mean,
    _norm,
    _spell,
    _TermKeys,
    _unpack,
)

WORDS = _TermKeys.WORDS
OVERLAY_LEAST = 200   # documents an overlay may always hold
OVERLAY_SHARE = 20    # and beyond that, one in this many of the cluster's
SLOT = 20             # bits below a key in a sort key (Overlaid.only): room for new words

# A term as a document's counts hold it: a Chinese key (a number below WORDS), or a word.
Term = int | str
Version = tuple[dict[Term, int], float]   # a document's terms and counts, and its length


def score(docs: Sequence[SearchDoc], jobs: int = 1, cache: CountCache | None = None
          ) -> Scores | Overlaid:
    """index.score(), as an overlay of the previous build's state when that is possible."""
    if cache is not None and cache.state is not None:
        overlaid = _overlay(docs, cache, cache.state)
        if overlaid is not None:
            cache.state, cache.state_kept = None, True
            cache.used.update(overlaid.state.digests[p] for p in overlaid.overlay)
            cache.keep_overlay(overlaid.state.tag, overlaid.overlay)
            return overlaid
    scores = index.score(docs, jobs, cache)
    if cache is not None:
        cache.keep_overlay(index.state_tag(cache.digests), {})
    return scores


def _overlay(docs: Sequence[SearchDoc], cache: CountCache, state: TermState
             ) -> Overlaid | None:
    n = len(docs)
    if len(state.digests) != n:
        return None
    overlay = {p: d for p, (d, then) in enumerate(zip(cache.digests, state.digests, strict=True))
               if d != then}
    if len(overlay) > max(OVERLAY_LEAST, n // OVERLAY_SHARE):
        return None
    previous = cache.overlaid
    changed = sorted(p for p in set(overlay) | set(previous)
                     if previous.get(p, state.digests[p]) != cache.digests[p])
    current = _versions([docs[p] for p in overlay], list(overlay.values()), cache)
    lengths = state.lengths.copy()
    for p, digest in overlay.items():
        lengths[p] = current[digest][1]
    if _mean(lengths) != state.mean:   # every contribution moved: merged and scored afresh
        return None
    # What the documents overlaid or changed were in the state, and before this build.
    in_state = _state_versions(state, sorted(set(overlay) | set(changed)), cache)
    earlier = _read([previous[p] for p in changed if p in previous], cache)
    before: dict[int, Version] = {}
    for p in changed:
        digest = previous.get(p, state.digests[p])
        version = in_state[p] if digest == state.digests[p] else earlier.get(digest)
        if version is not None:
            before[p] = version
    return Overlaid(state, overlay, {p: current[d] for p, d in overlay.items()}, in_state,
                    before if len(before) == len(changed) else None, changed, lengths)


def _postings_of(state: index.TermState, first: int, last: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positions, documents and contributions of the postings of documents first … last,
    in order. One pass over the state's arrays in slices that stay in the processor's cache
    (43 million postings at 100,000 pages: two comparisons and their temporaries over the
    whole array took twice as long), each slice of the cache's file mapped in and let go of
    in turn: an edit's search process held all of them, 328 MB, at its peak."""
    found: list[np.ndarray] = []
    docs: list[np.ndarray] = []
    values: list[np.ndarray] = []
    span = np.uint32(last - first)
    for start in range(0, len(state.docs), POSTINGS_SLICE):
        part = state.docs[start:start + POSTINGS_SLICE]
        contributed = state.values[start:start + POSTINGS_SLICE]
        state.populate(part, contributed)
        at = np.flatnonzero((part.astype(np.int32, copy=False) - np.int32(first)).view(np.uint32) <= span)
        found.append(at + start)
        docs.append(part[at].astype(np.int64))
        values.append(contributed[at])
        state.release(part)
        state.release(contributed)
    return (_joined(found, np.int64), _joined(docs, np.int64), _joined(values, np.int32))


POSTINGS_SLICE = 1 << 20


class Overlaid:
    """Scores as the state's with `overlay` (position → digest) laid over it: what publish.py
    and index.build_index ask of Scores, answered without working out every posting (whole()
    does, for what needs them all)."""

    def __init__(self, state: TermState, overlay: dict[int, str], current: dict[int, Version],
                 in_state: dict[int, Version], before: dict[int, Version] | None,
                 changed: list[int], lengths: np.ndarray):
        self.state, self.overlay, self.current, self.lengths = state, overlay, current, lengths
        self.changed = changed
        self.mean = state.mean
        self.documents = len(state.digests)
        self.overlaid = np.array(sorted(overlay), dtype=np.int64)
        # Every term an overlaid or changed document holds or held, with its document frequency
        # in the state, now and before this build: only these can differ from the state's.
        changes: dict[Term, int] = {}
        for p in overlay:
            for term in current[p][0]:
                changes[term] = changes.get(term, 0) + 1
            for term in in_state[p][0]:
                changes[term] = changes.get(term, 0) - 1
        terms = set(changes)
        for p in changed:
            terms.update(self._now(p, in_state)[0])
            if before is not None:
                terms.update(before[p][0])
        self.terms_changed = sorted(terms, key=self._order)
        self.base = {term: self._base(term) for term in self.terms_changed}
        state_df = {term: self._df(at) for term, at in self.base.items()}
        self.df = {term: state_df[term] + changes.get(term, 0) for term in self.terms_changed}
        self.idf = self._idf(self.df)
        self.idf_moved = {term for term in self.terms_changed if state_df[term] and
                          self.idf[term] != self._idf({term: state_df[term]})[term]}
        # The documents now holding each changed term, among the overlaid.
        self.holding: dict[Term, list[int]] = {}
        for p in sorted(overlay):
            for term in current[p][0]:
                self.holding.setdefault(term, []).append(p)
        # The number of documents and the rounded average are the state's, and so the previous
        # build's; whether an unchanged document kept its contributions since then is known
        # when what the changed documents were then is (else every index is worked out whole).
        self.kept = before is not None
        self.moved: frozenset[str] = frozenset()
        self.touched: frozenset[str] | None = None
        if before is not None:
            df_before = dict(self.df)
            for p in changed:
                for term in self._now(p, in_state)[0]:
                    df_before[term] -= 1
                for term in before[p][0]:
                    df_before[term] += 1
            idf_before = self._idf(df_before)
            self.moved = frozenset(_spelled(term, state) for term in self.terms_changed
                                   if self.df[term] and df_before[term]
                                   and idf_before[term] != self.idf[term])
            touched: set[Term] = set()
            for p in changed:
                then = self._values(before[p], idf_before)
                now = self._values(self._now(p, in_state), self.idf)
                touched.update(term for term in then.keys() | now.keys()
                               if then.get(term) != now.get(term))
            self.touched = frozenset(_spelled(term, state) for term in touched)
        self.in_state = in_state

    # -- what a term is in the state ----------------------------------------------------------
    def _now(self, p: int, in_state: dict[int, Version]) -> Version:
        return self.current[p] if p in self.current else in_state[p]

    def _order(self, term: Term) -> tuple[int, int, str]:
        """A term's place in key order, words the state lacks included."""
        if isinstance(term, int):
            return term, 1, ""
        at = bisect.bisect_left(self.state.words, term)
        known = at < len(self.state.words) and self.state.words[at] == term
        return WORDS + at, int(known), term

    def _base(self, term: Term) -> int:
        """The term's place in the state's vocabulary, or -1."""
        key = term if isinstance(term, int) else index._word_key(term, self.state.words, WORDS)
        if key is None:
            return -1
        at = int(np.searchsorted(self.state.vocabulary, key))
        return at if at < len(self.state.vocabulary) and self.state.vocabulary[at] == key else -1

    def _df(self, at: int) -> int:
        return int(self.state.starts[at + 1] - self.state.starts[at]) if at >= 0 else 0

    def _idf(self, df: dict[Term, int]) -> dict[Term, float]:
        terms = list(df)
        values = _idf(self.documents, np.array([df[t] for t in terms], dtype=np.int64))
        return dict(zip(terms, values.tolist(), strict=True))

    def _values(self, version: Version, idf: dict[Term, float]) -> dict[Term, int]:
        counts, length = version
        terms = list(counts)
        values = _contributions(np.array([idf[t] for t in terms], dtype=np.float64),
                                np.array([counts[t] for t in terms], dtype=np.int64),
                                _norm(np.full(len(terms), length, dtype=np.float64), self.mean))
        return dict(zip(terms, values.tolist(), strict=True))

    # -- postings ------------------------------------------------------------------------------
    def _postings(self, term: Term, at: int) -> tuple[np.ndarray, np.ndarray]:
        """The term's documents and contributions, in document order."""
        state = self.state
        low, high = (int(state.starts[at]), int(state.starts[at + 1])) if at >= 0 else (0, 0)
        docs, values = state.docs[low:high], state.values[low:high]
        if term not in self.df:
            return docs.astype(np.int64), values
        keep = ~np.isin(docs, self.overlaid)
        docs = docs[keep].astype(np.int64)
        if term in self.idf_moved:
            values = self._contributions(term, state.tf[low:high][keep], docs)
        else:
            values = values[keep]
        holders = self.holding.get(term, [])
        if holders:
            counts = np.array([self.current[p][0][term] for p in holders], dtype=np.int64)
            extra = np.array(holders, dtype=np.int64)
            docs = np.concatenate((docs, extra))
            values = np.concatenate((values, self._contributions(term, counts, extra)))
            order = np.argsort(docs, kind="stable")
            docs, values = docs[order], values[order]
        return docs, values

    def _contributions(self, term: Term, tf: np.ndarray, docs: np.ndarray) -> np.ndarray:
        idf = np.full(len(tf), self.idf[term], dtype=np.float64)
        return _contributions(idf, tf, _norm(self.lengths[docs], self.mean))

    @property
    def postings(self) -> int:
        return self.state.postings + sum(len(self.current[p][0]) - len(self.in_state[p][0])
                                          for p in self.overlay)

    def shard_count(self, shard_bytes: int, most: int, previous: Mapping[str, str] | None) -> int:
        return index.shards_for(self.postings, self.size(), shard_bytes, most)

    def size(self) -> int:
        """As Scores.size(): the state's terms, less those gone, plus those come."""
        size = 8 * self.postings + self.state.term_bytes
        for term, at in self.base.items():
            present, was = self.df[term] > 0, self._df(at) > 0
            if present != was:
                size += (3 * len(_spelled(term, self.state)) + 4) * (1 if present else -1)
        return size

    def in_shards(self, shards: list[int], count: int) -> Scores:
        """As Scores.in_shards(): what the whole cluster's Range gathers (the terms no overlaid
        document holds or held with numpy, the others one by one). Term by term, a portal's
        shards touched by one edit took 12,000 slices of the state."""
        return Range(self, 0, self.documents - 1).in_shards(shards, count)

    def holders(self) -> np.ndarray:
        """The documents holding a term whose idf moved since the previous build (`moved`)."""
        moved = [term for term in self.terms_changed if _spelled(term, self.state) in self.moved]
        return _joined([self._postings(term, self.base[term])[0] for term in moved], np.int64)

    def only(self, keep: list[int]) -> Scores | Range:
        """As Scores.only(). A site none of whose documents changed since the previous build
        is a Range, answering from the state alone; another site's postings are gathered in
        one pass over the state's document numbers, the rest in proportion to them."""
        if not keep:
            empty = np.zeros(0, dtype=np.int64)
            return Scores([], empty, empty, empty, empty, touched=self.touched)
        if keep[-1] - keep[0] + 1 != len(keep):
            return self.whole().only(keep)
        first, last = keep[0], keep[-1]
        if not any(first <= p <= last for p in self.changed):
            return Range(self, first, last)
        return self.gathered(first, last)

    def gathered(self, first: int, last: int) -> Scores:
        """The postings of the documents first … last, as arrays."""
        state = self.state
        taken, docs, values = _postings_of(state, first, last)
        overlaid = [p for p in self.overlay if first <= p <= last]
        if overlaid:   # (their postings in the state are not theirs any more)
            hidden = np.zeros(self.documents, dtype=bool)
            hidden[overlaid] = True
            shown = ~hidden[docs]
            taken, docs, values = taken[shown], docs[shown], values[shown]
        order = state.keys_at(taken) << SLOT
        for term in self.idf_moved:   # the state's contributions of these moved
            key = self._order(term)[0]   # a word the state holds: its key
            low, high = np.searchsorted(order, key << SLOT), np.searchsorted(order, key << SLOT, "right")
            values[low:high] = self._contributions(term, state.tf[taken[low:high]], docs[low:high])
        # The overlaid documents' postings, each put in its place; a word the state lacks goes
        # just before the state's word it sorts before (and after other new words before it).
        slot: dict[str, int] = {}
        place, rank = -1, 0
        for word in sorted(t for t in self.df if isinstance(t, str) and self.base[t] < 0):
            rank = rank + 1 if self._order(word)[0] == place else 0
            place = self._order(word)[0]
            slot[word] = (place << SLOT) - (1 << (SLOT - 1)) + rank
        extra: list[tuple[int, int, Term]] = []
        for p in overlaid:
            for term in self.current[p][0]:
                sort_key = slot[term] if isinstance(term, str) and term in slot \
                    else self._order(term)[0] << SLOT
                extra.append((sort_key, p, term))
        extra.sort()
        if extra:
            sort_keys = np.array([e[0] for e in extra], dtype=np.int64)
            at_docs = np.array([e[1] for e in extra], dtype=np.int64)
            low = np.searchsorted(order, sort_keys).tolist()
            high = np.searchsorted(order, sort_keys, "right").tolist()
            places = [a + int(np.searchsorted(docs[a:b], d)) for a, b, d in
                      zip(low, high, at_docs.tolist(), strict=True)]
            added = np.concatenate([self._contributions(
                term, np.array([self.current[p][0][term]], dtype=np.int64),
                np.array([p], dtype=np.int64)) for _, p, term in extra])
            order = np.insert(order, places, sort_keys)
            docs = np.insert(docs, places, at_docs)
            values = np.insert(values, places, added)
        firsts = np.concatenate(([True], order[1:] != order[:-1])) if len(order) else \
            np.zeros(0, dtype=bool)
        distinct = order[firsts]
        columns = np.cumsum(firsts) - 1
        words = {v: k for k, v in slot.items()}
        spelled = [words[v] if v in words else _spell(v >> SLOT, state.words, WORDS)
                   for v in distinct.tolist()]
        # The state holds the CRC-32 of each of its terms; only a word new to it is hashed.
        vocabulary = state.vocabulary
        hashes = np.zeros(len(distinct), dtype=np.int64)
        known = np.zeros(len(distinct), dtype=bool)
        if len(vocabulary):
            at = np.minimum(np.searchsorted(vocabulary, distinct >> SLOT), len(vocabulary) - 1)
            known = vocabulary[at] << SLOT == distinct
            hashes[known] = state.hashes[at[known]]
        for n in np.flatnonzero(~known).tolist():
            hashes[n] = zlib.crc32(spelled[n].encode("utf-8"))
        return Scores(spelled, hashes, columns, docs - first, values, touched=self.touched)

    def whole(self) -> Scores:
        return self._whole

    @cached_property
    def _whole(self) -> Scores:
        return self.gathered(0, self.documents - 1)

    # What needs every posting reads them from whole().
    terms = property(lambda self: self.whole().terms)
    hashes = property(lambda self: self.whole().hashes)
    columns = property(lambda self: self.whole().columns)
    docs = property(lambda self: self.whole().docs)
    values = property(lambda self: self.whole().values)


def _spelled(term: Term, state: TermState) -> str:
    return term if isinstance(term, str) else _spell(term, state.words, WORDS)


def _hash(term: Term, state: TermState) -> int:
    return zlib.crc32(_spelled(term, state).encode("utf-8"))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _version(counted: index.Counted) -> Version:
    cjk, cjk_counts, words, word_counts, length = counted
    terms: dict[Term, int] = dict(zip(cjk.tolist(), cjk_counts.tolist(), strict=True))
    terms.update(zip(words, word_counts.tolist(), strict=True))
    return terms, float(length)


def _read(digests: Iterable[str], cache: CountCache) -> dict[str, Version]:
    """The counts the cache holds of these documents, by digest (one lookup for all)."""
    packed = {d: cache.known[d] for d in digests if d in cache.known}
    wanted = [d for d in digests if d not in packed]
    if wanted and cache.lookup is not None:
        packed.update(cache.lookup(wanted))
    return {digest: _version(_unpack(value)) for digest, value in packed.items()}


def _versions(docs: list[SearchDoc], digests: list[str], cache: CountCache
              ) -> dict[str, Version]:
    """The documents' counts, read back or counted (and kept for the next build)."""
    found = _read(digests, cache)
    todo = [(doc, digest) for doc, digest in zip(docs, digests, strict=True) if digest not in found]
    if todo:
        if cache.prepare is not None:
            cache.prepare([doc for doc, _ in todo])
        for doc, digest in todo:
            counted = _TermKeys().count(doc)
            packed = index._pack(counted)
            cache.keep(digest, packed)
            cache.known[digest] = packed   # read back if the overlay is given up (index.score)
            found[digest] = _version(counted)
    return found


def _state_versions(state: TermState, positions: Iterable[int], cache: CountCache
                    ) -> dict[int, Version]:
    """The documents at these positions as the state holds them: their counts read back by
    their digest in the state, or else gathered from its arrays (one pass over them)."""
    positions = list(positions)
    read = _read([state.digests[p] for p in positions], cache)
    versions = {p: read[state.digests[p]] for p in positions if state.digests[p] in read}
    missing = [p for p in positions if p not in versions]
    if missing:
        wanted = np.zeros(len(state.digests), dtype=bool)
        wanted[missing] = True
        taken = np.flatnonzero(wanted[state.docs])
        for p in missing:
            versions[p] = ({}, float(state.lengths[p]))
        for doc, key, tf in zip(state.docs[taken].tolist(), state.keys_at(taken).tolist(),
                                state.tf[taken].tolist(), strict=True):
            versions[doc][0][key if key < WORDS else state.words[key - WORDS]] = tf
    return versions


def _gathered(state: index.TermState, take: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The documents and contributions of the state's postings at `take` (ascending), copied
    GATHER_STEP at a time, the pages of the state's file read for each step let go of before
    the next (TermState.release): the system maps in a file's neighbouring pages with each one
    read, and the postings of the terms in a batch of shards, scattered over the whole file,
    took both arrays' pages in whole (+300 MB at 100,000 pages) until they were let go of."""
    docs: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for start in range(0, len(take), GATHER_STEP):
        part = take[start:start + GATHER_STEP]
        docs.append(np.asarray(state.docs[part]))
        values.append(state.values[part])
        state.release(state.docs)
        state.release(state.values)
    return _joined(docs, np.int64), _joined(values, np.int32)


GATHER_STEP = 1 << 15   # postings gathered from the state between two releases of its pages


class Range:
    """The postings of a site none of whose documents changed since the previous build, in an
    Overlaid: its index is that build's but for the contributions of terms whose idf moved,
    with as many shards (publish.py patches it). The shards asked for are gathered from the
    postings of their terms alone, not from every posting of the cluster."""

    def __init__(self, overlaid: Overlaid, first: int, last: int):
        self.overlaid, self.first, self.last = overlaid, first, last
        self.touched = overlaid.touched

    def shard_count(self, shard_bytes: int, most: int, previous: Mapping[str, str] | None) -> int:
        if previous is None:
            return self.whole().shard_count(shard_bytes, most, previous)
        return sum(name.startswith("t/") for name in previous)

    def in_shards(self, shards: list[int], count: int) -> Scores:
        """As Scores.in_shards(). The terms no overlaid document holds or held are the state's
        to the posting, and gathered with numpy; the few others one by one (_postings)."""
        overlaid = self.overlaid
        state = overlaid.state
        # Masks, not np.isin, which sorts both sides (a fifth of the time of this method).
        wanted = np.zeros(count, dtype=bool)
        wanted[shards] = True
        picked = np.flatnonzero(wanted[state.hashes % count])
        changed = np.zeros(len(state.vocabulary), dtype=bool)
        changed[[at for at in overlaid.base.values() if at >= 0]] = True
        picked = picked[~changed[picked]]
        low, high = state.starts[picked], state.starts[picked + 1]
        widths = high - low
        take = index.spans(low, widths)
        docs, contributions = _gathered(state, take)
        inside = (docs >= self.first) & (docs <= self.last)
        docs, contributions = docs[inside], contributions[inside]   # (docs: int64 already)
        of = np.repeat(np.arange(len(picked)), widths)[inside]   # each posting's term, in picked
        present, columns = np.unique(of, return_inverse=True)
        keys = state.vocabulary[picked[present]]
        # The changed terms in these shards, each put among the others in key order.
        extra = []
        for term, at in overlaid.base.items():
            if overlaid.df[term] and (int(state.hashes[at]) if at >= 0 else _hash(term, state)) \
                    % count in shards:
                held, contributed = overlaid._postings(term, at)
                mine = (held >= self.first) & (held <= self.last)
                if mine.any():
                    order = overlaid._order(term)
                    extra.append((int(np.searchsorted(keys, order[0])), order, term,
                                  held[mine], contributed[mine]))
        extra.sort(key=lambda item: item[:2])
        spelled = [_spell(key, state.words, WORDS) for key in keys.tolist()]
        hashes = state.hashes[picked[present]].tolist()
        bounds = np.searchsorted(columns, np.arange(len(present) + 1)).tolist() if len(columns) \
            else [0]
        parts_docs: list[np.ndarray] = []
        parts_values: list[np.ndarray] = []
        parts_columns: list[np.ndarray] = []
        terms: list[str] = []
        term_hashes: list[int] = []
        done = 0

        def state_terms(upto: int) -> None:   # the state's terms up to one changed term
            nonlocal done
            if upto > done:
                parts_docs.append(docs[bounds[done]:bounds[upto]])
                parts_values.append(contributions[bounds[done]:bounds[upto]])
                parts_columns.append(columns[bounds[done]:bounds[upto]] - done + len(terms))
                terms.extend(spelled[done:upto])
                term_hashes.extend(hashes[done:upto])
                done = upto

        for at, _, term, held, contributed in extra:
            state_terms(at)
            parts_docs.append(held)
            parts_values.append(contributed)
            parts_columns.append(np.full(len(held), len(terms), dtype=np.int64))
            terms.append(_spelled(term, state))
            term_hashes.append(_hash(term, state))
        state_terms(len(present))
        return Scores(terms, np.array(term_hashes, dtype=np.int64), _joined(parts_columns, np.int64),
                      _joined(parts_docs, np.int64) - self.first, _joined(parts_values, np.int32))

    def whole(self) -> Scores:
        return self._whole

    @cached_property
    def _whole(self) -> Scores:
        return self.overlaid.gathered(self.first, self.last)
