"""The search page in Chromium: the client analyses and ranks exactly as `govsite search` does,
and a person can search, filter, read and share results, by keyboard and screen reader too.
"""

from __future__ import annotations

import json
import posixpath
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import EPOCH, FIXTURES, serve
from test_browser import violations

from govsite.search.query import Filters, search

HOST = "www.example.gov.cn"
VECTORS = Path(__file__).parent / "search_vectors.json"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from govsite.build import build
    out = tmp_path_factory.mktemp("search") / "build"
    build(FIXTURES / "small", out, now=datetime.fromtimestamp(int(EPOCH), UTC))
    # A copy of the portal's search page showing two results at a time, to page through them.
    page = (out / HOST / "search.html").read_text(encoding="utf-8")
    (out / HOST / "search-by-two.html").write_text(
        page.replace('data-page-size="10"', 'data-page-size="2"'), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def server(built):
    httpd, url = serve(built)
    yield url
    httpd.shutdown()


@pytest.fixture
def open_search(browser, server):
    """Open a search page (path and query string), wait for the search to finish."""
    contexts = []

    def go(path: str, wait: bool = True, **options):
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.requested = []
        page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("request", lambda r: page.requested.append(r.url.removeprefix(server + "/")))
        page.goto(f"{server}/{path}")
        if wait:
            finished(page)
        return page
    yield go
    for context in contexts:
        context.close()


def finished(page) -> None:
    page.wait_for_selector("[data-search-state=done], [data-search-state=failed]", timeout=10_000)
    assert page.get_attribute("[data-search]", "data-search-state") == "done", page.problems


def result_links(page) -> list[str]:
    return page.eval_on_selector_all("ol[data-search-results] > li a", "as => as.map(a => a.href)")


def test_the_client_analyses_text_exactly_like_the_build(open_search):
    page = open_search(f"{HOST}/search.html?q=english", wait=True)  # loads the stemmer too
    cases = json.loads(VECTORS.read_text(encoding="utf-8"))
    got = page.evaluate("""cases => cases.map(c => {
        const s = window.govsiteSearch, folded = s.fold(s.normalize(c.text), c.t2s);
        const terms = s.queryTerms(folded);
        return {folded, tokens: s.tokens(folded), query_terms: terms,
                shards: terms.map(t => s.shardOf(t, 997))};
    })""", cases)
    for case, client in zip(cases, got, strict=True):
        expected = {k: case[k] for k in ("folded", "tokens", "query_terms", "shards")}
        assert client == expected, case["text"]


QUERIES = ["居住证", "暂住证怎么办理", "營商環境", "示政发[2024]1号", "示政发（２０２４）１号", "会议",
           "营商环境 实施意见", "harvest", "meeting city", "zzzz不存在", "示例市", "居住征怎么办",
           "优化营商环镜"]
FILTERS = [Filters(), Filters(site="county"), Filters(kind="policy"), Filters(by_date=True),
           Filters(year="2024", validity="有效")]


def test_browser_and_command_line_rank_alike(open_search, built):
    """The same files, the same ranking: every query and filter gives the same pages in order."""
    index = built / HOST / "_search"
    page = open_search(f"{HOST}/search.html?q=english")

    def fetch(path: str) -> str:
        return (index / posixpath.normpath(path)).read_text(encoding="utf-8")

    for query in QUERIES:
        for filters in FILTERS:
            expected = search(fetch, query, limit=50, filters=filters)
            client = page.evaluate("""([q, f]) => window.govsiteSearch.search(q, f, 0, 50)""",
                                   [query, {"active": bool(filters), "site": filters.site or "",
                                            "kind": filters.kind or "", "year": filters.year or "",
                                            "validity": filters.validity or "",
                                            "sort": "date" if filters.by_date else ""}])
            assert [(h["url"], round(h["score"], 6)) for h in client["hits"]] == [
                (h.url, h.score) for h in expected.hits], (query, filters)
            assert client["total"] == expected.total and client["query"] == expected.query
    assert search(fetch, "居住证").hits, "the comparison must not be between empty lists"


def test_a_shared_link_shows_its_results_as_an_ordered_list_of_links(open_search):
    page = open_search(f"{HOST}/search.html?q=居住证")
    links = result_links(page)
    assert links[0].endswith(f"{HOST}/service/jzz.html")
    assert page.input_value("#search-page-q") == "居住证"
    status = page.locator("[data-search-status]")
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"
    assert status.inner_text() == f"找到 {len(links)} 条结果"
    # The matched words are marked in the title, and each result says where it is from.
    assert page.inner_text("ol[data-search-results] > li:first-child h2 mark") == "居住证"
    assert "示例市人民政府" in page.inner_text("ol[data-search-results] > li:first-child .search-facts")
    assert page.problems == []
    # Only the index folder's files (and the page's own scripts) were fetched: nothing else.
    fetched = [u for u in page.requested if "/_search/" in u or "/_t2s/" in u]
    assert fetched and all(u.startswith(f"{HOST}/_search/") for u in fetched)


def test_typing_a_query_and_pressing_enter_searches_and_updates_the_address(open_search):
    page = open_search(f"{HOST}/search.html", wait=False)
    page.focus("#search-page-q")
    page.keyboard.type("营商环境")
    page.keyboard.press("Enter")
    finished(page)
    assert parse_qs(urlsplit(page.url).query) == {"q": ["营商环境"]}
    assert len(result_links(page)) >= 2
    assert violations(pytest.importorskip("axe_playwright_python.sync_playwright").Axe(), page) == []


def test_filters_and_date_order_apply_at_once_and_go_into_the_address(open_search):
    page = open_search(f"{HOST}/search.html?q=营商环境")
    everything = result_links(page)
    page.select_option("select[name=kind]", "policy")
    finished(page)
    assert parse_qs(urlsplit(page.url).query)["kind"] == ["policy"]
    policies = result_links(page)
    assert policies and len(policies) < len(everything)
    assert all("/policy/" in link for link in policies)
    page.select_option("select[name=validity]", "废止")
    finished(page)
    assert [link.rsplit("/", 1)[1] for link in result_links(page)] == ["2020-009.html"]


def test_a_site_filter_and_the_county_page_search_only_that_site(open_search):
    page = open_search(f"{HOST}/search.html?q=会议&site=county")
    assert result_links(page) and all("county.example.gov.cn" in u for u in result_links(page))
    county = open_search("county.example.gov.cn/search.html?q=会议")
    assert result_links(county) and all("county.example.gov.cn" in u for u in result_links(county))
    widen = county.get_attribute("[data-search-widen]", "href")
    assert widen.endswith(f"{HOST}/search.html?q=%E4%BC%9A%E8%AE%AE")


def test_nothing_found_says_so_and_offers_the_hot_words(open_search):
    page = open_search(f"{HOST}/search.html?q=qqqqzzzz")
    assert result_links(page) == []
    assert "没有找到与“qqqqzzzz”相关的信息" in page.inner_text("[data-search-status]")
    hot = page.eval_on_selector_all("[data-search-suggest] a", "as => as.map(a => a.textContent)")
    assert hot == ["居住证", "营商环境"]


def test_a_mistyped_word_is_searched_as_corrected_and_offered(open_search):
    page = open_search(f"{HOST}/search.html?q=居住征")
    assert result_links(page)[0].endswith("/service/jzz.html")
    assert page.inner_text("[data-search-suggest]").startswith("您是不是要找：")
    assert page.get_attribute("[data-search-suggest] a", "href") == "?q=%E5%B1%85%E4%BD%8F%E8%AF%81"


def test_more_results_appends_the_next_ones_and_moves_focus_to_them(open_search):
    page = open_search(f"{HOST}/search-by-two.html?q=示例市")
    assert len(result_links(page)) == 2
    page.click("[data-search-more]")
    page.wait_for_function("document.querySelectorAll('ol[data-search-results] > li').length > 2")
    finished(page)
    links = result_links(page)
    assert len(links) == 4 and len(set(links)) == 4
    assert page.evaluate("document.activeElement.href") == links[2]


def test_without_javascript_the_page_explains_and_links_to_the_site_map(open_search):
    page = open_search(f"{HOST}/search.html?q=居住证", wait=False, java_script_enabled=False)
    note = page.locator(".search-noscript")
    assert note.is_visible() and "JavaScript" in note.inner_text()
    assert note.locator("a").get_attribute("href") == "sitemap.html"
    assert page.locator("[data-search-filters]").is_hidden()


def test_an_index_from_another_release_is_reported_not_misread(open_search, server):
    page = open_search(f"{HOST}/search.html", wait=False)

    def stale(route):
        meta = json.loads(route.fetch().text())
        route.fulfill(json={**meta, "format": meta["format"] - 1})
    page.route("**/_search/meta.json", stale)
    page.goto(f"{server}/{HOST}/search.html?q=居住证")
    page.wait_for_selector("[data-search-state=failed]", timeout=10_000)
    assert result_links(page) == []
    assert page.inner_text("[data-search-status]").startswith("搜索暂时不可用")


def test_filters_fold_away_on_phones_unless_one_is_set(open_search):
    phone = {"viewport": {"width": 375, "height": 667}}
    assert not open_search(f"{HOST}/search.html?q=会议", **phone).evaluate(
        "document.querySelector('[data-search-filters]').open")
    assert open_search(f"{HOST}/search.html?q=会议&kind=news", **phone).evaluate(
        "document.querySelector('[data-search-filters]').open")
    assert open_search(f"{HOST}/search.html?q=会议").evaluate(
        "document.querySelector('[data-search-filters]').open")


@pytest.mark.parametrize("care", [False, True])
def test_results_on_a_phone_pass_axe_also_in_care_mode(open_search, care):
    page = open_search(f"{HOST}/search.html?q=营商环境", viewport={"width": 375, "height": 667})
    if care:
        page.get_by_role("button", name="关怀版").click()
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    assert violations(axe, page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
