"""The relevance figures every search evaluation here reports, defined once.

nDCG@10 with gains 2^grade − 1; recall@10 over the documents graded 2 or 3 (all judged ones when
a query has none that high); MRR from the first result graded 2 or 3. Means are taken overall,
for Chinese queries (lang zh-CN) and per query type.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent.parent / "shared" / "corpus"


def load() -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The labelled queries, and corpus path → page URL."""
    queries = yaml.safe_load((HERE / "queries.yaml").read_text(encoding="utf-8"))["queries"]
    urls = json.loads((HERE / "corpus_map.json").read_text(encoding="utf-8"))
    return queries, urls


def grades(query: dict[str, Any], urls: dict[str, str]) -> dict[str, int]:
    return {urls[path]: grade for path, grade in query["relevant"].items()}


def ndcg(ranked: list[str], graded: dict[str, int], k: int = 10) -> float:
    gain = sum((2 ** graded.get(url, 0) - 1) / math.log2(i + 2) for i, url in enumerate(ranked[:k]))
    ideal = sorted(graded.values(), reverse=True)[:k]
    best = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return gain / best if best else 0.0


def scores(ranked: list[str], graded: dict[str, int]) -> tuple[float, float, float]:
    """nDCG@10, recall@10 and reciprocal rank of one ranking."""
    wanted = {u for u, g in graded.items() if g >= 2} or set(graded)
    recall = len(wanted & set(ranked[:10])) / len(wanted)
    rank = next((i + 1 for i, u in enumerate(ranked[:10]) if graded.get(u, 0) >= 2), None)
    return ndcg(ranked, graded), recall, 1 / rank if rank else 0.0


def table(rankings: list[list[str]], queries: list[dict[str, Any]],
          urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """Mean nDCG@10, recall@10 and MRR overall, for Chinese and per type."""
    by_type: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for ranked, query in zip(rankings, queries, strict=True):
        figures = scores(ranked, grades(query, urls))
        for group in ("all", query["type"]) + (("chinese",) if query["lang"] == "zh-CN" else ()):
            by_type[group].append(figures)
    order = ["all", "chinese"] + sorted(k for k in by_type if k not in ("all", "chinese"))
    return {name: {"n": len(by_type[name]),
                   **{label: sum(r[i] for r in by_type[name]) / len(by_type[name])
                      for i, label in enumerate(("ndcg@10", "recall@10", "mrr"))}}
            for name in order if by_type[name]}


def print_table(figures: dict[str, dict[str, float]], others: dict[str, dict] | None = None) -> None:
    """The table, with another engine's nDCG@10 beside ours when given."""
    extra = f" {'other nDCG':>10}" if others else ""
    print(f"{'type':12} {'n':>4} {'nDCG@10':>8} {'recall@10':>10} {'MRR':>6}{extra}")
    for name, row in figures.items():
        other = f" {others[name]['ndcg@10']:10.3f}" if others and name in others else ""
        print(f"{name:12} {row['n']:4} {row['ndcg@10']:8.3f} {row['recall@10']:10.3f} "
              f"{row['mrr']:6.3f}{other}")
