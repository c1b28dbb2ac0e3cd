"""`govsite serve`: the preview server rebuilds on save, shows drafts, survives a broken build."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import EPOCH, FIXTURES

log: list[str] = []   # what the server running for the current test printed after starting


@pytest.fixture
def preview(tmp_path: Path):
    log.clear()
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    temporary = tmp_path / "tmp"   # the server's own: what it leaves there is seen
    temporary.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "govsite", "serve", "--project", str(project),
                              "--port", "0"], stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "TMPDIR": str(temporary)})
    try:
        base = ""
        assert child.stderr is not None
        for line in child.stderr:
            found = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if found:
                base = found.group(0)
                break
        assert base, "the server did not start"
        threading.Thread(target=lambda: log.extend(child.stderr or ()), daemon=True).start()
        yield project, base, child
    finally:
        child.terminate()
        child.wait(timeout=10)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def status(base: str) -> dict:
    return json.loads(get(base + "_govsite/status")[1])


def wait_for(base: str, version: int, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = status(base)
        if state["version"] > version or state["errors"]:
            return state
        time.sleep(0.1)
    raise AssertionError("no rebuild after the save")


def test_preview_serves_every_site_with_drafts_and_reloads_after_a_save(preview):
    project, base, _ = preview
    code, home = get(base + "www.example.gov.cn/")
    assert code == 200 and "/_govsite/live.js" in home
    # Links to the other host stay in the preview.
    assert 'href="/county.example.gov.cn/' in home
    code, draft = get(base + "www.example.gov.cn/news/2024-05-09-draft.html")
    assert code == 200 and "DRAFTSECRETWORD" in draft
    before = status(base)["version"]
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n保存后新增的一句话。\n", encoding="utf-8")
    assert wait_for(base, before)["errors"] == []
    assert "保存后新增的一句话" in get(base + "county.example.gov.cn/news/2024-05-07-harvest.html")[1]


def test_a_build_error_shows_in_the_preview_and_the_server_keeps_the_last_good_build(preview):
    project, base, _ = preview
    before = status(base)["version"]
    page = project / "content/county/news/2024-05-07-harvest.md"
    good = page.read_text(encoding="utf-8")
    page.write_text(good.replace("---\n", "---\ndate: not a date\n", 1), encoding="utf-8")
    state = wait_for(base, before)
    assert state["errors"] and "2024-05-07-harvest.md" in state["errors"][0]
    assert get(base + "county.example.gov.cn/news/2024-05-07-harvest.html")[0] == 200
    page.write_text(good + "\n修好了。\n", encoding="utf-8")
    deadline = time.monotonic() + 15
    while status(base)["errors"] and time.monotonic() < deadline:
        time.sleep(0.1)
    state = status(base)
    assert (state["version"], state["errors"]) == (before + 1, [])
    assert "修好了" in get(base + "county.example.gov.cn/news/2024-05-07-harvest.html")[1]


@pytest.mark.parametrize("stopping", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_stopped_server_removes_its_preview_build(preview, tmp_path, stopping):
    _, base, child = preview
    # The preview's build is in the server's temporary folder while it runs.
    assert [p.name for p in (tmp_path / "tmp").glob("govsite-preview-*/build/www.example.gov.cn")]
    child.send_signal(stopping)
    assert child.wait(timeout=10) == 0
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_missing_page_gets_the_sites_404(preview):
    _, base, _ = preview
    code, body = get(base + "www.example.gov.cn/no-such-page.html")
    assert code == 404 and "<html" in body


def test_a_page_asking_for_news_is_answered_when_the_next_build_finishes(preview):
    # The page's script asks with the build generation it has seen; the server holds the
    # request until a later build finishes, so the page reloads at once instead of polling.
    project, base, _ = preview
    seen = status(base)
    started = time.monotonic()
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n长轮询。\n", encoding="utf-8")
    code, body = get(f"{base}_govsite/status?after={seen['generation']}")
    answer = json.loads(body)
    assert code == 200 and answer["generation"] == seen["generation"] + 1
    assert answer["version"] == seen["version"] + 1 and time.monotonic() - started < 10


def test_the_open_page_reloads_itself_after_a_save(preview, browser):
    # What an editor sees: the page in the browser shows the saved text without a keystroke.
    project, base, _ = preview
    page = browser.new_page()
    try:
        url = base + "county.example.gov.cn/news/2024-05-07-harvest.html"
        page.goto(url)
        page.wait_for_timeout(300)   # live.js has asked for news and is waiting
        source = project / "content/county/news/2024-05-07-harvest.md"
        source.write_text(source.read_text(encoding="utf-8") + "\n浏览器里自动出现的一句话。\n",
                          encoding="utf-8")
        # (Asked while the page reloads, too: then it has no body yet, which is not a failure.)
        page.wait_for_function("document.body?.innerText.includes('浏览器里自动出现的一句话')",
                               timeout=15_000)
    finally:
        page.close()


def _status(base: str, after: int, page: str = "") -> dict:
    query = f"after={after}" + (f"&page={urllib.parse.quote(page)}" if page else "")
    return json.loads(get(f"{base}_govsite/status?{query}")[1])


def _printed(text: str, wait: float = 5) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if any(text in line for line in log):
            return True
        time.sleep(0.05)
    return False


HARVEST = "/county.example.gov.cn/news/2024-05-07-harvest.html"


def test_a_saved_page_is_shown_before_the_rebuild_and_its_page_reloads_once(preview):
    # A save to one page's text is rendered against the last build at once (one generation),
    # then the rebuild follows (a second); the page itself only changed in the first.
    project, base, _ = preview
    seen = _status(base, -1, HARVEST)
    others = _status(base, -1, "/county.example.gov.cn/news/")
    source = project / "content/county/news/2024-05-07-harvest.md"
    source.write_text(source.read_text(encoding="utf-8").replace("title: ", "title: （更新）", 1)
                      + "\n先行显示的一句话。\n", encoding="utf-8")
    shown = _status(base, seen["generation"], HARVEST)
    assert shown["generation"] == seen["generation"] + 1 and shown["version"] > seen["version"]
    assert "先行显示的一句话" in get(base + HARVEST.lstrip("/"))[1]
    assert _printed("2024-05-07-harvest.html shown in")
    rebuilt = _status(base, shown["generation"], HARVEST)
    assert rebuilt["generation"] == shown["generation"] + 1 and rebuilt["errors"] == []
    assert rebuilt["version"] == shown["version"], "the rebuild wrote the same page: no reload"
    assert "先行显示的一句话" in get(base + HARVEST.lstrip("/"))[1]
    # The column's list shows the page's title: it changed with the rebuild.
    assert _status(base, -1, "/county.example.gov.cn/news/")["version"] > others["version"]


def test_a_save_that_moves_a_page_in_its_lists_waits_for_the_rebuild(preview):
    project, base, _ = preview
    seen = _status(base, -1, HARVEST)
    source = project / "content/county/news/2024-05-07-harvest.md"
    source.write_text(source.read_text(encoding="utf-8").replace("date: 2024-05-07", "date: 2024-05-06"),
                      encoding="utf-8")
    rebuilt = _status(base, seen["generation"], HARVEST)
    assert rebuilt["generation"] == seen["generation"] + 1 and rebuilt["version"] > seen["version"]
    assert "2024-05-06" in get(base + HARVEST.lstrip("/"))[1]
    assert not _printed("shown in", wait=0.5), "a page that moves in its lists is never shown ahead"
