"""The search index and its ranking, on the small fixture cluster (no browser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pytest
from conftest import EPOCH, FIXTURES

from govsite import markup
from govsite.build import _Stages, load_cluster
from govsite.diagnostics import Report
from govsite.search.index import T2S_BUCKETS, T2S_PATH, build_index, documents, t2s_files
from govsite.search.query import Filters, search

NOW = datetime.fromtimestamp(int(EPOCH), UTC)


def _docs():
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, NOW, False, _Stages(report, False))
    return documents(cluster, markup.convert_all(cluster, report))


def _with_text(doc, text):
    """A document with another text: without the body it came from, or that body's digest."""
    import dataclasses
    return dataclasses.replace(doc, text=text, text_digest="", body=None)


def _index(docs, *args, **options) -> dict[str, str]:
    """An index as a build publishes it, with the host's traditional→simplified table."""
    files = build_index(docs, *args, **options)
    return files | {T2S_PATH + name: text for name, text in t2s_files().items()}


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return _index(_docs())


def test_unpublished_pages_never_reach_the_search_index(files):
    everything = "".join(files.values())
    for word in ("DRAFTSECRETWORD", "SCHEDULEDSECRETWORD", "EXPIREDSECRETWORD",
                 "WITHDRAWNSECRETWORD", "草稿新闻", "已撤回的新闻", "2024-04-01-withdrawn"):
        assert word.lower() not in everything.lower(), word


@pytest.mark.parametrize("query", ["示政发〔2024〕1号", "示政发[2024]1号", "示政发2024年1号",
                                   "示政发（２０２４）１号"])
def test_any_spelling_of_a_document_number_finds_the_document_first(files, query):
    hits = search(files.__getitem__, query).hits
    assert hits[0].url == "https://www.example.gov.cn/policy/2024-001.html"


def test_traditional_characters_find_simplified_pages(files):
    result = search(files.__getitem__, "營商環境")
    top = [h.title for h in result.hits[:3]]
    assert "示例市人民政府关于优化营商环境的实施意见" in top and "示例市营商环境办法（2020年）" in top
    assert result.query == "营商环境"
    # Only the table buckets of characters in terms the index lacks (營商, 商環, 環境).
    assert sorted(p for p in result.fetched if p.startswith(T2S_PATH)) == sorted(
        {f"{T2S_PATH}{ord(c) % T2S_BUCKETS}.json" for c in "營商環境"})


def test_simplified_queries_fetch_no_part_of_the_traditional_table(files):
    assert not [p for p in search(files.__getitem__, "营商环境").fetched if p.startswith(T2S_PATH)]


def test_more_matching_words_rank_higher_without_requiring_all(files):
    hits = search(files.__getitem__, "居住证 不存在的词语").hits
    assert hits[0].url == "https://www.example.gov.cn/service/jzz.html"


def test_question_words_are_not_searched_for(files):
    plain = search(files.__getitem__, "居住证办理")
    asked = search(files.__getitem__, "居住证怎么办理呢？")
    assert [h.url for h in asked.hits] == [h.url for h in plain.hits]
    assert asked.hits[0].url == "https://www.example.gov.cn/service/jzz.html"


def test_a_word_one_character_off_a_top_title_is_corrected(files):
    result = search(files.__getitem__, "优化营商环镜")
    assert result.suggestion == "优化营商环境"
    assert all("优化营商环境" in hit.title for hit in result.hits[:2])
    assert search(files.__getitem__, "优化营商环境").suggestion == ""


def test_a_title_that_is_the_query_comes_first(files):
    titles = [h.title for h in search(files.__getitem__, "示例市营商环境办法").hits]
    assert titles[0] == "示例市营商环境办法（2020年）"


def test_a_decree_number_finds_the_decree_whatever_precedes_it():
    from govsite.search.analysis import number_terms
    indexed = set(number_terms("中华人民共和国国务院令第722号"))
    for query in ("国务院令第722号", "国务院令722号", "第722号令"):
        assert set(number_terms(query, query=True)) & indexed, query
    assert not set(number_terms("国务院令第723号", query=True)) & indexed


def test_kind_weights_freshness_and_service_questions_reorder_the_top_results():
    from govsite.search.settings import Ranking
    docs = _docs()
    old = "示例市营商环境办法（2020年）"
    plain = [h.title for h in search(_index(docs).__getitem__, "营商环境").hits]
    assert plain.index(old) == 1
    fresh = _index(docs, ranking=Ranking(freshness=5.0))
    assert [h.title for h in search(fresh.__getitem__, "营商环境").hits].index(old) == 3
    weighted = _index(docs, ranking=Ranking(kinds=(("policy", 10.0),)))
    assert [h.kind for h in search(weighted.__getitem__, "营商环境").hits][:2] == ["policy"] * 2
    asked = _index(docs, ranking=Ranking(service_questions=10.0))
    assert search(asked.__getitem__, "会议怎么办理").hits[0].kind == "service"
    assert search(asked.__getitem__, "会议").hits[0].kind != "service"


def test_ranking_settings_are_checked(tmp_path):
    from govsite.search.settings import load
    (tmp_path / "search.yaml").write_text(
        "ranking:\n  kinds: {polcy: 1.1, news: 99}\n  freshnes: 0.2\n  service_questions: x\n",
        encoding="utf-8")
    report = Report(tmp_path)
    load(tmp_path, ("www",), report)
    assert sorted(str(d) for d in report.errors()) == [
        "search.yaml:2: error: the weight of `news` must be a number from 0.1 to 10",
        "search.yaml:2: error: unknown kind `polcy` — did you mean `policy`?",
        "search.yaml:3: error: unknown key `freshnes` in ranking — did you mean `freshness`?",
        "search.yaml:4: error: `service_questions` must be a number from 0.1 to 10"]


