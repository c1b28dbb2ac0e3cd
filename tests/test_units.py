"""Unit tests of the small pure pieces every stage relies on."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from govsite import output
from govsite.assemble import state_of
from govsite.diagnostics import Report
from govsite.model import DRAFT, EXPIRED, PUBLISHED, SCHEDULED, WITHDRAWN, Withdrawal
from govsite.output import Claimed, Staging, UnsafeOutput
from govsite.urls import output_path, relative

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("source,target,expected", [
    ("https://a.gov.cn/news/x.html", "https://a.gov.cn/policy/y.html", "../policy/y.html"),
    ("https://a.gov.cn/news/x.html", "https://a.gov.cn/news/", "index.html"),
    ("https://a.gov.cn/", "https://a.gov.cn/en/news/z.html#part", "en/news/z.html#part"),
    ("https://a.gov.cn/news/x.html", "https://b.gov.cn/news/x.html", "https://b.gov.cn/news/x.html"),
    ("http://a.gov.cn/x.html", "https://a.gov.cn/y.html", "https://a.gov.cn/y.html"),
])
def test_links_are_relative_on_one_host_and_absolute_across_hosts(source, target, expected):
    assert relative(source, target) == expected


@pytest.mark.parametrize("url", [
    "https://a.gov.cn/", "https://a.gov.cn/news/x.html", "http://a.gov.cn:8080/a/b/", "https://a.gov.cn",
    "https://a.gov.cn/%E9%99%84.pdf", "https://a.gov.cn/x.html?q=1", "https://a.gov.cn/x.html#f",
    "https://user@a.gov.cn/x", "https://a.gov.cn/新闻/x y.html", "https://a.gov.cn//x"])
def test_output_path_has_a_fast_path_that_agrees_with_urlsplit(url):
    from urllib.parse import unquote, urlsplit
    parts = urlsplit(url)
    path = unquote(parts.path)
    assert output_path(url) == parts.netloc + (path + "index.html" if path.endswith("/") else path)


@pytest.mark.parametrize("path", ["/news/2024-05-08.html", "/a b/附件.pdf", "/x?y#z", "/~a_b.c-d/",
                                  "/100%/", "/A+B=C&d", "/ＡＢ/", ""])
def test_quote_path_returns_plain_paths_as_they_are_and_quotes_the_rest_like_quote(path):
    from urllib.parse import quote

    from govsite.urls import SAFE, quote_path
    assert quote_path(path) == quote(path, safe=SAFE)


def test_output_path_decodes_percent_escapes_and_serves_folders_with_index_html():
    assert output_path("https://a.gov.cn/news/%E9%99%84%E4%BB%B6.pdf") == "a.gov.cn/news/附件.pdf"
    assert output_path("https://a.gov.cn/en/") == "a.gov.cn/en/index.html"


def test_the_guard_resolves_plain_paths_by_segments_exactly_as_urljoin_does():
    # Every combination of page folder and link shape govsite writes or an editor might:
    # relative, host-absolute, dot segments (also above the host's root), folders and files.
    from itertools import product
    from urllib.parse import urljoin, urlsplit

    from govsite.urls import output_path_from
    folders = ["a.gov.cn", "a.gov.cn/news", "a.gov.cn/news/2024", "a.gov.cn/新闻/附件"]
    links = ["x.html", "./x.html", "../x.html", "../../../../x.html", "..", ".", "../", "./",
             "sub/", "sub/./y.pdf", "sub/../y.pdf", "a/b/../../c.html", "/", "/x.html", "/a/",
             "/../x.html", "...", "..x", "x/..", "x/.", "~u/", "a-b_c.d~e"]
    checked = 0
    for folder, raw in product(folders, links):
        joined = output_path_from(folder, raw)
        if joined is None:
            continue
        expected = output_path(urlsplit(urljoin(f"https://{folder}/", raw))._replace(
            query="", fragment="").geturl())
        assert joined == expected, (folder, raw)
        checked += 1
    assert checked >= len(folders) * (len(links) - 1)   # "/" alone goes the general way


def _page(**fields):
    from govsite.model import Page
    defaults = dict(key="s/c/p", site="s", column="c", name="p", kind="news", source="", digest="",
                    title="t", date=NOW - timedelta(days=1), updated=None, expires=None,
                    draft=False, withdrawn=None, summary="", keywords=(), author="",
                    content_source="", image=None, also_in=(), weight=0, origin=(),
                    date_correction="", body="", body_line=1)
    return Page(**{**defaults, **fields})


@pytest.mark.parametrize("fields,state", [
    ({}, PUBLISHED),
    ({"draft": True}, DRAFT),
    ({"date": NOW + timedelta(minutes=1)}, SCHEDULED),
    ({"expires": NOW}, EXPIRED),
    ({"expires": NOW + timedelta(days=1)}, PUBLISHED),
    ({"withdrawn": Withdrawal(NOW - timedelta(hours=1), "错误")}, WITHDRAWN),
    ({"withdrawn": Withdrawal(NOW + timedelta(hours=1), "错误")}, PUBLISHED),
    ({"draft": True, "date": NOW + timedelta(days=1)}, DRAFT),
])
def test_publishing_state_follows_the_clock_and_front_matter(fields, state):
    assert state_of(_page(**fields), NOW) == state


def test_staging_refuses_paths_that_leave_the_output_folder(tmp_path: Path):
    report = Report(tmp_path)
    staging = Staging(tmp_path / "build", tmp_path / "project", report)
    staging.write("../escape.html", "x", "s", "content/s/c/p.md")
    staging.write("/etc/passwd", "x", "s", "content/s/c/p.md")
    staging.discard()
    assert not (tmp_path / "escape.html").exists()
    assert [d.message for d in report.errors()] == [
        "output path `../escape.html` would leave the output folder",
        "output path `/etc/passwd` would leave the output folder"]


def test_two_outputs_with_one_url_are_reported_with_both_sources(tmp_path: Path):
    report = Report(tmp_path)
    staging = Staging(tmp_path / "build", tmp_path / "project", report)
    staging.write("a.gov.cn/news/index.html", "one", "s", "content/s/news/_index.md")
    staging.write("a.gov.cn/news/index.html", "two", "s", "content/s/news/index.md")
    staging.discard()
    assert str(report.errors()[0]) == (
        "content/s/news/index.md: error: output file a.gov.cn/news/index.html is also written by "
        "content/s/news/_index.md — rename one of them: two things cannot share a URL")


def test_output_folder_that_holds_the_project_is_refused(tmp_path: Path):
    with pytest.raises(UnsafeOutput):
        Staging(tmp_path, tmp_path / "project", Report(tmp_path))


def _stage(tmp_path: Path, files: dict[str, str], linked: tuple[str, ...] = ()) -> Staging:
    """One build of `files` into tmp_path/build: a file in `linked` that the previous build
    holds with the same text is linked from it, as build._render does; the others are written."""
    staging = Staging(tmp_path / "build", tmp_path / "project", Report(tmp_path))
    previous = staging.previous
    for rel, text in files.items():
        sha = hashlib.sha256(text.encode()).hexdigest()
        if rel in linked and previous.get(rel) == sha \
                and staging.link_previous(rel, sha, "o"):
            staging.record(rel, "s", "o", sha)
        else:
            staging.write(rel, text, "s", "o")
    staging.commit()
    return staging


def _contents(root: Path) -> dict[str, str | None]:
    """Every file's text and every folder (as None) under root, but govsite's own records."""
    return {str(p.relative_to(root)): p.read_text() if p.is_file() else None
            for p in root.rglob("*") if ".govsite" not in p.parts}


def test_a_rebuild_stages_into_the_replaced_tree_and_ends_with_what_a_clean_build_holds(
        tmp_path, monkeypatch):
    generations = [
        {"h/a.html": "a1", "h/news/x.html": "x1", "h/news/y.html": "y1", "h/old/z.html": "z1"},
        {"h/a.html": "a2", "h/news/x.html": "x1", "h/old": "now a file", "h/news/y.html/i": "dir"},
        {"h/a.html": "a2", "h/news/x.html": "x3", "h/old/z.html": "z again"},
        {"h/a.html": "a2", "h/news/x.html": "x3", "h/old/z.html": "z again"},
    ]
    spare = tmp_path / ".build.spare"
    links: list[str] = []
    link = os.link
    monkeypatch.setattr(os, "link", lambda a, b: (links.append(b), link(a, b)))
    for n, files in enumerate(generations):
        if n == 2:   # someone adds a file to the live build by hand
            (tmp_path / "build/h/stray.html").write_text("stray")
        links.clear()
        _stage(tmp_path, files, linked=tuple(files))
        assert _contents(tmp_path / "build") == _contents(_clean(tmp_path / f"clean{n}", files)), n
        assert spare.is_dir() == (n > 0), "the replaced tree is kept for the next build"
    # The last build reused every file. The spare it staged into (two builds back) already held
    # h/a.html with these bytes, so only the two files that differ there were linked.
    assert sorted(p.split("/", 1)[1] for p in
                  (Path(p).relative_to(tmp_path).as_posix() for p in links)) == [
        "h/news/x.html", "h/old/z.html"]


def test_a_spare_file_is_never_written_through_into_the_live_build(tmp_path):
    _stage(tmp_path, {"h/a.html": "one", "h/b.html": "b"})
    _stage(tmp_path, {"h/a.html": "one", "h/b.html": "b"}, linked=("h/a.html",))
    # The spare's h/a.html is now a link to the live one; rewriting it must not touch build/.
    staging = Staging(tmp_path / "build", tmp_path / "project", Report(tmp_path))
    staging.write("h/a.html", "two", "s", "o")
    assert (tmp_path / "build/h/a.html").read_text() == "one"
    staging.discard()


def test_a_copy_made_before_the_claim_waits_for_it_and_holds_what_the_spare_holds(tmp_path):
    # A search process is forked before the staging folder is claimed: its copy touches the
    # folder only once told, and then knows what the spare holds from its manifest.
    files = {"h/a.html": "a", "h/b.html": "b", "h/c.html": "c"}
    _stage(tmp_path, files)
    _stage(tmp_path, {**files, "h/d.html": "d"})   # (now there is a spare, holding the three)
    (tmp_path / ".build.spare/h/b.html").unlink()   # gone from it since
    staging = Staging(tmp_path / "build", tmp_path / "project", Report(tmp_path), claim=False)
    told: list[Claimed | None] = []
    copy = staging.noting(lambda: told[0])
    assert not staging.dir.exists() and staging.held == {}
    told.append(staging.claim())
    # By the spare's note: it lacks h/d.html, which the build beside it has.
    assert told == [Claimed(frozenset({"h/b.html"}), {"h/d.html": None})]
    sha = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in files.items()}
    copy.put("h/d.html", "d", "o")
    assert (staging.dir / "h/d.html").read_text() == "d"
    assert copy.held == staging.held == {"h/a.html": sha["h/a.html"], "h/c.html": sha["h/c.html"]}
    assert copy.link_previous("h/a.html", sha["h/a.html"], "o") == sha["h/a.html"]
    staging.discard()
    # No spare to claim: an empty folder, and nothing held.
    staging = Staging(tmp_path / "other", tmp_path / "project", Report(tmp_path), claim=False)
    copy = staging.noting(staging.claim)
    assert copy.link_previous("h/a.html", sha["h/a.html"], "o") == "" and copy.held == {}
    staging.discard()


def test_a_staging_shipped_to_another_process_holds_what_the_claimed_spare_holds(tmp_path):
    # An edit's search process is sent the staging: what the spare holds goes as it differs
    # from the previous build's files, which that process reads itself, not path by path.
    files = {f"h/{n}.html": str(n) for n in range(200)}
    _stage(tmp_path, files)
    _stage(tmp_path, {**files, "h/1.html": "changed", "h/new.html": "new"})
    (tmp_path / ".build.spare/h/2.html").unlink()   # gone from the spare since
    staging = Staging(tmp_path / "build", tmp_path / "project", Report(tmp_path))
    held = dict(staging.held)
    assert "h/2.html" not in held and held["h/1.html"] != staging.previous["h/1.html"]
    data = pickle.dumps(staging.shipped(), pickle.HIGHEST_PROTOCOL)
    assert len(data) < len(pickle.dumps(held)) / 4
    shipped = pickle.loads(data)   # (re-linked to the previous build's files, read anew)
    assert dict(shipped.held) == held
    assert shipped.link_previous("h/3.html", held["h/3.html"], "o") == held["h/3.html"]
    staging.discard()


def test_a_spare_is_known_by_the_note_left_in_it_and_by_its_manifest_when_that_does_not_fit(
        tmp_path, monkeypatch):
    # The build that makes a tree the spare notes in it how it differs from the build beside
    # it: the next build knows what the spare holds without reading the spare's manifest.
    read: list[Path] = []
    reader = output._read_digests
    monkeypatch.setattr(output, "_read_digests", lambda out: (read.append(out), reader(out))[1])
    build = tmp_path / "build"
    for n, files in enumerate([{"h/y.html": "a"}, {"h/y.html": "a", "h/z.html": "b"},
                               {"h/y.html": "a2", "h/w.html": "w"}, {"h/y.html": "a2"}]):
        read.clear()
        _stage(tmp_path, files, linked=tuple(files))
        assert read == [build], "only the previous build's manifest is read"
        assert _contents(build) == _contents(_clean(tmp_path / f"clean{n}", files)), n
        assert not (build / output.SPARE_NOTE).exists()
        assert (tmp_path / ".build.spare" / output.SPARE_NOTE).is_file() == (n > 0)
    # The build folder replaced by another tree since (restored from elsewhere): the note, which
    # was written beside another manifest, is not trusted, and the spare's manifest is read.
    # Trusted, it would say the spare holds h/y.html as "c", and the build would keep its "a2".
    shutil.rmtree(build)
    shutil.copytree(_clean(tmp_path / "elsewhere", {"h/y.html": "c"}), build)
    read.clear()
    _stage(tmp_path, {"h/y.html": "c"}, linked=("h/y.html",))
    assert (build / "h/y.html").read_text() == "c"
    assert len(read) == 2 and read[0] == build


@pytest.mark.parametrize("files", [0, 1, 2, 7, 12])
def test_the_manifest_written_a_batch_at_a_time_is_the_json_of_the_whole(monkeypatch, files):
    monkeypatch.setattr(output, "MANIFEST_BATCH", 3)   # batches of 3: one, several, a part
    ordered = sorted((f"s{n % 2}.example/页面/{n}.html", (f"s{n % 2}", "page", f"{n:064x}"))
                     for n in range(files))
    whole = {"files": {rel: {"sha256": digest, "site": site} for rel, (site, _, digest) in ordered},
             "version": 1}
    assert b"".join(output._manifest_lines([rel for rel, _ in ordered], dict(ordered))) == \
        orjson.dumps(whole, option=orjson.OPT_INDENT_2) + b"\n"


def test_a_build_is_known_by_its_digests_file_or_else_by_its_manifest(tmp_path):
    # govsite reads each file's digest from .govsite/digests.marshal, written beside the JSON
    # manifest; a build folder without it (an older govsite's) is known by the manifest.
    files = {"h/a.html": "a", "h/b.html": "b"}
    staging = _stage(tmp_path, files)
    sha = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in files.items()}
    digests = tmp_path / "build" / output.DIGESTS
    assert digests.is_file() and output._read_digests(tmp_path / "build")[0] == sha
    (tmp_path / "build" / output.MANIFEST).write_text("{}")   # (not read while the digests are there)
    assert output._read_digests(tmp_path / "build")[0] == sha
    staging = _stage(tmp_path, {**files, "h/c.html": "c"})
    digests.unlink()
    assert output._read_digests(tmp_path / "build")[0] == {**sha, "h/c.html": hashlib.sha256(b"c").hexdigest()}
    staging = _stage(tmp_path, files, linked=tuple(files))
    assert staging.previous["h/c.html"] and _contents(tmp_path / "build") == _contents(
        _clean(tmp_path / "clean", files))


def _clean(out: Path, files: dict[str, str]) -> Path:
    staging = Staging(out, out.parent / "project", Report(out.parent))
    for rel, text in files.items():
        staging.write(rel, text, "s", "o")
    staging.commit()
    return out


def test_a_sitemap_written_as_text_is_what_elementtree_writes():
    from xml.etree import ElementTree as ET

    from govsite.sitemap import SITEMAP, _urlset, _xml
    urls = [("https://a.gov.cn/", ""), ("https://a.gov.cn/news/x.html?a=1&b=<2>", "2024-05-01T09:00:00+08:00"),
            ("https://a.gov.cn/%E9%99%84/新闻.html", "")]
    ET.register_namespace("", SITEMAP)
    root = ET.Element(f"{{{SITEMAP}}}urlset")
    for loc, lastmod in urls:
        entry = ET.SubElement(root, f"{{{SITEMAP}}}url")
        ET.SubElement(entry, f"{{{SITEMAP}}}loc").text = loc
        if lastmod:
            ET.SubElement(entry, f"{{{SITEMAP}}}lastmod").text = lastmod
    assert _urlset(urls) == _xml(root)


def test_a_bodys_lead_gives_the_summary_and_excerpt_its_whole_text_gives():
    # Rebuilds read back only Body.lead: the summaries (shorten) and the search excerpts made
    # from it must be those the whole text gives, whatever its length and spacing.
    import random

    from govsite.markup import Body, shorten
    from govsite.search.index import EXCERPT
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(["政务公开", " ", "  \n", "a", "。", "\t" * 30])
                       for _ in range(rng.randint(0, 120)))
        body = Body("<p></p>", text, "digest")
        assert body.text == text
        assert shorten(body.lead) == shorten(text)
        assert " ".join(body.lead[:EXCERPT * 2].split())[:EXCERPT] == \
            " ".join(text[:EXCERPT * 2].split())[:EXCERPT]


def _malloc_in_use() -> int:
    """Bytes the C library's allocator has handed out (glibc's mallinfo2), or skips."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("needs glibc 2.33 or later")
    mallinfo2.restype = Mallinfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd


