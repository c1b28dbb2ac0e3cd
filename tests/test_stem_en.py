"""The search client stems English exactly as the build does.

themes/default/static/stem-en.js is a hand-written copy of Snowball's English stemmer; it runs in
Chromium under the theme's CSP and must agree with Python's snowballstemmer on every word of the
English content and of tests/stem_words.txt (corpus words chosen to take every path through the
stemmer: every rule, the exceptional words, the special R1 prefixes, short words, many y's).
Like the other browser tests it skips without Chromium, but never under CI.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import snowballstemmer
from conftest import CSP

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "themes" / "default" / "static" / "stem-en.js"
WORD_FILE = Path(__file__).with_name("stem_words.txt")
ORIGIN = "http://stem.test"  # never resolved: Playwright answers every request itself


def words() -> list[str]:
    """The checked-in list plus every [a-z]+ word of the English content, case-folded."""
    found = set(WORD_FILE.read_text(encoding="utf-8").split())
    for path in sorted((ROOT / "content" / "en").rglob("*.md")):
        text = unicodedata.normalize("NFKC", path.read_text(encoding="utf-8")).casefold()
        found.update(re.findall(r"[a-z]+", text))
    return sorted(found)


def test_the_word_list_is_lower_case_words_and_the_script_needs_no_eval():
    listed = WORD_FILE.read_text(encoding="utf-8").split()
    assert listed == sorted(set(listed)), "keep tests/stem_words.txt sorted, one word a line"
    assert all(re.fullmatch(r"[a-z]+", w) for w in listed)
    assert 3000 <= len(listed) <= 6000
    # Checked here, not in the browser: code run through page.evaluate is exempt from the CSP's
    # ban on eval, so the browser test alone would not catch a stemmer that used it.
    source = SCRIPT.read_text(encoding="utf-8")
    assert "'use strict'" in source and "window.govsiteStemEnglish = function" in source
    assert not re.search(r"\beval\s*\(|\bFunction\s*\(|WebAssembly", source)


def _serve(route) -> None:
    path = route.request.url.removeprefix(ORIGIN)
    if path == "/stem-en.js":
        body, kind = SCRIPT.read_text(encoding="utf-8"), "text/javascript"
    else:
        body, kind = '<!doctype html><html lang="en"><title>stem</title></html>', "text/html"
    route.fulfill(status=200, body=body, content_type=f"{kind}; charset=utf-8",
                  headers={"Content-Security-Policy": CSP})


@pytest.mark.browser
def test_the_javascript_stemmer_matches_snowballstemmer_word_for_word(browser):
    todo = words()
    stemmer = snowballstemmer.stemmer("english")
    expected = [stemmer.stemWord(w) for w in todo]

    page = browser.new_page()
    try:
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.route(f"{ORIGIN}/**", _serve)
        page.goto(f"{ORIGIN}/")
        before = set(page.evaluate("Object.getOwnPropertyNames(window)"))
        page.add_script_tag(url=f"{ORIGIN}/stem-en.js")
        added = set(page.evaluate("Object.getOwnPropertyNames(window)")) - before
        got = page.evaluate("words => words.map(w => window.govsiteStemEnglish(w))", todo)
    finally:
        page.close()

    assert added == {"govsiteStemEnglish"}, "the script must define exactly one global"
    assert problems == [], "console errors (CSP violations show here)"
    mismatches = [(w, py, js) for w, py, js in zip(todo, expected, got, strict=True) if py != js]
    print(f"compared {len(todo)} words, {len(mismatches)} mismatches")
    assert not mismatches, (f"{len(mismatches)} of {len(todo)} words stem differently; "
                            f"first (word, python, javascript): {mismatches[:25]}")
