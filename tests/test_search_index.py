"""The search index and its ranking, on the small fixture cluster (no browser)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from conftest import EPOCH, FIXTURES

from govsite import markup
from govsite.build import _Stages, load_cluster
from govsite.diagnostics import Report
from govsite.search.index import build_index, documents
from govsite.search.query import search

NOW = datetime.fromtimestamp(int(EPOCH), UTC)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, NOW, False, _Stages(report, False))
    return build_index(documents(cluster, markup.convert_all(cluster, report)))


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
    hits = search(files.__getitem__, "營商環境").hits
    top = [h.title for h in hits[:3]]
    assert "示例市人民政府关于优化营商环境的实施意见" in top and "示例市营商环境办法（2020年）" in top


def test_more_matching_words_rank_higher_without_requiring_all(files):
    hits = search(files.__getitem__, "居住证 不存在的词语").hits
    assert hits[0].url == "https://www.example.gov.cn/service/jzz.html"


def test_site_filter_keeps_only_that_site(files):
    assert {hit.site for hit in search(files.__getitem__, "会议").hits} >= {"portal", "county"}
    hits = search(files.__getitem__, "会议", site="county").hits
    assert hits and {hit.site for hit in hits} == {"county"}


def test_a_query_fetches_only_meta_its_term_shards_and_result_records():
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, NOW, False, _Stages(report, False))
    small_shards = build_index(documents(cluster, markup.convert_all(cluster, report)),
                               terms_per_shard=10, docs_per_record_shard=2)
    result = search(small_shards.__getitem__, "居住证")
    assert result.fetched[0] == "meta.json"
    assert sorted(p[0] for p in result.fetched[1:]) == ["d", "t", "t"]  # 居住, 住证; one record
    assert len(small_shards) > 10  # out of 17 files


def test_the_index_bytes_are_deterministic(files):
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, NOW, False, _Stages(report, False))
    again = build_index(documents(cluster, markup.convert_all(cluster, report)))
    assert again == files
    assert json.loads(files["meta.json"])["docs"] == 8


def test_search_command_prints_results_as_json(govsite):
    result = govsite("search", "--project", FIXTURES / "small", "--json", "居住证")
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert hits[0]["title"] == "居住证办理" and hits[0]["kind"] == "service"


def test_synonym_groups_let_plain_words_find_official_ones():
    from govsite.search.settings import SearchSettings
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, NOW, False, _Stages(report, False))
    docs = documents(cluster, markup.convert_all(cluster, report))
    plain = build_index(docs)
    assert search(plain.__getitem__, "临时户口").hits == []
    with_synonyms = build_index(docs, SearchSettings(synonyms=(("临时户口", "居住证"),)))
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