def test_converting_markdown_gives_back_every_byte_the_c_library_took():
    # cmarkgfm's own converter keeps each parsed document and its HTML (21 KB a body): a
    # 100,000-page build's markdown workers grew by a gigabyte each.
    from govsite.markup import commonmark
    text = "# 标题\n\n| 列 | 值 |\n|:--|--:|\n| a | ~~b~~ |\n\n" + "政务公开，便民服务。" * 300
    assert '<td align="right"><del>b</del></td>' in commonmark(text)
    before = _malloc_in_use()
    for _ in range(300):
        commonmark(text)
    assert _malloc_in_use() - before < 300 * 1024   # a leak would be 300 times the document


def _resident_and_read(size: int, descriptors: list[int]) -> tuple[int, bytes]:
    """(In a lean process:) its resident size, and the first bytes of the file it was sent."""
    with open("/proc/self/status", encoding="ascii") as status:
        resident = next(int(line.split()[1]) << 10 for line in status if line.startswith("VmRSS:"))
    return resident, os.pread(descriptors[0], size, 0)


def _refuse(descriptors: list[int]) -> None:
    raise ValueError("no such site: `nowhere`")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_lean_process_holds_what_its_parent_held_when_made_not_what_it_took_on_since(tmp_path):
    # A cold build's search stage runs there: forked from the build at its end, it started
    # with the whole cluster (900 MB at 100,000 pages) and counted it as its own.
    from govsite.parallel import LeanProcess
    lean, failing = LeanProcess(), LeanProcess()
    since = bytearray(300 << 20)
    since[::4096] = b"x" * len(range(0, len(since), 4096))   # resident, page by page
    sent = tmp_path / "sent"
    sent.write_bytes("政务公开".encode())
    with open(sent, "rb") as file:
        resident, read = lean.run(_resident_and_read, (6,), [file])
    assert read == "政务".encode()
    own = _resident_and_read(0, [0])[0]
    assert resident < own - (250 << 20), (resident >> 20, own >> 20)
    with pytest.raises(ValueError, match="nowhere"):   # what the job raised, raised here
        failing.run(_refuse, (), [])
    LeanProcess().close()   # one never used goes quietly
    del since


