"""Pagefind on the corpus cluster, measured in Chromium: relevance, bytes, requests, time.

    python3 bench/search/pagefind_eval.py [--work DIR] [--reuse-build] [--out FILE]

The yardstick for govsite's own search: the same 1,021 pages, the same 155 labelled queries
and the same figures as evaluate.py (nDCG@10, recall@10, MRR; overall, Chinese, per type),
plus what a citizen's browser pays per query. Steps:

1. Build the corpus cluster: corpus_cluster.py, then `python3 -m govsite build` from this
   repository (the installed `govsite` script may point at another checkout). --reuse-build
   keeps WORK/build from an earlier run, for when govsite's code is mid-change.
2. Index it with the Pagefind CLI, timed by wall clock. Needs the pip package
   `pagefind[extended]`: only the extended binary segments Chinese text into words when
   indexing (the standard one indexes a run of Han characters as one "word"). If it is missing
   this script installs it with `pip install "pagefind[extended]"` and says so.
3. Serve the build as a CDN would (browser_bench.serve: per-host folders, gzip for text), start
   headless Chromium, and for every query open the search page of a site in the query's
   language in a fresh browser context (cold cache), then run what the Pagefind UI runs:
   `await import("/pagefind/pagefind.js")`, `pagefind.search(q)`, `data()` of the first 10
   results, and put those results into the page. Two passes: one counts bytes and requests
   through the DevTools protocol, one (with no DevTools session attached, which would slow the
   worker down) times typing-to-results with performance.now() in the page.
4. Map Pagefind's result URLs back to corpus_map.json's URLs and score them.

Choices that give Pagefind its best fair chance on a cluster-wide search:

- One bundle for the whole cluster, not one per host. Pagefind is run over the build's root
  folder, so a page's URL is /<host>/<path> and one ranking covers every site. Per-host bundles
  could only search one site each, or, merged in the browser (mergeIndex), would fetch 38
  metadata files and chunk sets per query and rank each site's pages with its own statistics.
  The bundle is served at /pagefind/ on every host (a CDN path rule), so pages load it from
  their own origin.
- Pagefind splits its index by page language (<html lang>): 742 zh-cn pages and 279 en pages,
  and a page searches the index of its own language. Chinese queries therefore run on the
  portal's search page (national, zh-CN) and English ones on GOV.UK's (en-govuk, en), which
  reaches the VA pages too. No labelled query crosses languages, so nothing is lost, and
  English keeps its stemmer (forcing one language would drop it).
- What is indexed: `--root-selector "body.page-article main"` rather than data-pagefind-body
  (which would mean changing govsite's templates). It keeps the header, navigation and footer
  out, as the brief asks, and it also skips every page without that root: home pages, column
  lists, sitemaps and search pages, whose main content is only lists of titles. What remains
  are exactly the 1,021 article pages, the set govsite's own index holds. Inside <main>,
  `--exclude-selectors` drops the breadcrumb, the read-aloud button and the "原文出处"
  provenance box (repository names and licence text that every page shares). The metadata
  block (发文字号, 发文机关, 索引号 …) stays: it is page text a citizen searches for.

Content-Security-Policy: pages are served without one. Under `default-src 'self'` Pagefind
cannot compile its WASM (that needs 'wasm-unsafe-eval' in script-src); the script probes both
policies with one query and records the outcome.

Writes every figure and each query's top 10 to --out (default bench/work/search/pagefind.json).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import browser_bench  # noqa: E402
import relevance  # noqa: E402
from relevance import CORPUS  # noqa: E402

ROOT_SELECTOR = "body.page-article main"
EXCLUDE_SELECTORS = "nav.breadcrumb, .article-tools, aside.origin"
SEARCH_PAGES = {"zh-CN": "http://national.corpus.example/search.html",
                "en": "http://en-govuk.corpus.example/search.html"}

# Runs in the page: what the Pagefind UI does from the moment a query is submitted until the
# results are in the DOM (less its 300 ms typing debounce). Title and excerpt of the first 10
# results go into the search page's results region.
SEARCH_JS = """async (query) => {
  const started = performance.now();
  const pagefind = await import("/pagefind/pagefind.js");
  const search = await pagefind.search(query);
  const results = await Promise.all(search.results.slice(0, 10).map((r) => r.data()));
  const region = document.querySelector("#search-results") || document.body;
  const list = document.createElement("ol");
  for (const result of results) {
    const item = list.appendChild(document.createElement("li"));
    const link = item.appendChild(document.createElement("a"));
    link.href = result.url;
    link.textContent = result.meta.title;
    item.appendChild(document.createElement("p")).innerHTML = result.excerpt;
  }
  region.replaceChildren(list);
  return {ms: performance.now() - started, total: search.results.length,
          urls: results.map((r) => r.url), titles: results.map((r) => r.meta.title)};
}"""


def ensure_pagefind_extended() -> None:
    """Install pagefind[extended] from PyPI when it is missing: the standard build cannot
    segment Chinese, so measuring without the extended one would not be fair to Pagefind."""
    if importlib.util.find_spec("pagefind_bin_extended") is None:
        print('pagefind_bin_extended is missing: running pip install "pagefind[extended]"')
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pagefind[extended]"],
                       check=True)


def build_cluster(work: Path) -> Path:
    """The corpus as a govsite cluster, built with this repository's govsite."""
    project, build = work / "project", work / "build"
    subprocess.run([sys.executable, str(HERE / "corpus_cluster.py"), str(CORPUS), str(project)],
                   check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "govsite", "build", "--project", str(project),
                    "--out", str(build)], check=True, cwd=ROOT)
    print(f"govsite build: {time.perf_counter() - started:.1f} s")
    return build


