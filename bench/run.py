#!/usr/bin/env python3
"""Benchmark `govsite build` on a synthetic cluster.

    python3 bench/run.py --pages 10000 [--sites 20] [--seed N] [--work bench/work] [--repeat N]
                         [--stages] [--ref COMMIT] [--no-git]

1. generates the cluster with /work/shared/bench/gen_corpus.py (cached in the work folder by
   sites, pages, seed and the generator's own hash),
2. converts it into a govsite project (bench/convert.py; redone every run, it takes seconds)
   and commits it into a git repository of its own, as CI checks a cluster out (govsite takes
   the ids of committed, unchanged sources from git instead of reading them); --no-git leaves
   it a plain folder, every source read on every build,
3. runs `python3 -m govsite build --project P --out O` as a child process: a cold build into a
   new output folder, then a rebuild of that folder with nothing changed,

and prints, one labelled line each: pages in the project, HTML files written, wall time, CPU time
(user + sys of the child, from os.wait4), pages per second and peak RSS of the child, plus the
machine and the date. SOURCE_DATE_EPOCH is fixed (2026-11-23 00:00 UTC) so that every run
publishes the same pages. With --repeat N each build is run N times and the median is reported
(with every run listed; all cold builds run first, then the rebuilds). It also checks that every
build wrote the same bytes (govsite's manifest of SHA-256 digests). --stages adds one in-process
build that prints govsite's own per-stage timings (config, discover, parse, assemble, markdown,
render, write). --ref COMMIT measures that commit (a `git archive` snapshot in the work folder,
put first on PYTHONPATH) instead of this repository's working tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import convert  # noqa: E402
from launch import Launcher  # noqa: E402

GENERATOR = "/work/shared/bench/gen_corpus.py"
SOURCE_DATE_EPOCH = "1795392000"  # 2026-11-23T00:00:00Z
# Environment of every govsite child; --ref adds a PYTHONPATH to a snapshot of a commit.
# Bytecode is cached (in the work folder) as an installed package's is: an environment that
# sets PYTHONDONTWRITEBYTECODE (this machine's does) otherwise compiles all of govsite again in
# every build, 0.13 s of each, while the peers' packages were compiled when pip installed them.
CHILD_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
             "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
             "PYTHONPYCACHEPREFIX": os.path.join(HERE, "work", "pycache")}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def generator_hash(generator: str) -> str:
    digest = hashlib.sha256()
    folder = os.path.dirname(generator)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()[:10]


def generate(work: str, generator: str, sites: int, pages: int, seed: int) -> tuple[str, float]:
    """The corpus folder, generated unless a complete one is cached; seconds spent (0 if cached)."""
    name = f"corpus-s{sites}-p{pages}-seed{seed}-{generator_hash(generator)}"
    corpus = os.path.join(work, name)
    if os.path.isfile(os.path.join(corpus, ".complete")):
        return corpus, 0.0
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=work)
    start = time.perf_counter()
    subprocess.run([sys.executable, generator, tmp, "--sites", str(sites), "--pages", str(pages),
                    "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - start
    open(os.path.join(tmp, ".complete"), "w").close()
    if os.path.exists(corpus):
        shutil.rmtree(corpus)
    os.rename(tmp, corpus)
    return corpus, took


def count_files(out: str) -> tuple[int, int]:
    """(HTML files, all files) under the output folder, govsite's own manifest excluded."""
    html = total = 0
    for _dirpath, dirnames, filenames in os.walk(out):
        dirnames[:] = [d for d in dirnames if d != ".govsite"]
        total += len(filenames)
        html += sum(1 for n in filenames if n.endswith(".html"))
    return html, total


PROFILE_STAGE = re.compile(r"^  (\S.*?) +(\d+\.\d\d) s +(\d+) MB$", re.M)
PROFILE_LINE = re.compile(r"^(time per stage|slowest templates|  \S.*? +\d+\.\d\d s( +\d+ MB)?$)")


_launcher: Launcher | None = None


def launcher() -> Launcher:
    """The helper that starts every measured build (launch.py): made by main() first thing,
    while this process is small, so that no build inherits its peak memory."""
    global _launcher
    if _launcher is None:
        _launcher = Launcher()
    return _launcher