def test_without_fork_a_lean_process_runs_its_job_here(tmp_path, monkeypatch):
    import multiprocessing

    from govsite.parallel import LeanProcess
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    sent = tmp_path / "sent"
    sent.write_bytes(b"abc")
    with open(sent, "rb") as file:
        assert LeanProcess().run(_resident_and_read, (2,), [file])[1] == b"ab"
        assert file.read() == b"abc"   # (its descriptor still open, and its own)


def _resident() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) << 10 for line in status if line.startswith("VmRSS:"))


def _made_with_300_mb() -> dict:
    """(In a process apart:) a small value made with 300 MB, and a file only it has open."""
    import tempfile
    taken = bytearray(300 << 20)
    taken[::4096] = b"x" * len(range(0, len(taken), 4096))   # resident, page by page
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (unlinked: reachable by its descriptor only)
    spool.write("政务公开".encode())
    spool.flush()
    return {"pid": os.getpid(), "taken": len(taken), "spool": spool, "again": spool}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_work_apart_leaves_with_the_memory_it_took_and_hands_over_its_value_and_open_files():
    # A cold build's model is made so: parsing and converting 100,000 pages left the build
    # 500 MB it could not give back, and every render worker forked from it counted them.
    from govsite.parallel import apart
    before = _resident()
    made = apart(_made_with_300_mb)
    assert made["pid"] != os.getpid() and made["taken"] == 300 << 20
    assert _resident() - before < 100 << 20, ((before >> 20), _resident() >> 20)
    assert made["spool"] is made["again"]   # one file, passed once
    assert os.pread(made["spool"].fileno(), 6, 0) == "政务".encode()
    made["spool"].close()
    with pytest.raises(ValueError, match="nowhere"):   # what the work raised, raised here
        apart(lambda: _refuse([]))
    with pytest.raises(RuntimeError, match="ended without its result"):   # killed there
        apart(lambda: os.kill(os.getpid(), 9))


