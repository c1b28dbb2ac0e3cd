"""Text analysis that the browser client repeats exactly (themes/default/static/search.js).

Every rule here is deliberately simple enough to write twice, in Python and in JavaScript, and
`tests/search_vectors.json` pins both to the same output:

1. NFKC folding and lower case: full-width digits and letters become ASCII.
2. Traditional → simplified Chinese, character by character, from OpenCC's table.
3. Chinese runs become overlapping character bigrams (a lone character stays a unigram), which
   needs no dictionary and makes adjacency part of the token itself.
4. Other runs of letters and digits become words; English words are stemmed (Snowball English).
5. Document numbers (发文字号) get one normal form whatever their brackets: 国发〔2019〕1号,
   国发[2019]1号, 国发（2019）1号 and 国发2019年1号 all become 国发2019-1号.
6. Queries only: question words (怎么, 如何, 吗 …) and English function words are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import cache
from operator import add
from sys import intern

import numpy as np
import snowballstemmer

CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
CJK = "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_RANGES)
RUN = re.compile(rf"[{CJK}]+|[a-z0-9]+")
WORD = re.compile("[a-z0-9]+")
CJK_CHAR = re.compile(f"[{CJK}]")
# [0-9], not \d: Python's \d matches every script's digits, JavaScript's only ASCII ones.
DOC_NUMBER = re.compile(
    rf"([{CJK}]{{1,12}}?)\s*[\[(〔【]?\s*((?:19|20)[0-9]{{2}})\s*[\])〕】年]?\s*第?\s*([0-9]{{1,4}})\s*号")
ORDER_NUMBER = re.compile(rf"([{CJK}]{{1,12}}?令)\s*第?\s*([0-9]{{1,5}})\s*号")
BARE_ORDER = re.compile(r"第\s*([0-9]{1,5})\s*号令")
# Question words carry no topic: "失业了怎么领钱" is about 失业 and 领钱. Removed from queries
# only (never from documents), they also stop bigrams such as 了怎 and 么领 from forming.
QUESTION = re.compile(
    "了?(?:怎么办(?!理)|怎么样|怎么|怎样|如何|为什么|为啥|什么|哪里|哪儿|哪些|哪个|多少钱|多少|"
    "能不能|可不可以|可以吗|是不是|有没有|是否|需要什么)|[吗呢吧啊?]+$")


@cache
def t2s_table() -> dict[str, str]:
    """Traditional → simplified, one character to one character, from OpenCC."""
    import opencc  # only the build needs it; the client gets the table from the index

    converter = opencc.OpenCC("t2s")
    chars = [chr(codepoint) for start, end in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00))
             for codepoint in range(start, end)]
    # One call for every character, a line each (no dictionary phrase holds a line break, so
    # each is converted on its own): a quarter of the time of 28,000 calls, on every build.
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):   # a conversion that made or ate a line: one by one
        converted = [converter.convert(char) for char in chars]
    return {char: simple for char, simple in zip(chars, converted, strict=True)
            if simple != char and len(simple) == 1}


@cache
def _translation() -> dict[int, str]:
    return str.maketrans(t2s_table())


def normalize(text: str) -> str:
    # Most text is NFKC already, and the check costs nothing next to normalising.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text.lower()


def fold(text: str, t2s: Mapping[str, str] | None = None) -> str:
    """Normalised and simplified. The full table by default; a query passes only the part of the
    table it fetched, which is all it needs (see query.py)."""
    global _folded_slowly
    if t2s is None and (_folded_slowly > TABLE_AFTER or _fold_table.cache_info().currsize):
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        folded, safe = _fold_table()
        # Chinese text is never NFKC already (full-width punctuation), and normalising it is
        # slow: text made only of characters that fold on their own is folded by table lookup.
        if points.size and points.max() < len(safe) and safe[points].all():
            return folded[points].tobytes().decode("utf-32-le")
    table = _translation() if t2s is None else str.maketrans(dict(t2s))
    _folded_slowly += len(text)
    return normalize(text).translate(table)


# Building the lookup table takes 0.2 s: worth it for a corpus, not for a rebuild that folds one
# edited page. Characters folded without it, after which it is built (same result either way).
TABLE_AFTER = 200_000
_folded_slowly = 0


def warm_fold_table() -> None:
    """Build the table now: before forking, so that every worker shares the parent's."""
    _fold_table()