@pytest.mark.parametrize(("text", "message"), [
    ("ranking: 3\n", "search.yaml:1: error: `ranking` must be a mapping — "
                      "write `ranking: {freshness: 0.2}`"),
    ("ranking:\n  kinds: [policy]\n", "search.yaml:2: error: `kinds` must map kinds to weights — "
                                       "write `kinds: {policy: 1.1}`"),
])
def test_a_ranking_of_the_wrong_shape_says_how_to_write_it(tmp_path, text, message):
    from govsite.search.settings import load
    (tmp_path / "search.yaml").write_text(text, encoding="utf-8")
    report = Report(tmp_path)
    load(tmp_path, ("www",), report)
    assert [str(d) for d in report.errors()] == [message]


def test_filters_by_site_kind_year_and_validity(files):
    assert {hit.site for hit in search(files.__getitem__, "会议").hits} >= {"portal", "county"}
    hits = search(files.__getitem__, "会议", filters=Filters(site="county")).hits
    assert hits and {hit.site for hit in hits} == {"county"}
    policies = search(files.__getitem__, "营商环境", filters=Filters(kind="policy")).hits
    assert policies and {hit.kind for hit in policies} == {"policy"}
    assert len(policies) < len(search(files.__getitem__, "营商环境").hits)
    old = search(files.__getitem__, "营商环境", filters=Filters(year="2020")).hits
    assert old and {hit.date[:4] for hit in old} == {"2020"}
    repealed = search(files.__getitem__, "营商环境", filters=Filters(validity="废止")).hits
    assert [hit.title for hit in repealed] == ["示例市营商环境办法（2020年）"]


def test_sorting_by_date_puts_the_newest_first_and_undated_pages_last(files):
    hits = search(files.__getitem__, "示例", limit=50, filters=Filters(by_date=True)).hits
    dates = [hit.date for hit in hits]
    dated = [d for d in dates if d]
    assert dated == sorted(dated, reverse=True) and len(set(dated)) > 2
    assert dates == dated + [""] * (len(dates) - len(dated))


def test_a_query_fetches_only_meta_its_term_shards_and_result_records():
    small_shards = _index(_docs(), shard_bytes=100, records=2)
    result = search(small_shards.__getitem__, "居住证")
    assert result.fetched[0] == "meta.json"
    assert sorted(p[0] for p in result.fetched[1:]) == ["d", "t", "t"]  # 居住, 住证; one record
    assert len([p for p in small_shards if p.startswith("t/")]) > 10