def _bodies_made_apart() -> object:
    """(In a process apart:) a spooled body, one read back from the cache without its HTML,
    and one that holds its own, as a cold build's model hands them over."""
    from govsite.markup import Body
    from govsite.snapshot import Packing
    from govsite.spool import Spool
    spooled = Body.of("<p>政务公开</p>", "政务公开")
    spooled.spooled = Spool(1).put(0, spooled.html, spooled.text)
    spooled._html = spooled._text = None
    spooled.spool_lead()
    cached = Body(None, None, "d" * 64, "its entry", "site/news/b", "它的开头", ("site/files/b.pdf",))
    packing = Packing()   # put as they come (the cached first), handed over in the work's order
    packing["site/news/b"] = cached
    packing["site/"] = Body.of("<p>x</p>", "x")
    packing["site/news/a"] = spooled
    return packing.done(["site/news/a", "site/news/b", "site/"])


def test_bodies_made_apart_come_back_with_their_places_not_their_text():
    from govsite.markup import Body
    from govsite.parallel import apart
    from govsite.snapshot import ConvertedBodies
    bodies = apart(_bodies_made_apart)
    assert list(bodies) == ["site/news/a", "site/news/b", "site/"]
    spooled, cached, held = bodies.values()
    assert spooled._html is None and spooled.spooled is not None   # read from the spool passed
    assert (spooled.html, spooled.text, spooled.lead) == ("<p>政务公开</p>", "政务公开", "政务公开")
    assert cached.unread() and (cached.entry, cached.lead, cached.files, cached.source) == (
        "its entry", "它的开头", ("site/files/b.pdf",), "site/news/b")
    assert (held.html, held.text, held.digest) == ("<p>x</p>", "x", Body.of("<p>x</p>", "x").digest)
    # Held packed, and unpickled where read: only a body whose HTML the cache gives back is
    # held as an object (its HTML, once read back, must stay: build._render).
    assert isinstance(bodies, ConvertedBodies) and bodies.hold(list(bodies)) == ["site/news/b"]


