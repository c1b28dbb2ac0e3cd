"""Screenshots of the example cluster for the README: python3 scripts/screenshots.py

Builds the example cluster into a temporary folder, serves it on 127.0.0.1 and photographs a
few page types at desktop and phone sizes with Debian's Chromium, into docs/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from govsite.build import build

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
PAGES = {
    "portal-home": "www.yunchuan.gov.cn/index.html",
    "policy": "www.yunchuan.gov.cn/policy/2026-11-14-youhua-yingshang-huanjing-cuoshi.html",
    "service-guide": "www.yunchuan.gov.cn/service/shebaoka-shenling.html",
    "english": "www.yunchuan.gov.cn/en/index.html",
    "search": "www.yunchuan.gov.cn/search.html?q=社保卡怎么办理",
}
SIZES = {"desktop": (1280, 800), "phone": (375, 667)}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "build"
        build(ROOT, site)
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            for name, path in PAGES.items():
                for size, (width, height) in SIZES.items():
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"{base}/{path}")
                    if "?q=" in path:
                        page.wait_for_selector("[data-search-state=done]")
                    page.screenshot(path=str(OUT / f"{name}-{size}.png"))
                    page.close()
            # Care mode, as an older reader would switch it on.
            page = browser.new_page(viewport={"width": 375, "height": 667})
            page.goto(f"{base}/{PAGES['policy']}")
            page.get_by_role("button", name="关怀版").click()
            page.screenshot(path=str(OUT / "policy-care-phone.png"))
            browser.close()
        httpd.shutdown()
    for png in sorted(OUT.glob("*.png")):
        print(png.relative_to(ROOT))


if __name__ == "__main__":
    main()