def build(project: str, out: str, log: str, cache: str | None = None) -> dict:
    """One `govsite build` in a child process, measured with os.wait4; `cache` is the folder
    govsite keeps between runs (None: --no-cache)."""
    env = CHILD_ENV
    cmd = [sys.executable, "-m", "govsite", "build", "--project", project, "--out", out,
           "--profile"]
    cmd += ["--cache", cache] if cache else ["--no-cache"]
    # Flush the dirty pages of earlier steps (conversion, the previous output) so that their
    # write-back does not land on this build's clock.
    os.sync()
    done = launcher().run(cmd, os.path.dirname(out), env, log)
    with open(log, encoding="utf-8") as handle:
        text = handle.read()
    html, files = count_files(out) if done.code == 0 else (0, 0)
    manifest = ""
    if done.code == 0:
        try:
            with open(os.path.join(out, ".govsite", "manifest.json"), "rb") as f:
                manifest = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            pass
    # --profile's lines: "  <stage> <seconds> s <peak> MB", and its template lines after them.
    stages = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in PROFILE_STAGE.finditer(text)}
    lines = [line for line in text.strip().splitlines() if not PROFILE_LINE.match(line)]
    return {"stages": stages, "code": done.code, "wall": done.wall, "user": done.user,
            "sys": done.sys, "rss_mb": done.rss_kb / 1024,  # KiB on Linux
            "html": html, "files": files, "summary": lines[-1] if lines else "",
            "messages": len(lines) - 1 if lines else 0, "log": log, "manifest": manifest}


STAGES = """
import json, sys
from pathlib import Path
from govsite.build import build
result = build(Path(sys.argv[1]), Path(sys.argv[2]))
print(json.dumps(result.timings))
"""


def stages(project: str, out: str) -> dict[str, float] | None:
    """Seconds per pipeline stage, from govsite's own BuildResult.timings (in a child process)."""
    os.sync()
    env = CHILD_ENV
    done = subprocess.run([sys.executable, "-c", STAGES, project, out], env=env,
                          cwd=os.path.dirname(out),
                          capture_output=True, text=True)
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def report(label: str, runs: list[dict], pages: int) -> None:
    ok = [r for r in runs if r["code"] == 0]
    if not ok:
        r = runs[-1]
        print(f"{label}: FAILED with exit code {r['code']}; last line: {r['summary']}")
        print(f"{label}: full log: {r['log']}")
        return
    wall = statistics.median(r["wall"] for r in ok)
    # user and sys of the run whose user+sys is the median (median_low: always a real run)
    cpu_run = next(r for r in ok if r["user"] + r["sys"]
                   == statistics.median_low(x["user"] + x["sys"] for x in ok))
    cpu, user, sys_ = cpu_run["user"] + cpu_run["sys"], cpu_run["user"], cpu_run["sys"]
    rss = max(r["rss_mb"] for r in ok)
    last = ok[-1]
    many = f" (median of {len(ok)}: " + ", ".join(f"{r['wall']:.2f}" for r in ok) \
        + f"; min {min(r['wall'] for r in ok):.2f})" if len(ok) > 1 else ""
    print(f"{label}: exit code: {last['code']}")
    print(f"{label}: govsite says: {last['summary']}"
          + (f" (+{last['messages']} diagnostic lines, see {last['log']})" if last["messages"] else ""))
    print(f"{label}: HTML files written: {last['html']}")
    print(f"{label}: files written (all): {last['files']}")
    print(f"{label}: wall time: {wall:.2f} s{many}")
    print(f"{label}: CPU time (user+sys): {cpu:.2f} s (user {user:.2f} s, sys {sys_:.2f} s)")
    print(f"{label}: pages per second: {pages / wall:.0f}")
    print(f"{label}: peak RSS: {rss:.0f} MB")
    # govsite's own time per stage (median over the runs) and the peak memory by its end.
    for stage in last.get("stages", {}):
        seconds = statistics.median(r["stages"][stage][0] for r in ok if stage in r["stages"])
        print(f"{label}: stage {stage}: {seconds:.2f} s, peak {last['stages'][stage][1]:.0f} MB")
    if len(ok) < len(runs):
        print(f"{label}: {len(runs) - len(ok)} of {len(runs)} runs FAILED")


