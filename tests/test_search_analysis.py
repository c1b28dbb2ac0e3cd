"""Search text analysis: the rules the browser client must repeat exactly.

The cases also live in tests/search_vectors.json, the contract the JavaScript client is tested
against (test_search_client.py); this test keeps that file in step with the Python analyser.
Regenerate it with GOVSITE_UPDATE_GOLDEN=1 when the analysis changes on purpose.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from govsite.search.analysis import doc_numbers, fold, normalize, t2s_table, tokens
from govsite.search.index import shard_of
from govsite.search.query import query_terms

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
    assert tokens("社保卡 Applying for benefits") == ["社保", "保卡", "appli", "for", "benefit"]
    assert tokens("医 保") == ["医", "保"]


TEXTS = [
    "社會保險條例", "失业了怎么领钱", "怎麼辦理居住證？", "打印的遗嘱有效吗", "国发[2019]1号文件",
    "国务院令第663号", "第707号令", "法释2023年第5号", "Apply for disability compensation",
    "ＨＭＲＣ contact", "2026年山东省政府工作报告", "工伤认定 申请", "个税 APP", "App格式条款",
    "12315投诉举报", "法释〔2020〕28号 解释", "Ｗｉ－Ｆｉ hotspots", "covid19 vaccines", "𠀀字 医",
    "什么", "国办秘函〔２０１９〕１９号", "How do I apply? benefits claims", "驾驶证扣12分怎么办",
]


def contract(text: str) -> dict:
    """What the client must compute for a text; `t2s` is the part of the table the text uses."""
    folded = fold(text)
    table = t2s_table()
    return {"text": text, "t2s": {c: table[c] for c in dict.fromkeys(normalize(text)) if c in table},
            "folded": folded, "tokens": tokens(text),
            "query_terms": query_terms(folded),
            "shards": [shard_of(t, 997) for t in query_terms(folded)]}


def test_the_client_contract_matches_the_python_analyser():
    expected = [contract(text) for text in TEXTS]
    if os.environ.get("GOVSITE_UPDATE_GOLDEN"):
        VECTORS.write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    assert json.loads(VECTORS.read_text(encoding="utf-8")) == expected


def test_folding_by_table_is_exactly_normalising_and_translating():
    # fold() looks most text up in a per-character table; it must agree with the definition
    # (NFKC, lower case, traditional → simplified) on every kind of text, tricky ones included.
    import random

    from govsite.search.analysis import _translation, fold, normalize, warm_fold_table
    warm_fold_table()   # else short texts are folded without the table: nothing would be compared
    tricky = ["ΟΔΟΣ ΣΟΦΟΣ", "e\u0301cole", "한국어 한", "ㅎㅏ", "ﾾﾡ", "ｶﾞｷﾞ ﾊﾟ", "㈱ ㍻ ﬁ Ⅻ ½", "İstanbul",
              "國務院辦公廳〔2019〕１號", "Ｗｏｒｌｄ　Ｂａｎｋ", "🏛️政府", "\u0301开头", "tab\there\nline"]
    rng = random.Random(7)
    pool = "".join(tricky) + "".join(map(chr, range(0x20, 0x250))) + "國發辦證書，。：（）" \
        + "".join(chr(rng.randrange(0x3000, 0xFFFF)) for _ in range(3000))
    samples = tricky + ["".join(rng.choice(pool) for _ in range(rng.randrange(1, 40)))
                        for _ in range(3000)]
    for text in samples:
        assert fold(text) == normalize(text).translate(_translation()), repr(text)


def test_the_t2s_table_is_opencc_character_by_character():
    # t2s_table() converts every character in one call; each must come out as it does alone.
    import opencc

    converter = opencc.OpenCC("t2s")
    table = t2s_table()
    alone = {}
    for start, end in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)):
        for char in map(chr, range(start, end)):
            simple = converter.convert(char)
            if simple != char and len(simple) == 1:
                alone[char] = simple
    assert len(table) > 4000 and table["國"] == "国"
    assert table == alone
