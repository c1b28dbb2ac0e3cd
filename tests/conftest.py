"""Shared test helpers: a project factory that writes a small cluster from a dict, and a CLI runner."""

from __future__ import annotations

import functools
import http.server
import os
import textwrap
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from govsite.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
# A fixed clock: the fixtures' dates and "scheduled" pages are written against it.
EPOCH = "1735689600"  # 2025-01-01T00:00:00Z

MINIMAL_SITES = """\
cluster:
  identity:
    sponsor: 示例市人民政府办公室
sites:
  - id: portal
    name: 示例市人民政府
    type: portal
    url: https://www.example.gov.cn/
    identity:
      site_code: "1100000001"
    columns: [news]
"""

NEWS_COLUMN = """\
---
title: 要闻动态
type: news
---
"""


def mapped_state(folder: Path, state):
    """A search term state as a build reads it back: kept in a build cache in `folder`, then
    loaded as a memory map of the cache's file (the arrays are views of that file)."""
    import mmap

    from govsite.cache import Cache
    from govsite.search.index import TermState
    cache = Cache(folder)
    cache.keep("search terms", "cluster", state.chunks())
    cache.save()
    stored = Cache(folder).load("search terms", ["cluster"], mapped=True)["cluster"]
    assert isinstance(stored, mmap.mmap)
    back = TermState.from_bytes(stored)
    assert back is not None and back.mapped is stored
    return back


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write files (path → text, dedented) under root; a minimal valid cluster fills the gaps."""
    defaults = {"sites.yaml": MINIMAL_SITES, "content/portal/news/_index.md": NEWS_COLUMN}
    for rel, text in {**defaults, **files}.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path):
    """`project({...})` writes a project and returns its folder."""
    def make(files: dict[str, str] | None = None) -> Path:
        return write_project(tmp_path / "project", files or {})
    return make


@pytest.fixture(autouse=True)
def _build_cache_outside_fixtures(tmp_path_factory: pytest.TempPathFactory,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds keep their cache in a folder of the test's own, never in tests/fixtures/."""
    monkeypatch.setenv("GOVSITE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def govsite(monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in-process with the fixed clock: `govsite("build", "--project", p)`."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return run


# Browser tests drive Debian's Chromium through Playwright (browser downloads are blocked here).
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CSP = "default-src 'self'"


def require(available: bool, what: str) -> None:
    """Skip on a developer machine without `what`, but never under CI, where it is a failure."""
    if not available:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing under CI; scripts/install-test-deps installs it")
        pytest.skip(f"{what} not installed (run scripts/install-test-deps)")


class StrictHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a build with the CSP the theme promises to live within, and the site's own
    404 page for missing files, as the generated server configuration will."""

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def send_error(self, code, message=None, explain=None) -> None:
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve(folder: Path):
    """A strict server for `folder` on a free port: (server, base URL)."""
    handler = functools.partial(StrictHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="session")
def browser():
    require(Path(CHROMIUM).is_file(), "Chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()
