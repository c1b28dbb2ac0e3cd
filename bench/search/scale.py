"""govsite search at scale: index time, size and files, bytes and time per query in Chromium.

    python3 bench/search/scale.py --pages 100000 [--sites 20] [--seed N] [--queries 40]
    python3 bench/search/scale.py --project .            # the repository's example cluster

Generates the synthetic cluster with /work/shared/bench/gen_corpus.py (through bench/run.py's
cache and bench/convert.py), or takes --project as it is; builds it with govsite in-process
(stage times and peak RSS of this process); counts the search files (all sites' indexes, and
the portal's cluster-wide one); then runs --queries queries through the portal's search page
in Chromium (browser_bench.py: real host names, gzip, default-src 'self', cold cache),
checking each against the Python ranking over the same files, and prints bytes on the wire
per query (search.js included), requests and time from submitting to results.

The queries come from the index itself, chosen with a fixed seed: the first four to eight
characters of a random page's title (a citizen searching for a page they have seen named),
and a random two-character word from a title. There are no relevance judgments at this scale;
evaluate.py measures relevance on real documents.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import random
import re
import resource
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "bench"))

import browser_bench  # noqa: E402
from evaluate import SUBMIT_JS, client_bytes  # noqa: E402

from govsite.build import build  # noqa: E402
from govsite.search.query import search  # noqa: E402

CHINESE = re.compile(r"[\u4e00-\u9fff]{2,}")


def generated_project(pages: int, sites: int, seed: int, work: Path) -> Path:
    import convert
    import run

    corpus, took = run.generate(str(work), run.GENERATOR, sites, pages, seed)
    print(f"generated {pages:,} pages in {took:.0f} s" if took else f"generated corpus: {corpus}")
    project = work / f"search-project-s{sites}-p{pages}-seed{seed}"
    convert.convert(corpus, str(project), force=True)
    return project


def portal_of(out: Path) -> str:
    """The host whose search page searches the whole cluster (the one with the most docs)."""
    metas = {m: json.loads(m.read_text(encoding="utf-8")) for m in out.glob("*/_search/meta.json")}
    best = max(metas, key=lambda m: (metas[m]["docs"], str(m)))
    return best.parent.parent.name


def sample_queries(index: Path, count: int, seed: int) -> list[str]:
    meta = json.loads((index / "meta.json").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    titles = []
    for number in sorted(rng.sample(range(meta["docs"]), min(count * 3, meta["docs"]))):
        record = json.loads((index / f"d/{number // meta['records']}.json").read_text("utf-8"))
        titles.append(record[number % meta["records"]][1])
    queries = []
    for title in titles:
        words = CHINESE.findall(title)
        if not words:
            continue
        if len(queries) % 2 == 0:
            run = max(words, key=len)
            length = min(len(run), rng.randint(4, 8))
            start = rng.randint(0, len(run) - length)
            queries.append(run[start:start + length])
        else:
            run = rng.choice(words)
            start = rng.randint(0, len(run) - 2)
            queries.append(run[start:start + 2])
        if len(queries) == count:
            break
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20241123)
    parser.add_argument("--project", type=Path, help="measure this project instead")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    print(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}; "
          f"nproc {len(os.sched_getaffinity(0))}; load {os.getloadavg()[0]:.2f}")
    project = (args.project.resolve() if args.project
               else generated_project(args.pages, args.sites, args.seed, args.work))
    out = args.work / f"search-out-{project.name or 'project'}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = build(project, out, now=datetime(2026, 11, 23, tzinfo=UTC))
    took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"build: {result.pages:,} pages, {result.files:,} files in {took:.1f} s; search stage "
          f"{result.timings['search']:.1f} s; peak RSS {rss:.0f} MB")

    portal = portal_of(out)
    index = out / portal / "_search"
    files = [f for f in out.rglob("*") if f.is_file() and ("_search" in f.parts or "_t2s" in f.parts)]
    own = [f for f in files if f.is_relative_to(index)]
    meta = json.loads((index / "meta.json").read_text(encoding="utf-8"))
    print(f"search files: {len(files):,} ({sum(f.stat().st_size for f in files) / 1e6:.1f} MB) "
          f"for {sum(f.name == 'meta.json' for f in files)} indexes; the portal's ({meta['docs']:,} pages): {len(own):,} files "
          f"({sum(f.stat().st_size for f in own) / 1e6:.1f} MB), {meta['shards']:,} term shards, "
          f"{meta['records']} pages per record file")

    queries = sample_queries(index, args.queries, args.seed)

    def fetch(path: str) -> str:
        return (index / posixpath.normpath(path)).read_text(encoding="utf-8")

    rows: list[dict[str, Any]] = []
    with browser_bench.serve(out, csp=True) as port, browser_bench.chromium(port) as browser:
        client = client_bytes(browser, portal)
        for query in queries:
            def submit(page: Any, q: str = query) -> Any:
                return page.evaluate(SUBMIT_JS, q)

            counted = browser_bench.measure(browser, f"http://{portal}/search.html", submit)
            timed = browser_bench.measure(browser, f"http://{portal}/search.html", submit,
                                          count_network=False)
            cli = [hit.url for hit in search(fetch, query, limit=10).hits]
            browser_top = [u.replace("http://", "https://", 1) for u in counted.result["urls"][:10]]
            rows.append({"q": query, "bytes": counted.bytes + client,
                         "requests": counted.requests + 1, "ms": timed.result["ms"],
                         "agree": browser_top == cli, "results": len(browser_top)})
    by = {k: browser_bench.summary([r[k] for r in rows]) for k in ("bytes", "requests", "ms")}
    print(f"queries: {len(rows)} (e.g. {', '.join(r['q'] for r in rows[:6])}); browser and CLI "
          f"agree on {sum(r['agree'] for r in rows)}; with results: "
          f"{sum(r['results'] > 0 for r in rows)}")
    print(f"bytes per query on the wire (cold, search.js {client:,} included): median "
          f"{by['bytes']['median']:,}, p90 {by['bytes']['p90']:,}; requests median "
          f"{by['requests']['median']}, p90 {by['requests']['p90']}")
    print(f"time from submitting to results: median {by['ms']['median']:.0f} ms, "
          f"p90 {by['ms']['p90']:.0f} ms")


if __name__ == "__main__":
    main()