def test_a_sites_index_uses_its_share_of_the_file_budget():
    from govsite.search.index import MAX_RECORD_FILES, MAX_TERM_FILES
    docs = _docs()
    tiny = json.loads(build_index(docs, shard_bytes=1, share=0.001)["meta.json"])
    assert tiny["shards"] == -(-MAX_TERM_FILES // 1000) and tiny["records"] >= 4
    assert json.loads(build_index(docs, shard_bytes=1)["meta.json"])["shards"] > tiny["shards"]
    assert -(-len(docs) // tiny["records"]) <= -(-MAX_RECORD_FILES // 1000) or tiny["records"] == 4


def test_an_index_of_another_format_is_refused(files):
    stale = files | {"meta.json": files["meta.json"].replace('"format":3', '"format":2')}
    with pytest.raises(ValueError, match="rebuild the site"):
        search(stale.__getitem__, "居住证")


def test_the_issuer_is_searchable_like_the_body():
    from govsite.search.index import SearchDoc
    doc = SearchDoc("https://x.gov.cn/policy/1.html", "关于促进消费的通知", "各有关单位：现将有关事项通知如下。",
                    "x", "某市政府", "https://x.gov.cn/", "政策文件", "policy", "2024-01-02", "有效",
                    "", issuer="某市发展和改革委员会")
    hits = search(_index([doc]).__getitem__, "发展和改革委员会").hits
    assert [h.url for h in hits] == ["https://x.gov.cn/policy/1.html"]


def test_a_site_whose_last_page_has_no_terms_still_gets_its_index():
    from govsite.search.index import SearchDoc, score
    docs = [SearchDoc(f"https://x.gov.cn/{n}.html", title, "", "x", "某市", "https://x.gov.cn/", "新闻",
                      "news", "", "", "") for n, title in enumerate(["营商环", "会议", "——"])]
    scores = score(docs)
    assert scores.only([1, 2]).docs.tolist() == [0] and scores.only([2]).docs.tolist() == []


def test_bm25_contributions_are_those_of_the_reference_implementation(monkeypatch):
    # bm25s (Lucene's BM25) over index_terms(), the readable spelling of what score() counts
    # with integer keys: the same terms for every page, and the same contributions up to
    # govsite's rounding of the collection statistics. bm25s keeps lengths whole: so here.
    import bm25s

    import govsite.search.index
    monkeypatch.setattr(govsite.search.index, "NORM_BITS", None)
    import numpy as np

    from govsite.search.index import K1, SCALE, B, index_terms, score
    docs = _docs()
    reference = bm25s.BM25(k1=K1, b=B)
    reference.index([index_terms(doc) for doc in docs], show_progress=False)
    matrix, vocabulary = reference.scores, {n: t for t, n in reference.vocab_dict.items()}
    expected = {}
    for column, (start, end) in enumerate(zip(matrix["indptr"][:-1], matrix["indptr"][1:],
                                              strict=True)):
        for doc, value in zip(matrix["indices"][start:end], matrix["data"][start:end], strict=True):
            expected[vocabulary[column], int(doc)] = max(1, round(float(value) * SCALE))
    scores = score(docs)
    got = {(scores.terms[c], d): v for c, d, v in zip(
        scores.columns.tolist(), scores.docs.tolist(), scores.values.tolist(), strict=True)}
    assert got.keys() == expected.keys() and len(got) > 100
    # govsite rounds idf to 0.01 and the average length to 3 digits (so one edit leaves other
    # sites' indexes as they were): each contribution stays within 1 % (or one unit) of bm25s's.
    assert max(abs(got[key] - expected[key]) / max(100, expected[key]) for key in got) <= 0.01
    assert np.mean([abs(got[key] - expected[key]) <= 1 for key in got]) > 0.95


def test_lengths_are_scored_as_lucene_keeps_them_in_a_norm_byte():
    import numpy as np

    from govsite.search.index import norm_lengths
    lengths = np.array([0, 1, 7, 15, 16, 17, 18, 100, 1000, 1023, 1024, 1100, 1151, 1152])
    # Four significant binary digits: exact below 16, then steps of an eighth of a power of two.
    assert norm_lengths(lengths.astype(np.float64)).tolist() == \
        [0, 1, 7, 15, 16, 16, 18, 96, 960, 960, 1024, 1024, 1024, 1152]


def test_a_sentence_added_to_a_page_leaves_the_contributions_of_its_other_terms(monkeypatch):
    # Its length as scored stays within its eighth: only the terms it adds or recounts move.
    import dataclasses

    import govsite.search.index
    from govsite.search.index import full_text, index_terms, score
    # A cluster of some size, whose rounded average length one sentence does not move.
    docs = [dataclasses.replace(doc, url=f"{doc.url}?{n}") for n in range(40) for doc in _docs()]
    longest = max(range(len(docs)), key=lambda n: len(index_terms(docs[n])))
    docs[longest] = _with_text(docs[longest], full_text(docs[longest]) * 20)   # 500 terms: a page
    edited = list(docs)
    edited[longest] = _with_text(docs[longest], docs[longest].text + "本文于发布后补充了一句说明。")

    def contributions(scores, doc):
        return {scores.terms[c]: v for c, d, v in zip(scores.columns.tolist(), scores.docs.tolist(),
                                                      scores.values.tolist(), strict=True) if d == doc}

    before, after = contributions(score(docs), longest), contributions(score(edited), longest)
    same = [t for t in before if t in after and before[t] == after[t]]
    assert len(same) >= len(before) - 3 and len(before) > 20
    monkeypatch.setattr(govsite.search.index, "NORM_BITS", None)   # whole lengths: every one moves
    before, after = contributions(score(docs), longest), contributions(score(edited), longest)
    assert sum(before[t] != after.get(t) for t in before) > len(before) // 2


def test_the_scores_do_not_depend_on_how_many_processes_counted_them():
    from govsite.search.index import score
    one, two = score(_docs(), jobs=1), score(_docs(), jobs=2)
    assert one.terms == two.terms
    for field in ("hashes", "columns", "docs", "values"):
        assert getattr(one, field).tolist() == getattr(two, field).tolist()


def test_the_index_bytes_are_deterministic(files):
    assert _index(_docs()) == files
    assert json.loads(files["meta.json"])["docs"] == 8


def test_search_command_prints_results_as_json(govsite):
    result = govsite("search", "--project", FIXTURES / "small", "--json", "居住证")
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert hits[0]["title"] == "居住证办理" and hits[0]["kind"] == "service"


def test_search_command_names_the_site_it_does_not_know(govsite):
    result = govsite("search", "--project", FIXTURES / "small", "--site", "countyy", "会议")
    assert result.exit_code == 2
    assert "error: no site `countyy` in sites.yaml; did you mean `county`?" in result.output


def test_search_command_says_what_it_corrected(govsite):
    result = govsite("search", "--project", FIXTURES / "small", "优化营商环镜")
    assert result.exit_code == 0
    assert "did you mean: 优化营商环境" in result.stdout and "实施意见" in result.stdout


def test_synonym_groups_let_plain_words_find_official_ones():
    docs = _docs()
    assert search(_index(docs).__getitem__, "临时户口").hits == []
    with_synonyms = _index(docs, [("临时户口", "居住证")])
    assert search(with_synonyms.__getitem__, "临时户口").hits[0].title == "居住证办理"


def test_search_yaml_mistakes_are_reported_with_their_lines(tmp_path):
    from govsite.search.settings import load
    (tmp_path / "search.yaml").write_text(
        "synonyms:\n  - [社保, 社会保险]\n  - [孤词]\nhot_word:\n  www: [社保]\n", encoding="utf-8")
    report = Report(tmp_path)
    settings = load(tmp_path, ("www",), report)
    assert [str(d) for d in report.errors()] == [
        "search.yaml:3: error: a synonym group must list at least two words — "
        "write it like `- [社保, 社会保险]`",
        "search.yaml:4: error: unknown key `hot_word` in search.yaml — did you mean `hot_words`?"]
    assert settings.synonyms == (("社保", "社会保险"),)


def test_a_number_in_a_synonym_group_is_asked_to_be_quoted(tmp_path):
    from govsite.search.settings import load
    (tmp_path / "search.yaml").write_text("synonyms:\n  - [12345, 便民热线]\n", encoding="utf-8")
    report = Report(tmp_path)
    load(tmp_path, ("www",), report)
    assert [str(d) for d in report.errors()] == [
        'search.yaml:2: error: `12345` is read as a number, not a word — quote it: "12345"']


def test_counts_read_back_from_the_cache_score_exactly_as_counted_ones():
    # A rebuild counts only the documents it has not seen: the scores must not tell the two
    # apart, nor depend on which documents were known (words are numbered in sorted order).
    from govsite.search.index import CountCache, score
    from govsite.search.publish import document_digests
    docs = _docs()
    first = CountCache(document_digests(docs), {})
    fresh = score(docs, cache=first)
    assert len(first.new) == len(docs)
    half = {d: packed for n, (d, packed) in enumerate(sorted(first.new.items())) if n % 2}
    for known in (first.new, half):
        again = CountCache(document_digests(docs), dict(known))
        reread = score(docs, cache=again)
        assert set(again.new) == set(first.new) - set(known)
        assert not again.known   # consumed as read
        assert reread.terms == fresh.terms
        for field in ("hashes", "columns", "docs", "values"):
            assert getattr(reread, field).tolist() == getattr(fresh, field).tolist()


def test_the_clusters_scores_answer_from_term_spans_as_they_would_from_a_column_per_posting():
    # score() leaves out the column of each posting (164 MB at 100,000 pages in the search
    # process and every index worker): what an index asks of it must come out the same.
    import dataclasses

    import numpy as np

    from govsite.search.index import score
    lean = score(_docs())
    assert lean._columns is None and lean.starts is not None
    given = dataclasses.replace(lean, _columns=lean.columns, starts=None)
    assert np.array_equal(np.diff(lean.columns), np.diff(np.sort(lean.columns)))   # ascending
    assert len(set(lean.columns.tolist())) == len(lean.terms) > 10

    def same(a, b):
        assert a.terms == b.terms
        for name in ("hashes", "columns", "docs", "values"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name

    for a, b in zip(lean.term_spans(), given.term_spans(), strict=True):
        assert np.array_equal(a, b)
    assert lean.size() == given.size()
    for keep in ([0, 1, 2], [3], [1, 4, 6], list(range(len(_docs())))):
        same(lean.only(keep), given.only(keep))
    for count in (1, 3, 8):
        for shards in ([0], list(range(count)), [count - 1]):
            same(lean.in_shards(shards, count), given.in_shards(shards, count))
    moved = frozenset({0, 5, len(lean.terms) - 1})
    assert np.array_equal(dataclasses.replace(lean, moved=moved).holders(),
                          dataclasses.replace(given, moved=moved).holders())


@pytest.mark.parametrize("block", [1, 2, 7, 1 << 20])
def test_counted_postings_moved_into_place_by_blocks_are_those_moved_at_once(block, monkeypatch):
    import numpy as np

    import govsite.search.index
    from govsite.search.index import score
    whole = score(_docs())
    monkeypatch.setattr(govsite.search.index, "PLACE_BLOCK", block)
    blocks = score(_docs())
    assert blocks.terms == whole.terms
    for name in ("starts", "docs", "values", "hashes"):
        assert np.array_equal(getattr(blocks, name), getattr(whole, name)), name


@pytest.mark.parametrize("sink_writes", [True, False])
def test_contributions_worked_out_over_the_counts_once_written_are_the_same(sink_writes):
    # With a sink that writes the state at once, score() writes the counts and then works
    # the contributions out in their place; a sink that writes nothing must not change them.
    import numpy as np

    from govsite.search.index import CountCache, TermState, score
    from govsite.search.publish import document_digests
    docs = _docs()
    held = CountCache(document_digests(docs), {})
    expected = score(docs, cache=held)
    assert held.state_out is not None
    written: list[bytes] = []
    sunk = CountCache(document_digests(docs), {}, state_sink=lambda state: written.append(
        b"".join(bytes(part) for part in state.chunks().pieces())) if sink_writes else None)
    scores = score(docs, cache=sunk)
    assert np.array_equal(scores.values, expected.values)
    assert not np.array_equal(held.state_out.tf, held.state_out.values)   # (they differ)
    if sink_writes:
        back = TermState.from_bytes(written[0])
        assert back is not None
        for name in ("docs", "tf", "values", "lengths", "vocabulary", "starts", "hashes"):
            assert np.array_equal(getattr(back, name), getattr(held.state_out, name)), name


@pytest.mark.parametrize("times", [60_000, 70_000])
def test_a_count_too_large_for_16_bits_is_counted_whole(times):
    # Counts are placed as 16-bit numbers when every one fits, and the contributions worked
    # out over them: a term 70,000 times in one document must neither wrap nor change a score.
    import numpy as np

    from govsite.search.index import CountCache, TermState, score
    from govsite.search.publish import document_digests
    docs = _docs()
    docs[0] = _with_text(docs[0], "公开" * times)
    written: list[bytes] = []
    sunk = CountCache(document_digests(docs), {}, state_sink=lambda state: written.append(
        b"".join(bytes(part) for part in state.chunks().pieces())))
    scores = score(docs, cache=sunk)
    back = TermState.from_bytes(written[0])
    assert back is not None and int(back.tf.max()) == times   # (the bigram 公开)
    held = CountCache(document_digests(docs), {})
    assert np.array_equal(scores.values, score(docs, cache=held).values)
    assert held.state_out is not None and np.array_equal(back.tf, held.state_out.tf)
    assert np.array_equal(back.values, held.state_out.values)


def test_a_states_posting_keys_are_answered_from_its_spans_and_not_stored():
    # At 100,000 pages a key per posting was 328 MB written to the cache and mapped in by
    # every edit; the state keeps its distinct keys and where each one's postings start.
    import numpy as np

    from govsite.search.index import CountCache, TermState, score
    from govsite.search.publish import document_digests
    docs = _docs()
    counted = CountCache(document_digests(docs), {})
    score(docs, cache=counted)
    state = counted.state_out
    assert state is not None
    every = np.repeat(state.vocabulary, np.diff(state.starts))
    n = len(every)
    stored = b"".join(bytes(part) for part in state.chunks().pieces())
    head = int.from_bytes(stored[:8], "little")
    arrays = len(stored) - (8 + head + -head % 8)
    v = len(state.vocabulary)
    # Per posting its document, count and contribution (32-bit each); per document its
    # length; per distinct key the key, its start and its CRC-32: no key per posting.
    assert arrays == 12 * n + 4 * (n % 2) + 8 * len(state.digests) + 8 * (3 * v + 1)
    back = TermState.from_bytes(stored)
    assert back is not None and np.array_equal(back.keys, every)
    rng = np.random.default_rng(7)
    for _ in range(50):
        positions = np.sort(rng.choice(n, size=int(rng.integers(0, n)), replace=False))
        assert np.array_equal(back.keys_at(positions), every[positions])
        low, high = sorted(rng.integers(0, n + 1, size=2).tolist())
        assert np.array_equal(back.keys_in(low, high), every[low:high])
    for key in back.vocabulary.tolist():
        assert back.key_span(key) == (int(np.searchsorted(every, key)),
                                      int(np.searchsorted(every, key, "right")))
    missing = int(back.vocabulary[-1]) + 1
    assert back.key_span(missing) == (n, n)
    asked = np.array([int(back.vocabulary[0]), missing, int(back.vocabulary[3])])
    assert back.key_counts(asked).tolist() == [
        int(np.sum(every == key)) for key in asked.tolist()]


@pytest.mark.parametrize("one_by_one", [20_000, 0])
def test_scores_updated_from_the_previous_builds_state_equal_scores_counted_afresh(one_by_one,
                                                                                  monkeypatch):
    # A rebuild starts from the previous build's sorted postings, drops the documents gone or
    # changed and merges in the new ones: every array must come out as counting all would.
    import dataclasses

    import govsite.search.index
    from govsite.search.index import CountCache, TermState, score
    from govsite.search.publish import document_digests
    monkeypatch.setattr(govsite.search.index, "PLACE_ONE_BY_ONE", one_by_one)   # both ways
    docs = _docs()
    first = CountCache(document_digests(docs), {})
    score(docs, cache=first)
    assert first.state_out is not None
    # As the cache writes and reads it back.
    state = TermState.from_bytes(b"".join(bytes(part) for part in first.state_out.chunks().pieces()))
    assert state is not None and state.digests == first.digests
    # Aligned as read: numpy copies a misaligned array whole before every search of it.
    assert all(a.flags.aligned for a in (state.keys, state.docs, state.tf, state.lengths))
    # One document gone, one changed (a new English word and new Chinese terms), one whose only
    # rare word disappears, and a new one in the middle of the URL order with a word before
    # every other in sort order, so every later word's number moves.
    changed = _with_text(docs[3], docs[3].text + " zymurgy 罕见词汇")
    plain = _with_text(docs[5], "通知")
    added = dataclasses.replace(_with_text(docs[7], "aardvark 新增页面的正文"), url=docs[7].url + "x")
    edited = docs[:1] + docs[2:3] + [changed] + docs[4:5] + [plain] + docs[6:8] + [added] + docs[8:]
    again = CountCache(document_digests(edited), {}, state=state)
    updated = score(edited, cache=again)
    assert len(again.new) == 3, "only the changed and new documents are counted"
    fresh = score(edited)
    assert updated.terms == fresh.terms and "aardvark" in fresh.terms and "zymurgi" in fresh.terms
    for field in ("hashes", "columns", "docs", "values"):
        assert getattr(updated, field).tolist() == getattr(fresh, field).tolist(), field
    assert again.state_out is not None
    assert again.state_out.words == sorted(again.state_out.words)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("one_by_one", [20_000, 0])
def test_state_updates_through_random_edit_sequences_equal_scores_counted_afresh(seed, one_by_one,
                                                                                 monkeypatch):
    # Documents come, go and change in random places with random Chinese and English words,
    # round after round, each round starting from the state the previous one left.
    import random

    import govsite.search.index
    from govsite.search.index import CountCache, SearchDoc, score
    from govsite.search.publish import document_digests
    rng = random.Random(seed)
    monkeypatch.setattr(govsite.search.index, "PLACE_ONE_BY_ONE", one_by_one)
    vocabulary = ["营商环境", "社会保险", "公积金", "housing", "permit", "zebra", "apple", "办理流程",
                  "国发〔2019〕1号", "养老服务", "mango", "户籍", "quantum", "交通出行"]

    def doc(url: str) -> SearchDoc:
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12)))
        return SearchDoc(url, rng.choice(vocabulary), text, "x", "某市", "https://x.gov.cn/", "新闻",
                         "news", "", "", rng.choice(["", "国办发〔2020〕7号"]))

    docs = sorted((doc(f"https://x.gov.cn/{n:03}.html") for n in range(0, 60, 2)), key=lambda d: d.url)
    state = None
    for _ in range(5):
        for _ in range(rng.randint(1, 4)):
            action, at = rng.choice(["add", "remove", "change"]), rng.randrange(len(docs))
            if action == "add":
                docs.append(doc(f"https://x.gov.cn/{rng.randrange(1000):03}-{rng.random()}.html"))
            elif action == "remove" and len(docs) > 2:
                docs.pop(at)
            else:
                docs[at] = doc(docs[at].url)
        docs.sort(key=lambda d: d.url)
        cache = CountCache(document_digests(docs), {}, state=state)
        updated = score(docs, cache=cache)
        fresh = score(docs)
        assert updated.terms == fresh.terms
        for field in ("hashes", "columns", "docs", "values"):
            assert getattr(updated, field).tolist() == getattr(fresh, field).tolist(), field
        state = cache.state_out


