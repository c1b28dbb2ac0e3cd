"""govsite search on the real-document corpus: relevance, bytes and time, browser and CLI.

    python3 bench/search/evaluate.py [--work DIR] [--no-browser] [--limit N]

1. turns the corpus into a cluster (corpus_cluster.py, with the repository's search.yaml
   synonym list) and builds it with govsite, in-process, reporting the search stage's time and
   what it wrote;
2. runs every labelled query (queries.yaml) through the Python ranking (`govsite search`) over
   the portal's published index files, which searches the whole cluster;
3. unless --no-browser, runs every query again through the portal's search page in Chromium
   (browser_bench.py: real host names, gzip as a CDN serves it, `default-src 'self'`, cold cache
   for every query): types it into the search box, submits, and reads the ordered list of
   result links from the page. It reports bytes on the wire per query (the index files, the
   English stemmer when fetched, plus search.js itself), requests and the time from submitting
   to results in the page, and checks that browser and CLI return the same pages in order;
4. prints nDCG@10, recall@10 and MRR (relevance.py), beside Pagefind's from
   bench/work/search/pagefind.json when pagefind_eval.py has written it, and writes every figure
   and each query's top 10 to WORK/govsite.json.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import relevance  # noqa: E402
from relevance import CORPUS  # noqa: E402

from govsite.build import build  # noqa: E402
from govsite.search.query import search  # noqa: E402

PORTAL = "national.corpus.example"
SEARCH_PAGE = f"http://{PORTAL}/search.html"
PAGEFIND = ROOT / "bench" / "work" / "search" / "pagefind.json"

# Runs in the page: what a citizen does, typing a query and pressing Enter, then waiting for
# the result list search.js writes. Returns the links in order and the time it took.
SUBMIT_JS = """async (query) => {
  const box = document.querySelector("[data-search]");
  const input = document.querySelector("#search-page-q");
  const started = performance.now();
  const finished = new Promise((resolve) => new MutationObserver((_, observer) => {
    if (["done", "failed"].includes(box.getAttribute("data-search-state"))) {
      observer.disconnect();
      resolve();
    }
  }).observe(box, {attributes: true, attributeFilter: ["data-search-state"]}));
  input.value = query;
  input.form.requestSubmit();
  await finished;
  return {ms: performance.now() - started, state: box.getAttribute("data-search-state"),
          urls: [...document.querySelectorAll("ol[data-search-results] > li a")].map((a) => a.href),
          status: document.querySelector("[data-search-status]").textContent};
}"""


def build_corpus(work: Path) -> tuple[Path, dict[str, float]]:
    project, out = work / "project", work / "build"
    subprocess.run([sys.executable, str(HERE / "corpus_cluster.py"), str(CORPUS), str(project)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = build(project, out, now=datetime(2026, 11, 23, tzinfo=UTC))
    timings = {**result.timings, "total": time.perf_counter() - started}
    return out, timings


def index_figures(out: Path) -> dict[str, Any]:
    files = [f for f in out.rglob("*") if f.is_file() and ("_search" in f.parts or "_t2s" in f.parts)]
    portal = [f for f in files if f.is_relative_to(out / PORTAL / "_search")]
    return {"files": len(files), "bytes": sum(f.stat().st_size for f in files),
            "portal_files": len(portal), "portal_bytes": sum(f.stat().st_size for f in portal)}


def cli_rankings(out: Path, queries: list[dict[str, Any]]) -> list[list[str]]:
    index = out / PORTAL / "_search"

    def fetch(path: str) -> str:
        return (index / posixpath.normpath(path)).read_text(encoding="utf-8")

    return [[hit.url for hit in search(fetch, q["q"], limit=10).hits] for q in queries]


def browser_runs(out: Path, queries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Each query twice, cold: once counting the network, once for the clock (counting slows
    the page down). Returns the rows and the bytes search.js itself costs on the wire."""
    import browser_bench

    rows = []
    log: list[browser_bench.Served] = []
    with browser_bench.serve(out, csp=True, request_log=log) as port, \
            browser_bench.chromium(port) as browser:
        client = client_bytes(browser, PORTAL)
        for number, query in enumerate(queries, 1):
            def submit(page: Any, q: str = query["q"]) -> Any:
                return page.evaluate(SUBMIT_JS, q)

            counted = browser_bench.measure(browser, SEARCH_PAGE, submit, server_log=log)
            timed = browser_bench.measure(browser, SEARCH_PAGE, submit, count_network=False)
            rows.append({
                "id": query["id"], "q": query["q"], "type": query["type"], "lang": query["lang"],
                "top10": [u.replace("http://", "https://", 1) for u in counted.result["urls"][:10]],
                "status": counted.result["status"], "state": counted.result["state"],
                "bytes": counted.bytes + client, "index_bytes": counted.bytes,
                "requests": counted.requests + 1, "ms": round(timed.result["ms"], 1),
                "console_errors": counted.console_errors + timed.console_errors,
                "transfers": [{"path": t.url.split("/", 3)[-1], "bytes": t.encoded_bytes}
                              for t in counted.transfers],
            })
            if number % 25 == 0:
                print(f"  {number}/{len(queries)} queries in the browser")
    return rows, client