def test_bodies_packed_as_they_come_are_read_back_in_the_order_of_the_work():
    # convert_all() puts cached bodies first, then each slice as it comes back: packed by
    # CHUNK in that order, they are still found by key and listed in the work's order.
    import random

    from govsite.markup import Body
    from govsite.snapshot import CHUNK, Packing
    order = [f"site/news/{n}" for n in range(2 * CHUNK + 22)]
    arrival = random.Random(6).sample(order, len(order))
    packing = Packing()
    for key in arrival:
        packing[key] = Body.of(f"<p>{key}</p>", key)
    bodies = packing.done(order)
    assert list(bodies) == order and len(bodies) == len(order)
    assert [bodies[key].text for key in reversed(order)] == list(reversed(order))
    assert bodies["site/news/7"].html == "<p>site/news/7</p>"


def test_without_fork_work_apart_runs_here(monkeypatch):
    import multiprocessing

    from govsite.parallel import apart
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert apart(os.getpid) == os.getpid()


def test_a_forked_cache_spills_what_it_keeps_and_the_parent_keeps_it_from_there(tmp_path):
    # The counts of 100,000 documents (275 MB) travel as places in a file, not in the log.
    import tempfile

    from govsite.cache import Cache, ForkedCache, replay
    with tempfile.TemporaryFile() as spill:
        forked = ForkedCache(tmp_path, spill.fileno(), reads=False)
        forked.keep("counts", "a", b"\x01\x02")
        forked.keep("counts", "b", "计数".encode() * 1000)
        forked.keep("sites", "portal", {"files": ["t/0.json"]})
        forked.used("counts", "c")
        assert not any(isinstance(value, bytes) for _, (*_, value) in forked.log)
        parent = Cache(tmp_path)
        replay(parent, forked.log, spill.fileno())
        parent.save()
        parent.close()
    again = Cache(tmp_path)
    assert again.load("counts", ["a", "b"]) == {"a": b"\x01\x02", "b": "计数".encode() * 1000}
    assert again.load("sites", ["portal"]) == {"portal": {"files": ["t/0.json"]}}
    again.close()