@pytest.mark.parametrize("seed", range(4))
def test_an_update_tells_which_unchanged_documents_contributions_moved(seed):
    # After edits that keep the number of documents, an update says whether the documents it
    # did not recount kept their contributions, but for the terms whose idf moved: the site
    # indexes of such documents are then linked, not rebuilt (publish.py). Checked against the
    # contributions themselves, round after round.
    import random

    from govsite.search.index import CountCache, SearchDoc, score
    from govsite.search.publish import document_digests
    rng = random.Random(seed)
    # Words of four characters (three bigrams each), so that every document has the same
    # length and the rounded average stays put, as it does for one edit in a large cluster.
    common = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行"]
    rare = ["孑孓之虫", "饕餮之徒", "魑魅魍魉", "耄耋之年"]

    def doc(url: str) -> SearchDoc:
        words = [rng.choice(common) for _ in range(10)] + [rng.choice(rare)] + [
            rng.choice(["zebra", "quantum", "mango", "walrus"])]   # a rare word: one term each
        return SearchDoc(url, rng.choice(common), " ".join(words), "x", "某市", "https://x.gov.cn/",
                         "新闻", "news", "", "", "")

    def contributions(docs, digests, scores):
        return {(scores.terms[c], digests[d]): v for c, d, v in
                zip(scores.columns.tolist(), scores.docs.tolist(), scores.values.tolist(), strict=True)}

    docs = [doc(f"https://x.gov.cn/{n:03}.html") for n in range(40)]
    digests = document_digests(docs)
    first = CountCache(digests, {})
    before = contributions(docs, digests, score(docs, cache=first))
    state, kept_rounds, moved_rounds = first.state_out, 0, 0
    for _ in range(8):
        for _ in range(rng.randint(1, 2)):
            at = rng.randrange(len(docs))
            docs[at] = doc(docs[at].url)
        digests = document_digests(docs)
        cache = CountCache(digests, {}, state=state)
        scores = score(docs, cache=cache)
        after = contributions(docs, digests, scores)
        moved = {scores.terms[c] for c in scores.moved}
        if scores.kept:
            kept_rounds += 1
            moved_rounds += bool(moved)
            counted = set(cache.new)
            for (term, digest), value in before.items():
                if digest not in counted and digest in digests and term not in moved:
                    assert after[(term, digest)] == value, (term, value, after.get((term, digest)))
        before, state = after, cache.state_out
    assert kept_rounds, "some round kept the unchanged documents' contributions"
    assert moved_rounds, "and in some, a rare term's idf moved"


