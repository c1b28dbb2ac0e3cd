"""`govsite serve`: a preview of the whole cluster on 127.0.0.1 that rebuilds when a file is saved.

Every site is served under its host name (http://127.0.0.1:8000/www.example.gov.cn/…), links
between sites included, so one port previews the whole cluster. Drafts and scheduled pages are
built too, each with a preview banner. A save rebuilds with the build cache (only what changed
is converted again), and the open page reloads itself; a build error is printed in the terminal
and shown over the page, and the last good build stays served.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from govsite.build import build
from govsite.diagnostics import BuildFailed

SPECIAL = "/_govsite/"
QUIET = 0.05   # seconds without a further change before rebuilding: an editor's save is several events
HOLD = 20      # seconds a status request waits for the next build before answering anyway
LIVE_JS = """(() => {
  let seen = null;
  const box = document.createElement("div");
  box.setAttribute("role", "alert");
  Object.assign(box.style, {position: "fixed", inset: "auto 0 0 0", maxHeight: "50vh",
    overflow: "auto", background: "#fff4f4", color: "#5c0000", borderTop: "3px solid #b00020",
    font: "14px/1.5 monospace", padding: "1em", whiteSpace: "pre-wrap", zIndex: 99999});
  let generation = -1;
  async function poll() {
    // The server holds the request until the next build has finished: the page reloads as
    // soon as there is something new, without polling.
    try {
      const status = await (await fetch("/_govsite/status?after=" + generation,
                                        {cache: "no-store"})).json();
      if (seen !== null && status.version !== seen) { location.reload(); return; }
      seen = status.version;
      generation = status.generation;
      box.textContent = status.errors.length ? "govsite build failed:\\n" + status.errors.join("\\n") : "";
      if (status.errors.length && !box.isConnected) document.body.append(box);
      if (!status.errors.length) box.remove();
      setTimeout(poll, 0);
    } catch (error) { setTimeout(poll, 1000); /* the server restarts: try again */ }
  }
  poll();
})();
"""


class Preview:
    """The preview build: rebuilt on demand, the last good one kept, its state for the page."""

    def __init__(self, project: Path, jobs: int | None, echo: Callable[[str], None]):
        self.project = project.absolute()
        self.folder = Path(tempfile.mkdtemp(prefix="govsite-preview-"))
        self.out = self.folder / "build"
        self.cache = self.project / ".govsite-cache" / "preview"
        # Made before the watch starts: a folder appearing inside a watched tree makes
        # watchdog's inotify backend print a RuntimeWarning about its own bookkeeping.
        self.cache.mkdir(parents=True, exist_ok=True)
        self.jobs = jobs
        self.echo = echo
        self.version = 0
        self.errors: list[str] = []
        self.generation = 0   # builds finished, failed ones included
        self.lock = threading.Lock()
        self.finished = threading.Condition(self.lock)
        self.hosts: list[str] = []

    def rebuild(self) -> None:
        started = time.perf_counter()
        try:
            result = build(self.project, self.out, drafts=True, jobs=self.jobs, cache=self.cache)
        except BuildFailed as failure:
            with self.lock:
                self.errors = [str(d) for d in failure.report.errors()]
                self._finished()
            self.echo("build failed (the last good build is still served):\n  "
                      + "\n  ".join(self.errors))
            return
        except Exception as error:  # noqa: BLE001 - the server must outlive any build
            with self.lock:
                self.errors = [f"internal error: {type(error).__name__}: {error}"]
                self._finished()
            self.echo(self.errors[0])
            return
        changes = json.loads((self.out / ".govsite/changes.json").read_text(encoding="utf-8"))
        with self.lock:
            self.errors = []
            self.version += 1
            self.hosts = sorted(p.name for p in self.out.iterdir() if p.is_dir() and p.name != ".govsite")
            self._finished()
        changed = len(changes["added"]) + len(changes["changed"]) + len(changes["removed"])
        self.echo(f"built in {time.perf_counter() - started:.2f} s: {result.pages} pages, "
                  f"{changed} URLs changed")

    def _finished(self) -> None:   # called holding the lock
        self.generation += 1
        self.finished.notify_all()

    def status(self, after: int) -> dict:
        """The preview's state once a build later than `after` has finished (or HOLD seconds
        have passed): a page asks with the generation it last saw."""
        with self.lock:
            self.finished.wait_for(lambda: self.generation != after, timeout=HOLD)
            return {"version": self.version, "errors": self.errors, "generation": self.generation}

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def watch(preview: Preview) -> tuple[threading.Event, Callable[[], None]]:
    """Start watching the project (not the preview's own output): returns the event a save
    sets, and how to stop. Started before the server says it is ready, so no save is missed."""
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
        FileSystemEvent,
        FileSystemEventHandler,
    )
    from watchdog.observers import Observer

    changed = threading.Event()
    ignored = (preview.project / ".govsite-cache", preview.project / "build", preview.project / ".git")

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # Reads are no change; a folder "modified" only repeats its files' own events
            # (and the cache folder's creation would otherwise trigger a rebuild).
            if event.event_type in ("opened", "closed_no_write") or (
                    event.is_directory and event.event_type == "modified"):
                return
            path = Path(str(event.src_path))
            if not any(path.is_relative_to(folder) for folder in ignored) \
                    and not path.name.startswith((".#", "~")) and not path.name.endswith("~"):
                changed.set()

    observer = Observer()
    # Changes only: a build reads every source, and being told of each open and close (20,000
    # events at 10,000 pages) kept this thread busy through the build (4.7 s instead of 3.4 s).
    observer.schedule(Handler(), str(preview.project), recursive=True, event_filter=[
        FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileDeletedEvent, FileMovedEvent,
        DirCreatedEvent, DirDeletedEvent, DirMovedEvent])
    observer.start()

    def stop() -> None:
        observer.stop()
        observer.join()
    return changed, stop


def rebuild_on_change(preview: Preview, changed: threading.Event, stop: threading.Event) -> None:
    while not stop.is_set():
        if changed.wait(0.2):
            while changed.is_set():           # wait for the editor to finish saving
                changed.clear()
                time.sleep(QUIET)
            preview.rebuild()


def handler(preview: Preview) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if path == SPECIAL + "status":
                after = parse_qs(parts.query).get("after", ["-1"])[0]
                state = preview.status(int(after) if after.lstrip("-").isdigit() else -1)
                return self.send(200, json.dumps(state, ensure_ascii=False).encode(),
                                 "application/json")
            if path == SPECIAL + "live.js":
                return self.send(200, LIVE_JS.encode(), "text/javascript")
            if path == "/":
                links = "".join(f'<li><a href="/{h}/">{h}</a></li>' for h in preview.hosts)
                page = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>govsite '
                        f'preview</title><h1>govsite preview</h1><ul>{links}</ul>'
                        f'<script src="{SPECIAL}live.js"></script></html>')
                return self.send(200, page.encode(), "text/html; charset=utf-8")
            host, _, rest = path.lstrip("/").partition("/")
            target = (preview.out / host / rest).resolve()
            if not target.is_relative_to(preview.out.resolve()) or host not in preview.hosts:
                return self.send(404, b"not in the preview", "text/plain; charset=utf-8")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                target, status = preview.out / host / "404.html", 404
            else:
                status = 200
            data = target.read_bytes() if target.is_file() else b"not found"
            kind = _type(target)
            if kind.startswith("text/html"):
                data = _for_preview(data.decode("utf-8"), host, preview.hosts).encode("utf-8")
            self.send(status, data, kind)

        def send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def _for_preview(html: str, host: str, hosts: list[str]) -> str:
    """Links to other sites and root-relative links stay inside the preview, and the page
    reloads itself after a rebuild."""
    for other in hosts:
        html = re.sub(rf"https?://{re.escape(other)}/", f"/{other}/", html)
    html = re.sub(r'((?:href|src|action|data-index)=")/(?!/)(?!(?:' + "|".join(map(re.escape, hosts))
                  + r')/)', rf"\1/{host}/", html)
    return html.replace("</body>", f'<script src="{SPECIAL}live.js"></script></body>')


def _type(path: Path) -> str:
    return {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript",
            ".json": "application/json", ".svg": "image/svg+xml", ".xml": "application/xml",
            ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".pdf": "application/pdf", ".txt": "text/plain; charset=utf-8",
            ".woff2": "font/woff2"}.get(path.suffix.lower(), "application/octet-stream")


def serve(project: Path, port: int, jobs: int | None, echo: Callable[[str], None]) -> None:
    preview = Preview(project, jobs, echo)
    # The port first: a port in use is reported before any time is spent building.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(preview))
    changed, stop_watching = watch(preview)
    preview.rebuild()
    stop = threading.Event()
    threading.Thread(target=rebuild_on_change, args=(preview, changed, stop), daemon=True).start()
    echo(f"previewing {len(preview.hosts)} hosts at http://127.0.0.1:{server.server_address[1]}/ "
         "(drafts and scheduled pages included; Ctrl-C stops)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        stop_watching()
        server.server_close()
        preview.close()
