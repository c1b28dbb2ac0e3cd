"""Run a measured command from a small helper process, so that its peak RSS is its own.

Linux carries a process's peak resident size across exec: a child started by a benchmark
driver that holds hundreds of megabytes (run.py reading the manifests of 100,000 pages held
495 MB) reports at least that much as its own peak, whatever it really used. The helper is
started once, while the driver is still small, and starts every measured command itself; each
child then begins from the helper's few megabytes.

    launcher = Launcher()          # first thing, before the driver loads anything large
    result = launcher.run(["hugo"], cwd, env, "log.txt", timeout=600)
    result.wall, result.user, result.sys, result.rss_kb, result.code, result.timed_out
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

_HELPER = r"""
import json, os, signal, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["log"], job["mode"], encoding="utf-8") as handle:
        started = time.perf_counter()
        child = subprocess.Popen(job["cmd"], cwd=job["cwd"], env=job["env"], stdout=handle,
                                 stderr=subprocess.STDOUT)
        deadline = started + job["timeout"] if job["timeout"] else None
        timed_out = False
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        wall = time.perf_counter() - started
    print(json.dumps({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime,
                      "rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status),
                      "timed_out": timed_out}), flush=True)
"""


@dataclass(frozen=True)
class Result:
    wall: float       # seconds, start to exit (the helper polls every 20 ms)
    user: float
    sys: float
    rss_kb: int       # the child's peak resident size, or its largest waited-for descendant's
    code: int
    timed_out: bool


class Launcher:
    def __init__(self) -> None:
        self._helper = subprocess.Popen([sys.executable, "-c", _HELPER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], cwd: str | None, env: dict[str, str], log: str,
            timeout: float | None = None, append: bool = False) -> Result:
        assert self._helper.stdin is not None and self._helper.stdout is not None
        self._helper.stdin.write(json.dumps({"cmd": cmd, "cwd": cwd, "env": env, "log": log,
                                             "mode": "a" if append else "w",
                                             "timeout": timeout}) + "\n")
        self._helper.stdin.flush()
        return Result(**json.loads(self._helper.stdout.readline()))