def _shards_worked_out(monkeypatch) -> list[int]:
    """For each time term shards are worked out, how many fewer than all of them (below zero:
    some were taken from the previous build)."""
    import govsite.search.index as index
    wanted: list[int] = []
    real_shards = index._shards

    def noting(scores, count, shards, reuse, made):
        shards = list(shards)
        wanted.append(len(shards) - count)
        return real_shards(scores, count, shards, reuse, made)

    monkeypatch.setattr(index, "_shards", noting)
    return wanted


class _Linked(str):
    """An index file patching took from the previous build (its `reuse`)."""


def _patched_as_whole(build, before: dict, before_made: dict, whole: dict, whole_made: dict,
                      wanted: list[int]) -> bool:
    """The index built again by `build(**options)` from the previous build's files (`before`,
    their digests `before_made`) must be `whole` file for file; whether fewer shards than all
    were worked out (`wanted`: _shards_worked_out)."""
    wanted.clear()
    made: dict[str, str] = {}
    patched = build(made=made, previous=before_made,
                    reuse=lambda name, digest: _Linked() if before_made.get(name) == digest else None)
    assert list(patched) == list(whole) and made == whole_made
    for name, text in whole.items():
        assert (before[name] if isinstance(patched[name], _Linked) else patched[name]) == text, name
    return any(n < 0 for n in wanted)