def test_a_forked_cache_spills_its_notes_a_batch_at_a_time_and_the_parent_replays_them_in_order(
        tmp_path, monkeypatch):
    # 200,000 notes (a count kept and used per document) travel as batches in the spill
    # file, not as a log the parent reads back whole.
    import tempfile

    import govsite.cache
    from govsite.cache import Cache, ForkedCache, replay
    monkeypatch.setattr(govsite.cache, "LOG_BATCH", 3)
    with tempfile.TemporaryFile() as spill:
        forked = ForkedCache(tmp_path, spill.fileno(), reads=False)
        for n in range(10):
            forked.keep("counts", f"k{n}", f"计数{n}".encode())
            forked.used("counts", f"k{n}")
        forked.keep("sites", "portal", {"files": ["t/0.json"]})
        forked.keep("sites", "portal", {"files": ["t/1.json"]})   # the later one stands
        assert [method for method, _ in forked.log] == ["batch"] * 7 + ["keep"]
        parent = Cache(tmp_path)
        replay(parent, forked.log, spill.fileno())
        parent.save()
        parent.close()
    again = Cache(tmp_path)
    assert again.load("counts", [f"k{n}" for n in range(10)]) == {
        f"k{n}": f"计数{n}".encode() for n in range(10)}
    assert again.load("sites", ["portal"]) == {"portal": {"files": ["t/1.json"]}}
    again.close()


