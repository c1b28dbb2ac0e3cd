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


THEME_STATIC = Path(__file__).parent.parent / "themes" / "default" / "static"
# Kept out of the golden files: the traditional→simplified table is OpenCC's data
# (test_search_index checks how queries use it), and the theme's static files are copied
# verbatim (checked below against themes/default/static, not duplicated here).
UNCOMPARED = ("_t2s", "default")


def tree(root: Path, golden: bool = False) -> dict[str, bytes]:
    """Every file under root by relative path; with golden=True, without the copies above."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        copied = "_t2s" in rel.parts or rel.parts[1:3] == ("_assets", "default")
        if path.is_file() and not (golden and copied):
            files[rel.as_posix()] = path.read_bytes()
    return files


def test_small_cluster_builds_to_the_golden_files(govsite, tmp_path):
    out = tmp_path / "build"
    result = govsite("build", "--project", FIXTURES / "small", "--out", out)
    assert result.exit_code == 0, result.output
    if os.environ.get("GOVSITE_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out, GOLDEN, ignore=shutil.ignore_patterns(*UNCOMPARED))
    built, golden = tree(out, golden=True), tree(GOLDEN)
    assert sorted(built) == sorted(golden)
    changed = [name for name in built if built[name] != golden[name]]
    assert not changed, f"output differs from tests/golden/small in: {changed}"


def test_the_theme_static_files_are_published_as_they_are(govsite, tmp_path):
    out = tmp_path / "build"
    assert govsite("build", "--project", FIXTURES / "small", "--out", out).exit_code == 0
    for host in ("www.example.gov.cn", "county.example.gov.cn"):
        published = out / host / "_assets" / "default"
        names = sorted(p.name for p in published.iterdir())
        assert names == sorted(p.name for p in THEME_STATIC.iterdir())
        assert all((published / n).read_bytes() == (THEME_STATIC / n).read_bytes() for n in names)