@pytest.mark.parametrize("seed", range(3))
def test_an_index_patched_from_the_previous_builds_shards_equals_one_worked_out_whole(seed,
                                                                                     monkeypatch):
    # After edits that move no document in the numbering, a portal's index works out only the
    # shards holding a term that changed; every file must be what working out all gives.
    import random

    from govsite.search.index import CountCache, SearchDoc, build_index, score
    from govsite.search.publish import document_digests
    rng = random.Random(seed)
    common = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行", "户籍迁移",
              "医疗救助", "就业创业", "教育入学"]
    rare = ["孑孓之虫", "饕餮之徒", "魑魅魍魉", "耄耋之年"]

    def doc(url: str) -> SearchDoc:
        words = [rng.choice(common) for _ in range(10)] + [rng.choice(rare)] + [
            rng.choice(["zebra", "quantum", "mango", "walrus"])]
        return SearchDoc(url, rng.choice(common), " ".join(words), "x", "某市", "https://x.gov.cn/",
                         "新闻", "news", "", "", "")

    wanted = _shards_worked_out(monkeypatch)
    docs = [doc(f"https://x.gov.cn/{n:03}.html") for n in range(40)]
    cache = CountCache(document_digests(docs), {})
    scores = score(docs, cache=cache)
    before_made: dict[str, str] = {}
    before = build_index(docs, scores=scores, shard_bytes=300, made=before_made)
    patched_rounds = 0
    for round_ in range(8):
        at = rng.randrange(len(docs))
        # Every third round a page moves in the URL order (as a rename does), and the
        # documents after it with it: nothing can be patched then.
        docs[at] = doc(docs[at].url if round_ % 3 != 2 else f"https://x.gov.cn/9{round_}{at:03}.html")
        docs.sort(key=lambda d: d.url)
        cache = CountCache(document_digests(docs), {}, state=cache.state_out)
        scores = score(docs, cache=cache)
        whole_made: dict[str, str] = {}
        whole = build_index(docs, scores=scores, shard_bytes=300, made=whole_made)
        patched_rounds += _patched_as_whole(
            partial(build_index, docs, scores=scores, shard_bytes=300),
            before, before_made, whole, whole_made, wanted)
        before, before_made = whole, whole_made
    assert patched_rounds, "some round worked out fewer shards than all"