def test_a_spooled_text_s_start_is_read_whole_characters_and_no_more():
    # A spooled body's lead (markup.Body.lead) is the first characters of its text, read from
    # at most four bytes a character: a character cut at the end of the bytes read is beyond
    # them, never a replacement character or a short lead.
    from govsite.spool import Spool
    spool = Spool(1)
    for text in ("短", "政务公开" * 60, "a" * 7 + "𠀀" * 10, "", "ab"):
        spooled = spool.put(0, "<p>html</p>", text)
        for n in (1, 3, 8, 200):
            assert spooled.lead(n) == text[:n], (text, n)


def test_a_heading_id_steps_around_ids_written_in_raw_html_however_spelled():
    # heading_ids skips its slow scan for ids when nothing in the fragment could be one: an id
    # written in upper case, with single quotes or spaces round "=", must still be seen.
    from govsite.markup import heading_ids
    for raw in ('<p id="办理流程">', "<p ID='办理流程'>", '<div class="x" Id = "办理流程">'):
        fragment = f"{raw}说明</p><h2>办理流程</h2>"
        assert '<h2 id="办理流程_1">' in heading_ids(fragment), raw
    assert '<h2 id="办理流程">' in heading_ids("<p>video=\"x\" 办理流程</p><h2>办理流程</h2>")


def test_plain_text_makes_every_run_of_whitespace_one_space():
    from govsite.markup import plain_text
    fragment = ("<p>\u3000\u3000第一条\u00a0 本办法&nbsp;适用于\t全市。</p>\n\n<ul>\n<li>一</li>\n"
                "<li>二\u2003三</li></ul><script>var a = 1;</script>\n")
    assert plain_text(fragment) == "第一条 本办法 适用于 全市。 一 二 三"


def test_a_relative_link_is_what_urlsplit_and_relpath_make_of_it():
    # urls._relative takes a short way for plain paths on the page's own host: it must give
    # what the general way (urlsplit, posixpath.relpath) gives, for plain and odd URLs alike.
    import posixpath
    import random
    from urllib.parse import urlsplit

    from govsite.urls import _relative

    def general(from_folder: str, to_url: str) -> str:
        source, target = urlsplit(from_folder + "/"), urlsplit(to_url)
        if (source.scheme, source.netloc) != (target.scheme, target.netloc):
            return to_url
        path = target.path + ("index.html" if target.path.endswith("/") else "")
        rel = posixpath.relpath(path, source.path.rsplit("/", 1)[0] or "/")
        return rel + (f"#{target.fragment}" if target.fragment else "")

    rng = random.Random(3)
    hosts = ["https://a.gov.cn", "https://b.gov.cn", "http://a.gov.cn", "HTTPS://a.gov.cn",
             "https://a.gov.cn:8443"]
    segments = ["news", "zwgk", "政策", "a b", "x.html", "", ".", "..", "%E6%94%BF", "a?b=1",
                "#top", "q\tr", "index.html"]
    for _ in range(5000):
        folder = rng.choice(hosts) + "".join("/" + rng.choice(segments) for _ in range(rng.randint(0, 3)))
        target = rng.choice(hosts) + "/" + "/".join(rng.choice(segments)
                                                    for _ in range(rng.randint(0, 4)))
        target += rng.choice(["", "", "/", "#sec", "#", "#a#b"])
        assert _relative.__wrapped__(folder, target) == general(folder, target), (folder, target)
    assert _relative("https://a.gov.cn/news", "https://a.gov.cn/zwgk/x.html#第一条") == \
        "../zwgk/x.html#第一条"
    assert _relative("https://a.gov.cn", "https://a.gov.cn/") == "index.html"


