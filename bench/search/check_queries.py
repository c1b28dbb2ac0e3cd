#!/usr/bin/env python3
"""Validate the labelled search queries and print how many there are of each type.

    python3 bench/search/check_queries.py [--queries FILE] [--corpus DIR] [--map FILE] [--min N]

Checks that every query has `id` (unique), `q`, a known `type`, `lang` (zh-CN or en) and a
non-empty `relevant: {corpus path: grade}`; that every path is a document of the corpus (a file
under CORPUS_DIR listed in its manifest.json) and every grade is 1, 2 or 3; that every type has
at least N queries (default 10); and, when the corpus map exists, that every judged path has a
page URL in it.  Exit status 1 if anything is wrong, with one line per problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TYPES = ("docnum", "title", "twochar", "colloquial", "synonym", "typo", "traditional", "region",
         "english", "mixed")
LANGS = ("zh-CN", "en")
KEYS = {"id", "q", "type", "lang", "relevant", "note"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=Path, default=HERE / "queries.yaml")
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus"))
    parser.add_argument("--map", type=Path, default=HERE / "corpus_map.json")
    parser.add_argument("--min", type=int, default=10, help="queries each type needs (default 10)")
    args = parser.parse_args()

    errors: list[str] = []
    manifest = json.loads((args.corpus / "manifest.json").read_text(encoding="utf-8"))["documents"]
    docs = {d["path"]: d for d in manifest}
    url_map = json.loads(args.map.read_text(encoding="utf-8")) if args.map.is_file() else None

    data = yaml.safe_load(args.queries.read_text(encoding="utf-8"))
    queries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(queries, list) or not queries:
        print(f"{args.queries}: needs a top-level `queries:` list", file=sys.stderr)
        return 1

    seen: set[str] = set()
    texts: Counter = Counter()
    per_type: Counter = Counter()
    grades: Counter = Counter()
    judged_by_type: Counter = Counter()
    for n, query in enumerate(queries, 1):
        where = f"query #{n}"
        if not isinstance(query, dict):
            errors.append(f"{where}: not a mapping")
            continue
        qid = query.get("id")
        if not isinstance(qid, str) or not qid:
            errors.append(f"{where}: missing `id`")
        else:
            where = qid
            if qid in seen:
                errors.append(f"{qid}: duplicate id")
            seen.add(qid)
        for key in sorted(set(query) - KEYS):
            errors.append(f"{where}: unknown key `{key}`")
        text = query.get("q")
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: missing `q`")
        else:
            texts[(text.strip(), query.get("lang"))] += 1
        qtype = query.get("type")
        if qtype not in TYPES:
            errors.append(f"{where}: type `{qtype}` is not one of {', '.join(TYPES)}")
        else:
            per_type[qtype] += 1
        lang = query.get("lang")
        if lang not in LANGS:
            errors.append(f"{where}: lang `{lang}` is not zh-CN or en")
        relevant = query.get("relevant")
        if not isinstance(relevant, dict) or not relevant:
            errors.append(f"{where}: `relevant` must be a non-empty mapping of corpus path → grade")
            continue
        if 3 not in relevant.values() and 2 not in relevant.values():
            errors.append(f"{where}: no judgment of grade 2 or 3")
        for path, grade in relevant.items():
            if not isinstance(grade, int) or isinstance(grade, bool) or grade not in (1, 2, 3):
                errors.append(f"{where}: grade of {path} is `{grade}`, not 1, 2 or 3")
            else:
                grades[grade] += 1
            if path not in docs:
                errors.append(f"{where}: {path} is not a document of the corpus")
            elif not (args.corpus / path).is_file():
                errors.append(f"{where}: {path} is in the manifest but not on disk")
            elif url_map is not None and path not in url_map:
                errors.append(f"{where}: {path} has no URL in {args.map.name}")
            if qtype in TYPES:
                judged_by_type[qtype] += 1
        langs = {docs[p]["lang"] for p in relevant if p in docs}
        if lang in LANGS and langs and lang not in langs:
            errors.append(f"{where}: lang {lang}, but every judged document is {'/'.join(sorted(langs))}")
    for (text, lang), count in texts.items():
        if count > 1:
            errors.append(f"query text {text!r} ({lang}) appears {count} times")
    for qtype in TYPES:
        if per_type[qtype] < args.min:
            errors.append(f"type {qtype}: {per_type[qtype]} queries, needs at least {args.min}")

    print(f"{'type':<12} {'queries':>7} {'judgments':>9}")
    for qtype in TYPES:
        print(f"{qtype:<12} {per_type[qtype]:>7} {judged_by_type[qtype]:>9}")
    print(f"{'all':<12} {sum(per_type.values()):>7} {sum(judged_by_type.values()):>9}"
          f"   (grade 3: {grades[3]}, 2: {grades[2]}, 1: {grades[1]})")
    if errors:
        print(f"\n{len(errors)} problem(s):", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