@pytest.mark.parametrize("seed", range(3))
def test_a_sites_index_patched_when_its_unchanged_pages_terms_moved_equals_one_worked_out_whole(
        seed, monkeypatch):
    # Edits on one site move the idf of rare terms the other site's pages hold too: that
    # site's index (its pages unchanged) works out only the shards holding a touched term.
    import random

    from govsite.search.index import CountCache, SearchDoc, build_index, score
    from govsite.search.publish import document_digests
    rng = random.Random(seed)
    common = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行"]
    rare = ["孑孓之虫", "饕餮之徒", "魑魅魍魉", "耄耋之年", "zebra", "quantum", "walrus"]

    def doc(site: str, n: int) -> SearchDoc:
        words = [rng.choice(common) for _ in range(8)] + rng.sample(rare, 2)
        return SearchDoc(f"https://{site}.gov.cn/{n:03}.html", rng.choice(common), " ".join(words),
                         site, site, f"https://{site}.gov.cn/", "新闻", "news", "", "", "")

    wanted = _shards_worked_out(monkeypatch)
    docs = [doc("a", n) for n in range(30)] + [doc("b", n) for n in range(30)]
    keep = list(range(30, 60))   # site b's pages, never edited
    cache = CountCache(document_digests(docs), {})
    scores = score(docs, cache=cache)
    before_made: dict[str, str] = {}
    before = build_index(docs[30:], scores=scores.only(keep), shard_bytes=200, made=before_made)
    patched_rounds = 0
    for _ in range(8):
        at = rng.randrange(30)
        docs[at] = doc("a", at)
        cache = CountCache(document_digests(docs), {}, state=cache.state_out)
        scores = score(docs, cache=cache)
        whole_made: dict[str, str] = {}
        whole = build_index(docs[30:], scores=scores.only(keep), shard_bytes=200, made=whole_made)
        if not scores.kept:   # the rounded statistics moved: the site's index is worked out whole
            before, before_made = whole, whole_made
            continue
        patched_rounds += _patched_as_whole(
            partial(build_index, docs[30:], scores=scores.only(keep), shard_bytes=200),
            before, before_made, whole, whole_made, wanted)
        before, before_made = whole, whole_made
    assert patched_rounds, "some round worked out fewer shards than all"


def test_an_edit_touches_only_the_terms_whose_postings_it_changed():
    # A sentence added to a page changes its length, and so every contribution of that page a
    # little; the terms whose rounded contribution stayed the same are not touched, so the
    # shards holding only such terms are not worked out again (the tests above check that the
    # patched index is still the whole one).
    from govsite.search.index import CountCache, SearchDoc, index_terms, score
    from govsite.search.publish import document_digests
    words = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行", "户籍迁移",
             "医疗救助", "就业创业", "教育入学", "公共服务", "数字政府"]

    def doc(n: int, text: str) -> SearchDoc:
        return SearchDoc(f"https://x.gov.cn/{n:03}.html", "通知", text, "x", "某市",
                         "https://x.gov.cn/", "新闻", "news", "", "", "")

    docs = [doc(n, " ".join(words[(n + i) % len(words)] for i in range(8)) * 6) for n in range(40)]
    cache = CountCache(document_digests(docs), {})
    score(docs, cache=cache)
    docs[7] = doc(7, docs[7].text + " 孑孓")
    cache = CountCache(document_digests(docs), {}, state=cache.state_out)
    scores = score(docs, cache=cache)
    held = set(index_terms(docs[7]))
    assert scores.kept and scores.touched is not None
    assert {"孑孓"} <= scores.touched < held, "the new word, and not every term of the page"
    unchanged = held - scores.touched
    assert unchanged, unchanged


def test_documents_counted_together_count_as_each_alone_and_as_the_query_tokenizer_reads(
        monkeypatch):
    # count_many() counts a batch of documents in one set of arrays: no bigram may span two
    # texts, no count leak between documents, and each document's terms must be those tokens()
    # (the query side) finds, a title's counted three times, a document number's eight.
    from collections import Counter

    import govsite.search.index as index
    from govsite.search.analysis import number_terms, tokens
    from govsite.search.index import SearchDoc, _spell, _TermKeys

    def doc(n: int, title: str, body: str, issuer: str = "", number: str = "") -> SearchDoc:
        return SearchDoc(f"https://x.gov.cn/{n}.html", title, body, "x", "某市", "https://x.gov.cn/",
                         "新闻", "news", "", "", number, issuer)

    docs = [doc(0, "关于印发营商环境", "营商环境优化 Housing housing 2024年", "市政府办公室",
                "国发〔2019〕1号"),
            doc(1, "", "丽", ""),                              # nothing but one lone character
            doc(2, "市場監管", "條例 policies 政策", "", "市政办发〔2023〕12号"),   # traditional
            doc(3, "English only", "Housing subsidies for housing", "Office"),
            doc(4, "环境", "", "办"),                          # texts that end and start in Chinese
            doc(5, "", "", ""),
            doc(6, "国务院令第722号", "中华人民共和国国务院令第722号", "国务院")]
    monkeypatch.setattr(index, "COUNT_BATCH", 3)   # batches that end mid-list, and a short last one
    together = _TermKeys()
    batched = together.count_many(docs)
    for one, counted in zip(docs, batched, strict=True):
        alone = _TermKeys()
        by_itself = alone.count(one)
        cjk, cjk_counts, words, word_counts, length = counted
        assert np.array_equal(cjk, by_itself[0]) and np.array_equal(cjk_counts, by_itself[1])
        assert dict(zip(words, word_counts.tolist(), strict=True)) == \
            dict(zip(by_itself[2], by_itself[3].tolist(), strict=True))
        assert length == by_itself[4]
        spelled = Counter({_spell(key, [], _TermKeys.WORDS): count
                           for key, count in zip(cjk.tolist(), cjk_counts.tolist(), strict=True)})
        spelled.update(dict(zip(words, word_counts.tolist(), strict=True)))
        expected = Counter()
        for _ in range(3):
            expected.update(tokens(one.title))
        expected.update(tokens(one.text))
        expected.update(tokens(one.issuer))
        for _ in range(8):
            expected.update(number_terms(f"{one.doc_number} {one.title}"))
        assert spelled == expected, one.url
        assert length == sum(expected.values())
    assert batched[4][0].tolist() == [ord("办"), (ord("环") << 21) | ord("境")], \
        "环境 and 办 are two texts: 境办 is no term"


