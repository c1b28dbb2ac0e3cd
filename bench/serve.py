#!/usr/bin/env python3
"""Time `govsite serve` from a saved file to the rebuilt preview.

    python3 bench/serve.py [--project PATH] [--saves 5] [--port 8765]

Copies the project (default: this repository's example cluster) to a temporary folder, starts
`python3 -m govsite serve` on it, and waits for the first build. Then it saves one page SAVES
times (appending a sentence, as an editor would) and measures, for each save, two times:

- the page: until the server answers the status request an open preview page holds (that
  answer is what makes the page reload). A save to one page's own text is rendered at once
  against the last build and served ahead of the rebuild (serve.py), so this is the save
  noticed, the page parsed, converted and rendered;
- the whole rebuild: until the rebuild with the cache that follows has been served too (the
  lists, feeds and search index up to date).

Prints each figure and the medians. The page's own reload adds a browser round trip on top
(about 0.2 s in Chromium here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def status(port: int, after: int) -> dict:
    """The server's state once a build later than generation `after` has finished. The server
    answers anyway after holding a request for a while: then ask again."""
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_govsite/status?after={after}",
                                    timeout=600) as response:
            state = json.load(response)
        if state["generation"] != after or after < 0:
            return state


def rebuilt(port: int, state: dict) -> dict:
    """The state once no rebuild is on its way any more."""
    while state["building"]:
        state = status(port, state["generation"])
    return state


def first_news_page(project: str) -> str:
    for folder, dirs, files in sorted(os.walk(os.path.join(project, "content"))):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".md") and name != "_index.md" and os.sep + "news" in folder:
                return os.path.join(folder, name)
    raise SystemExit("no news page to edit")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default=REPO, help="project to preview (default: the example cluster)")
    ap.add_argument("--saves", type=int, default=5)
    ap.add_argument("--port", type=int, default=8765)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="govsite-serve-bench-")
    project = os.path.join(work, "project")
    os.mkdir(project)
    for name in ("sites.yaml", "search.yaml", "content", "themes", "assets"):
        source = os.path.join(a.project, name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(project, name))
        elif os.path.isfile(source):
            shutil.copy(source, project)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # What the server prints goes to a file: a pipe nobody reads would stop it once full.
    log = open(os.path.join(work, "serve.log"), "w+", encoding="utf-8")  # noqa: SIM115
    server = subprocess.Popen([sys.executable, "-m", "govsite", "serve", "--project", project,
                               "--port", str(a.port)], env=env, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    try:
        started = time.perf_counter()
        state = None
        while state is None:
            try:
                state = status(a.port, 0)
            except OSError:
                if server.poll() is not None:
                    log.seek(0)
                    raise SystemExit(log.read() or "serve exited") from None
                time.sleep(0.2)
        print(f"project: {a.project} ({sum(len(f) for _, _, f in os.walk(os.path.join(project, 'content')))} files)")
        print(f"first build served after {time.perf_counter() - started:.2f} s")
        page = first_news_page(project)
        figures: list[float] = []
        whole: list[float] = []
        for n in range(a.saves):
            time.sleep(0.5)   # apart, as saves are
            generation = rebuilt(a.port, status(a.port, -1))["generation"]
            with open(page, "a", encoding="utf-8") as handle:
                handle.write(f"\n第{n + 1}次保存补充的一句说明。\n")
            saved = time.perf_counter()
            state = status(a.port, generation)
            figures.append(time.perf_counter() - saved)
            state = rebuilt(a.port, state)   # the page was shown ahead of the rebuild: time that too
            whole.append(time.perf_counter() - saved)
            print(f"save {n + 1}: the page served after {figures[-1]:.2f} s, the whole rebuild "
                  f"after {whole[-1]:.2f} s"
                  + (f" (errors: {state['errors']})" if state["errors"] else ""))
        print(f"median over {len(figures)} saves: the page {statistics.median(figures):.2f} s "
              f"(fastest {min(figures):.2f} s), the whole rebuild {statistics.median(whole):.2f} s")
    finally:
        log.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
