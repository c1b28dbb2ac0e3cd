"""Incremental builds: after any sequence of edits, a build that reuses the previous output and
cache writes exactly the bytes a clean build writes; changes.json names what changed."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import jinja2
import pytest
from conftest import FIXTURES, require
from test_discover import git
from test_golden import tree

from govsite import discover, output, themes
from govsite.build import build
from govsite.cache import Cache

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the small fixture, built once with a cache: (project, build folder, cache)."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out, cache = tmp_path / "build", tmp_path / "cache"
    build(project, out, now=NOW, cache=cache)
    return project, out, cache


def _pages(project: Path) -> list[Path]:
    """Published-looking pages an edit may touch (not the fixture's planted unpublished ones)."""
    return sorted(p for p in (project / "content").rglob("*.md") if p.name != "_index.md"
                  and not any(w in p.name for w in ("draft", "scheduled", "expired", "withdrawn")))


def _linked(project: Path, page: Path) -> bool:
    """Whether another file links to this one (moving it would break that link, on purpose)."""
    name = page.name
    return any(name in other.read_text(encoding="utf-8") for other in (project / "content").rglob("*.md")
               if other != page)


def edit(project: Path, rng: random.Random) -> str:
    pages = _pages(project)
    page = rng.choice(pages)
    action = rng.choice(["body", "title", "delete", "rename", "move", "new", "attachment"])
    free = [p for p in pages if not _linked(project, p) and "policy" not in p.parts
            and "jiedu" not in p.parts and "service" not in p.parts]
    if action in ("delete", "rename", "move") and not free:
        action = "body"
    if action == "body":
        page.write_text(page.read_text(encoding="utf-8") + f"\n补充说明第{rng.randint(1, 99)}条。\n",
                        encoding="utf-8")
    elif action == "title":
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("title: ", f"title: （更新{rng.randint(1, 9)}）", 1), encoding="utf-8")
    elif action == "delete":
        page = rng.choice(free)
        page.unlink()
    elif action == "rename":
        page = rng.choice(free)
        page.rename(page.with_name(f"renamed-{rng.randint(1, 999)}.md"))
    elif action == "move" and any(p.parent.name == "news" for p in free):   # news to another site
        page = rng.choice([p for p in free if p.parent.name == "news"])
        target = rng.choice([project / "content/county/news", project / "content/portal/news"])
        if page.parent != target:
            shutil.move(page, target / f"moved-{rng.randint(1, 999)}.md")
    elif action == "attachment":   # new bytes, same name: published as they are now
        page = rng.choice(sorted(p for p in (project / "content").rglob("*") if p.is_file()
                                 and p.suffix in (".pdf", ".png", ".docx")))
        page.write_bytes(page.read_bytes() + f"{rng.randint(1, 99)}".encode())
    elif action == "new":
        (project / "content/county/news" / f"2024-06-{rng.randint(10, 28)}-new.md").write_text(
            "---\ntitle: 新增的新闻\ndate: 2024-06-01 09:00\nsource: 办公室\n---\n\n新增正文。\n",
            encoding="utf-8")
    return f"{action} {page.relative_to(project)}"


def _site_files(out: Path) -> dict[str, bytes]:
    files = tree(out)
    files.pop(".govsite/changes.json")  # describes this run, not the site
    return files


@pytest.mark.parametrize("seed,jobs,checkout", [(1, None, False), (2, None, False),
                                                (3, None, False), (4, 2, False), (5, None, True)])
def test_random_edits_then_an_incremental_build_equal_a_clean_build(tmp_path, monkeypatch, seed,
                                                                    jobs, checkout):
    # With two processes, every rebuild searches in a process of its own beside rendering. In
    # a git checkout, git is asked what changed since the last build (some edits committed).
    rng = random.Random(seed)
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out, cache = tmp_path / "build", tmp_path / "cache"
    asked = _asked_git(monkeypatch)
    if checkout:
        require(shutil.which("git") is not None, "git")
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "cluster"]):
            git(project, *command)
    now = NOW
    build(project, out, now=now, cache=cache)
    done = []
    for step in range(6):
        done.append(edit(project, rng))
        if checkout and step % 2:
            git(project, "add", "-A")
            git(project, "commit", "-q", "--allow-empty", "-m", f"step {step}")
        if step == 3:
            # The clock moves past a scheduled page's date: it comes due without any edit.
            scheduled = project / "content/portal/news/2099-01-01-scheduled.md"
            scheduled.write_text(scheduled.read_text(encoding="utf-8").replace("2099-01-01", "2025-02-01"),
                                 encoding="utf-8")
            now += timedelta(days=60)
            done.append("scheduled page comes due")
        incremental = build(project, out, now=now, cache=cache, jobs=jobs)
        clean_out = tmp_path / f"clean-{step}"
        clean = build(project, clean_out, now=now)
        assert incremental.report.errors() == clean.report.errors() == [], done
        assert _site_files(out) == _site_files(clean_out), done
        shutil.rmtree(clean_out)
    assert any(asked) == checkout, asked   # (the edits that only change a page's text)


