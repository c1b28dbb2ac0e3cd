"""discover: a source's digest is its git blob id; in a git checkout, the files git vouches for
are not read, and every file git cannot vouch for is."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import EPOCH, require, write_project

from govsite import config, discover
from govsite.build import build
from govsite.diagnostics import Report

NEWS = """\
---
title: 关于开展2024年度政务公开工作的通知
date: 2024-05-08
source: 示例市人民政府办公室
---
各区县人民政府，市政府各部门：{n}
"""
FILES = {f"content/portal/news/{n}.md": NEWS.format(n=n) for n in range(4)}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                                          "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    require(shutil.which("git") is not None, "git")
    root = write_project(tmp_path / "project", FILES)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "cluster")
    return root


def found(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], list[str]]:
    """Each source's digest, and the files discover read to digest them."""
    read: list[str] = []
    digest = discover._file_digest
    monkeypatch.setattr(discover, "_file_digest", lambda path: read.append(
        Path(path).relative_to(root / "content").as_posix()) or digest(path))
    report = Report(root)
    cfg = config.load(root, report)
    assert cfg is not None
    sources = discover.find_sources(cfg, report, jobs=1).sources
    assert not report.sorted(), [str(d) for d in report.sorted()]
    return {s.rel: s.digest for s in sources}, sorted(read)


def hash_object(root: Path, rel: str) -> str:
    return git(root, "hash-object", f"content/{rel}").strip()


def test_a_digest_is_the_blob_id_git_gives_the_bytes(tmp_path):
    data = "标题\r\n正文\n".encode()
    assert discover.blob_id(data) == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert discover.blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"   # git's empty blob


def test_files_git_vouches_for_are_not_read(repo, monkeypatch):
    digests, read = found(repo, monkeypatch)
    assert read == []
    assert digests == {rel: hash_object(repo, rel) for rel in digests}
    assert len(digests) == 5


def test_an_edited_file_is_read_even_at_the_same_size_and_time(repo, monkeypatch):
    path = repo / "content/portal/news/1.md"
    before = path.stat()
    path.write_text(NEWS.format(n=7), encoding="utf-8")   # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))   # and the same time
    (repo / "content/portal/news/new.md").write_text(NEWS.format(n=8), encoding="utf-8")
    digests, read = found(repo, monkeypatch)
    assert read == ["portal/news/1.md", "portal/news/new.md"]
    assert digests["portal/news/1.md"] == hash_object(repo, "portal/news/1.md")
    assert digests["portal/news/1.md"] != git(repo, "rev-parse", "HEAD:content/portal/news/1.md").strip()


def test_files_git_converts_or_is_told_not_to_check_are_read(repo, monkeypatch):
    (repo / ".gitattributes").write_text("content/portal/news/2.md text eol=crlf\n")
    git(repo, "update-index", "--assume-unchanged", "content/portal/news/3.md")
    _, read = found(repo, monkeypatch)
    assert read == ["portal/news/2.md", "portal/news/3.md"]
    git(repo, "config", "core.autocrlf", "true")
    _, read = found(repo, monkeypatch)
    assert len(read) == 5


def test_without_a_repository_or_git_every_file_is_read_to_the_same_digests(repo, monkeypatch):
    vouched, _ = found(repo, monkeypatch)
    shutil.rmtree(repo / ".git")
    digests, read = found(repo, monkeypatch)
    assert digests == vouched and len(read) == 5
    git_dir = Path(str(shutil.which("git"))).parent
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if Path(p) != git_dir))
    digests, read = found(repo, monkeypatch)
    assert digests == vouched and len(read) == 5