def snapshot(work: str, ref: str) -> tuple[str, str]:
    """A read-only copy of the repository at `ref` (git archive), cached in the work folder."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", f"{ref}^{{commit}}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    dest = os.path.join(work, f"govsite-{sha[:12]}")
    if not os.path.isdir(dest):
        tmp = tempfile.mkdtemp(prefix=".govsite-", dir=work)
        archive = subprocess.run(["git", "-C", REPO, "archive", sha], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        os.rename(tmp, dest)
    return dest, sha


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "govsite", "themes"],
                               capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    launcher()   # before anything large is loaded (launch.py)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument("--work", default=os.path.join(HERE, "work"),
                    help="cache and scratch folder (default: bench/work)")
    ap.add_argument("--generator", default=GENERATOR)
    ap.add_argument("--repeat", type=int, default=1, help="run each build N times, report medians")
    ap.add_argument("--ref", default=None,
                    help="benchmark this git commit of the repository (extracted with git archive "
                         "into the work folder) instead of its working tree, e.g. HEAD")
    ap.add_argument("--no-git", action="store_true",
                    help="do not commit the project into git (every source is read on every build)")
    ap.add_argument("--stages", action="store_true",
                    help="also run one more cold build through the Python API and print govsite's "
                         "own per-stage timings")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    tag = f"s{a.sites}-p{a.pages}-seed{a.seed}"

    # The code measured is this repository's working tree (or a snapshot of --ref), put first on
    # PYTHONPATH, whatever `pip install -e` points at; its dependencies come from site-packages.
    code_from = f"working tree {REPO}, git {git_commit()}"
    code_dir = REPO
    if a.ref:
        code_dir, sha = snapshot(work, a.ref)
        code_from = f"git {sha[:7]} ({a.ref}), snapshot {code_dir}"
    CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
        [code_dir] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    imported = subprocess.run([sys.executable, "-c", "import govsite; print(govsite.__file__)"],
                              env=CHILD_ENV, cwd=work, capture_output=True,
                              text=True).stdout.strip()
    version = subprocess.run([sys.executable, "-m", "govsite", "--version"], env=CHILD_ENV,
                             cwd=work, capture_output=True,
                             text=True).stdout.strip()
    print(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: nproc {len(os.sched_getaffinity(0))}, CPU {cpu_model()}, "
          f"{platform.system()} {platform.release()}")
    print(f"python: {platform.python_version()} ({sys.executable})")
    print(f"govsite: {version} ({code_from}; imported from {imported})")
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"SOURCE_DATE_EPOCH: {SOURCE_DATE_EPOCH}")
    print(f"workload: gen_corpus.py --sites {a.sites} --pages {a.pages} --seed {a.seed}")

    # Nothing is deleted while anything is measured: on this VM's ext4 (mounted with `discard`)
    # deleting ~15,000 files makes the next big writer pay several seconds of system time. Old
    # trees are renamed into a trash folder now and deleted after the last measurement.
    trash = os.path.join(work, f".trash-{os.getpid()}")
    os.makedirs(trash)
    for name in sorted(os.listdir(work)):
        if name.startswith((f"project-{tag}", f"out-{tag}", f".out-{tag}")):
            os.rename(os.path.join(work, name), os.path.join(trash, name))
    try:
        code = measure(a, work, tag)
    finally:
        for name in os.listdir(work):
            if name.startswith(".trash-"):
                shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    sys.exit(code)


def commit_project(project: str) -> float:
    """Make the project a git repository holding every file, as a CI checkout is: seconds taken.
    Packed here, before any build is measured: a commit of 100,000 new files otherwise starts
    git's automatic maintenance in the background, which packed them (a minute of CPU at
    100,000 pages) while the cold build ran and was timed. A CI checkout is packed too."""
    start = time.perf_counter()
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.org"}
    quiet = ["-c", "maintenance.auto=false", "-c", "gc.auto=0"]
    for command in (["init", "-q"], ["add", "-A"], [*quiet, "commit", "-q", "-m", "generated cluster"],
                    ["gc", "-q"]):
        subprocess.run(["git", "-C", project, *command], check=True, env=env)
    return time.perf_counter() - start


def edit_one_page(project: str) -> str:
    """Append a sentence to the first news page in path order: the edit an editor makes most."""
    for folder, dirs, files in sorted(os.walk(os.path.join(project, "content"))):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".md") and name != "_index.md" and os.sep + "news" in folder:
                path = os.path.join(folder, name)
                with open(path, "a", encoding="utf-8") as handle:
                    handle.write("\n本文于发布后补充了一句说明。\n")
                return os.path.relpath(path, project)
    raise SystemExit("no news page to edit")


def measure(a: argparse.Namespace, work: str, tag: str) -> int:
    corpus, gen_time = generate(work, a.generator, a.sites, a.pages, a.seed)
    print(f"generate: {'cached' if not gen_time else f'{gen_time:.2f} s'} ({corpus})")
    project = os.path.join(work, f"project-{tag}")
    start = time.perf_counter()
    stats = convert.convert(corpus, project)
    print(f"convert: {time.perf_counter() - start:.2f} s ({project}; "
          f"{stats.images} placeholder images, {stats.demoted_interpretations} interpretations "
          f"made news, {stats.index_fixed} index numbers fixed, {stats.links_unlinked} dead links)")
    if not a.no_git:
        print(f"git: {commit_project(project):.2f} s to commit the project (not measured)")
    pages = sum(stats.pages.values())
    print(f"pages in project: {pages} (" + ", ".join(f"{k} {v}" for k, v in sorted(stats.pages.items())) + ")")
    sys.stdout.flush()

    # All cold builds first, each into its own new folder; then a rebuild of each folder. A
    # rebuild deletes the previous tree itself (govsite swaps in the new build, then removes
    # the old one), which is part of what it costs.
    outs = [os.path.join(work, f"out-{tag}-{n}") for n in range(a.repeat)]
    cold: list[dict] = []
    rebuild: list[dict] = []
    caches = [os.path.join(work, f"cache-{tag}-{n}") for n in range(a.repeat)]
    for n, out in enumerate(outs):
        shutil.rmtree(caches[n], ignore_errors=True)   # cold: no cache either
        cold.append(build(project, out, os.path.join(work, f"log-{tag}-cold-{n}.txt"), caches[n]))
        if cold[-1]["code"] != 0:
            break
    if all(r["code"] == 0 for r in cold):
        for n, out in enumerate(outs):
            rebuild.append(build(project, out, os.path.join(work, f"log-{tag}-rebuild-{n}.txt"),
                                 caches[n]))
    report("cold build", cold, pages)
    if rebuild:
        report("rebuild, nothing changed", rebuild, pages)
        # The manifest lists every output file with its SHA-256: equal manifests, equal bytes.
        same = len({r["manifest"] for r in cold + rebuild if r["code"] == 0}) == 1
        print(f"output identical across all builds (manifest digests): {'yes' if same else 'NO'}")
        edited = edit_one_page(project)
        after = [build(project, out, os.path.join(work, f"log-{tag}-edit-{n}.txt"), caches[n])
                 for n, out in enumerate(outs)]
        report(f"rebuild after one edited page ({edited})", after, pages)
        clean = build(project, os.path.join(work, f"out-{tag}-clean"),
                      os.path.join(work, f"log-{tag}-clean.txt"))
        same = len({r["manifest"] for r in after + [clean]}) == 1 and clean["code"] == 0
        print(f"after the edit, incremental output equals a clean build: {'yes' if same else 'NO'}")
    if a.stages and cold and cold[-1]["code"] == 0:
        timings = stages(project, os.path.join(work, f"out-{tag}-stages"))
        if timings is None:
            print("stages: could not be measured")
        else:
            for name, seconds in timings.items():
                print(f"stage {name}: {seconds:.2f} s")
            print(f"stage total: {sum(timings.values()):.2f} s (in-process, imports excluded)")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(r["code"] == 0 for r in cold + rebuild) else 1


if __name__ == "__main__":
    main()