def test_the_output_guard_reads_a_link_as_urljoin_and_urlsplit_would():
    # OutputGuard._resolve takes short ways for relative paths and plain absolute links: each
    # must name the file (or nothing, for another host's) that the general reading names.
    import random
    from html import unescape
    from types import SimpleNamespace
    from urllib.parse import urljoin, urlsplit

    from govsite.check.guard import OutputGuard
    from govsite.urls import output_path

    sites = [SimpleNamespace(url=url) for url in ("https://www.a.gov.cn/", "http://b.gov.cn/")]
    guard = OutputGuard(SimpleNamespace(config=SimpleNamespace(sites=sites)))

    def general(folder: str, raw: str) -> str:
        host = folder.split("/", 1)[0]
        target = urlsplit(urljoin(f"{guard.hosts.get(host, 'https')}://{folder}/", unescape(raw)))
        if target.netloc in guard.hosts and target.scheme in ("http", "https"):
            return output_path(target._replace(query="", fragment="").geturl())
        return ""

    rng = random.Random(5)
    hosts = ["www.a.gov.cn", "b.gov.cn", "c.gov.cn", "www.a.gov.cn:8443", "u@b.gov.cn",
             "www.a.gov.cn.evil.cn", "b&#46;gov.cn", "WWW.A.GOV.CN"]
    schemes = ["https://", "http://", "HTTPS://", "//", "", "mailto:", "ftp://"]
    paths = ["", "/", "/news/", "/news/x.html", "/a/../b.html", "/政策.html", "/a%20b.pdf",
             "/x.html?id=1&amp;p=2", "/x.html#top", "/p\tq.html", "news/x.html", "../up.html"]
    for _ in range(5000):
        folder = rng.choice(["www.a.gov.cn", "b.gov.cn/news", "www.a.gov.cn/zwgk/2024"])
        raw = rng.choice(schemes) + (rng.choice(hosts) if rng.random() < 0.8 else "") + rng.choice(paths)
        assert guard._resolve(folder, raw) == general(folder, raw), (folder, raw)
    assert guard._resolve("www.a.gov.cn/news", "https://www.a.gov.cn/zwgk/x.html") == "www.a.gov.cn/zwgk/x.html"
    assert guard._resolve("www.a.gov.cn/news", "https://zfwzgl.www.gov.cn/jiucuo.html?url=x") == ""


def _a_megabyte_slowly(n: int) -> bytes:
    import time
    time.sleep(0.5)
    return bytes(1 << 20)


def _count_slowly(descriptors: list[int]) -> None:
    from govsite.parallel import ordered_map
    for _ in ordered_map(_a_megabyte_slowly, 8, 2):
        pass


def test_workers_of_a_process_stopped_end_without_a_word(capfd):
    # A build that fails while its lean process searches stops that process; the workers it
    # had forked to count terms then wrote two tracebacks each of BrokenPipeError to the
    # terminal, after the build's own message, as they finished their slices.
    import time

    from govsite.parallel import LeanProcess
    lean = LeanProcess()
    lean.start(_count_slowly, (), [])
    time.sleep(0.3)
    lean.close(stop=True)
    time.sleep(1.5)
    assert "Traceback" not in capfd.readouterr().err


def test_the_output_guard_remembers_the_first_page_by_path_linking_to_each_target():
    # Links come a page's or a whole standing site's at a time, in any order: for each target
    # the guard keeps the page first by path (what it names when the target is not written).
    import random
    from types import SimpleNamespace

    from govsite.check.guard import OutputGuard

    rng = random.Random(3)
    for _ in range(300):
        batches = [{f"h/{rng.randrange(40)}.html": (f"h/p{rng.randrange(12)}.html", "content/x.md")
                    for _ in range(rng.randrange(25))} for _ in range(rng.randrange(1, 5))]
        guard = OutputGuard(SimpleNamespace(config=SimpleNamespace(sites=[])))
        for links in batches:
            guard.add(links)
        expected: dict = {}
        for links in batches:
            for target, where in links.items():
                expected[target] = min(where, expected.get(target, where))
        assert guard.links == expected