def test_a_packed_count_survives_counts_beyond_sixteen_bits():
    import numpy as np

    from govsite.search.index import SearchDoc, _pack, _TermKeys, _unpack
    doc = SearchDoc("https://x.gov.cn/1.html", "㐀营商", "营商" * 70_000 + " housing 丽龘", "x", "某市",
                    "https://x.gov.cn/", "新闻", "news", "", "", "国发〔2019〕1号")
    counted = _TermKeys().count(doc)
    assert counted[1].max() > 0xFFFF
    back = _unpack(_pack(counted))
    for ours, theirs in zip(counted, back, strict=True):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_an_index_file_is_reused_only_for_the_same_content():
    # build_index offers each term shard and record file by its content digest; whatever
    # `reuse` returns ships instead, and a changed document changes the digests it is in.

    from govsite.search.publish import document_digests
    docs = _docs()
    made: dict[str, str] = {}
    plain = build_index(docs, doc_digests=document_digests(docs), made=made)
    assert {n for n in plain if n.startswith(("t/", "d/"))} == set(made)
    reused = build_index(docs, doc_digests=document_digests(docs),
                         reuse=lambda name, digest: "KEPT" if made[name] == digest else None)
    assert all(reused[n] == "KEPT" for n in made) and reused["meta.json"] == plain["meta.json"]
    edited = [_with_text(docs[0], docs[0].text + " 新增的独特词语孑孓")] + docs[1:]
    again: dict[str, str] = {}
    changed = build_index(edited, doc_digests=document_digests(edited), made=again,
                          reuse=lambda name, digest: "KEPT" if made[name] == digest else None)
    rewritten = {n for n in made if changed[n] != "KEPT"}
    assert "d/0.json" in rewritten and 0 < len(rewritten) < len(made)
    # What was kept is what exporting the edited documents writes; what was not, differs.
    exported = build_index(edited)
    assert all((exported[n] == plain[n]) == (n not in rewritten) for n in made)


def test_a_term_in_too_many_documents_keeps_its_best_postings_in_document_order(monkeypatch):
    import govsite.search.index as index
    from govsite.search.index import SearchDoc, shard_of
    docs = [SearchDoc(f"https://x.gov.cn/{n:02}.html", "通知", "营商环境" * (1 + n % 4) + "其他内容" * (n % 3),
                      "x", "某市", "https://x.gov.cn/", "新闻", "news", "", "", "") for n in range(24)]

    def postings(files: dict[str, str], term: str) -> list[tuple[int, int]]:
        meta = json.loads(files["meta.json"])
        flat = json.loads(files[f"t/{shard_of(term, meta['shards'])}.json"])[term]
        doc, pairs = 0, []
        for delta, value in zip(flat[0::2], flat[1::2], strict=True):
            doc += delta
            pairs.append((doc, value))
        return pairs

    everything = postings(build_index(docs), "营商")
    assert len(everything) == 24
    monkeypatch.setattr(index, "MAX_POSTINGS", 7)
    kept = postings(build_index(docs), "营商")
    best = sorted(sorted(everything, key=lambda p: (-p[1], p[0]))[:7])
    assert kept == best and len({v for _, v in everything}) > 1


def test_each_posting_of_a_block_gets_its_terms_value_from_the_terms_spans():
    # The score gives each posting its term's idf from where the terms' postings start, a
    # block at a time, instead of an array of every posting's term (164 MB at 100,000 pages).
    import numpy as np

    from govsite.search.index import _spread
    random = np.random.default_rng(7)
    for _ in range(500):
        df = random.integers(0, 4, random.integers(1, 25))   # terms without postings too
        if not df.sum():
            continue
        starts = np.concatenate(([0], np.cumsum(df)))
        per_term = random.random(len(df))
        every = np.repeat(per_term, df)
        first = int(random.integers(0, len(every)))
        end = int(random.integers(first + 1, len(every) + 1))
        assert np.array_equal(_spread(per_term, starts, first, end), every[first:end])


@pytest.mark.parametrize("documents", [1, 60_000, 65_537, 100_000, 300_000])
def test_postings_documents_read_back_as_put_in_any_order(documents):
    """Docs keeps the low 16 bits and a bit array per bit above: whatever positions they are
    put at, slices at any offset and positions read back every document, high bits included."""
    from govsite.search.index import Docs

    rng = np.random.default_rng(documents)
    expected = rng.integers(0, documents, 5_003).astype(np.int32)
    docs = Docs(len(expected), documents)
    assert len(docs.high) == max(0, (documents - 1).bit_length() - 16)
    order = rng.permutation(len(expected))
    for part in np.array_split(order, 7):   # as count_all places blocks: anywhere, any order
        docs.put(part, expected[part])
    assert docs.whole().tolist() == expected.tolist()
    for first, end in ((0, 1), (3, 17), (8, 16), (5, 5), (4_990, 5_003), (1, 5_002)):
        assert docs[first:end].tolist() == expected[first:end].tolist()
    at = rng.integers(0, len(expected), 500)
    assert docs[at].tolist() == expected[at].tolist()
    assert docs.max(initial=-1) == int(expected.max())
    assert Docs(0, documents).max(initial=-1) == -1
