"""`govsite serve`: a preview of the whole cluster on 127.0.0.1 that rebuilds when a file is saved.

Every site is served under its host name (http://127.0.0.1:8000/www.example.gov.cn/…), links
between sites included, so one port previews the whole cluster. Drafts and scheduled pages are
built too, each with a preview banner. A save rebuilds with the build cache (only what changed
is converted again), and the open page reloads itself; a build error is printed in the terminal
and shown over the page, and the last good build stays served.

A save that changes only one page's own text (its body, title, summary …) is shown first: that
page is rendered at once against the last build's cluster and served, then the rebuild brings
lists, feeds and search up to date. An open page reloads only when something it shows changed.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from govsite import discover, frontmatter, markup
from govsite.build import build
from govsite.diagnostics import BuildFailed, Report
from govsite.model import WITHDRAWN, Cluster, Page
from govsite.render import Renderer

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
      const status = await (await fetch("/_govsite/status?after=" + generation + "&page="
                                        + encodeURIComponent(location.pathname),
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


# A page's own fields: a save that changes nothing else can be shown before the rebuild, as
# no other output shows them differently until then (lists and feeds catch up with it).
OWN_FIELDS = frozenset({"body", "body_line", "digest", "title", "summary", "keywords", "author",
                        "content_source", "origin"})


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
        self.version = 0        # goes up whenever anything served changes
        self.asset_version = 0  # … when something every page uses changed (styles, images)
        self.page_versions: dict[str, int] = {}   # served file → the version it last changed in
        self.overlay: dict[str, bytes] = {}       # served file → a saved page, ahead of the rebuild
        self.errors: list[str] = []
        self.generation = 0   # builds finished, failed ones included
        self.building = False  # a rebuild is on its way (after a page shown ahead of it)
        self.lock = threading.Lock()
        self.finished = threading.Condition(self.lock)
        self.hosts: list[str] = []
        self.model: tuple[Cluster, MutableMapping[str, markup.Body]] | None = None
        self._renderer: Renderer | None = None

    def rebuild(self, saved: set[Path] | None = None) -> None:
        with self.lock:
            self.building = True
        if saved:
            self._show_saved_page(saved)
        started = time.perf_counter()
        try:
            result = build(self.project, self.out, drafts=True, jobs=self.jobs, cache=self.cache,
                           keep_model=True)
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
        changed = {_served_file(url) for key in ("added", "changed", "removed")
                   for url in changes[key]}
        with self.lock:
            # A page shown ahead of this build, as this build wrote it, has nothing new to show.
            changed -= {path for path, html in self.overlay.items()
                        if self._built_bytes(path) == html}
            self.overlay = {}
            if changed or not self.version:
                self.version += 1
                for path in changed:
                    self.page_versions[path] = self.version
                if not self.asset_version or any(
                        not p.endswith((".html", ".json", ".xml")) for p in changed):
                    self.asset_version = self.version
            self.errors = []
            self.hosts = sorted(p.name for p in self.out.iterdir() if p.is_dir() and p.name != ".govsite")
            self.model, self._renderer = result.model, None
            self._finished()
        self.echo(f"built in {time.perf_counter() - started:.2f} s: {result.pages} pages, "
                  f"{len(changed)} URLs changed")

    def _built_bytes(self, path: str) -> bytes | None:
        try:
            return (self.out / path.lstrip("/")).read_bytes()
        except OSError:
            return None

    def _show_saved_page(self, saved: set[Path]) -> None:
        started = time.perf_counter()
        try:
            shown = self._render_saved_page(saved)
        except Exception:  # noqa: BLE001 - only ever a head start: the rebuild follows regardless
            shown = None
        if shown is None:
            return
        path, html = shown
        with self.lock:
            self.overlay[path] = html
            self.version += 1
            self.page_versions[path] = self.version
            self.echo(f"{path.lstrip('/')} shown in {time.perf_counter() - started:.2f} s; "
                      "rebuilding the rest")
            self._finished(building=True)

    def _render_saved_page(self, saved: set[Path]) -> tuple[str, bytes] | None:
        """The saved page as the rebuild will write it, when the save is one page whose own
        fields alone changed and the last build is good; else None, and the rebuild shows it."""
        if len(saved) != 1 or self.model is None or self.errors:
            return None
        (path,) = saved
        try:
            rel = path.relative_to(self.project / "content").as_posix()
        except ValueError:
            return None
        cluster, bodies = self.model
        old = cluster.pages.get(rel.removesuffix(".md"))
        if not rel.endswith(".md") or old is None or old.source != f"content/{rel}" \
                or cluster.states.get(old.key) == WITHDRAWN:
            return None
        site = cluster.sites[old.site]
        report = Report(self.project)
        source = discover.read_source(old.site, rel, str(path), report)
        page = source and frontmatter.parse_page(cluster.config, source, site.columns[old.column],
                                                 report)
        if not page or report.items or not _same_standing(old, page):
            return None
        body = markup.Converter(cluster, report).convert(
            page.body or "", page.source, cluster.urls[page.key], page.body_line,
            site.config.sanitize_html)
        if report.items:   # a broken link: the rebuild reports it
            return None
        # The model is this preview's own until the next build replaces it.
        cluster.pages[page.key], bodies[page.key] = page, body
        if self._renderer is None:
            self._renderer = Renderer(cluster, bodies)
        output = self._renderer.page(site, page)
        data = output.data.encode("utf-8") if isinstance(output.data, str) else output.data
        return "/" + output.rel, data

    def _finished(self, building: bool = False) -> None:   # called holding the lock
        self.generation += 1
        self.building = building
        self.finished.notify_all()

    def status(self, after: int, page: str = "") -> dict:
        """The preview's state once a build later than `after` has finished (or HOLD seconds
        have passed): a page asks with the generation it last saw, and its own path, and is
        told the version of what it shows."""
        with self.lock:
            self.finished.wait_for(lambda: self.generation != after, timeout=HOLD)
            version = max(self.asset_version, self.page_versions.get(_served_file(page), 0)) \
                if page else self.version
            return {"version": version, "errors": self.errors, "generation": self.generation,
                    "building": self.building}

    def served(self, path: str) -> bytes | None:
        """A page shown ahead of its rebuild, if `path` is one."""
        with self.lock:
            return self.overlay.get(_served_file(path))

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _same_standing(old: Page, new: Page) -> bool:
    return all(getattr(old, f.name) == getattr(new, f.name)
               for f in fields(Page) if f.name not in OWN_FIELDS)


def _served_file(url_or_path: str) -> str:
    """"https://host/a/" or "/host/a/" → "/host/a/index.html": the file a URL serves."""
    path = unquote(url_or_path.split("://", 1)[-1]) if "://" in url_or_path else unquote(url_or_path)
    path = "/" + path.lstrip("/")
    return path + "index.html" if path.endswith("/") else path


@dataclass
class Saves:
    """What the watch saw since the last rebuild: set when anything changed, with the files."""
    event: threading.Event = field(default_factory=threading.Event)
    paths: set[Path] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *paths: Path) -> None:
        with self.lock:
            self.paths.update(paths)
        self.event.set()

    def take(self) -> set[Path]:
        with self.lock:
            taken, self.paths = self.paths, set()
        return taken


def watch(preview: Preview) -> tuple[Saves, Callable[[], None]]:
    """Start watching the project (not the preview's own output): returns what saves collect
    into, and how to stop. Started before the server says it is ready, so no save is missed."""
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

    saves = Saves()
    ignored = (preview.project / ".govsite-cache", preview.project / "build", preview.project / ".git")

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            # Reads are no change; a folder "modified" only repeats its files' own events
            # (and the cache folder's creation would otherwise trigger a rebuild).
            if event.event_type in ("opened", "closed_no_write") or (
                    event.is_directory and event.event_type == "modified"):
                return
            # An editor that saves by renaming a temporary file over the page: the page is
            # the destination.
            for name in (event.src_path, getattr(event, "dest_path", "")):
                path = Path(str(name))
                if name and not any(path.is_relative_to(folder) for folder in ignored) \
                        and not path.name.startswith((".#", "~")) and not path.name.endswith("~"):
                    saves.add(path)

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
    return saves, stop


def rebuild_on_change(preview: Preview, saves: Saves, stop: threading.Event) -> None:
    while not stop.is_set():
        if saves.event.wait(0.2):
            while saves.event.is_set():           # wait for the editor to finish saving
                saves.event.clear()
                time.sleep(QUIET)
            # Files that are gone (a temporary file renamed away, a deletion) cannot be shown
            # ahead; the rebuild sees to them.
            preview.rebuild({path for path in saves.take() if path.is_file()})


def handler(preview: Preview) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if path == SPECIAL + "status":
                query = parse_qs(parts.query)
                after = query.get("after", ["-1"])[0]
                state = preview.status(int(after) if after.lstrip("-").isdigit() else -1,
                                       query.get("page", [""])[0])
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
            ahead = preview.served(path)
            if ahead is not None:
                return self.send(200, _for_preview(ahead.decode("utf-8"), host, preview.hosts)
                                 .encode("utf-8"), "text/html; charset=utf-8")
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
    # Stopped by a process manager or a closed terminal as by Ctrl-C: either way the preview's
    # build folder (the whole cluster's output) is removed, not left in the temporary folder.
    for stopping in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stopping, _interrupt)
    try:
        _serve(preview, port, echo)
    except KeyboardInterrupt:
        pass
    finally:
        preview.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(preview: Preview, port: int, echo: Callable[[str], None]) -> None:
    # The port first: a port in use is reported before any time is spent building.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler(preview))
    saves, stop_watching = watch(preview)
    stop = threading.Event()
    try:
        preview.rebuild()
        threading.Thread(target=rebuild_on_change, args=(preview, saves, stop), daemon=True).start()
        echo(f"previewing {len(preview.hosts)} hosts at http://127.0.0.1:{server.server_address[1]}/ "
             "(drafts and scheduled pages included; Ctrl-C stops)")
        sys.stdout.flush()
        server.serve_forever()
    finally:
        stop.set()
        stop_watching()
        server.server_close()