def run_pagefind(build: Path, bundle: Path, runs: int) -> dict[str, Any]:
    """Index the whole build into one bundle, `runs` times (the machine is shared, so one wall
    clock can mislead); returns the version, the median and every time, and the last log."""
    command = [sys.executable, "-m", "pagefind", "--site", str(build), "--output-path",
               str(bundle), "--root-selector", ROOT_SELECTOR,
               "--exclude-selectors", EXCLUDE_SELECTORS]
    times = []
    for _ in range(runs):
        shutil.rmtree(bundle, ignore_errors=True)
        started = time.perf_counter()
        run = subprocess.run(command, check=True, capture_output=True, text=True)
        times.append(round(time.perf_counter() - started, 2))
    log = run.stdout + run.stderr
    version = re.search(r"Running Pagefind v(\S+)( \(Extended\))?", log)
    if not version or not version.group(2):
        sys.exit("pagefind did not run its extended build, which Chinese needs:\n" + log)
    pages = re.search(r"Indexed (\d+) pages", log)
    words = re.search(r"Indexed (\d+) words", log)
    return {"version": version.group(1), "extended": True,
            "seconds": browser_bench.percentile(times, 0.5), "runs": times,
            "pages": int(pages.group(1)) if pages else None,
            "words": int(words.group(1)) if words else None,
            "command": " ".join(command[2:]), "log": log.strip()}


def kind_of(path: str) -> str:
    """Which part of a Pagefind bundle a file (or a URL into one) is."""
    name = path.rsplit("/", 1)[-1].split("?")[0]
    if name.endswith(".pf_fragment"):
        return "fragments"
    if name.endswith(".pf_index"):
        return "index chunks"
    if name.endswith(".pf_meta") or name == "pagefind-entry.json":
        return "metadata"
    if name.startswith("wasm."):
        return "wasm"
    if name in ("pagefind.js", "pagefind-worker.js"):
        return "js"
    return "ui and other"


