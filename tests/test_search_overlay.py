"""Scores as an overlay of the previous builds' term state (search/overlay.py): every answer
must be the one scoring everything afresh gives, round after round of edits."""

from __future__ import annotations

import random

import numpy as np
import pytest

import govsite.search.overlay as overlay
from govsite.search.index import CountCache, Scores, SearchDoc, build_index, score
from govsite.search.publish import document_digests

# Words of four characters (three bigrams each) in documents of one length, so the rounded
# average length stays put, as it does for an edit in a large cluster; rare words so that idf
# moves; English words, some of them new to the state, sorting between its words or before all.
COMMON = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行", "户籍迁移", "医疗救助"]
RARE = ["孑孓之虫", "饕餮之徒", "魑魅魍魉", "耄耋之年"]
ENGLISH = ["zebra", "quantum", "mango", "walrus", "aardvark", "kiwi", "yak", "mole"]
SITES = ("a", "b", "c")


class Rounds:
    """Documents edited round after round, each round scored as an overlay of the state the
    rounds before left (as build._search chains them), and afresh."""

    def __init__(self, seed: int, documents: int = 45, lookup: bool = True):
        self.rng = random.Random(seed)
        self.lookup = lookup   # without, what the state holds of a document is gathered from it
        self.docs = [self.doc(SITES[n * len(SITES) // documents], n) for n in range(documents)]
        self.counts: dict[str, bytes] = {}
        self.state, self.overlaid = None, {}
        self.scores = self.score()

    def doc(self, site: str, n: int) -> SearchDoc:
        rng = self.rng
        # Now and then a word no document held before: Chinese, or English sorting before,
        # between or after the others.
        rare = rng.choice(RARE) if rng.random() < 0.8 else \
            "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(4))
        english = rng.choice(ENGLISH) if rng.random() < 0.7 else \
            rng.choice(["aa", "n", "zz"]) + "".join(rng.choice("bcdfg") for _ in range(5))
        words = [rng.choice(COMMON) for _ in range(8)] + [rare, english]
        return SearchDoc(f"https://{site}.gov.cn/{n:03}.html", rng.choice(COMMON), " ".join(words),
                         site, site, f"https://{site}.gov.cn/", "新闻", "news", "", "", "")

    def edit(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            at = self.rng.randrange(len(self.docs))
            self.docs[at] = self.doc(self.docs[at].site, at)

    def score(self):
        digests = document_digests(self.docs)
        cache = CountCache(digests, {}, state=self.state, overlaid=self.overlaid,
                           lookup=lambda wanted: {d: self.counts[d] for d in wanted
                                                  if d in self.counts and self.lookup})
        scores = overlay.score(self.docs, cache=cache)
        self.counts.update(cache.new)
        if cache.state_out is not None:   # merged and written afresh
            self.state = cache.state_out
        assert cache.overlay_out is not None and cache.overlay_out[0] == self.state.tag
        self.overlaid = cache.overlay_out[1]
        return scores


def _arrays(scores) -> dict:
    return {"terms": list(scores.terms), **{name: getattr(scores, name).tolist()
                                             for name in ("hashes", "columns", "docs", "values")}}


def _held(scores: Scores) -> list:
    """The terms present, in order, each with its hash and postings: what an index is made of,
    whether the scores number every term of the cluster (Scores.only) or their own."""
    found: list = []
    for column, doc, value in zip(scores.columns.tolist(), scores.docs.tolist(),
                                  scores.values.tolist(), strict=True):
        if not found or found[-1][0] != scores.terms[column]:
            found.append((scores.terms[column], int(scores.hashes[column]), []))
        found[-1][2].append((doc, value))
    return found


def _postings(scores: Scores) -> dict[str, list[tuple[int, int]]]:
    found: dict[str, list[tuple[int, int]]] = {}
    for column, doc, value in zip(scores.columns.tolist(), scores.docs.tolist(),
                                  scores.values.tolist(), strict=True):
        found.setdefault(scores.terms[column], []).append((doc, value))
    return found


@pytest.mark.parametrize("seed,lookup", [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_an_overlay_answers_as_scoring_everything_afresh_round_after_round(seed, lookup):
    rounds = Rounds(seed, lookup=lookup)
    before = score(rounds.docs)
    overlaid_rounds = range_rounds = 0
    for _ in range(10):
        rounds.edit()
        scores = rounds.score()
        fresh = score(rounds.docs)
        if not isinstance(scores, overlay.Overlaid):
            before = fresh
            continue
        overlaid_rounds += 1
        assert _arrays(scores) == _arrays(fresh)                       # every posting (whole())
        assert scores.postings == fresh.postings and scores.size() == fresh.size()
        for count in (1, 3, 7):
            for shards in ([0], list(range(count))[1::2], list(range(count))):
                assert _held(scores.in_shards(shards, count)) == \
                    _held(fresh.in_shards(shards, count)), (count, shards)
        ranges = 0
        for site in SITES:
            keep = [n for n, d in enumerate(rounds.docs) if d.site == site]
            part, whole = scores.only(keep), fresh.only(keep)
            ranges += isinstance(part, overlay.Range)
            assert _held(part.whole()) == _held(whole), site
            for count in (1, 3, 7):
                for shards in ([0], list(range(count))[1::2]):
                    assert _held(part.in_shards(shards, count)) == \
                        _held(whole.in_shards(shards, count)), (site, count, shards)
        range_rounds += bool(ranges)
        # What changed since the previous round: every term whose postings differ is touched,
        # and the terms present in both rounds whose idf moved are `moved`, held by holders().
        then, now = _postings(before), _postings(fresh)
        differ = {term for term in then.keys() | now.keys() if then.get(term) != now.get(term)}
        if scores.touched is None:   # the previous build's counts were not at hand
            assert not lookup and not scores.kept, "then nothing is said to be as it was"
            before = fresh
            continue
        assert differ <= scores.touched
        idf = {t: np.round(np.log(1 + (45 - len(p) + 0.5) / (len(p) + 0.5)), 2)
               for t, p in then.items()}
        moved = {t for t, p in now.items() if t in idf and idf[t] !=
                 np.round(np.log(1 + (45 - len(p) + 0.5) / (len(p) + 0.5)), 2)}
        assert scores.moved == moved
        assert sorted(scores.holders().tolist()) == sorted(d for t in moved for d, _ in now[t])
        before = fresh
    assert overlaid_rounds >= 5, "most rounds were overlaid"
    assert range_rounds, "in some, a site none of whose pages changed was a Range"


def test_an_overlay_past_its_size_is_merged_into_a_new_state(monkeypatch):
    monkeypatch.setattr(overlay, "OVERLAY_LEAST", 4)
    rounds = Rounds(7)
    states, kinds = [rounds.state.tag], []
    for _ in range(8):
        rounds.edit()
        scores = rounds.score()
        kinds.append(isinstance(scores, overlay.Overlaid))
        states.append(rounds.state.tag)
        assert _arrays(scores) == _arrays(score(rounds.docs))
        assert len(rounds.overlaid) <= 4
    assert True in kinds and False in kinds, kinds
    # A state is written again only when the overlay is given up.
    assert sum(a != b for a, b in zip(states, states[1:], strict=False)) == kinds.count(False)


@pytest.mark.parametrize("seed,at_once", [(0, 64), (1, 64), (2, 64), (0, 1), (1, 2)])
def test_indexes_patched_from_an_overlay_equal_indexes_worked_out_whole(seed, at_once, monkeypatch):
    # The portal's index and a site's, patched from the previous round's files with the
    # overlay's touched terms, must be file for file what working out every shard gives,
    # however few changed shards are worked out at once (index.SHARDS_AT_ONCE).
    import govsite.search.index as index
    monkeypatch.setattr(index, "SHARDS_AT_ONCE", at_once)
    rounds = Rounds(seed, documents=60)
    keep = [n for n, d in enumerate(rounds.docs) if d.site == "b"]
    kinds = {"portal": (300, lambda s: s, lambda docs: docs),
             "site": (200, lambda s: s.only(keep), lambda docs: [docs[n] for n in keep])}
    made: dict[str, dict[str, str]] = {}
    files: dict[str, dict[str, str]] = {}
    for name, (shard_bytes, part, pages) in kinds.items():
        made[name] = {}
        files[name] = build_index(pages(rounds.docs), scores=part(rounds.scores),
                                  shard_bytes=shard_bytes, made=made[name])
    worked_out: list[tuple[int, int]] = []   # (shards worked out, of how many)
    real_shards = index._shards

    def noting(scores, count, wanted, reuse, made):
        wanted = list(wanted)
        worked_out.append((len(wanted), count))
        return real_shards(scores, count, wanted, reuse, made)

    monkeypatch.setattr(index, "_shards", noting)
    patched_rounds = range_patched = batched = 0
    for _ in range(8):
        rounds.edit()
        scores = rounds.score()
        fresh = score(rounds.docs)
        for name, (shard_bytes, part, pages) in kinds.items():
            whole_made: dict[str, str] = {}
            whole = build_index(pages(rounds.docs), scores=part(fresh), shard_bytes=shard_bytes,
                                made=whole_made)
            worked_out.clear()
            patched_made: dict[str, str] = {}
            patched = build_index(pages(rounds.docs), scores=part(scores), shard_bytes=shard_bytes,
                                  made=patched_made, previous=made[name],
                                  reuse=lambda file, digest, name=name: files[name][file]
                                  if made[name].get(file) == digest else None)
            assert patched == whole and patched_made == whole_made, name
            patched_rounds += isinstance(scores, overlay.Overlaid) and \
                all(n < count for n, count in worked_out)
            range_patched += isinstance(part(scores), overlay.Range) and \
                all(n < count for n, count in worked_out)
            batched += len(worked_out) > 1 and all(n <= at_once for n, _ in worked_out)
            files[name], made[name] = whole, whole_made
    assert patched_rounds, "some round worked out fewer shards than all"
    assert range_patched, "a site none of whose pages changed was patched from its Range"
    assert batched or at_once > 2, "the changed shards of some round were worked out apart"


def test_a_ranges_postings_are_gathered_slice_by_slice_from_a_mapped_state(tmp_path, monkeypatch):
    # An edit gathers its site's postings in one pass over the state's arrays, each slice of
    # the cache's file let go of once read: what it gathers is what the arrays hold, and the
    # arrays read the same afterwards.
    from conftest import mapped_state

    from govsite.search.index import TermState
    n = 70_001
    rng = np.random.default_rng(3)
    vocabulary = np.arange(0, 3 * 5_000, 3, dtype=np.int64)
    starts = np.concatenate(([0], np.sort(rng.choice(np.arange(1, n), len(vocabulary) - 1,
                                                     replace=False)), [n])).astype(np.int64)
    docs = rng.integers(0, 400, n).astype(np.int32)
    values = rng.integers(1, 1000, n).astype(np.int32)
    state = TermState(["d" * 64] * 400, None, docs, values % 5, np.ones(400), [], values,
                      vocabulary, starts, vocabulary % 97, 0)
    back = mapped_state(tmp_path, state)
    monkeypatch.setattr(overlay, "POSTINGS_SLICE", 4096)   # many slices, each let go of
    for first, last in ((0, 399), (120, 180), (399, 399)):
        taken, got_docs, got_values = overlay._postings_of(back, first, last)
        expected = np.flatnonzero((docs >= first) & (docs <= last))
        assert np.array_equal(taken, expected)
        assert np.array_equal(got_docs, docs[expected]) and got_docs.dtype == np.int64
        assert np.array_equal(got_values, values[expected])
    assert np.array_equal(back.docs, docs) and np.array_equal(back.values, values)


def test_postings_gathered_by_hand_are_copied_a_step_at_a_time_from_a_mapped_state(
        tmp_path, monkeypatch):
    # The postings of the terms in some shards, scattered over the state's file, are copied
    # GATHER_STEP at a time, the file's pages let go of after each step: what is gathered is
    # what the arrays hold, whatever the step.
    from conftest import mapped_state

    from govsite.search.index import TermState
    n = 50_000
    rng = np.random.default_rng(4)
    vocabulary = np.arange(0, 2_000, dtype=np.int64)
    starts = np.linspace(0, n, len(vocabulary) + 1).astype(np.int64)
    docs = rng.integers(0, 300, n).astype(np.int32)
    values = rng.integers(1, 1000, n).astype(np.int32)
    state = mapped_state(tmp_path, TermState(["d" * 64] * 300, None, docs, values % 5, np.ones(300),
                                             [], values, vocabulary, starts, vocabulary % 97, 0))
    released: list[int] = []
    release = state.release
    monkeypatch.setattr(state, "release", lambda array: (released.append(len(array)), release(array)))
    take = np.sort(rng.choice(n, 9_000, replace=False))
    for step in (1 << 15, 1 << 10):
        monkeypatch.setattr(overlay, "GATHER_STEP", step)
        released.clear()
        got_docs, got_values = overlay._gathered(state, take)
        assert np.array_equal(got_docs, docs[take]) and np.array_equal(got_values, values[take])
        assert len(released) == 2 * -(-len(take) // step)   # both arrays, after every step
