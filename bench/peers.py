#!/usr/bin/env python3
"""govsite next to Hugo, Pelican and MkDocs on the same generated pages, in one run.

    python3 bench/peers.py --pages 10000 [--sites 20] [--peers hugo hugo-per-site pelican mkdocs]
                           [--work bench/work] [--timeout 900]

The shared generator (/work/shared/bench/gen_corpus.py) writes the cluster once; its adapters
write the same pages as a project for each peer (a minimal theme doing the same work per page:
see adapters.py), and bench/convert.py as a govsite project. Each tool then builds three times,
each build a child process measured with os.wait4 (wall time, CPU time, peak RSS):

  cold      a new output folder (govsite: and an empty cache)
  rebuild   the same folder, nothing changed (govsite: with its cache)
  edit      after appending a sentence to one news page

Every figure is printed with its ratio to govsite's in the same run. govsite's builds include
its search index, feeds and sitemaps; the peers build no search index. Peer installs: Debian's
`hugo`, `pip install pelican mkdocs` (this script does not install them).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, "/work/shared/bench")
import convert  # noqa: E402
import run  # noqa: E402

PEERS = ("hugo", "hugo-per-site", "pelican", "mkdocs")


def measure(commands: list[tuple[list[str], str]], log: str, timeout: float) -> dict:
    """Run commands one after another; wall and CPU summed, peak RSS the largest. Each is
    started by run.py's launcher, so its peak memory is its own (launch.py)."""
    wall = cpu = rss = 0.0
    code = 0
    for n, (command, cwd) in enumerate(commands):
        os.sync()
        done = run.launcher().run(command, cwd, run.CHILD_ENV, log, timeout, append=n > 0)
        wall += done.wall
        cpu += done.user + done.sys
        rss = max(rss, done.rss_kb / 1024)
        code = -1 if done.timed_out else done.code
        if code:
            break
    return {"wall": wall, "cpu": cpu, "rss": rss, "code": code}


def first_news_page(content: str) -> str:
    for folder, dirs, files in sorted(os.walk(content)):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".md") and not name.startswith(("_index", "index")) and "news" in folder:
                return os.path.join(folder, name)
    raise SystemExit(f"no news page under {content}")