def test_an_edit_in_a_checkout_builds_as_a_clean_build(repo, tmp_path, monkeypatch):
    """The incremental build of an edit git does not know of yet (the working tree), then of
    the same edit committed, equals a clean build each time."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    cache, out = tmp_path / "cache", tmp_path / "out"
    assert not build(repo, out, cache=cache).report.errors()
    page = repo / "content/portal/news/2.md"
    for step in ("edited", "committed"):
        if step == "edited":
            page.write_text(NEWS.format(n="（已更新）"), encoding="utf-8")
        else:
            git(repo, "commit", "-qam", "edit")
        assert not build(repo, out, cache=cache).report.errors()
        clean = tmp_path / f"clean-{step}"
        assert not build(repo, clean).report.errors()
        assert (out / ".govsite/manifest.json").read_bytes() == \
            (clean / ".govsite/manifest.json").read_bytes()
        assert "（已更新）" in (out / "www.example.gov.cn/news/2.html").read_text(encoding="utf-8")


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
                    reason="lists this process's children from /proc")
def test_outside_a_repository_every_git_command_started_is_waited_for(tmp_path):
    # git fails outside a repository; the command whose output was piped into another was
    # then not waited for, and stayed a zombie child of the build (a test that counts a
    # failed build's processes failed now and then).
    require(shutil.which("git") is not None, "git")
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    before = set(children.read_text().split())
    answer = discover.git_ids(str(tmp_path))
    assert answer().ids == {}
    assert set(children.read_text().split()) <= before   # (`answer` still holds each command)


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The folders each build walks from here on (find_sources)."""
    walked: list[str] = []
    walk = discover._walk
    monkeypatch.setattr(discover, "_walk", lambda folder: walked.append(folder) or walk(folder))
    return walked


def _built_as_clean(repo: Path, out: Path, cache: Path, clean: Path,
                    walked: list[str] | None = None) -> Report:
    """An incremental build, checked byte for byte against a clean build of the same files;
    `walked`: the folders the incremental build walked (what the clean build walks is not)."""
    result = build(repo, out, cache=cache)
    if walked is not None:
        found, walked[:] = list(walked), []
    shutil.rmtree(clean, ignore_errors=True)
    expected = build(repo, clean)
    assert [str(d) for d in result.report.sorted()] == [str(d) for d in expected.report.sorted()]
    assert not result.report.errors()
    assert (out / ".govsite/manifest.json").read_bytes() == \
        (clean / ".govsite/manifest.json").read_bytes()
    if walked is not None:
        walked[:] = found
    return result.report


def test_an_edit_in_a_checkout_is_found_by_asking_git_without_walking_the_sources(
        repo, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    cache, out, clean = tmp_path / "cache", tmp_path / "out", tmp_path / "clean"
    (repo / "content/portal/news/notes.bak").write_text("草稿备份")   # warned of, never committed
    first = _built_as_clean(repo, out, cache, clean)
    assert any("notes.bak" in str(d) for d in first.sorted())
    walked = _walks(monkeypatch)
    page = repo / "content/portal/news/2.md"
    for step in ("edited", "edited again", "committed", "staged"):
        if step == "committed":
            git(repo, "commit", "-qam", "edit")   # HEAD moves past the commit git compared with
        else:
            page.write_text(NEWS.format(n=f"（{step}）"), encoding="utf-8")
            if step == "staged":
                git(repo, "add", str(page))
        report = _built_as_clean(repo, out, cache, clean, walked)
        assert walked == [], step
        # (What discovering warned of, warned again as it was.)
        assert [str(d) for d in report.sorted()] == [str(d) for d in first.sorted()], step
    assert "（staged）" in (out / "www.example.gov.cn/news/2.html").read_text(encoding="utf-8")


SHAKEN = {
    "a page added": lambda repo: (repo / "content/portal/news/9.md").write_text(
        NEWS.format(n=9), encoding="utf-8"),
    "a page deleted": lambda repo: (repo / "content/portal/news/3.md").unlink(),
    "a file not published added": lambda repo: (repo / "content/portal/news/x.tmp").write_text("x"),
    "a page told to git as unchanged, then edited": lambda repo: (
        git(repo, "update-index", "--assume-unchanged", "content/portal/news/1.md"),
        (repo / "content/portal/news/1.md").write_text(NEWS.format(n="（改）"), encoding="utf-8")),
    "git set to convert line endings": lambda repo: git(repo, "config", "core.autocrlf", "true"),
    "the commit compared with gone": lambda repo: (
        git(repo, "checkout", "-q", "--orphan", "other"), git(repo, "commit", "-qm", "again"),
        git(repo, "branch", "-D", "-q", "master" if "master" in git(repo, "branch") else "main"),
        git(repo, "reflog", "expire", "--expire=now", "--all"), git(repo, "gc", "-q", "--prune=now")),
}


@pytest.mark.parametrize("change", sorted(SHAKEN))
def test_what_git_cannot_say_of_since_the_last_build_is_found_by_walking(
        repo, tmp_path, monkeypatch, change):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    cache, out, clean = tmp_path / "cache", tmp_path / "out", tmp_path / "clean"
    _built_as_clean(repo, out, cache, clean)
    walked = _walks(monkeypatch)
    SHAKEN[change](repo)
    _built_as_clean(repo, out, cache, clean, walked)
    assert walked, change