def client_bytes(browser: Any, host: str) -> int:
    """What search.js itself costs on the wire, cold: the page loads it before any query, so a
    query's own count misses it."""
    import browser_bench

    return browser_bench.measure(browser, f"http://{host}/index.html", lambda page: page.evaluate(
        "fetch('/_assets/default/search.js').then((r) => r.text()).then((t) => t.length)")).bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "search" / "govsite")
    parser.add_argument("--no-browser", dest="browser", action="store_false",
                        help="the Python ranking only (no Chromium needed)")
    parser.add_argument("--limit", type=int, help="only the first N queries (a quick check)")
    args = parser.parse_args()

    queries, urls = relevance.load()
    queries = queries[: args.limit] if args.limit else queries
    out, timings = build_corpus(args.work)
    size = index_figures(out)
    print(f"govsite build of the corpus cluster: {timings['total']:.1f} s, of which search "
          f"(analysis, BM25, writing every site's index) {timings['search']:.1f} s")
    print(f"search files: {size['files']:,} ({size['bytes'] / 1e6:.1f} MB) in all; the portal's "
          f"cluster-wide index {size['portal_files']:,} files ({size['portal_bytes'] / 1e6:.1f} MB)")

    cli = cli_rankings(out, queries)
    figures = relevance.table(cli, queries, urls)
    pagefind = json.loads(PAGEFIND.read_text(encoding="utf-8")) if PAGEFIND.is_file() else None
    print("\nrelevance (govsite search, Python ranking over the published files"
          + ("; Pagefind's nDCG@10 beside it" if pagefind else "") + "):")
    relevance.print_table(figures, pagefind["relevance"] if pagefind else None)
    report: dict[str, Any] = {"engine": "govsite", "build_seconds": timings, "index": size,
                              "relevance": figures,
                              "queries": [{"id": q["id"], "cli_top10": r} for q, r in zip(queries, cli, strict=True)]}

    if args.browser:
        import browser_bench

        rows, search_js = browser_runs(out, queries)
        disagree = [row["id"] for row, ranked in zip(rows, cli, strict=True) if row["top10"] != ranked]
        browser_figures = relevance.table([r["top10"] for r in rows], queries, urls)
        by = {key: browser_bench.summary([r[key] for r in rows]) for key in ("bytes", "requests", "ms")}
        print(f"\nbrowser client: nDCG@10 {browser_figures['all']['ndcg@10']:.3f} overall, "
              f"{browser_figures['chinese']['ndcg@10']:.3f} Chinese; the same top 10 as the CLI "
              f"for {len(rows) - len(disagree)} of {len(rows)} queries"
              + (f" (differ: {', '.join(disagree)})" if disagree else ""))
        print(f"bytes per query on the wire (cold; search.js {search_js:,} included): median "
              f"{by['bytes']['median']:,}, p90 {by['bytes']['p90']:,}; requests median "
              f"{by['requests']['median']}, p90 {by['requests']['p90']}")
        print(f"time from submitting to results in the page: median {by['ms']['median']:.0f} ms, "
              f"p90 {by['ms']['p90']:.0f} ms")
        failed = [r["id"] for r in rows if r["state"] != "done" or r["console_errors"]]
        if failed:
            print(f"warning: failed or with console errors: {failed}")
        if pagefind:
            theirs = pagefind["traffic"]
            print(f"Pagefind {pagefind['pagefind']['version']} on the same pages: bytes median "
                  f"{theirs['bytes']['median']:,}, p90 {theirs['bytes']['p90']:,}; time median "
                  f"{theirs['ms']['median']:.0f} ms, p90 {theirs['ms']['p90']:.0f} ms; indexing "
                  f"{pagefind['pagefind']['seconds']:.1f} s")
        report.update({"browser_relevance": browser_figures, "traffic": by,
                       "client_bytes": search_js, "disagree": disagree, "browser": rows})

    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "govsite.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n",
                                            encoding="utf-8")
    print(f"wrote {args.work / 'govsite.json'}")


if __name__ == "__main__":
    main()
