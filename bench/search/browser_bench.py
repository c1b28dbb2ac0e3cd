"""Measure a static search client in a real browser: serve a multi-host build, count the bytes.

A search engine for a static site is judged by what a citizen's browser has to do: how many
bytes it downloads for one query (its JS, its WASM, its index pieces, its result fragments),
how many requests that takes and how long until results are on screen. This module gives any
client (Pagefind, govsite's own) the same conditions, so their figures can be compared:

- `serve(build_dir)` serves a govsite build (one folder per host) on a local port, choosing the
  folder by the Host header, with the MIME types and gzip a CDN would apply.
- `chromium(port)` starts headless Chromium (the system one: browser downloads are blocked here)
  with every host name resolved to that port, so pages keep their real URLs
  (http://national.corpus.example/...) and same-origin rules behave as in production.
- `measure(browser, url, action)` opens the page in a fresh browser context (cold HTTP cache,
  as for a citizen arriving from a search engine), then counts through the DevTools protocol
  what `action(page)` transfers: bytes on the wire (`encodedDataLength`: headers plus
  compressed body) and requests, for the page and for any dedicated worker it starts.

Timing is the client's own business (`action` returns it, measured in the page with
`performance.now()`); `summary()` gives median and p90 with the same index convention as
evaluate.py.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import mimetypes
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"

# Types a CDN compresses on the fly; everything else (images, WASM, Pagefind's .pf_* chunks,
# which Pagefind already gzips itself) goes out as stored.
COMPRESSIBLE = {"text/html", "text/css", "text/javascript", "application/javascript",
                "application/json", "application/xml", "text/xml", "image/svg+xml",
                "text/plain", "application/atom+xml"}
TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript",
         ".mjs": "text/javascript", ".json": "application/json", ".xml": "application/xml",
         ".svg": "image/svg+xml", ".txt": "text/plain", ".wasm": "application/wasm",
         ".webmanifest": "application/manifest+json"}
GZIP_MAGIC = b"\x1f\x8b"
NETWORK_EVENTS = ("Network.requestWillBeSent", "Network.responseReceived",
                  "Network.loadingFinished", "Network.loadingFailed")

# A strict policy a government site might ship. Pagefind cannot run under it: compiling its
# WASM needs 'wasm-unsafe-eval' in script-src, which default-src 'self' does not grant.
STRICT_CSP = "default-src 'self'"


def content_type(path: Path) -> str:
    """The MIME type for a file; Pagefind's .pf_* chunks and unknown files are opaque bytes."""
    if path.suffix.startswith(".pf_"):
        return "application/octet-stream"
    known = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    return known or "application/octet-stream"


@functools.lru_cache(maxsize=4096)
def _gzipped(path: Path, mtime_ns: int) -> bytes:
    """gzip level 6 with a zero timestamp: the same bytes on every run, so sizes are stable."""
    return gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)


@dataclass
class Served:
    """One response, as the server sent it (a cross-check for the browser's own accounting)."""

    host: str
    path: str
    status: int
    body_bytes: int
    gzipped: bool


