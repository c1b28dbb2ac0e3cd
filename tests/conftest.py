"""Shared test helpers: a project factory that writes a small cluster from a dict, and a CLI runner."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from govsite.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
# A fixed clock: the fixtures' dates and "scheduled" pages are written against it.
EPOCH = "1735689600"  # 2025-01-01T00:00:00Z

MINIMAL_SITES = """\
cluster:
  identity:
    sponsor: 示例市人民政府办公室
sites:
  - id: portal
    name: 示例市人民政府
    type: portal
    url: https://www.example.gov.cn/
    identity:
      site_code: "1100000001"
    columns: [news]
"""

NEWS_COLUMN = """\
---
title: 要闻动态
type: news
---
"""


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write files (path → text, dedented) under root; a minimal valid cluster fills the gaps."""
    defaults = {"sites.yaml": MINIMAL_SITES, "content/portal/news/_index.md": NEWS_COLUMN}
    for rel, text in {**defaults, **files}.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path):
    """`project({...})` writes a project and returns its folder."""
    def make(files: dict[str, str] | None = None) -> Path:
        return write_project(tmp_path / "project", files or {})
    return make


@pytest.fixture
def govsite(monkeypatch: pytest.MonkeyPatch):
    """Run the CLI in-process with the fixed clock: `govsite("build", "--project", p)`."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return run
