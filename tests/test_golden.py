"""Golden output: the small fixture cluster must build to exactly the files in tests/golden/small.

When a change to the output is intended, regenerate and review the diff:

    GOVSITE_UPDATE_GOLDEN=1 python3 -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden" / "small"


# The traditional→simplified table is OpenCC's data, not govsite's output logic: kept out of
# the golden files (test_search_index checks how queries use it).
UNCOMPARED = "_t2s"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and UNCOMPARED not in p.parts}


def test_small_cluster_builds_to_the_golden_files(govsite, tmp_path):
    out = tmp_path / "build"
    result = govsite("build", "--project", FIXTURES / "small", "--out", out)
    assert result.exit_code == 0, result.output
    if os.environ.get("GOVSITE_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN, ignore=shutil.ignore_patterns(UNCOMPARED))
    built, golden = tree(out), tree(GOLDEN)
    assert sorted(built) == sorted(golden)
    changed = [name for name in built if built[name] != golden[name]]
    assert not changed, f"output differs from tests/golden/small in: {changed}"