def _handler(root: Path, mounts: dict[str, Path], csp: str | None,
             log: list[Served] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as browsers and CDNs use
        # Headers and body in one write, sent at once, as a CDN does. http.server's default
        # (unbuffered, Nagle on) sends the body as a second small segment that waits for the
        # client's delayed ACK: a 40 ms stall on some responses, which measured the server,
        # not the search client (half the requests of a govsite query took 45-50 ms for 1 kB).
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
            self._respond(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._respond(send_body=False)

        def _respond(self, send_body: bool) -> None:
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            url_path = unquote(urlsplit(self.path).path)
            file = self._resolve(host, url_path)
            if file is None:
                self._send(host, url_path, 404, b"not found\n", "text/plain", False, send_body)
                return
            mime = content_type(file)
            data = file.read_bytes()
            accepts_gzip = "gzip" in (self.headers.get("Accept-Encoding") or "")
            compress = (accepts_gzip and mime.split(";")[0] in COMPRESSIBLE
                        and not data.startswith(GZIP_MAGIC))
            if compress:
                data = _gzipped(file, file.stat().st_mtime_ns)
            self._send(host, url_path, 200, data, mime, compress, send_body)

        def _resolve(self, host: str, url_path: str) -> Path | None:
            """build_dir/<host>/<path>, or a mount shared by every host; never outside them."""
            base, rest = root / host, url_path
            for prefix, folder in mounts.items():
                if url_path.startswith(prefix):
                    base, rest = folder, url_path[len(prefix):]
                    break
            candidate = (base / rest.lstrip("/")).resolve()
            if not candidate.is_relative_to(base.resolve()):
                return None
            if candidate.is_dir():
                candidate = candidate / "index.html"
            return candidate if candidate.is_file() else None

        def _send(self, host: str, url_path: str, status: int, data: bytes, mime: str,
                  gzipped: bool, send_body: bool) -> None:
            self.send_response(status)
            charset = "; charset=utf-8" if mime.startswith("text/") or mime.endswith(
                ("json", "xml", "javascript")) else ""
            self.send_header("Content-Type", mime + charset)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Vary", "Accept-Encoding")
            self.send_header("Cache-Control", "public, max-age=600")
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            if csp:
                self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            if send_body:
                self.wfile.write(data)
            if log is not None:
                log.append(Served(host, url_path, status, len(data), gzipped))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one line per request would drown the benchmark's output

    return Handler


@contextmanager
def serve(build_dir: Path, *, csp: bool | str = False, mounts: dict[str, Path] | None = None,
          request_log: list[Served] | None = None) -> Iterator[int]:
    """Serve build_dir/<Host>/... on a free local port; yields the port.

    csp: True sends STRICT_CSP with every response, a string sends that policy; off by default
    because Pagefind's WASM is refused under STRICT_CSP. mounts maps a URL prefix such as
    "/pagefind/" to a folder served under it on every host (a cluster-wide bundle, as a CDN path
    rule would route it). request_log, when given, receives one Served per response.
    """
    policy = STRICT_CSP if csp is True else (csp or None)
    handler = _handler(Path(build_dir), {k: Path(v) for k, v in (mounts or {}).items()},
                       policy, request_log)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="browser-bench-http", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(port: int, *, headless: bool = True) -> Iterator[Browser]:
    """Headless system Chromium with every host name mapped to the local server's port.

    Plain http on purpose: the server has no certificate, and HTTPS upgrades are switched off
    so Chromium does not first try https:// for each new host.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=headless,
            args=[f"--host-resolver-rules=MAP * 127.0.0.1:{port}",
                  "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Transfer:
    """One finished (or failed) request as the browser saw it.

    body_unreported: Chromium gave the headers' size only (a worker's own script, see
    NetworkMeter); measure() completes it from the server's log when it has one.
    """

    url: str
    encoded_bytes: int
    failed: bool = False
    body_unreported: bool = False


@dataclass
class _Open:
    """A request seen on one DevTools session and not yet finished."""

    url: str
    header_bytes: int = 0
    content_length: int = 0


class NetworkMeter:
    """Counts a page's network traffic through the DevTools protocol, dedicated workers included.

    Bytes are Network.loadingFinished's encodedDataLength: response headers plus the body as
    transferred (compressed when it was compressed). Chromium 156 needs three workarounds:

    - A dedicated worker's fetches are reported on the worker's own target, not the page's
      (Pagefind does all its index and fragment fetching in a worker). The meter auto-attaches
      to the page's workers, holding each at start until Network is enabled in it. Playwright's
      CDPSession cannot address flat child sessions, so this uses the nested protocol
      (Target.sendMessageToTarget / receivedMessageFromTarget), which Chromium still serves.
    - The worker's own script is requested on the page's session but finishes on the worker's,
      with no responseReceived and an encodedDataLength of the headers alone (the requestId is
      the same on both). It is recorded with body_unreported=True, and measure() fills the
      body in from the server's log.
    - CDP events reach Python only while Playwright is being called, hence wait_idle() polls
      through page.wait_for_timeout() rather than sleeping.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.transfers: list[Transfer] = []
        self._open: dict[tuple[str, str], _Open] = {}  # (session, requestId) → request
        self._pending_urls: list[str] = []  # started and not finished, on any session
        self._last_activity = time.monotonic()
        self._message_ids = itertools.count(1)
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        for method in NETWORK_EVENTS:
            self.cdp.on(method, functools.partial(self._on_event, "page", method))
        self.cdp.on("Target.attachedToTarget", self._on_attached)
        self.cdp.on("Target.receivedMessageFromTarget", self._on_worker_message)
        self.cdp.send("Network.enable")
        self.cdp.send("Target.setAutoAttach",
                      {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": False})

    def reset(self) -> None:
        """Start counting afresh (call once the page itself has loaded and gone quiet)."""
        self.transfers.clear()
        self._open.clear()
        self._pending_urls.clear()

    @property
    def bytes(self) -> int:
        return sum(t.encoded_bytes for t in self.transfers)

    @property
    def requests(self) -> int:
        return len(self.transfers)

    def wait_idle(self, quiet_ms: int = 250, timeout_ms: int = 15_000) -> bool:
        """Wait until no request is open and none started for quiet_ms (late prefetches count).

        Returns False if the network was still busy at the timeout.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(25)
            quiet = (time.monotonic() - self._last_activity) * 1000 >= quiet_ms
            if not self._pending_urls and quiet:
                return True
        return False

    def _on_attached(self, event: dict[str, Any]) -> None:
        session, target = event["sessionId"], event["targetInfo"]
        if target["type"] == "worker":
            self._send_to(session, "Network.enable")
        self._send_to(session, "Runtime.runIfWaitingForDebugger")

    def _send_to(self, session: str, method: str) -> None:
        message = {"id": next(self._message_ids), "method": method}
        self.cdp.send("Target.sendMessageToTarget",
                      {"sessionId": session, "message": json.dumps(message)})

    def _on_worker_message(self, event: dict[str, Any]) -> None:
        message = json.loads(event["message"])
        if "method" in message:
            self._on_event(event["sessionId"], message["method"], message.get("params", {}))

    def _on_event(self, session: str, method: str, params: dict[str, Any]) -> None:
        key = (session, params.get("requestId", ""))
        if method == "Network.requestWillBeSent":
            if key in self._open:  # a redirect: the previous hop is over
                self._close(key, 0, failed=False)
            self._open[key] = _Open(params["request"]["url"])
            self._pending_urls.append(params["request"]["url"])
        elif method == "Network.responseReceived" and key in self._open:
            response = params["response"]
            headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
            self._open[key].header_bytes = int(response.get("encodedDataLength") or 0)
            self._open[key].content_length = int(headers.get("content-length") or 0)
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            failed = method == "Network.loadingFailed"
            encoded = int(params.get("encodedDataLength") or 0)
            if key in self._open:
                self._close(key, encoded, failed)
            elif ("page", key[1]) in self._open:  # a worker's script, begun on the page
                self._close(("page", key[1]), encoded, failed, body_unreported=True)
            else:
                return  # a request begun before reset()
        else:
            return
        self._last_activity = time.monotonic()

    def _close(self, key: tuple[str, str], encoded: int, failed: bool,
               body_unreported: bool = False) -> None:
        request = self._open.pop(key)
        # A response is at least its headers plus its Content-Length, should Chromium report less.
        floor = 0 if failed else request.header_bytes + request.content_length
        self.transfers.append(Transfer(request.url, max(encoded, floor), failed,
                                       body_unreported and not failed))
        if request.url in self._pending_urls:
            self._pending_urls.remove(request.url)


@dataclass
class Measurement:
    """What one action cost in the browser, and what it returned."""

    bytes: int  # on the wire: headers plus bodies as transferred
    requests: int
    transfers: list[Transfer]
    result: Any
    console_errors: list[str]
    settled: bool  # False: requests were still open when counting stopped
    server_body_bytes: int | None  # the same window from the server's side, when logged
    server_requests: int | None

    @property
    def complete(self) -> bool:
        """Settled, and (with a server log) the browser saw as many responses as were sent.

        Rarely the first worker of a fresh browser starts fetching before Network is enabled
        in it; such a measurement misses requests and should be taken again.
        """
        return self.settled and self.server_requests in (None, self.requests)


def measure(browser: Browser, url: str, action: Callable[[Page], Any], *, cold: bool = True,
            context: BrowserContext | None = None, count_network: bool = True,
            server_log: list[Served] | None = None) -> Measurement:
    """Load url, then count the traffic of action(page) alone (the page load is not counted).

    cold=True (the default, and what citizens get) opens a new browser context for this one
    measurement and clears the HTTP cache besides: nothing cached, no compiled WASM, no open
    connections. With cold=False, pass a context to reuse between calls (its cache warms up).

    count_network=False attaches no DevTools session at all, for timing runs: holding each new
    worker until Network is enabled in it, and shipping every event to Python, adds some
    25-70 ms to a Pagefind query on this machine. Bytes and requests are then reported as 0.

    server_log, the list given to serve(request_log=...), completes bodies the browser did not
    report and gives an independent body-byte count for the same window.
    """
    own_context = cold or context is None
    ctx = browser.new_context() if own_context else context
    assert ctx is not None
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        meter = NetworkMeter(page) if count_network else None
        if meter and cold:
            meter.cdp.send("Network.clearBrowserCache")
        page.goto(url, wait_until="load")
        if meter:
            meter.wait_idle()
            meter.reset()
        else:
            page.wait_for_load_state("networkidle")
        logged_before = len(server_log) if server_log is not None else 0
        result = action(page)
        settled = meter.wait_idle() if meter else True
        transfers = list(meter.transfers) if meter else []
        server_bytes = server_requests = None
        if server_log is not None:
            window = server_log[logged_before:]
            server_bytes, server_requests = sum(s.body_bytes for s in window), len(window)
            _complete_bodies(transfers, window)
        return Measurement(sum(t.encoded_bytes for t in transfers), len(transfers), transfers,
                           result, errors, settled, server_bytes, server_requests)
    finally:
        page.close()
        if own_context:
            ctx.close()


def _complete_bodies(transfers: list[Transfer], served: list[Served]) -> None:
    """Add the body the server sent to each transfer whose body the browser did not report."""
    for transfer in transfers:
        if not transfer.body_unreported:
            continue
        parts = urlsplit(transfer.url)
        for response in reversed(served):
            if (response.host, response.path) == (parts.hostname, unquote(parts.path)):
                transfer.encoded_bytes += response.body_bytes
                transfer.body_unreported = False
                break


def percentile(values: list[float], fraction: float) -> float:
    """sorted(values)[int(len * fraction)]: the convention evaluate.py uses (median = 0.5)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def summary(values: list[float]) -> dict[str, float]:
    """Median and p90, the two figures every comparison in bench/search reports."""
    return {"median": percentile(values, 0.5), "p90": percentile(values, 0.9)}
