"""Relevance of govsite search on the real-document corpus: nDCG@10, recall@10 and MRR.

    python3 bench/search/evaluate.py [--work bench/work/search]

Converts the corpus into a cluster (corpus_cluster.py), indexes it with govsite's search
(in memory, the same files a build will ship), runs every query in queries.yaml through the
ranking the browser client implements, and prints the figures overall, for Chinese queries
and per query type. The browser client's own figures and Pagefind's are still to come.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from govsite import markup  # noqa: E402
from govsite.build import _Stages, load_cluster  # noqa: E402
from govsite.diagnostics import Report  # noqa: E402
from govsite.search import settings as search_settings  # noqa: E402
from govsite.search.index import T2S_PATH, build_index, documents, t2s_files  # noqa: E402
from govsite.search.query import search  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def ndcg(ranked: list[str], grades: dict[str, int], k: int = 10) -> float:
    gain = sum((2 ** grades.get(url, 0) - 1) / math.log2(i + 2) for i, url in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    best = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return gain / best if best else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "work" / "search")
    parser.add_argument("--no-synonyms", dest="synonyms", action="store_false",
                        help="leave out the synonym list of the repository's search.yaml")
    args = parser.parse_args()
    project = args.work / "corpus-cluster"
    subprocess.run([sys.executable, str(HERE / "corpus_cluster.py"), str(CORPUS), str(project)],
                   check=True, stdout=subprocess.DEVNULL)
    urls = json.loads((HERE / "corpus_map.json").read_text(encoding="utf-8"))
    queries = yaml.safe_load((HERE / "queries.yaml").read_text(encoding="utf-8"))["queries"]

    started = time.perf_counter()
    report = Report(project)
    cluster = load_cluster(project, report, datetime(2026, 11, 23, tzinfo=UTC), False,
                           _Stages(report, False))
    bodies = markup.convert_all(cluster, report)
    converted = time.perf_counter()
    # The example cluster's search.yaml stands in for what a real cluster would maintain.
    settings = search_settings.load(ROOT, ("www",), Report(ROOT)) if args.synonyms else None
    files = build_index(documents(cluster, bodies), settings.synonyms if settings else ())
    files.update({T2S_PATH + name: text for name, text in t2s_files().items()})
    indexed = time.perf_counter()
    print(f"documents: {len(cluster.pages)}; markdown {converted - started:.1f} s; "
          f"index (bm25s + export) {indexed - converted:.1f} s; {len(files)} files, "
          f"{sum(len(v.encode()) for v in files.values()) / 1e6:.1f} MB")

    by_type: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    sizes = []
    for query in queries:
        grades = {urls[path]: grade for path, grade in query["relevant"].items()}
        result = search(files.__getitem__, query["q"], limit=10)
        ranked = [hit.url for hit in result.hits]
        wanted = {u for u, g in grades.items() if g >= 2} or set(grades)
        recall = len(wanted & set(ranked)) / len(wanted)
        rank = next((i + 1 for i, u in enumerate(ranked) if grades.get(u, 0) >= 2), None)
        figures = (ndcg(ranked, grades), recall, 1 / rank if rank else 0.0)
        by_type[query["type"]].append(figures)
        by_type["all"].append(figures)
        if query["lang"] == "zh-CN":
            by_type["chinese"].append(figures)
        sizes.append(sum(len(files[p].encode()) for p in result.fetched))

    print(f"{'type':12} {'n':>4} {'nDCG@10':>8} {'recall@10':>10} {'MRR':>6}")
    for name in ["all", "chinese"] + sorted(k for k in by_type if k not in ("all", "chinese")):
        rows = by_type[name]
        mean = [sum(r[i] for r in rows) / len(rows) for i in range(3)]
        print(f"{name:12} {len(rows):4} {mean[0]:8.3f} {mean[1]:10.3f} {mean[2]:6.3f}")
    sizes.sort()
    print(f"bytes per query (uncompressed JSON, without the client): median {sizes[len(sizes) // 2]:,}, "
          f"p90 {sizes[int(len(sizes) * 0.9)]:,}")


if __name__ == "__main__":
    main()