def _asked_git(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each build from here on found what changed by asking git (changed_since)."""
    asked: list[bool] = []
    changed_since = discover.changed_since

    def asking(*args: Any) -> Any:
        answer = changed_since(*args)
        return answer and (lambda: (since := answer(), asked.append(since is not None))[0])
    monkeypatch.setattr(discover, "changed_since", asking)
    return asked


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# Edits whose effect reaches outputs other than the edited file's own page: each such output
# must notice what it read has changed (Renderer.made), or it would be reused stale.
SHARED_EDITS = {
    "a policy's title, shown on its interpretation": lambda p: _replace(
        p / "content/portal/policy/2024-001.md", "title: ", "title: （修订）"),
    "a column's title, shown on every page in it": lambda p: _replace(
        p / "content/portal/news/_index.md", "title: 要闻动态", "title: 政务要闻"),
    "a site's name, shown where the portal lists its news": lambda p: _replace(
        p / "sites.yaml", "name: 示例县人民政府", "name: 示例县政府"),
    "a county column's title, shown where the portal lists its news": lambda p: _replace(
        p / "content/county/news/_index.md", "title: 县域动态", "title: 县里新闻"),
    "a new interpretation, listed on its policy": lambda p: (
        p / "content/portal/jiedu/2024-002-jiedu.md").write_text(
        "---\ntitle: 政策图解\ndate: 2024-05-09 10:00\nsource: 示例市发展改革委\n"
        "interprets: ../policy/2024-001.md\n---\n图解正文。\n", encoding="utf-8"),
    "a county page's date, moving it in the portal's lists": lambda p: _replace(
        p / "content/county/news/2024-05-07-harvest.md", "date: 2024-05-07", "date: 2024-05-10"),
}


@pytest.mark.parametrize("edit_name", sorted(SHARED_EDITS))
def test_an_edit_to_what_other_outputs_show_rebuilds_them(built, tmp_path, edit_name):
    project, out, cache = built
    before = _site_files(out)
    SHARED_EDITS[edit_name](project)
    incremental = build(project, out, now=NOW, cache=cache)
    clean = build(project, tmp_path / "clean", now=NOW)
    assert incremental.report.errors() == clean.report.errors() == []
    after = _site_files(out)
    assert after == _site_files(tmp_path / "clean")
    # More than the edited source's own page changed: the edit did reach other outputs.
    changed = {rel for rel in after if before.get(rel) != after[rel] and rel.endswith(".html")}
    assert len(changed) > 1, changed


def test_changes_list_the_urls_added_changed_and_removed(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out = tmp_path / "build"
    build(project, out, now=NOW)
    first = json.loads((out / ".govsite/changes.json").read_text())
    assert first["previous_build"] is False and not first["changed"] and not first["removed"]
    assert "https://www.example.gov.cn/" in first["added"]
    assert "https://www.example.gov.cn/index.html" in first["added"]
    build(project, out, now=NOW)
    again = json.loads((out / ".govsite/changes.json").read_text())
    assert (again["previous_build"], again["added"], again["changed"], again["removed"]) == (True, [], [], [])
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n补充。\n", encoding="utf-8")
    (project / "content/en/news/2024-05-08-meeting.md").unlink()
    build(project, out, now=NOW)
    changes = json.loads((out / ".govsite/changes.json").read_text())
    assert "https://county.example.gov.cn/news/2024-05-07-harvest.html" in changes["changed"]
    assert "https://www.example.gov.cn/en/news/2024-05-08-meeting.html" in changes["removed"]
    assert not any(url.endswith(".html") for url in changes["added"])


def test_a_cached_body_is_converted_again_when_a_page_it_links_to_is_withdrawn(built):
    project, out, cache = built
    target = project / "content/portal/news/2024-05-08-meeting.md"
    linking = [p for p in (project / "content").rglob("*.md")
               if "2024-05-08-meeting.md" in p.read_text(encoding="utf-8") and p != target]
    assert linking, "the fixture links to the meeting page"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("---\n", "---\ndraft: true\n", 1), encoding="utf-8")
    from govsite.diagnostics import BuildFailed
    with pytest.raises(BuildFailed) as failure:
        build(project, out, now=NOW, cache=cache)
    assert any("will not be published" in d.message for d in failure.value.report.errors())


def test_a_failed_incremental_build_leaves_the_previous_build_untouched(built):
    # Unchanged pages are hard links to the previous build's files: a failing build must never
    # write through them.
    project, out, cache = built
    before = tree(out)
    _fail_rebuild(project, out, cache, (Path(__file__).parents[1] / "themes/default/templates/"
                                        "partials/footer.html").read_text().replace(
        "</footer>", '<a href="/nowhere.html">x</a></footer>'))
    assert tree(out) == before


def _fail_rebuild(project: Path, out: Path, cache: Path, footer: str, jobs: int | None = None) -> None:
    """A page edited and the county's footer overridden with `footer`, which fails the build."""
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    path = project / "themes/sites/county/templates/partials/footer.html"
    path.parent.mkdir(parents=True)
    path.write_text(footer)
    from govsite.diagnostics import BuildFailed
    with pytest.raises(BuildFailed):
        build(project, out, now=NOW, cache=cache, jobs=jobs)


def test_an_edit_on_two_processes_searches_in_the_lean_process_and_keeps_what_it_found(
        built, tmp_path, monkeypatch):
    # An edit's search runs in the lean process (forked when the build began, small) while
    # this one claims the staging folder and renders, sent the edited pages' documents and the
    # model's bodies: its files, cache entries and problems must reach the build as if it had
    # run here.
    import govsite.build
    from govsite.parallel import LeanProcess
    project, out, cache = built
    ran: list[str] = []
    start, render, claim = LeanProcess.start, govsite.build._render, output.Staging.claim
    monkeypatch.setattr(LeanProcess, "start", lambda self, work, args, files: ran.append(
        work.__name__) or start(self, work, args, files))
    monkeypatch.setattr(govsite.build, "_render", lambda *args: ran.append("render") or render(*args))
    monkeypatch.setattr(output.Staging, "claim", lambda self: ran.append("claim") or claim(self))
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新增的说明。\n", encoding="utf-8")
    result = build(project, out, now=NOW, cache=cache, jobs=2)
    assert ran == ["_lean_edit_search", "claim", "render"] and "kept model, patched" in result.timings
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")
    # What it kept is in the cache: the next rebuild (here, to see what it counts) reads back
    # the counts of the page it counted and counts only the page edited since.
    assert _counted_after_one_edit(project, out, cache, monkeypatch) == [
        "https://www.example.gov.cn/news/2024-05-08-meeting.html"]


def test_an_edit_s_search_takes_the_documents_the_lean_process_read_while_it_waited(
        built, tmp_path, monkeypatch):
    # A lean process reads the previous build's documents before it is sent an edit's search
    # (publish.preread_documents): the search takes them from there, reads none of the site
    # records again, and keeps every one of them as used.
    from govsite.cache import Cache
    from govsite.search import publish
    project, out, cache = built
    publish.preread_documents(cache)   # (as a lean process does; the search then runs here)
    preread = dict(next(iter(publish._PREREAD_DOCUMENTS.values())))
    assert preread
    loaded: list[str] = []
    used: list[str] = []
    load, use = Cache.load, Cache.used
    monkeypatch.setattr(Cache, "load", lambda self, namespace, keys, *args, **options: load(
        self, namespace, loaded.extend(keys) or keys, *args, **options)
        if namespace == publish.DOCUMENTS else load(self, namespace, keys, *args, **options))
    monkeypatch.setattr(Cache, "used", lambda self, namespace, key: (
        used.append(key) if namespace == publish.DOCUMENTS else None, use(self, namespace, key))[1])
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新增的说明。\n", encoding="utf-8")
    assert "kept model, patched" in build(project, out, now=NOW, cache=cache, jobs=1).timings
    assert not publish._PREREAD_DOCUMENTS
    assert loaded == [publish.DOCUMENTS_INDEX] and set(preread) <= set(used)
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_an_edit_whose_documents_cannot_be_patched_in_the_lean_process_is_searched_here(
        built, tmp_path):
    # The lean process has the cluster's sites, not its pages: when the previous build's
    # documents are not there to patch, it says so, and the search is made here instead.
    import sqlite3

    from govsite.cache import Cache
    from govsite.search.publish import DOCUMENTS, DOCUMENTS_INDEX
    project, out, cache = built
    path = Cache(cache).path
    assert path is not None
    with sqlite3.connect(path) as db:   # the previous build's documents, damaged
        changed = db.execute("UPDATE entries SET value = ? WHERE namespace = ? AND key = ?",
                             (b"not a pickle", DOCUMENTS, DOCUMENTS_INDEX)).rowcount
    assert changed == 1
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新增的说明。\n", encoding="utf-8")
    result = build(project, out, now=NOW, cache=cache, jobs=2)
    assert "kept model, patched" in result.timings
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_a_rebuild_of_a_new_model_on_two_processes_searches_beside_rendering(built, tmp_path, monkeypatch):
    # A page added: the model is made anew, and the search stage runs in a process forked
    # from this one while it renders, its files, cache entries and problems brought back.
    import govsite.build
    project, out, cache = built
    finished: list[float] = []
    real = govsite.build._SearchBeside.finish
    monkeypatch.setattr(govsite.build._SearchBeside, "finish",
                        lambda self: finished.append(real(self)) or finished[-1])
    page = project / "content/county/news/2024-05-07-harvest.md"
    (page.parent / "2024-05-09-added.md").write_text(
        page.read_text(encoding="utf-8").replace("title:", "title: 新增 ", 1), encoding="utf-8")
    result = build(project, out, now=NOW, cache=cache, jobs=2)
    assert len(finished) == 1 and "search, beside render" in result.timings
    assert "kept model, patched" not in result.timings
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def _counted_after_one_edit(project: Path, out: Path, cache: Path, monkeypatch) -> list[str]:
    """The documents a rebuild counts after a sentence is added to one page."""
    counted: list[str] = []
    import govsite.search.index
    count = govsite.search.index._TermKeys.count_many
    monkeypatch.setattr(govsite.search.index._TermKeys, "count_many",
                        lambda self, docs: counted.extend(d.url for d in docs) or count(self, docs))
    page = project / "content/portal/news/2024-05-08-meeting.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n会后补记。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache, jobs=1)
    return counted


def test_a_cold_build_on_two_processes_indexes_in_a_lean_process_and_keeps_what_it_counted(
        tmp_path, monkeypatch):
    # The search stage of a cold build runs in a process forked when the build began (a
    # LeanProcess), started before rendering and waited for after it: the documents and their
    # spooled bodies are sent there, and its files, cache entries (spilled to a file) and
    # problems must reach the build as if it had run here.
    import govsite.build
    from govsite.parallel import LeanProcess
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out, cache = tmp_path / "build", tmp_path / "cache"
    ran: list[str] = []
    start, render = LeanProcess.start, govsite.build._render
    monkeypatch.setattr(LeanProcess, "start", lambda self, work, args, files: ran.append(
        work.__name__) or start(self, work, args, files))
    monkeypatch.setattr(govsite.build, "_render", lambda *args: ran.append("render") or render(*args))
    build(project, out, now=NOW, cache=cache, jobs=2)
    assert ran == ["_lean_search", "render"]
    ran.remove("render")
    build(project, tmp_path / "alone", now=NOW, jobs=1)
    assert _site_files(out) == _site_files(tmp_path / "alone")
    # What it counted is in the cache: a rebuild after one edit counts that page alone.
    assert _counted_after_one_edit(project, out, cache, monkeypatch) == [
        "https://www.example.gov.cn/news/2024-05-08-meeting.html"]
    assert ran.count("_lean_search") == 1   # (a rebuild's search works from the state kept)
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_a_cold_build_makes_its_model_in_a_process_of_its_own_and_keeps_what_it_made(
        tmp_path, monkeypatch):
    # Parsed, assembled and converted in a process that then ends (parallel.apart): the build
    # renders what it hands over, reports what it found, and keeps for the next build what
    # its cache noted and the model itself.
    import govsite.build
    from govsite.diagnostics import BuildFailed
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out, cache, pids = tmp_path / "build", tmp_path / "cache", tmp_path / "pids"
    made = govsite.build._made

    def noted(*args):
        with pids.open("a") as file:
            file.write(f"{os.getpid()}\n")
        return made(*args)

    monkeypatch.setattr(govsite.build, "_made", noted)
    result = build(project, out, now=NOW, cache=cache, jobs=2)
    assert len(pids.read_text().split()) == 1 and pids.read_text().split() != [str(os.getpid())]
    assert {"parse", "assemble", "markdown"} <= result.timings.keys()
    build(project, tmp_path / "alone", now=NOW, jobs=1)
    assert _site_files(out) == _site_files(tmp_path / "alone")
    pids.unlink()
    build(project, out, now=NOW, cache=cache, jobs=2)   # nothing changed: the kept model
    assert not pids.exists()
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")
    # What it finds stops the build, and is told where, as from any other stage.
    broken = project / "content/portal/news/2024-05-08-meeting.md"
    broken.write_text(broken.read_text(encoding="utf-8").replace("---\n", "---\ndate: [\n", 1),
                      encoding="utf-8")
    shutil.rmtree(cache)
    pids.unlink()
    with pytest.raises(BuildFailed) as failure:
        build(project, out, now=NOW, cache=cache, jobs=2)
    assert [d.path for d in failure.value.report.errors()] == ["content/portal/news/2024-05-08-meeting.md"]
    assert len(pids.read_text().split()) == 1 and pids.read_text().split() != [str(os.getpid())]


def test_a_cold_build_s_lean_search_runs_in_the_build_where_nothing_forks(tmp_path, monkeypatch):
    # Without fork a LeanProcess runs its job in the build itself when asked for the result:
    # the documents' file and the bodies' spools are read there, through the same descriptors.
    import multiprocessing

    import govsite.search.publish as publish
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    read: list[int] = []
    chunk = publish.FiledDocs._read
    monkeypatch.setattr(publish.FiledDocs, "_read", lambda self, at: read.append(at) or chunk(self, at))
    result = build(project, tmp_path / "build", now=NOW, cache=tmp_path / "cache", jobs=2)
    assert result.report.errors() == [] and read   # (read here: it ran in this process)
    monkeypatch.undo()
    build(project, tmp_path / "alone", now=NOW, jobs=1)
    assert _site_files(tmp_path / "build") == _site_files(tmp_path / "alone")


def test_a_build_that_fails_while_searching_beside_stops_the_search_and_leaves_no_trace(built):
    import multiprocessing
    project, out, cache = built
    before = tree(out)
    _fail_rebuild(project, out, cache, "{{ no_such_value }}", jobs=2)   # fails while rendering
    assert tree(out) == before
    assert not multiprocessing.active_children()
    assert not list(out.parent.glob(f".{out.name}.staging-*"))


def _search_writing_on(*args):
    """A lean search that keeps writing into the staging folder, as a large cluster's does
    for a minute: in the lean process, in place of govsite.build._lean_search (see below)."""
    staging = args[7]
    for n in range(100_000):
        staging.put(f"www.example.gov.cn/search/late-{n % 50}.json", "{}", "test")
    raise AssertionError("a search that should have been stopped")


def test_a_cold_build_that_fails_while_rendering_stops_its_search_and_leaves_no_trace(
        tmp_path, monkeypatch):
    # A cold build's search runs in its lean process while the pages render: a template
    # mistake found then must stop it before the staging folder goes (a search still writing
    # there would leave it behind), and leave no process.
    import govsite.build
    # Sent by name (pickled as govsite.build._lean_search), found under that name in the lean
    # process, which was forked from this one with the name pointing here.
    monkeypatch.setattr(_search_writing_on, "__module__", "govsite.build")
    monkeypatch.setattr(_search_writing_on, "__qualname__", "_lean_search")
    monkeypatch.setattr(govsite.build, "_lean_search", _search_writing_on)
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out = tmp_path / "build"
    path = project / "themes/sites/county/templates/partials/footer.html"
    path.parent.mkdir(parents=True)
    path.write_text("{{ no_such_value }}")
    from govsite.diagnostics import BuildFailed
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    before = set(children.read_text().split()) if children.exists() else set()
    with pytest.raises(BuildFailed):
        build(project, out, now=NOW, cache=tmp_path / "cache", jobs=2)
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.staging-*"))
    if children.exists():   # (other tests' processes may linger: none of this build's)
        assert set(children.read_text().split()) <= before


def test_unchanged_pages_are_linked_from_the_previous_build_not_rendered_again(built):
    project, out, cache = built
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    result = build(project, out, now=NOW, cache=cache)
    # Only the edited page and what lists it are rendered; the policy pages are linked.
    rendered = sum(result.template_seconds.values())
    assert "article.html" in result.template_seconds and rendered > 0
    assert "policy.html" not in result.template_seconds


def _sites_gone_through(monkeypatch) -> list[str]:
    """The sites whose pages a build goes through one by one (Renderer.kept_pages), from now on."""
    from govsite.render import Renderer
    seen: list[str] = []
    real = Renderer.kept_pages
    monkeypatch.setattr(Renderer, "kept_pages", lambda self, site_id: seen.append(site_id)
                        or real(self, site_id))
    return seen


def test_a_site_none_of_whose_outputs_read_a_change_is_linked_whole(built, tmp_path, monkeypatch):
    # An edit on the county site: the portal lists its news, the English site shows nothing of
    # it and is linked from its record, without going through its pages or rendering its lists.
    project, out, cache = built
    seen = _sites_gone_through(monkeypatch)
    _replace(project / "content/county/news/2024-05-07-harvest.md", "title: ", "title: （更新）")
    result = build(project, out, now=NOW, cache=cache)
    assert seen == ["portal", "county"]
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")
    assert result.pages == build(project, tmp_path / "clean", now=NOW).pages
    seen.clear()
    build(project, out, now=NOW, cache=cache)   # nothing changed: every site whole
    assert seen == []
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_a_page_added_to_a_site_that_stood_is_published(built, tmp_path):
    project, out, cache = built
    (project / "content/en/news/2024-06-01-visit.md").write_text(
        "---\ntitle: A visit\ndate: 2024-06-01 09:00\nsource: Example City Government\n---\n\nA delegation visited.\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    build(project, tmp_path / "clean", now=NOW)
    assert (out / "www.example.gov.cn/en/news/2024-06-01-visit.html").is_file()
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_without_the_tokens_of_what_outputs_read_nothing_is_taken_as_unchanged(built, tmp_path):
    # The tokens are how a rebuild knows what changed: a cache that lost them (damaged, or
    # written by a build that stopped) must make every output, whole-site records or not.
    import sqlite3
    project, out, cache = built
    _replace(project / "content/en/news/2024-05-08-meeting.md", "title: ", "title: Revised ")
    db = sqlite3.connect(cache / "build-cache.sqlite")
    with db:
        db.execute("DELETE FROM entries WHERE namespace = 'rendered reads'")
    db.close()
    build(project, out, now=NOW, cache=cache)
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_a_standing_site_missing_a_file_is_made_as_any_other(built, monkeypatch):
    project, out, cache = built
    expected = _site_files(out)
    seen = _sites_gone_through(monkeypatch)
    (out / "www.example.gov.cn/en/news/2024-05-08-meeting.html").unlink()
    build(project, out, now=NOW, cache=cache)
    assert seen == ["en"]
    assert _site_files(out) == expected


def test_a_sitemap_is_made_again_only_when_a_page_of_its_site_changed(built, tmp_path,
                                                                     monkeypatch):
    # A sitemap lists every page of its site (a tenth of a second per 20,000 pages to write):
    # an edit on one site leaves the other sites' sitemaps as they were, linked.
    import govsite.sitemap
    project, out, cache = built
    made: list[str] = []
    real = govsite.sitemap._urlset
    monkeypatch.setattr(govsite.sitemap, "_urlset", lambda urls: made.append(urls[0][0]) or real(urls))
    page = project / "content/county/news/2024-05-07-harvest.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text + "\n新的一段。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert made == ["https://county.example.gov.cn/"]
    made.clear()
    _replace(project / "content/portal/news/2024-05-08-meeting.md", "title: ", "title: （更新）")
    build(project, out, now=NOW, cache=cache)
    assert made == ["https://www.example.gov.cn/"]
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def _made_again(monkeypatch) -> list[str]:
    """The outputs a build renders from now on (not linked from the previous build), by path."""
    from govsite.render import Renderer, Reused
    from govsite.urls import output_path
    made: list[str] = []
    real = Renderer.made

    def noting(self, site, url, make):
        html = real(self, site, url, make)
        if not isinstance(html, Reused):
            made.append(output_path(url))
        return html

    monkeypatch.setattr(Renderer, "made", noting)
    return made


def test_a_portal_home_is_made_again_only_for_an_edit_to_the_newest_county_news(built, tmp_path,
                                                                                 monkeypatch):
    # Without a column collecting the counties' news, the portal's home shows the newest few
    # of them: an edit to an older one leaves it as it was (a large cluster's portal stands).
    project, out, cache = built
    (project / "content/portal/counties/_index.md").write_text(
        "---\ntitle: 区县动态\ntype: news\n---\n", encoding="utf-8")
    for day in range(1, 11):
        (project / f"content/county/news/2024-04-{day:02}-work.md").write_text(
            f"---\ntitle: 四月工作{day}\ndate: 2024-04-{day:02} 09:00\nsource: 办公室\n---\n\n工作进展。\n",
            encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    made = _made_again(monkeypatch)
    _replace(project / "content/county/news/2024-04-01-work.md", "工作进展。", "工作进展顺利。")
    build(project, out, now=NOW, cache=cache)
    assert "county.example.gov.cn/news/2024-04-01-work.html" in made
    assert "www.example.gov.cn/index.html" not in made
    made.clear()
    _replace(project / "content/county/news/2024-05-07-harvest.md", "title: ", "title: （更新）")
    build(project, out, now=NOW, cache=cache)
    assert "www.example.gov.cn/index.html" in made
    assert "（更新）示例县夏收" in (out / "www.example.gov.cn/index.html").read_text(encoding="utf-8")
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_a_search_page_is_made_again_only_when_the_kinds_or_years_it_offers_change(
        built, tmp_path, monkeypatch):
    project, out, cache = built
    made = _made_again(monkeypatch)
    _replace(project / "content/county/news/2024-05-07-harvest.md", "title: ", "title: （更新）")
    build(project, out, now=NOW, cache=cache)
    assert "county.example.gov.cn/news/2024-05-07-harvest.html" in made
    assert not [rel for rel in made if rel.endswith("search.html")]
    made.clear()
    (project / "content/county/news/2019-03-01-old.md").write_text(
        "---\ntitle: 旧闻\ndate: 2019-03-01 09:00\nsource: 办公室\n---\n\n旧闻正文。\n",
        encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert {"county.example.gov.cn/search.html", "www.example.gov.cn/search.html"} <= set(made)
    assert ">2019<" in (out / "county.example.gov.cn/search.html").read_text(encoding="utf-8")
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def _keys_loaded(monkeypatch, namespace: str) -> list[str]:
    """The keys the build cache is asked for in `namespace` from now on, as they are asked."""
    import govsite.cache
    asked: list[str] = []
    real = govsite.cache.Cache.load

    def noting(self, space, keys, read=None, mapped=False):
        keys = list(keys)
        if space == namespace:
            asked.extend(keys)
        return real(self, space, keys, read, mapped)

    monkeypatch.setattr(govsite.cache.Cache, "load", noting)
    return asked


def test_an_edit_reads_back_the_html_of_only_the_pages_made_again(built, tmp_path, monkeypatch):
    # A rebuild reads back the HTML only of the pages rendered again: here the edited page
    # alone, besides the intros.
    from govsite.markup import CACHE_HTML
    project, out, cache = built
    asked = _keys_loaded(monkeypatch, CACHE_HTML)
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    pages = [p for p in _pages(project) if p != page]
    assert 1 <= len(asked) < len(pages), asked   # the other pages' HTML stays in the cache
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_documents_counted_again_are_counted_from_their_whole_text_read_back(built, tmp_path,
                                                                            monkeypatch):
    # A rebuild reads back only the start of each body's text (summaries and excerpts need no
    # more); a document counted again (here: its site was renamed, which every one of its
    # documents shows) is counted from its whole text, read back from the cache.
    from govsite.markup import CACHE_TEXT
    project, out, cache = built
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + "夏粮收购工作有序推进。" * 30
                    + "末尾独有词语鳜鱼养殖。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    asked = _keys_loaded(monkeypatch, CACHE_TEXT)
    names = project / "sites.yaml"
    names.write_text(names.read_text(encoding="utf-8").replace("name: 示例县人民政府", "name: 示例县政府"),
                     encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert asked, "the county's documents were counted again, from text read back"
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")
    shards = "".join(text.decode("utf-8") for rel, text in _site_files(out).items()
                     if rel.startswith("county.example.gov.cn/_search/t/"))
    assert "鳜鱼" in shards   # a term 300 characters into the text is in the index


def test_a_changed_attachment_is_published_with_its_new_bytes_and_the_others_linked(
        built, monkeypatch):
    project, out, cache = built
    changed = project / "content/portal/news/会议材料.pdf"
    changed.write_bytes(changed.read_bytes() + b"%% revised")
    before = (out / "www.example.gov.cn/news/meeting.png").stat().st_ino
    hashed: list[str] = []   # files whose SHA-256 the build worked out
    digest = output._digest
    monkeypatch.setattr(output, "_digest", lambda path: hashed.append(Path(path).name) or digest(path))
    build(project, out, now=NOW, cache=cache)
    assert "meeting.png" not in hashed, "an attachment published before is known by its blob id"
    assert "会议材料.pdf" in hashed
    assert (out / "www.example.gov.cn/news/会议材料.pdf").read_bytes().endswith(b"%% revised")
    assert (out / "www.example.gov.cn/news/meeting.png").stat().st_ino == before, \
        "an unchanged attachment is linked from the previous build"
    changes = json.loads((out / ".govsite/changes.json").read_text(encoding="utf-8"))
    assert [u for u in changes["changed"] if "会议材料" in u or "%E4%BC%9A" in u], changes


def test_a_page_missing_from_the_previous_build_is_rendered_again(built):
    project, out, cache = built
    expected = _site_files(out)
    (out / "www.example.gov.cn/policy/2024-001.html").unlink()
    build(project, out, now=NOW, cache=cache)
    assert _site_files(out) == expected


def test_the_search_index_is_linked_when_no_document_changed(built, monkeypatch):
    project, out, cache = built
    expected = _site_files(out)
    import govsite.search.publish

    def must_not_index(*args, **kwargs):
        raise AssertionError("indexed again although nothing changed")

    monkeypatch.setattr(govsite.search.publish, "write_indexes", must_not_index)
    build(project, out, now=NOW, cache=cache)   # a template-only change would do the same
    assert _site_files(out) == expected
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="indexed again"):
        build(project, out, now=NOW, cache=cache)


def test_an_edit_rebuilds_only_the_search_indexes_of_its_site_and_the_portal(built, tmp_path,
                                                                            monkeypatch):
    # The other sites' documents kept their contributions (an edit of the same length moves
    # neither the number of documents nor the average length), so their indexes are linked
    # whole; the output is still a clean build's.
    project, out, cache = built
    import govsite.search.publish
    indexed: list[set[str]] = []
    real = govsite.search.publish.index_files

    def noting(docs, *args, **kwargs):
        indexed.append({doc.site for doc in docs})
        return real(docs, *args, **kwargs)

    monkeypatch.setattr(govsite.search.publish, "index_files", noting)
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8").replace("小麦收获过半", "小麦收割过半"),
                    encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert {"county"} in indexed and any(len(sites) > 1 for sites in indexed)   # county, portal
    assert not any(sites == {"en"} for sites in indexed), indexed
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")
    # Seven terms for seven: "过半" goes, "meeting" comes, which the English site holds too: its
    # idf moves, and with it the English site's contributions and index.
    indexed.clear()
    page.write_text(page.read_text(encoding="utf-8").replace("收割过半", "收割过 meeting"),
                    encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert {"en"} in indexed, indexed
    build(project, tmp_path / "clean-2", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean-2")


def test_an_edited_site_s_index_files_whose_content_stayed_are_linked_not_written(built, tmp_path,
                                                                                  monkeypatch):
    # The county's documents changed, so its index is worked out again, but of its shards only
    # those holding a term the edit added or recounted differ: the others are linked.
    from govsite.output import Staging
    project, out, cache = built
    rng = random.Random(7)
    chars = "农业工业交通水利教育卫生文化旅游环境保护住房城乡建设财政税务人力资源社会保障市场监督管理"
    for n in range(120):   # enough text for an index of several shards
        words = " ".join("".join(rng.sample(chars, 2)) for _ in range(60))
        (project / f"content/county/news/2024-03-{n % 28 + 1:02}-item{n}.md").write_text(
            f"---\ntitle: 工作动态{n}\ndate: 2024-03-{n % 28 + 1:02} 09:00\nsource: 办公室\n---\n\n{words}\n",
            encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    written: list[str] = []
    real = Staging.put
    monkeypatch.setattr(Staging, "put", lambda self, rel, *args, **kwargs:
                        written.append(rel) or real(self, rel, *args, **kwargs))
    # Of the same length: the collection's statistics stay, and so the other contributions.
    _replace(project / "content/county/news/2024-05-07-harvest.md", "小麦收获过半", "小麦收割过半")
    build(project, out, now=NOW, cache=cache)
    shards = [p for p in (out / "county.example.gov.cn/_search/t").iterdir()]
    exported = [rel for rel in written if rel.startswith("county.example.gov.cn/_search/t/")]
    assert 0 < len(exported) < len(shards) / 2, (len(exported), len(shards))
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_an_unreadable_cache_is_replaced_not_trusted(built):
    project, out, cache = built
    expected = _site_files(out)
    (cache / "build-cache.sqlite").write_bytes(b"this is not a database" * 100)
    build(project, out, now=NOW, cache=cache)
    assert _site_files(out) == expected
    build(project, out, now=NOW, cache=cache)   # and the new cache is usable
    assert _site_files(out) == expected


def test_only_changed_files_are_parsed_and_counted_again(built, monkeypatch):
    # A rebuild parses the front matter, and counts the search terms, of the edited page only;
    # the rest come from the cache, and the output is still a clean build's.
    project, out, cache = built
    import govsite.frontmatter
    import govsite.search.index
    parsed, counted = [], []
    parse_page, count = govsite.frontmatter._page, govsite.search.index._TermKeys.count_many
    monkeypatch.setattr(govsite.frontmatter, "_page",
                        lambda config, source, *rest: parsed.append(source.rel)
                        or parse_page(config, source, *rest))
    monkeypatch.setattr(govsite.search.index._TermKeys, "count_many",
                        lambda self, docs: counted.extend(d.url for d in docs) or count(self, docs))
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert parsed == ["county/news/2024-05-07-harvest.md"]
    assert counted == ["https://county.example.gov.cn/news/2024-05-07-harvest.html"]
    clean = project.parent / "clean"
    build(project, clean, now=NOW)
    assert _site_files(out) == _site_files(clean)


def test_a_new_page_converts_only_itself_and_checks_no_other_body_s_links(built, monkeypatch):
    # A new page adds a link target and moves none: every cached body links as it did, so
    # only the new page is converted and no other body's links are read back to be checked.
    # A page renamed moves a target: then the cached bodies' links are read back and checked.
    project, out, cache = built
    import govsite.markup
    converted: list[str] = []
    convert = govsite.markup.Converter.convert
    monkeypatch.setattr(govsite.markup.Converter, "convert",
                        lambda self, text, source, *rest: converted.append(source)
                        or convert(self, text, source, *rest))
    checked = _keys_loaded(monkeypatch, govsite.markup.CACHE_LINKS)
    (project / "content/county/news/2024-06-20-new.md").write_text(
        "---\ntitle: 新增的新闻\ndate: 2024-06-01 09:00\nsource: 办公室\n---\n\n新增正文。\n",
        encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert converted == ["content/county/news/2024-06-20-new.md"] and checked == []
    (project / "content/county/news/2024-06-20-new.md").rename(
        project / "content/county/news/2024-06-21-renamed.md")
    build(project, out, now=NOW, cache=cache)
    assert converted[1:] == ["content/county/news/2024-06-21-renamed.md"] and checked
    _equal_to_a_clean_build(project, out)


def test_a_page_with_a_warning_warns_again_on_every_build(built):
    # Only pages that parsed without a word are cached: a hit would otherwise swallow the warning.
    project, out, cache = built
    policy = next((project / "content/portal/policy").glob("2*.md"))
    text = policy.read_text(encoding="utf-8")
    policy.write_text(re.sub(r"index_no: .*", "index_no: not-an-index-number", text), encoding="utf-8")
    for _ in range(2):
        result = build(project, out, now=NOW, cache=cache)
        assert any("索引号" in d.message for d in result.report.items)


def _entries(cache: Path) -> set[tuple[str, str, bytes]]:
    import sqlite3
    db = sqlite3.connect(cache / "build-cache.sqlite")
    try:
        return {(n, k, v if isinstance(v, bytes) else v.encode()) for n, k, v
                in db.execute("SELECT namespace, key, value FROM entries")}
    finally:
        db.close()


def test_a_failed_build_leaves_the_cache_as_it_was(built, monkeypatch):
    # New entries are written as the build goes (a few at a time here), inside one transaction
    # that only a successful build commits.
    import govsite.cache
    monkeypatch.setattr(govsite.cache, "FLUSH_EVERY", 3)
    project, out, cache = built
    before = _entries(cache)
    assert len(before) > 10
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n[坏链接](nowhere.md)\n",
                    encoding="utf-8")
    for other in _pages(project)[:4]:
        other.write_text(other.read_text(encoding="utf-8") + "\n又一段。\n", encoding="utf-8")
    from govsite.diagnostics import BuildFailed
    with pytest.raises(BuildFailed):
        build(project, out, now=NOW, cache=cache)
    assert _entries(cache) == before
    page.write_text(page.read_text(encoding="utf-8").replace("[坏链接](nowhere.md)", ""),
                    encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    after = _entries(cache)
    assert after != before and any(n == "markdown text" for n, _, _ in after - before)


def test_a_cache_another_build_holds_is_left_alone(built, monkeypatch):
    # Two builds sharing a cache folder (a second CI job, `govsite build` during another): when
    # the other takes the cache midway, this one goes on without it, warns, and deletes nothing.
    import sqlite3

    import govsite.cache
    import govsite.search.settings
    project, out, cache = built
    expected = _site_files(out)
    before = _entries(cache)
    holder = sqlite3.connect(cache / "build-cache.sqlite", timeout=0.1)
    load_settings = govsite.search.settings.load

    def taken_midway(*args, **kwargs):   # after the model was read from the cache
        holder.execute("BEGIN EXCLUSIVE")
        return load_settings(*args, **kwargs)

    monkeypatch.setattr(govsite.search.settings, "load", taken_midway)
    monkeypatch.setattr(govsite.cache, "BUSY_SECONDS", 0.2)
    try:
        result = build(project, out, now=NOW, cache=cache)
    finally:
        holder.rollback()
        holder.close()
    assert [str(d) for d in result.report.items] == [
        f"{cache.as_posix()}: warning: the build cache could not be saved: database is locked — "
        "another build is using it: give each build its own --cache"]
    assert _site_files(out) == expected
    assert _entries(cache) == before


def test_a_large_cache_value_is_a_file_of_its_own_kept_only_while_an_entry_names_it(tmp_path):
    # The search stage's state is tens of megabytes: written beside the database, not into it
    # (SQLite would write it twice). A failed build's file is never named, and the next save
    # removes it, as it removes a replaced value's file.
    import govsite.cache
    from govsite.cache import Cache

    def files() -> set[str]:
        return {p.name for p in tmp_path.iterdir() if p.name != govsite.cache.FILENAME}

    big, bigger = b"a" * govsite.cache.LARGE, b"b" * (govsite.cache.LARGE + 1)
    first = Cache(tmp_path)
    first.keep("state", "cluster", big)
    first.keep("small", "x", b"small")
    first.save()
    kept = files()
    assert len(kept) == 1
    failed = Cache(tmp_path)
    failed.keep("state", "cluster", bigger)
    failed._flush()
    failed.close()   # the build failed: nothing saved
    assert Cache(tmp_path).load("state", ["cluster"]) == {"cluster": big}
    again = Cache(tmp_path)
    again.keep("state", "cluster", bigger)
    again.used("small", "x")
    again.save()
    assert Cache(tmp_path).load("state", ["cluster"]) == {"cluster": bigger}
    assert Cache(tmp_path).load("small", ["x"]) == {"x": b"small"}
    assert len(files()) == 1 and not files() & kept, "the replaced and the failed files are gone"


def test_a_record_pickled_through_a_file_is_kept_and_read_back_as_pickle_would_write_it(tmp_path):
    # The kept model's large records are pickled into a temporary file, never held as bytes:
    # what the cache keeps is what pickle.dumps would have given, small or large.
    import pickle

    import govsite.cache
    from govsite.cache import Cache, Chunks, pickled

    small, large = {"页面": list(range(10))}, {"urls": [f"https://例子/{n}.html" for n in range(80_000)]}
    assert pickled(small) == pickle.dumps(small, pickle.HIGHEST_PROTOCOL)
    made = pickled(large)
    assert isinstance(made, Chunks), "a large record goes to a file of its own"
    cache = Cache(tmp_path)
    cache.keep("model", "small", pickled(small))
    cache.keep("model", "large", made)
    cache.save()
    stored = Cache(tmp_path).load("model", ["small", "large"])
    assert len(pickle.dumps(large, pickle.HIGHEST_PROTOCOL)) > govsite.cache.LARGE
    assert stored == {"small": pickle.dumps(small, pickle.HIGHEST_PROTOCOL),
                      "large": pickle.dumps(large, pickle.HIGHEST_PROTOCOL)}


def test_a_large_cache_drops_unused_entries_once_those_written_since_are_a_tenth_of_it(
        tmp_path, monkeypatch):
    # Finding the unused entries reads every key (half a second at 100,000 pages) for the few
    # an edit leaves: a large cache sweeps only once a tenth of it was written since.
    import govsite.cache
    from govsite.cache import Cache
    monkeypatch.setattr(govsite.cache, "SWEEP_ALWAYS", 10)
    first = Cache(tmp_path)
    for n in range(100):
        first.keep("n", str(n), b"x")
    first.save()
    live = {str(n) for n in range(100)}
    stored = []
    for step in range(4):   # each build replaces three entries by three new ones
        cache = Cache(tmp_path)
        gone = sorted(live)[:3]
        live -= set(gone)
        for key in live:
            cache.used("n", key)
        for n in range(3):
            cache.keep("n", f"new-{step}-{n}", b"y")
            live.add(f"new-{step}-{n}")
        cache.save()
        stored.append(len(Cache(tmp_path).load("n", [str(n) for n in range(100)]
                                               + [f"new-{s}-{n}" for s in range(4) for n in range(3)])))
    # 3, 6, 9 written since the sweep: a tenth of 100 entries is reached at 12.
    assert stored == [103, 106, 109, 100]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_build_of_some_sites_leaves_no_entry_a_later_build_would_take_for_current(
        built, tmp_path, monkeypatch, jobs):
    # A large cache keeps unused entries until a sweep is due. A `--site` build neither uses
    # nor brings up to date the other sites' outputs and indexes: their entries describe an
    # older build, and a full build must not reuse them as if they were the previous one's.
    import govsite.cache
    monkeypatch.setattr(govsite.cache, "SWEEP_ALWAYS", -1)   # as a large cache: never due
    monkeypatch.setattr(govsite.cache, "SWEEP_SHARE", 0)
    project, out, cache = built
    page = project / "content/county/news/2024-05-07-harvest.md"
    _replace(page, "title: ", "title: （更正）")
    build(project, out, now=NOW, cache=cache, only=("en",), jobs=jobs)
    build(project, out, now=NOW, cache=cache, jobs=jobs)
    build(project, tmp_path / "clean", now=NOW)
    assert _site_files(out) == _site_files(tmp_path / "clean")


def test_the_files_the_cache_names_are_found_through_an_index_not_by_reading_every_value(built):
    # Every save asks which files entries name; reading every value for it took 0.6 s at
    # 100,000 pages.
    import sqlite3

    from govsite.cache import FILE_MARK, NAMED_FILES
    _, _, cache = built
    db = sqlite3.connect(cache / "build-cache.sqlite")
    try:
        plan = " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + NAMED_FILES, [FILE_MARK]))
    finally:
        db.close()
    assert "USING INDEX named" in plan, plan


def test_a_first_build_saves_its_whole_cache_into_a_folder_it_creates(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    cache = tmp_path / "new" / "cache"
    result = build(project, tmp_path / "build", now=NOW, cache=cache)
    assert not result.report.items, result.report.items
    namespaces = {n for n, _, _ in _entries(cache)}
    assert {"parsed page", "markdown text", "markdown html", "rendered", "rendered reads",
            "search counts", "search terms", "search site"} <= namespaces
    named = [v.decode() for n, k, v in _entries(cache) if (n, k) == ("search terms", "cluster")]
    assert (cache / named[0].removeprefix("@file:")).is_file()


def test_a_pack_keeps_what_a_build_got_or_put_and_is_written_again_only_when_that_changed(tmp_path):
    first = Cache(tmp_path)
    pack = first.load_packs("pages", ["portal"], "code 1")["portal"]
    pack.put("a", {"title": "甲"})
    pack.put("b", {"title": "乙"})
    pack.save()
    first.save()

    unchanged = Cache(tmp_path)
    pack = unchanged.load_packs("pages", ["portal"], "code 1")["portal"]
    assert pack.get("a") == {"title": "甲"} and pack.get("b") == {"title": "乙"}
    assert pack.get("c") is None
    written = []
    unchanged.keep = lambda *entry: written.append(entry)   # type: ignore[method-assign]
    pack.save()
    unchanged.save()
    assert written == [], "a pack whose entries are as stored is kept, not written again"

    fewer = Cache(tmp_path)
    pack = fewer.load_packs("pages", ["portal"], "code 1")["portal"]
    assert pack.get("a") == {"title": "甲"}
    pack.save()
    fewer.save()
    assert Cache(tmp_path).load_packs("pages", ["portal"], "code 1")["portal"].get("b") is None, \
        "an entry this build did not use is dropped"
    assert Cache(tmp_path).load_packs("pages", ["portal"], "code 2")["portal"].get("a") is None, \
        "a pack other code wrote is never read"


def test_a_damaged_pack_reads_as_empty(tmp_path):
    cache = Cache(tmp_path)
    pack = cache.load_packs("pages", ["portal"])["portal"]
    pack.put("a", 1)
    pack.save()
    cache.save()
    import sqlite3
    db = sqlite3.connect(tmp_path / "build-cache.sqlite")
    db.execute("UPDATE entries SET value = ? WHERE namespace = 'pages'", [b"\x80\x05not a pickle"])
    db.commit()
    db.close()
    assert Cache(tmp_path).load_packs("pages", ["portal"])["portal"].get("a") is None


def _made_up_state(n: int):
    """A term state of n postings over two documents, every array filled (no real text)."""
    import numpy as np

    from govsite.search.index import TermState
    keys = np.arange(n, dtype=np.int64) * 3
    return TermState(["a" * 64, "b" * 64], keys, np.arange(n, dtype=np.int32) % 2,
                     np.arange(n, dtype=np.int32) % 7 + 1, np.array([3.0, 4.0]), [],
                     np.arange(n, dtype=np.int32) % 90 + 1, keys, np.arange(n + 1, dtype=np.int64),
                     keys % 1000, 5 * n)


def test_the_search_state_is_read_back_as_a_memory_map_whose_pages_can_be_let_go(tmp_path):
    # The update merges the previous build's postings and then drops their pages from memory
    # (TermState.release): at 100,000 pages they are 700 MB, held beside the merged ones.
    import numpy as np
    from conftest import mapped_state
    state = _made_up_state(300_001)   # odd: the 32-bit arrays are padded for the 64-bit ones after them
    back = mapped_state(tmp_path, state)
    for array in (back.docs, back.tf, back.values):
        back.release(array)
    # Let go of, not lost: read again from the file when used.
    for name in ("keys", "docs", "tf", "lengths", "values", "vocabulary", "starts", "hashes"):
        assert np.array_equal(getattr(back, name), getattr(state, name)), name
    assert (back.term_bytes, back.tag, back.mean) == (state.term_bytes, state.tag, "3.5")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the resident size from /proc")
def test_an_edits_indexes_let_go_of_the_state_pages_they_read(tmp_path):
    # Each site's index reads part of the mapped state; what it read is dropped from the
    # process's memory afterwards (TermState.release_all) and read again from the file if used.
    import numpy as np
    from conftest import mapped_state

    def resident_mb() -> float:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024

    state = _made_up_state(2_000_001)
    back = mapped_state(tmp_path, state)
    expected = {name: getattr(state, name).copy() for name in ("docs", "tf", "values", "starts")}
    del state
    assert all(int(getattr(back, name).sum()) == int(value.sum()) for name, value in expected.items())
    read = resident_mb()
    back.release_all()
    assert resident_mb() < read - 40   # the mapped pages read (some 60 MB) are let go of
    for name, value in expected.items():   # and read again when used
        assert np.array_equal(getattr(back, name), value), name


def test_templates_compiled_by_one_build_are_not_compiled_again_by_the_next(built, monkeypatch):
    project, out, cache = built
    themes._environment.cache_clear()   # as in a new process
    compiled: list[str] = []
    real = jinja2.Environment._compile

    def compile_(self, source, filename):
        compiled.append(filename)
        return real(self, source, filename)

    monkeypatch.setattr(jinja2.Environment, "_compile", compile_)
    page = _pages(project)[0]
    page.write_text(page.read_text(encoding="utf-8") + "\n又一句。\n", encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert compiled == []
    # A template of the same name with other source is compiled again, and what it says shows.
    base = project / "themes/default/templates/base.html"
    base.parent.mkdir(parents=True)
    shutil.copy(themes.BUILTIN / "default/templates/base.html", base)
    build(project, out, now=NOW, cache=cache)
    themes._environment.cache_clear()
    compiled.clear()
    base.write_text(base.read_text(encoding="utf-8").replace("</body>", "<!-- 新模板 --></body>"),
                    encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert compiled == [str(base)]
    assert "<!-- 新模板 -->" in (out / "www.example.gov.cn/index.html").read_text(encoding="utf-8")


def test_a_template_saved_between_two_builds_of_one_process_shows_in_the_second(built):
    # `govsite serve` builds again in the same process when a template is saved. Templates are
    # not checked for changes as each page asks for them (themes._drop_stale): each build checks
    # them once, so the second build must render the saved template, not the one loaded before.
    project, out, cache = built
    base = project / "themes/default/templates/base.html"
    base.parent.mkdir(parents=True)
    shutil.copy(themes.BUILTIN / "default/templates/base.html", base)
    themes._environment.cache_clear()   # as in a new process, which finds the theme folder
    build(project, out, now=NOW, cache=cache)
    base.write_text(base.read_text(encoding="utf-8").replace("</body>", "<!-- 保存后 --></body>"),
                    encoding="utf-8")
    later = base.stat().st_mtime + 1   # (a save within the clock's resolution is still a save)
    os.utime(base, (later, later))
    build(project, out, now=NOW, cache=cache)
    assert "<!-- 保存后 -->" in (out / "www.example.gov.cn/index.html").read_text(encoding="utf-8")
    assert "<!-- 保存后 -->" in (out / "county.example.gov.cn/index.html").read_text(encoding="utf-8")


def test_edits_scored_as_an_overlay_of_the_search_state_build_as_a_clean_build(tmp_path,
                                                                             monkeypatch):
    # Pages of one length edited (a word for another, now and then one no page held, and
    # once back to what the state holds) keep the average length: the search stage lays the
    # edits over the previous state (search/overlay.py) instead of merging them. Its output
    # must still be a clean build's, round after round.
    import govsite.search.index
    import govsite.search.overlay as overlay
    # Small shards, so that an edit touches some of them and the others are kept.
    monkeypatch.setattr(govsite.search.index, "SHARD_BYTES", 150)
    rng = random.Random(5)
    words = ["营商环境", "社会保险", "住房公积", "办理流程", "养老服务", "交通出行", "孑孓之虫", "饕餮之徒"]
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    news = project / "content/county/news"

    def page(n: int, body: str) -> None:
        (news / f"2024-03-{n:02}-note.md").write_text(
            f"---\ntitle: 县务简报第{n}期\ndate: 2024-03-{n:02} 09:00\nsource: 示例县政府办\n---\n{body}\n",
            encoding="utf-8")

    def body() -> str:
        chosen = [rng.choice(words) for _ in range(9)]
        chosen.append(rng.choice(words) if rng.random() < 0.7 else
                      "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(4)))
        return " ".join(chosen)

    first = {n: body() for n in range(1, 29)}
    for n, text in first.items():
        page(n, text)
    out, cache = tmp_path / "build", tmp_path / "cache"
    build(project, out, now=NOW, cache=cache)
    overlaid = []
    real = overlay._overlay
    monkeypatch.setattr(overlay, "_overlay", lambda *args: overlaid.append(real(*args)) or overlaid[-1])
    edited: list[int] = []
    for step in range(6):
        # Step 4 puts back what the state holds of the pages step 3 edited.
        edited = edited if step == 4 else rng.sample(sorted(first), 2)
        for n in edited:
            page(n, first[n] if step == 4 else body())
        overlaid.clear()
        incremental = build(project, out, now=NOW, cache=cache)
        clean_out = tmp_path / f"clean-{step}"
        build(project, clean_out, now=NOW)
        assert incremental.report.errors() == []
        assert _site_files(out) == _site_files(clean_out), step
        assert overlaid and overlaid[-1] is not None, f"step {step} was not overlaid"
        shutil.rmtree(clean_out)


def _took_kept_model(monkeypatch) -> list[bool]:
    """For each build from now on, whether it took the previous build's model (snapshot)."""
    import govsite.build
    taken: list[bool] = []
    model = govsite.build._model

    def noting(project, only, report, now, preview, stages, store, jobs):
        made = model(project, only, report, now, preview, stages, store, jobs)
        if store.path is not None:   # (a clean build to compare with has no model to take)
            taken.append(made.edited is not None)
        return made

    monkeypatch.setattr(govsite.build, "_model", noting)
    return taken


def _equal_to_a_clean_build(project: Path, out: Path, now: datetime = NOW) -> None:
    clean = project.parent / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    result = build(project, clean, now=now)
    assert result.report.errors() == []
    assert _site_files(out) == _site_files(clean)


def test_an_edit_to_a_page_s_text_patches_the_kept_model_and_converts_that_page_alone(
        built, monkeypatch):
    project, out, cache = built
    import govsite.frontmatter
    import govsite.markup
    taken = _took_kept_model(monkeypatch)
    parsed, converted = [], []
    parse, convert = govsite.frontmatter.parse, govsite.markup.Converter.convert
    monkeypatch.setattr(govsite.frontmatter, "parse",
                        lambda *args, **kwargs: parsed.append(1) or parse(*args, **kwargs))
    monkeypatch.setattr(govsite.markup.Converter, "convert",
                        lambda self, text, source, *rest: converted.append(source)
                        or convert(self, text, source, *rest))
    _replace(project / "content/county/news/2024-05-07-harvest.md", "全县小麦收获过半。",
             "全县小麦收获过半，秋粮播种开始。")
    result = build(project, out, now=NOW, cache=cache)
    assert taken == [True] and not parsed
    assert converted == ["content/county/news/2024-05-07-harvest.md"]
    assert "秋粮播种" in (out / "county.example.gov.cn/news/2024-05-07-harvest.html").read_text(
        encoding="utf-8")
    assert "kept model, patched" in result.timings
    # A dated page's title is nothing assemble() joins on either; what shows it is made again.
    _replace(project / "content/county/news/2024-05-07-harvest.md", "title: ", "title: （更新）")
    build(project, out, now=NOW, cache=cache)
    assert taken == [True, True]
    _equal_to_a_clean_build(project, out)


# Edits to what assemble() joins on, or to more than pages: each assembles the cluster anew.
JOINED_EDITS = {
    "a page's date": lambda p: _replace(
        p / "content/county/news/2024-05-07-harvest.md", "date: 2024-05-07", "date: 2024-05-10"),
    "an undated page's title, which orders its column": lambda p: _replace(
        p / "content/portal/about/contact.md", "title: 联系我们", "title: 联系方式"),
    "a page turned into a draft": lambda p: _replace(
        p / "content/portal/about/contact.md", "title: ", "draft: true\ntitle: "),
    "an interpretation's policy": lambda p: _replace(
        p / "content/portal/jiedu/2024-001-jiedu.md", "interprets: ../policy/2024-001.md",
        "interprets: ../policy/2020-009.md"),
    "a page listed in another column too": lambda p: _replace(
        p / "content/county/news/2024-05-07-harvest.md", "title: ",
        "also_in: [site:portal/news]\ntitle: "),
    "a column's intro": lambda p: _replace(
        p / "content/county/news/_index.md", "title: 县域动态", "title: 县里新闻"),
    "a new page": lambda p: (p / "content/county/news/2024-06-20-new.md").write_text(
        "---\ntitle: 新增的新闻\ndate: 2024-06-01 09:00\nsource: 办公室\n---\n\n新增正文。\n",
        encoding="utf-8"),
    "a page deleted": lambda p: (p / "content/portal/about/contact.md").unlink(),
    "sites.yaml": lambda p: _replace(p / "sites.yaml", "name: 示例县人民政府", "name: 示例县政府"),
}


@pytest.mark.parametrize("edit_name", sorted(JOINED_EDITS))
def test_an_edit_to_what_assemble_joins_on_assembles_the_cluster_anew(built, monkeypatch,
                                                                     edit_name):
    project, out, cache = built
    taken = _took_kept_model(monkeypatch)
    JOINED_EDITS[edit_name](project)
    result = build(project, out, now=NOW, cache=cache)
    assert result.report.errors() == []
    assert taken == [False]
    _equal_to_a_clean_build(project, out)


def test_the_kept_model_stands_until_the_clock_changes_a_page_s_state(built, monkeypatch):
    # The fixture's scheduled page comes due on 2099-01-01: a day later nothing has changed by
    # the clock, and the kept model stands; past that date the cluster is assembled anew.
    project, out, cache = built
    taken = _took_kept_model(monkeypatch)
    build(project, out, now=NOW + timedelta(days=1), cache=cache)
    due = datetime(2099, 1, 2, tzinfo=UTC)
    build(project, out, now=due, cache=cache)
    assert taken == [True, False]
    assert (out / "www.example.gov.cn/news/2099-01-01-scheduled.html").is_file()
    _equal_to_a_clean_build(project, out, due)


def test_what_the_kept_model_reported_is_reported_again_and_an_edit_to_it_is_parsed(
        built, monkeypatch):
    project, out, cache = built
    taken = _took_kept_model(monkeypatch)
    policy = project / "content/portal/policy/2020-009.md"
    policy.write_text(re.sub(r"index_no: .*", "index_no: not-an-index-number",
                             policy.read_text(encoding="utf-8")), encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    _replace(project / "content/county/news/2024-05-07-harvest.md", "全县", "全县范围")
    other = build(project, out, now=NOW, cache=cache)
    policy.write_text(policy.read_text(encoding="utf-8") + "\n补充一句。\n", encoding="utf-8")
    itself = build(project, out, now=NOW, cache=cache)
    assert taken == [False, True, False]
    for result in (other, itself):
        assert [d.path for d in result.report.items if "索引号" in d.message] == [
            "content/portal/policy/2020-009.md"]
    _equal_to_a_clean_build(project, out)


def test_a_patched_page_that_drops_its_link_to_an_attachment_leaves_it_unpublished(
        built, monkeypatch):
    # Which attachments are published follows every body's links: those of a page taken anew too.
    project, out, cache = built
    taken = _took_kept_model(monkeypatch)
    meeting = project / "content/portal/news/2024-05-08-meeting.md"
    text = meeting.read_text(encoding="utf-8")
    published = out / "www.example.gov.cn/news/会议材料.pdf"
    assert published.is_file()
    meeting.write_text(text.replace("下载[会议材料](会议材料.pdf)。", "会议材料另行印发。"),
                       encoding="utf-8")
    unlinked = build(project, out, now=NOW, cache=cache)
    assert not published.exists()
    assert [d.path for d in unlinked.report.items] == ["content/portal/news/会议材料.pdf"]
    _equal_to_a_clean_build(project, out)
    meeting.write_text(text, encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert published.is_file()
    assert taken == [True, True]
    _equal_to_a_clean_build(project, out)


def test_a_patched_build_remembers_what_its_outputs_read_as_a_clean_build_works_it_out(built):
    # Renderer.compare keeps the previous token of every read an edit to a page's text cannot
    # change: each must be what working it out from a clean model gives, or the next build
    # would compare against a stale one.
    import orjson

    from govsite import markup
    from govsite.build import READS, _Stages, load_cluster
    from govsite.cache import Cache
    from govsite.diagnostics import Report
    from govsite.render import Renderer
    project, out, cache = built
    _replace(project / "content/county/news/2024-05-07-harvest.md", "全县", "全县范围")
    build(project, out, now=NOW, cache=cache)
    stored = orjson.loads(Cache(cache).load(READS, ["cluster"])["cluster"])
    report = Report(project)
    cluster = load_cluster(project, report, NOW, False, _Stages(report, False))
    renderer = Renderer(cluster, markup.convert_all(cluster, report))
    assert any(read.startswith("pages_by_site\0") for read in stored)
    assert {read: renderer.token(read) for read in stored} == stored


def test_told_what_was_edited_compare_works_out_again_the_edited_pages_their_lists_and_whole_maps(
        built):
    # Every other read keeps the previous build's token unworked (an edit of a page changes
    # nothing assemble() joins on): an output that iterates a whole map, which holds the
    # edited page too, must still be found changed, and its new token kept for the next build.
    from govsite import markup
    from govsite.build import _Stages, load_cluster
    from govsite.diagnostics import Report
    from govsite.render import Renderer
    project, _, _ = built
    report = Report(project)
    cluster = load_cluster(project, report, NOW, False, _Stages(report, False))
    bodies = markup.convert_all(cluster, report)
    edited = "county/news/2024-05-07-harvest"
    other = "portal/news/2024-05-08-meeting"
    reads = {"bodies\0*", "pages\0*", edited, "pages_by_site\0county", other, "column_items\0portal/news",
             "pages_by_site\0portal", "column_items\0county/news"}
    now = {read: Renderer(cluster, bodies).token(read) for read in reads}
    before = {**now, "bodies\0*": "then", edited: "then", "pages_by_site\0county": "then"}
    renderer = Renderer(cluster, bodies)
    renderer.compare(before, frozenset({edited}))
    site, base = cluster.sites["county"], renderer.base(cluster.sites["county"])
    for read in ("bodies\0*", edited, "pages_by_site\0county"):
        assert not renderer.stands(site, base, [read])
    for read in ("pages\0*", other, "column_items\0portal/news", "pages_by_site\0portal", "column_items\0county/news"):
        assert renderer.stands(site, base, [read])
    assert renderer.tokens(set(before)) == now


def test_the_kept_model_is_read_only_when_it_can_be_patched_and_written_where_it_changed(
        built, monkeypatch):
    # Its index (every source's digest) tells a page added from a page edited: the records
    # are not read for an edit that assembles the cluster anew. Either way a site record is
    # written only for a site whose pages or bodies changed; the others stay as they are.
    import govsite.cache
    from govsite.snapshot import CLUSTER, INDEX, MODEL, TARGETS
    project, out, cache = built
    read = _keys_loaded(monkeypatch, MODEL)
    written: list[str] = []
    keep = govsite.cache.Cache.keep
    monkeypatch.setattr(govsite.cache.Cache, "keep", lambda self, space, key, value: (
        written.append(key) if space == MODEL else None) or keep(self, space, key, value))
    (project / "content/county/news/2024-06-20-new.md").write_text(
        "---\ntitle: 新增的新闻\ndate: 2024-06-01 09:00\nsource: 办公室\n---\n\n新增正文。\n",
        encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    assert read == [INDEX, TARGETS]   # (the link targets, which the new page adds to)
    sites_written = [key for key in written if key not in (INDEX, CLUSTER, TARGETS)]
    assert len(sites_written) == 1 and {INDEX, CLUSTER, TARGETS} <= set(written)   # the county's
    read.clear()
    written.clear()
    _replace(project / "content/county/news/2024-06-20-new.md", "新增正文。", "新增正文，补充。")
    build(project, out, now=NOW, cache=cache)
    # The records of three sites, and the link targets the cluster's record is kept without.
    assert read[:2] == [INDEX, CLUSTER] and read[-1] == TARGETS and len(read) == 2 + 3 + 1
    assert len(written) == 2 and INDEX in written and CLUSTER not in written   # and the county's
    _equal_to_a_clean_build(project, out)


def test_the_kept_model_takes_its_link_targets_from_their_own_record_and_is_not_taken_without_it(
        built, monkeypatch):
    # The cluster's record is kept without the link targets (TARGETS holds them once): an edit
    # joins them again, and a cache that lost that record assembles the cluster anew.
    import sqlite3

    from govsite.cache import FILENAME
    from govsite.snapshot import MODEL, TARGETS
    project, out, cache = built
    taken = _took_kept_model(monkeypatch)
    page = project / "content/county/news/2024-05-07-harvest.md"
    _replace(page, "全县小麦收获过半。",
             "全县小麦收获过半，另见[会议](site:portal/news/2024-05-08-meeting.md)。")
    build(project, out, now=NOW, cache=cache)
    assert taken == [True]
    assert "www.example.gov.cn/news/2024-05-08-meeting.html" in (
        out / "county.example.gov.cn/news/2024-05-07-harvest.html").read_text(encoding="utf-8")
    _equal_to_a_clean_build(project, out)
    with sqlite3.connect(cache / FILENAME) as db:
        db.execute("DELETE FROM entries WHERE namespace = ? AND key = ?", (MODEL, TARGETS))
    _replace(page, "，另见", "。另见")
    build(project, out, now=NOW, cache=cache)
    assert taken == [True, False]
    _equal_to_a_clean_build(project, out)


def test_an_edit_that_breaks_a_link_fails_as_a_clean_build_does_and_the_fix_builds(built):
    # The page's new body reports a problem: the kept model is not taken, the cluster is
    # assembled and the error names the file and line, as a clean build's would.
    from govsite.diagnostics import BuildFailed
    project, out, cache = built
    before = _site_files(out)
    page = project / "content/county/news/2024-05-07-harvest.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text + "\n另见[旧文](2019-01-01-gone.md)。\n", encoding="utf-8")
    with pytest.raises(BuildFailed) as failed:
        build(project, out, now=NOW, cache=cache)
    assert [(d.path, d.line) for d in failed.value.report.errors()] == [
        ("content/county/news/2024-05-07-harvest.md", 8)]
    assert _site_files(out) == before
    page.write_text(text + "\n另见[会议](site:portal/news/2024-05-08-meeting.md)。\n",
                    encoding="utf-8")
    build(project, out, now=NOW, cache=cache)
    _equal_to_a_clean_build(project, out)


def test_a_patched_build_searches_the_previous_documents_with_the_edited_page_made_again(
        built, monkeypatch):
    # The search stage of a patched build reads the previous build's documents back and makes
    # the edited page's alone; a build whose model was assembled makes every document.
    project, out, cache = built
    import govsite.search.publish
    made: list[list[str] | None] = []
    keyed = govsite.search.publish.keyed_documents
    monkeypatch.setattr(govsite.search.publish, "keyed_documents",
                        lambda cluster, bodies, keys=None, **options: made.append(
                            None if keys is None else sorted(keys)) or keyed(cluster, bodies, keys, **options))
    _replace(project / "content/county/news/2024-05-07-harvest.md", "全县小麦收获过半。",
             "全县小麦收获过半，夏播同步推进。")
    build(project, out, now=NOW, cache=cache, jobs=1)
    assert made == [["county/news/2024-05-07-harvest"]]
    assert "夏播同步推进" in (out / "county.example.gov.cn/_search/d/0.json").read_text(
        encoding="utf-8")   # the excerpt its search result shows
    _equal_to_a_clean_build(project, out)   # (the other documents as they were made)
    (project / "content/county/news/2024-06-20-new.md").write_text(
        "---\ntitle: 新增的新闻\ndate: 2024-06-01 09:00\nsource: 办公室\n---\n\n新增正文。\n",
        encoding="utf-8")
    build(project, out, now=NOW, cache=cache, jobs=1)
    assert made[1:] == [None]
    _equal_to_a_clean_build(project, out)


def test_kept_pages_are_unpickled_a_chunk_at_a_time_as_they_are_read():
    from types import SimpleNamespace

    from govsite.snapshot import KeptPages, packed

    def chunk(*keys: str) -> tuple[tuple[str, ...], bytes]:
        return keys, packed([SimpleNamespace(key=key, n=1) for key in keys])

    chunks = [chunk("a/x/1", "a/x/2"), chunk("b/x/1", "b/x/2"), chunk("a/x/3")]
    pages = KeptPages(chunks, {"a/x/1": 0, "b/x/1": 1, "a/x/2": 0, "b/x/2": 1, "a/x/3": 2})
    assert len(pages) == 5 and "b/x/2" in pages and "c/x/1" not in pages
    assert list(pages) == ["a/x/1", "b/x/1", "a/x/2", "b/x/2", "a/x/3"]   # the cluster's order
    assert pages.held() == set()
    assert pages["b/x/2"].key == "b/x/2" and pages.held() == {"b/x/1", "b/x/2"}
    with pytest.raises(KeyError):
        pages["c/x/1"]
    # A page set here stands over its chunk, which is then no longer the one kept.
    assert pages.kept_chunk(("a/x/1", "a/x/2")) == chunks[0][1]
    pages["a/x/2"] = SimpleNamespace(key="a/x/2", n=2)
    assert pages.kept_chunk(("a/x/1", "a/x/2")) is None and pages["a/x/2"].n == 2
    assert pages.kept_chunk(("a/x/3",)) == chunks[2][1]
    assert pages.kept_chunk(("a/x/3", "a/x/4")) is None   # (not as it was kept)
    by_site = pages.by_site({"a": ("a/x/1", "a/x/2", "a/x/3"), "b": ("b/x/1", "b/x/2"), "c": ()})
    assert pages.held() == {"b/x/1", "b/x/2", "a/x/2"}
    assert [page.key for page in by_site["a"]] == ["a/x/1", "a/x/2", "a/x/3"]
    assert by_site["c"] == () and len(pages.held()) == 5
    assert [page.n for page in pages.values()] == [1, 1, 2, 1, 1]
    del pages["b/x/1"]
    assert "b/x/1" not in pages and list(pages) == ["a/x/1", "a/x/2", "b/x/2", "a/x/3"]
    assert pages.kept_chunk(("b/x/1", "b/x/2")) is None


def test_packed_pages_hold_only_the_chunks_read_last(monkeypatch):
    from govsite.snapshot import CHUNK, KeptPages

    monkeypatch.setattr(KeptPages, "RECENT", 2)
    values = {f"{site}/news/{n}": Fraction(n, 7) for site in ("b", "a") for n in range(2 * CHUNK)}
    pages = KeptPages.packed(values)
    assert list(pages) == list(values) and dict(pages.items()) == values
    # Each site's values packed by CHUNK in their order, as a site record keeps them.
    assert pages.kept_chunk(tuple(f"a/news/{n}" for n in range(CHUNK))) is not None
    assert pages.kept_chunk(tuple(f"b/news/{n}" for n in range(CHUNK, 2 * CHUNK))) is not None
    first = pages["a/news/0"]
    assert pages["a/news/1"] == Fraction(1, 7) and pages["a/news/0"] is first   # its chunk is held...
    pages["b/news/0"], pages[f"b/news/{CHUNK}"]
    assert pages["a/news/0"] == first and pages["a/news/0"] is not first   # ...until two others are read


def test_a_template_change_reads_back_the_html_of_every_page_it_makes_and_converts_none(
        built, monkeypatch):
    # A kept model holds a few chunks of bodies unpacked at a time (snapshot.Chunked): the
    # bodies whose HTML was read back for the pages made again must keep it, or each would be
    # converted from its Markdown again (100,000 of them after a change to a shared template).
    import govsite.snapshot
    from govsite import markup
    project, out, _ = built
    monkeypatch.setattr(govsite.snapshot, "CHUNK", 1)   # a chunk per body
    monkeypatch.setattr(govsite.snapshot.Chunked, "RECENT", 1)
    cache = out.parent / "one-body-a-chunk"
    build(project, out, now=NOW, cache=cache, jobs=1)
    converted: list[str] = []
    convert = markup.Converter.convert
    monkeypatch.setattr(markup.Converter, "convert", lambda self, text, source, *rest: (
        converted.append(source), convert(self, text, source, *rest))[1])
    path = project / "themes/sites/portal/templates/partials/footer.html"
    path.parent.mkdir(parents=True)
    path.write_text("<footer>市政府网站</footer>", encoding="utf-8")
    result = build(project, out, now=NOW, cache=cache, jobs=1, keep_model=True)
    assert isinstance(result.model[1], govsite.snapshot.KeptBodies)   # (the kept model, patched)
    assert converted == []
    assert "市政府网站" in (out / "www.example.gov.cn/news/2024-05-08-meeting.html").read_text(encoding="utf-8")
    _equal_to_a_clean_build(project, out)


def test_a_patched_build_unpickles_only_the_kept_pages_it_reads(tmp_path, monkeypatch):
    import govsite.snapshot
    monkeypatch.setattr(govsite.snapshot, "CHUNK", 1)   # a chunk per page: every read shows
    example, project = Path(__file__).parents[1], tmp_path / "project"
    for name in ("content", "themes", "assets"):
        shutil.copytree(example / name, project / name)
    for name in ("sites.yaml", "search.yaml"):
        shutil.copy(example / name, project / name)
    out, cache, now = tmp_path / "build", tmp_path / "cache", datetime(2026, 11, 23, tzinfo=UTC)
    build(project, out, now=now, cache=cache)
    page = project / "content/longqiao/news/2026-04-10-baisha-vegetables.md"
    _replace(page, "。\n", "，今年又扩种了一成。\n")
    _replace(page, "户均年增收1.8万元", "户均年增收1.9万元")   # (its summary, in the lists)
    result = build(project, out, now=now, cache=cache, keep_model=True)
    pages = result.model[0].pages
    assert isinstance(pages, govsite.snapshot.KeptPages)
    # The county's pages (its lists, its sitemap) and the portal's, which lists the county's
    # news; of the other sites, the few that the portal's lists and feeds made again show.
    held = {site: len([key for key in pages.held() if key.startswith(site + "/")]) /
            len([key for key in pages if key.startswith(site + "/")])
            for site in ("longqiao", "en", "rsj", "scjg", "taoyuan")}
    assert held["longqiao"] == 1 and all(share < 0.5 for share in held.values() if share < 1)
    assert len([share for share in held.values() if share < 0.5]) == 4
    # And so are the bodies: those the made outputs show, the edited one taken anew.
    bodies = result.model[1]
    assert isinstance(bodies, govsite.snapshot.KeptBodies)
    assert "longqiao/news/2026-04-10-baisha-vegetables" in bodies.held()
    assert len(bodies.held()) < len(bodies) / 2
    _equal_to_a_clean_build(project, out, now)
    # What it kept is this build's pages, the edited one as edited: the next build, which
    # edits another page, finds them so.
    _replace(project / "content/longqiao/news/2026-06-12-flood-drill.md", "。\n", "，历时两小时。\n")
    build(project, out, now=now, cache=cache)
    _equal_to_a_clean_build(project, out, now)


def test_kept_documents_are_made_when_used_and_their_fields_read_without_making_them(
        monkeypatch):
    from types import SimpleNamespace

    import govsite.search.publish as publish
    from govsite.search.index import SearchDoc, doc_column

    bodies = [SimpleNamespace(lead=f"正文{n}", digest=f"d{n}") for n in range(3)]
    docs = [SearchDoc(f"https://s/{n}.html", f"标题{n}", f"正文{n}", "s", "某县", "https://s/", "要闻",
                      "news", f"2024-01-0{n + 1}", "", "", "", f"d{n}", bodies[n]) for n in range(3)]
    made: list[int] = []
    document = publish._document
    monkeypatch.setattr(publish, "_document", lambda values, body: made.append(1) or document(values, body))
    kept = publish.KeptDocs([publish._VALUES(doc) for doc in docs], ["k0", "k1", "k2"],
                            dict(zip(["k0", "k1", "k2"], bodies, strict=True)))
    assert len(kept) == 3 and doc_column(kept, "date") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert made == []
    assert kept[1] == docs[1] and kept[0:2] == docs[0:2] and len(made) == 2   # (kept[1] once)
    edited = SearchDoc("https://s/2.html", "新标题", "新正文", "s", "某县", "https://s/", "要闻", "news",
                       "2024-01-03", "", "", "", "d9", None)
    kept[2] = edited
    assert doc_column(kept, "title") == ["标题0", "标题1", "新标题"] and kept[2] is edited
    assert doc_column(kept, "text") == ["正文0", "正文1", "新正文"]   # (from the bodies)
    assert list(kept) == [docs[0], docs[1], edited]


def test_filed_documents_read_back_a_chunk_at_a_time_with_their_spooled_bodies(
        tmp_path, monkeypatch):
    # A cold build's documents go to its lean search process in a file (publish.FiledDocs),
    # read back a chunk at a time where used, their bodies' text still in the spool files.
    import tempfile

    import govsite.search.publish as publish
    from govsite import markup
    from govsite.search.index import SearchDoc, doc_column, full_text
    from govsite.spool import Spool

    monkeypatch.setattr(publish, "DOCS_PER_CHUNK", 4)
    spool = Spool(2)
    docs = []
    for n in range(11):
        body = markup.Body(None, None, f"d{n}", f"e{n}", lead=f"正文{n}"[:3],
                           spooled=spool.put(n % 2, f"<p>正文{n}</p>", f"正文{n}，全文。"))
        docs.append(SearchDoc(f"https://s/{n}.html", f"标题{n}", body.lead, f"s{n % 3}", "某县",
                              "https://s/", "要闻", "news", f"2024-01-{n + 1:02}", "", "", "",
                              f"d{n}", body if n != 5 else None))
    shipped = markup.portable(doc.body for doc in docs if doc.body is not None)
    assert shipped is not None
    heads, spools = shipped
    with tempfile.TemporaryFile() as file:
        filed = publish.file_documents(docs, dict(zip([n for n in range(11) if n != 5], heads,
                                                      strict=True)), file)
        assert len(filed[0]) == 3   # 11 documents, 4 to a chunk
        read = publish.FiledDocs(file.fileno(), filed, [f.fileno() for f in spools])
        fields = lambda doc: (doc.url, doc.title, doc.text, doc.site, doc.date)   # noqa: E731
        assert len(read) == 11 and [fields(d) for d in read] == [fields(d) for d in docs]
        assert [fields(d) for d in read[3:9]] == [fields(d) for d in docs[3:9]]   # across chunks
        assert fields(read[-1]) == fields(docs[10]) and read[5].body is None
        assert [full_text(d) for d in read] == [full_text(d) for d in docs]   # from the spool
        assert doc_column(read, "site") == [f"s{n % 3}" for n in range(11)]
        assert doc_column(read, "title") == [d.title for d in docs]   # (not a held column)
        with pytest.raises(IndexError):
            read[11]


def test_a_cold_build_s_lean_search_is_sent_its_documents_in_a_file(tmp_path, monkeypatch):
    import pickle

    from govsite.parallel import LeanProcess
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    sent: list[bytes] = []
    start = LeanProcess.start
    monkeypatch.setattr(LeanProcess, "start", lambda self, work, args, files: sent.append(
        pickle.dumps(args)) or start(self, work, args, files))
    build(project, tmp_path / "build", now=NOW, cache=tmp_path / "cache", jobs=2)
    assert len(sent) == 1 and b"SearchDoc" not in sent[0] and b"https://www.example.gov.cn/news/" \
        not in sent[0]


def test_an_edit_s_search_makes_only_the_documents_it_reads(built, monkeypatch):
    # A rebuild's search starts from the documents the previous build kept (KeptDocs), made
    # one by one when read: an edit reads few of them. Listing every document's body (which
    # only a lean process is sent) made them all, 0.5 s at 100,000 pages.
    import govsite.search.publish as publish
    project, out, cache = built
    made: list[str] = []
    document = publish._document
    monkeypatch.setattr(publish, "_document",
                        lambda values, body: made.append(values[0]) or document(values, body))
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    kept: list[int] = []
    real = publish.KeptDocs.__init__
    monkeypatch.setattr(publish.KeptDocs, "__init__",
                        lambda self, values, *rest: kept.append(len(values)) or real(self, values, *rest))
    build(project, out, now=NOW, cache=cache, jobs=1)
    assert 0 < len(made) < 4 < kept[0], (made, kept)


def test_a_site_record_written_again_keeps_what_the_bodies_it_did_not_read_link_to(tmp_path):
    # A patched build writes its site's record again with bodies it never read: what those
    # link to (the resolver's used files) is taken from the record read, not from the bodies.
    from govsite import config, snapshot
    from govsite.diagnostics import Report
    example, project = Path(__file__).parents[1], tmp_path / "project"
    for name in ("content", "themes", "assets"):
        shutil.copytree(example / name, project / name)
    for name in ("sites.yaml", "search.yaml"):
        shutil.copy(example / name, project / name)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    result = build(project, tmp_path / "build", now=now, cache=tmp_path / "cache", keep_model=True)
    expected = {key: body.files for key, body in result.model[1].items()
                if key.startswith("rsj/") and body.files}
    assert "rsj/service/unemployment-benefit" in expected   # (a form it links to)
    store = Cache(tmp_path / "cache")
    settings = config.load(project, Report(project))
    kept = snapshot.load(snapshot.index(store, settings, False), store, settings, now)
    assert kept is not None and isinstance(kept.bodies, snapshot.KeptBodies)
    assert dict(snapshot._parts(kept, {"rsj"}))["rsj"]["files"] == expected
    assert not any(key.startswith("rsj/service/") for key in kept.bodies.held())