@cache
def _fold_table() -> tuple[np.ndarray, np.ndarray]:
    """Each Basic Multilingual Plane character folded alone (NFKC, lower case, simplified), and
    whether that is how it folds within any text: not when its folding is longer than one
    character, nor when it can combine with a neighbour (marks, Hangul jamo, which NFKC
    composes) or folds by context (Σ, whose lower case depends on its place in the word)."""
    translation = _translation()
    folded = np.arange(0x10000, dtype=np.uint32)
    safe = np.zeros(0x10000, dtype=bool)
    for point in range(0x10000):
        char = chr(point)
        out = unicodedata.normalize("NFKC", char).lower().translate(translation)
        if len(out) != 1 or unicodedata.category(char)[0] in "MC" \
                or unicodedata.category(out)[0] == "M" or "σ" in (out, char.lower()) \
                or 0x1100 <= point <= 0x11FF or 0x3130 <= point <= 0x318F \
                or 0xA960 <= point <= 0xA97F or 0xD7B0 <= point <= 0xD7FF \
                or 0xFFA0 <= point <= 0xFFDC or 0xAC00 <= point <= 0xD7A3:
            continue
        folded[point], safe[point] = ord(out), True
    # Controls are safe after all (category C was for surrogates and unassigned points).
    for point in (0x09, 0x0A, 0x0D):
        safe[point] = True
    return folded, safe


def without_question_words(folded: str) -> str:
    return QUESTION.sub(" ", folded)


# English words that carry no topic, as stems: "how do I apply for a passport" is about
# appli and passport. Dropped from queries only, like the Chinese question words.
ENGLISH_STOP = frozenset(
    ["a", "an", "the", "for", "to", "of", "in", "on", "at", "by", "with", "and", "or", "is", "are", "be", "do", "doe", "did", "i", "me", "my", "we", "our", "you", "your", "it", "how", "what", "when", "where", "which", "who", "can", "could", "should", "would", "will", "if"])


@cache
def _english() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("english")


@cache
def stem(word: str) -> str:
    """Snowball's English (Porter2) stemmer; the client's stem-en.js is a copy checked against it
    word for word. Cached: a corpus repeats its words."""
    return _english().stemWord(word) if word.isalpha() else word


def tokens(text: str, t2s: Mapping[str, str] | None = None) -> list[str]:
    """The terms of a text, in order: Chinese bigrams (a lone character stays itself), stemmed
    words, numbers."""
    terms: list[str] = []
    for run in RUN.findall(fold(text, t2s)):
        if run[0].isascii():
            terms.append(stem(run))
        elif len(run) == 1:
            terms.append(intern(run))
        else:
            # Every pair of neighbours, at C speed, interned: a corpus repeats its bigrams, and
            # one shared string each instead of one per occurrence cut memory by two thirds.
            terms += map(intern, map(add, run, run[1:]))
    return terms


def doc_numbers(text: str, t2s: Mapping[str, str] | None = None) -> list[str]:
    """Document numbers written in the text, in one normal form each."""
    return list(dict.fromkeys(f"{issuer}{number}" for issuer, number in _numbers(text, t2s)))


def number_terms(text: str, t2s: Mapping[str, str] | None = None, query: bool = False) -> list[str]:
    """Index terms for the document numbers in a text: the number with each ending of its issuer.

    A leftmost match takes in any Chinese text before the issuer's code (关于印发国发…, or
    中华人民共和国国务院令), so a document's number is indexed with every ending of at least two
    characters, and a query looks up the endings of two to four characters (the length of
    issuer codes such as 国发, 国办发, 劳部发, 国务院令): 国务院令第722号 finds
    中华人民共和国国务院令第722号. A bare 第707号令 looks up 令707号.
    """
    terms = []
    for issuer, number in _numbers(text, t2s):
        longest = min(len(issuer), 4) if query else len(issuer)
        terms += [f"#{issuer[len(issuer) - n:]}{number}" for n in range(longest, 1, -1)]
        if issuer.endswith("令") and (query and len(issuer) == 1 or not query):
            terms.append(f"#令{number}")
    return list(dict.fromkeys(terms))


def _numbers(text: str, t2s: Mapping[str, str] | None) -> list[tuple[str, str]]:
    folded = fold(text, t2s)
    if "号" not in folded:   # (each pattern ends in it; most titles have none)
        return []
    found = [(m.group(1), f"{m.group(2)}-{int(m.group(3))}号") for m in DOC_NUMBER.finditer(folded)]
    found += [(m.group(1), f"{int(m.group(2))}号") for m in ORDER_NUMBER.finditer(folded)]
    found += [("令", f"{int(m.group(1))}号") for m in BARE_ORDER.finditer(folded)]
    return found
