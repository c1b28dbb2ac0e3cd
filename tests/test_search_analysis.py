"""Search text analysis: the rules the browser client must repeat exactly.

The cases also live in tests/search_vectors.json, the contract the JavaScript client is tested
against; this test keeps that file in step with the Python analyser.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govsite.search.analysis import doc_numbers, fold, tokens

VECTORS = Path(__file__).parent / "search_vectors.json"


@pytest.mark.parametrize("written", [
    "国发〔2019〕1号", "国发[2019]1号", "国发（2019）1号", "国发(2019)1号", "国发2019年1号",
    "国发２０１９年１号", "国发【2019】第1号", "國發〔2019〕1號",
])
def test_every_spelling_of_a_document_number_has_one_normal_form(written):
    assert doc_numbers(written) == ["国发2019-1号"]


def test_decree_numbers_with_and_without_di_are_the_same():
    assert doc_numbers("国务院令第663号") == doc_numbers("国务院令663号") == ["国务院令663号"]
    assert doc_numbers("公安部令第１４９号") == ["公安部令149号"]


def test_folding_makes_full_width_and_traditional_text_plain():
    assert fold("ＡＢＣ１２３ 社會保險條例") == "abc123 社会保险条例"


def test_chinese_becomes_overlapping_bigrams_and_english_is_stemmed():
    assert list(tokens("社保卡 Applying for benefits")) == [
        ("社保", 0), ("保卡", 1), ("appli", 2), ("for", 3), ("benefit", 4)]
    assert list(tokens("医 保")) == [("医", 0), ("保", 1)]


def test_the_client_contract_matches_the_python_analyser():
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    for case in cases:
        assert [list(t) for t in tokens(case["text"])] == case["tokens"], case["text"]
        assert doc_numbers(case["text"]) == case["doc_numbers"], case["text"]
