"""Random edit sequences on a real cluster: every incremental build against a clean one.

    python3 bench/fuzz.py [--project .] [--seeds 1 20] [--steps 8] [--jobs N]

Copies the project (the shipped example cluster by default) into a scratch folder, builds it
with a cache, then for each seed applies random edits an editor makes (text, summary, title,
validity, a date, a link added or unwrapped, an attachment linked, two pages at once, a new
page) and now and then moves the clock, rebuilding after each step with the cache and from
scratch without it. Any difference between the two outputs, byte for byte, or in the errors
they report, is printed with the edits that led to it, and the exit code is 1. An edit that
breaks the build (a date that makes a link point at a page not yet published, say) ends that
seed once both builds have failed alike.

tests/test_incremental.py does the same on the small fixture in CI; this runs longer sequences
on a cluster with policies, interpretations, service guides and attachments, and counts how
many rebuilds took the kept model (govsite.snapshot).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import govsite.snapshot
from govsite.build import build
from govsite.diagnostics import BuildFailed

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 11, 25, tzinfo=UTC)   # the example cluster's "as of" day
TAKEN = {"kept model": 0, "assembled": 0}


def _count_kept_models() -> None:
    patched = govsite.snapshot.patched

    def counting(*args, **kwargs):
        result = patched(*args, **kwargs)
        TAKEN["kept model" if result is not None else "assembled"] += 1
        return result

    govsite.snapshot.patched = counting


def files(out: Path) -> dict[str, bytes]:
    """Every output file's bytes but the changed-URL list, which describes the run."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).as_posix() != ".govsite/changes.json"}


def edit(project: Path, rng: random.Random) -> str:
    pages = sorted(p for p in (project / "content").rglob("*.md") if p.name != "_index.md")
    page = rng.choice(pages)
    text = page.read_text(encoding="utf-8")
    kind = rng.choice(["text", "text", "summary", "title", "validity", "link", "unlink", "date",
                       "new", "two", "attachment"])
    if kind == "text":
        text += f"\n补充说明第{rng.randint(1, 999)}条。\n"
    elif kind == "two":
        for other in rng.sample(pages, 2):
            other.write_text(other.read_text(encoding="utf-8") + f"\n另有说明{rng.randint(1, 99)}。\n",
                             encoding="utf-8")
    elif kind == "summary":
        text = re.sub(r"\nsummary: .*", f"\nsummary: 摘要{rng.randint(1, 99)}", text, count=1) \
            if "\nsummary:" in text else text.replace("\ntitle:", f"\nsummary: 摘要{rng.randint(1, 99)}\ntitle:", 1)
    elif kind == "title":
        text = text.replace("\ntitle: ", f"\ntitle: （更新{rng.randint(1, 9)}）", 1)
    elif kind == "validity":
        text = re.sub(r"validity: \S+", rng.choice(["validity: 有效", "validity: 失效"]), text, count=1)
    elif kind == "link":
        target = rng.choice(pages).relative_to(project / "content").as_posix()
        text += f"\n参见[相关](site:{target})。\n"
    elif kind == "unlink":
        text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text, count=1)
    elif kind == "date" and (found := re.search(r"\ndate: (\d{4}-\d\d)-\d\d", text)):
        text = text.replace(found.group(0), f"\ndate: {found.group(1)}-{rng.randint(1, 28):02d}", 1)
    elif kind == "new":
        folder = rng.choice(sorted({p.parent for p in pages if p.parent.name == "news"}))
        (folder / f"2026-11-{rng.randint(10, 20)}-fuzz-{rng.randint(1, 999)}.md").write_text(
            "---\ntitle: 新增新闻\ndate: 2026-11-15 09:00\nsource: 办公室\n---\n\n新增正文。\n",
            encoding="utf-8")
    elif kind == "attachment":
        attachments = sorted(p for p in page.parent.iterdir() if p.suffix in (".pdf", ".png", ".jpg", ".docx"))
        if attachments:
            text += f"\n附件：[下载]({rng.choice(attachments).name})\n"
    if kind not in ("two", "new"):
        page.write_text(text, encoding="utf-8")
    return f"{kind} {page.relative_to(project)}"


def _build(project: Path, out: Path, now: datetime, **options) -> list[str] | None:
    """The build's errors, or None when it built."""
    try:
        build(project, out, now=now, **options)
    except BuildFailed as failed:
        return sorted(str(d) for d in failed.report.errors())
    return None


def run(source: Path, seed: int, steps: int, jobs: int | None, work: Path) -> bool:
    rng = random.Random(seed)
    project, out, cache, clean = work / "project", work / "build", work / "cache", work / "clean"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source / "content", project / "content")
    for name in ("sites.yaml", "search.yaml", "themes", "assets"):
        if (source / name).is_dir():
            shutil.copytree(source / name, project / name)
        elif (source / name).is_file():
            shutil.copy(source / name, project / name)
    now = START
    if _build(project, out, now, cache=cache, jobs=jobs):
        print(f"seed {seed}: the project does not build to begin with")
        return False
    done: list[str] = []
    for _ in range(steps):
        done.append(edit(project, rng))
        if rng.random() < 0.2:
            now += timedelta(days=rng.randint(1, 40))
            done.append(f"the clock moves to {now:%Y-%m-%d}")
        incremental = _build(project, out, now, cache=cache, jobs=jobs)
        shutil.rmtree(clean, ignore_errors=True)
        fresh = _build(project, clean, now, jobs=1)
        if incremental != fresh:
            print(f"seed {seed}: the builds fail differently after {done}:\n  {incremental}\n  {fresh}")
            return False
        if fresh is not None:
            print(f"seed {seed}: ends at an edit that breaks the build, both alike ({done[-1]})")
            return True
        mine, theirs = files(out), files(clean)
        if mine != theirs:
            differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
            print(f"seed {seed}: the output differs after {done}: {differ[:10]}")
            return False
    print(f"seed {seed}: {steps} rebuilds ({len(done)} changes), each equal to a clean build")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 11), metavar=("FIRST", "END"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    _count_kept_models()
    with tempfile.TemporaryDirectory(prefix="govsite-fuzz-") as scratch:
        ok = all([run(args.project.resolve(), seed, args.steps, args.jobs, Path(scratch) / str(seed))
                  for seed in range(*args.seeds)])
    print(f"rebuilds that took the kept model: {TAKEN['kept model']}, "
          f"that assembled anew with a kept model at hand: {TAKEN['assembled']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