def append(path: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n本文于发布后补充了一句说明。\n")


def peer_commands(peer: str, project: str, corpus: str) -> tuple[list[tuple[list[str], str]], str]:
    """How a peer builds, and the content file its edit run appends to."""
    if peer == "hugo":
        return [(["hugo", "--source", project, "--quiet"], project)], first_news_page(
            os.path.join(corpus, "content"))
    if peer == "hugo-per-site":
        sites = sorted(d for d in os.listdir(project) if os.path.isdir(os.path.join(project, d)))
        return [(["hugo", "--source", os.path.join(project, s), "--quiet"], project) for s in sites], \
            first_news_page(os.path.join(corpus, "content"))
    if peer == "pelican":
        return [(["pelican", "content", "-s", "pelicanconf.py", "-q"], project)], first_news_page(
            os.path.join(project, "content"))
    if peer == "mkdocs":
        return [(["mkdocs", "build", "-q", "-f", os.path.join(project, "mkdocs.yml")], project)], \
            first_news_page(os.path.join(project, "docs"))
    raise SystemExit(f"unknown peer {peer}")


def main() -> None:
    run.launcher()   # before anything large is loaded (launch.py)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=1000)
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS)
    ap.add_argument("--timeout", type=float, default=900, help="seconds a build may take")
    a = ap.parse_args()

    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    # This checkout's govsite, whatever `pip install -e` points at (as run.py does).
    run.CHILD_ENV["PYTHONPATH"] = os.pathsep.join(
        [run.REPO] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    tag = f"peers-s{a.sites}-p{a.pages}-seed{a.seed}"
    print(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: nproc {os.cpu_count()}, CPU {run.cpu_model()}, {platform.system()} {platform.release()}")
    print(f"workload: gen_corpus.py --sites {a.sites} --pages {a.pages} --seed {a.seed}")
    corpus, _ = run.generate(work, run.GENERATOR, a.sites, a.pages, a.seed)
    # The edit runs append to a page: every tool starts from its own fresh copy of the corpus.
    scratch = os.path.join(work, tag)
    # The previous run's scratch is renamed aside and deleted after the last measurement, as
    # run.py does: on this VM's ext4, for a minute or more after some 100,000 files are
    # deleted, creating a file searches past their freed inodes (perf: find_inode_bit →
    # recently_deleted), and the first tool measured paid for it (a 10,000-page govsite cold
    # build took 37 s instead of 31 s, with 19 s of system time instead of 13).
    trash = os.path.join(work, f".trash-{os.getpid()}")
    if os.path.exists(scratch):
        os.makedirs(trash)
        os.rename(scratch, os.path.join(trash, tag))
    try:
        _measure(a, work, corpus, scratch)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _measure(a: argparse.Namespace, work: str, corpus: str, scratch: str) -> None:
    import adapters  # the shared generator's, next to gen_corpus.py

    shutil.copytree(corpus, os.path.join(scratch, "corpus"))
    corpus = os.path.join(scratch, "corpus")

    results: dict[str, dict[str, dict]] = {}
    # Not named "govsite": the builds run in `scratch`, and a folder of that name there would
    # shadow the package for `python3 -m govsite`.
    project = os.path.join(scratch, "govsite-project")
    convert.convert(corpus, project)
    run.commit_project(project)   # as CI checks a cluster out (run.py --no-git says why)
    out, cache = os.path.join(scratch, "govsite-out"), os.path.join(scratch, "govsite-cache")
    command = [sys.executable, "-m", "govsite", "build", "--project", project, "--out", out,
               "--cache", cache]
    results["govsite"] = {
        "cold": measure([(command, scratch)], os.path.join(scratch, "govsite-cold.log"), a.timeout),
        "rebuild": measure([(command, scratch)], os.path.join(scratch, "govsite-rebuild.log"), a.timeout)}
    append(first_news_page(os.path.join(project, "content")))
    results["govsite"]["edit"] = measure([(command, scratch)], os.path.join(scratch, "govsite-edit.log"),
                                         a.timeout)
    for peer in a.peers:
        if shutil.which(peer.split("-")[0]) is None:
            print(f"{peer}: not installed, skipped")
            continue
        dest = os.path.join(scratch, peer)
        adapters.build_project(peer, corpus, dest, os.path.join(scratch, f"{peer}-out"))
        commands, page = peer_commands(peer, dest, corpus)
        runs = {"cold": measure(commands, os.path.join(scratch, f"{peer}-cold.log"), a.timeout)}
        runs["rebuild"] = measure(commands, os.path.join(scratch, f"{peer}-rebuild.log"), a.timeout)
        append(page)
        runs["edit"] = measure(commands, os.path.join(scratch, f"{peer}-edit.log"), a.timeout)
        results[peer] = runs
        print(f"{peer}: built")
        sys.stdout.flush()

    base = results["govsite"]
    print(f"\n{a.pages:,} pages, {a.sites} sites; ratio = tool ÷ govsite (above 1: govsite is faster)")
    print(f"{'tool':<14} {'cold wall':>10} {'ratio':>6} {'CPU':>8} {'peak RSS':>9} {'ratio':>6} "
          f"{'rebuild':>9} {'ratio':>6} {'1 edit':>9} {'ratio':>6}")
    for tool, runs in results.items():
        if any(r["code"] for r in runs.values()):
            failed = next(k for k, r in runs.items() if r["code"])
            print(f"{tool:<14} failed or timed out ({failed}, code {runs[failed]['code']})")
            continue
        print(f"{tool:<14} {runs['cold']['wall']:9.2f}s {runs['cold']['wall'] / base['cold']['wall']:6.2f} "
              f"{runs['cold']['cpu']:7.1f}s {runs['cold']['rss']:7.0f}MB "
              f"{runs['cold']['rss'] / base['cold']['rss']:6.2f} "
              f"{runs['rebuild']['wall']:8.2f}s {runs['rebuild']['wall'] / base['rebuild']['wall']:6.2f} "
              f"{runs['edit']['wall']:8.2f}s {runs['edit']['wall'] / base['edit']['wall']:6.2f}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