def bundle_figures(bundle: Path) -> dict[str, Any]:
    """Size and file count of the bundle, by part."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for file in bundle.rglob("*"):
        if file.is_file():
            by_kind[kind_of(file.name)].append(file.stat().st_size)
    parts = {kind: {"files": len(sizes), "bytes": sum(sizes)}
             for kind, sizes in sorted(by_kind.items())}
    return {"files": sum(p["files"] for p in parts.values()),
            "bytes": sum(p["bytes"] for p in parts.values()), "parts": parts}


def to_page_url(pagefind_url: str) -> str:
    """/national.corpus.example/policy/x.html → https://national.corpus.example/policy/x.html
    (the bundle was built over the build's root, whose first folder is the host)."""
    host, _, rest = pagefind_url.lstrip("/").partition("/")
    return f"https://{host}/{rest}"


def csp_probe(build: Path, bundle: Path) -> dict[str, Any]:
    """Does one query work under a strict policy, and with WASM compilation allowed?"""
    policies = {"strict": browser_bench.STRICT_CSP,
                "with wasm-unsafe-eval": "default-src 'self'; "
                                         "script-src 'self' 'wasm-unsafe-eval'"}
    outcome = {}
    for name, policy in policies.items():
        with browser_bench.serve(build, csp=policy, mounts={"/pagefind/": bundle}) as port, \
                browser_bench.chromium(port) as browser:
            def search(page: Any) -> Any:
                try:
                    return page.evaluate(SEARCH_JS, "居住证")
                except Exception as error:  # the page's exception, reported below
                    return {"error": str(error).splitlines()[0]}
            done = browser_bench.measure(browser, SEARCH_PAGES["zh-CN"], search,
                                         count_network=False)
        result = done.result
        outcome[name] = {"policy": policy, "works": "urls" in result and bool(result["urls"]),
                         "error": (done.console_errors or [result.get("error")])[0]}
    return outcome


def run_queries(build: Path, bundle: Path, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every query twice, each time cold: once counting the network, once for the clock."""
    rows = []
    log: list[browser_bench.Served] = []
    with browser_bench.serve(build, mounts={"/pagefind/": bundle}, request_log=log) as port, \
            browser_bench.chromium(port) as browser:
        for number, query in enumerate(queries, 1):
            page_url = SEARCH_PAGES[query["lang"]]

            def search(page: Any, q: str = query["q"]) -> Any:
                return page.evaluate(SEARCH_JS, q)

            attempts = 1
            counted = browser_bench.measure(browser, page_url, search, server_log=log)
            while not counted.complete and attempts < 3:
                print(f"  {query['id']}: the browser saw {counted.requests} of "
                      f"{counted.server_requests} responses; measuring again")
                attempts += 1
                counted = browser_bench.measure(browser, page_url, search, server_log=log)
            timed = browser_bench.measure(browser, page_url, search, count_network=False)
            if timed.result["urls"] != counted.result["urls"]:
                print(f"  {query['id']}: results differ between the two passes")
            by_kind: dict[str, int] = defaultdict(int)
            for transfer in counted.transfers:
                by_kind[kind_of(urlsplit(transfer.url).path)] += transfer.encoded_bytes
            rows.append({
                "id": query["id"], "q": query["q"], "type": query["type"],
                "lang": query["lang"], "search_page": page_url,
                "total_results": counted.result["total"],
                "top10": [to_page_url(u) for u in counted.result["urls"]],
                "titles": counted.result["titles"],
                "bytes": counted.bytes, "requests": counted.requests,
                "server_body_bytes": counted.server_body_bytes,
                "bytes_by_part": dict(sorted(by_kind.items())),
                "settled": counted.settled, "complete": counted.complete, "attempts": attempts,
                "ms": round(timed.result["ms"], 1),
                "ms_while_counting": round(counted.result["ms"], 1),
                "console_errors": counted.console_errors + timed.console_errors,
                "transfers": [{"path": urlsplit(t.url).path, "bytes": t.encoded_bytes,
                               "failed": t.failed} for t in counted.transfers],
            })
            if number % 25 == 0:
                print(f"  {number}/{len(queries)} queries")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "search" / "pagefind",
                        help="folder for the cluster project, its build and the Pagefind bundle")
    parser.add_argument("--reuse-build", action="store_true",
                        help="keep WORK/build from an earlier run instead of building again")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "work" / "search" / "pagefind.json")
    parser.add_argument("--index-runs", type=int, default=3,
                        help="index this many times and report the median wall clock")
    parser.add_argument("--limit", type=int, help="only the first N queries (a quick check)")
    args = parser.parse_args()

    ensure_pagefind_extended()
    build = args.work / "build"
    if args.reuse_build and build.is_dir():
        print(f"reusing the build in {build}")
    else:
        build = build_cluster(args.work)
    bundle = args.work / "bundle"
    indexing = run_pagefind(build, bundle, args.index_runs)
    size = bundle_figures(bundle)
    print(f"Pagefind {indexing['version']} (extended): indexed {indexing['pages']} pages, "
          f"{indexing['words']:,} words in {indexing['seconds']:.1f} s (wall clock, median of "
          f"{len(indexing['runs'])} runs: {', '.join(f'{t:.1f}' for t in indexing['runs'])} s)")
    print(f"bundle: {size['files']:,} files, {size['bytes'] / 1e6:.1f} MB; "
          + ", ".join(f"{kind} {part['files']:,} files {part['bytes'] / 1e6:.2f} MB"
                      for kind, part in size["parts"].items()))

    queries, urls = relevance.load()
    queries = queries[: args.limit] if args.limit else queries
    csp = csp_probe(build, bundle)
    rows = run_queries(build, bundle, queries)
    table = relevance.table([row["top10"] for row in rows], queries, urls)
    for row, query in zip(rows, queries, strict=True):
        figures = relevance.scores(row["top10"], relevance.grades(query, urls))
        row["ndcg@10"], row["recall@10"], row["rr"] = (round(f, 4) for f in figures)
    relevance.print_table(table)

    traffic = {
        "bytes": browser_bench.summary([r["bytes"] for r in rows]),
        "requests": browser_bench.summary([r["requests"] for r in rows]),
        "ms": browser_bench.summary([r["ms"] for r in rows]),
        "ms_while_counting": browser_bench.summary([r["ms_while_counting"] for r in rows]),
        "server_body_bytes": browser_bench.summary([r["server_body_bytes"] for r in rows]),
        "by_lang": {lang: {"n": len(sel), "bytes": browser_bench.summary([r["bytes"] for r in sel]),
                           "ms": browser_bench.summary([r["ms"] for r in sel])}
                    for lang in ("zh-CN", "en")
                    if (sel := [r for r in rows if r["lang"] == lang])},
        "bytes_by_part_median": {
            kind: browser_bench.percentile([r["bytes_by_part"].get(kind, 0) for r in rows], 0.5)
            for kind in ("js", "wasm", "metadata", "index chunks", "fragments")},
    }
    b, n, t = traffic["bytes"], traffic["requests"], traffic["ms"]
    print(f"bytes per query (cold cache, on the wire: pagefind.js, worker, wasm, metadata, "
          f"index chunks, 10 fragments): median {b['median']:,}, p90 {b['p90']:,}")
    print("  median by part: " + ", ".join(
        f"{kind} {size:,}" for kind, size in traffic["bytes_by_part_median"].items()))
    for lang, part in traffic["by_lang"].items():
        print(f"  {lang} ({part['n']} queries): median {part['bytes']['median']:,}, "
              f"p90 {part['bytes']['p90']:,}; time median {part['ms']['median']:.0f} ms")
    print(f"requests per query: median {n['median']}, p90 {n['p90']}")
    print(f"time to results in the DOM (cold, from submitting the query): "
          f"median {t['median']:.0f} ms, p90 {t['p90']:.0f} ms")
    empty = [r for r in rows if not r["total_results"]]
    print(f"queries with no result at all: {len(empty)} "
          f"({sum(r['lang'] == 'zh-CN' for r in empty)} Chinese)")
    unsettled = [r["id"] for r in rows if not r["complete"]]
    errors = [r["id"] for r in rows if r["console_errors"]]
    if unsettled or errors:
        print(f"warning: incomplete counts: {unsettled}; console errors: {errors}")
    for probe in csp.values():
        print(f"CSP {probe['policy']!r}: " + ("works" if probe["works"] else
                                              f"fails: {' '.join(probe['error'].split())}"))

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "engine": "pagefind", "pagefind": indexing, "bundle": size,
        "setup": {"root_selector": ROOT_SELECTOR, "exclude_selectors": EXCLUDE_SELECTORS,
                  "bundle": "one for the whole cluster, served at /pagefind/ on every host",
                  "search_pages": SEARCH_PAGES, "cache": "cold for every query",
                  "compression": "gzip level 6 for text types; .pf_* and wasm as shipped",
                  "chromium": chromium_version()},
        "relevance": table, "traffic": traffic, "csp": csp,
        "queries_without_results": [r["id"] for r in empty], "queries": rows,
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def chromium_version() -> str:
    run = subprocess.run([browser_bench.CHROMIUM, "--version"], capture_output=True, text=True)
    return run.stdout.strip()


if __name__ == "__main__":
    main()
