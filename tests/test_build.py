"""The build as CI and editors see it: determinism, publishing states, atomic and partial builds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from conftest import EPOCH, FIXTURES
from test_golden import tree

SECRETS = ("DRAFTSECRETWORD", "SCHEDULEDSECRETWORD", "EXPIREDSECRETWORD", "WITHDRAWNSECRETWORD")


def run_build(project: Path, out: Path, *args: str, seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONHASHSEED": seed}
    # The cache beside the output: a test never writes into the fixtures.
    return subprocess.run([sys.executable, "-m", "govsite", "build", "--project", str(project),
                           "--out", str(out), "--cache", f"{out}-cache", *args], env=env,
                          capture_output=True, text=True)


def test_two_builds_are_byte_identical_across_hash_seeds_folders_and_jobs(tmp_path):
    # A second copy of the project in another folder, built with another hash seed, must give
    # the same bytes: no absolute paths, no set or dict order leaking into the output.
    elsewhere = tmp_path / "somewhere" / "else"
    shutil.copytree(FIXTURES / "small", elsewhere)
    # And whatever the number of processes.
    first = run_build(FIXTURES / "small", tmp_path / "one", "--jobs", "1", seed="1")
    second = run_build(elsewhere, tmp_path / "two", "--jobs", "3", seed="2")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_unpublished_pages_reach_no_output_at_all(govsite, tmp_path):
    out = tmp_path / "build"
    assert govsite("build", "--project", FIXTURES / "small", "--out", out).exit_code == 0
    for name, data in tree(out).items():
        for word in SECRETS + ("草稿新闻", "定时发布的新闻", "已过期的通知"):
            assert word.encode() not in data, f"{word} leaked into {name}"
        for slug in ("2024-05-09-draft", "2099-01-01-scheduled", "2024-01-01-expired"):
            assert slug not in name, f"{slug} has an output file"


def test_withdrawn_page_keeps_its_url_with_a_notice_and_leaves_lists(govsite, tmp_path):
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    notice = (out / "www.example.gov.cn/news/2024-04-01-withdrawn.html").read_text()
    assert "该信息已撤回" in notice and "内容有误" in notice
    site = out / "www.example.gov.cn"
    for listing in ("news/index.html", "index.html", "feed.xml", "news/feed.xml", "sitemap.xml"):
        assert "2024-04-01-withdrawn" not in (site / listing).read_text(), listing


def test_drafts_option_shows_drafts_and_scheduled_pages_with_a_banner(govsite, tmp_path):
    out = tmp_path / "preview"
    assert govsite("build", "--project", FIXTURES / "small", "--out", out, "--drafts").exit_code == 0
    draft = (out / "www.example.gov.cn/news/2024-05-09-draft.html").read_text()
    scheduled = (out / "www.example.gov.cn/news/2099-01-01-scheduled.html").read_text()
    assert "DRAFTSECRETWORD" in draft and "preview-banner" in draft
    assert "preview-banner" in scheduled
    published = (out / "www.example.gov.cn/news/2024-05-08-meeting.html").read_text()
    assert "preview-banner" not in published
    assert not (out / "www.example.gov.cn/news/2024-01-01-expired.html").exists()


def test_scheduled_page_appears_once_the_clock_passes_its_date(tmp_path, monkeypatch):
    from datetime import datetime

    from govsite.build import build
    out = tmp_path / "build"
    build(FIXTURES / "small", out, now=datetime(2099, 1, 2, tzinfo=UTC))
    assert (out / "www.example.gov.cn/news/2099-01-01-scheduled.html").is_file()


def test_failed_build_leaves_the_previous_output_untouched(govsite, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out = tmp_path / "build"
    assert govsite("build", "--project", project, "--out", out).exit_code == 0
    before = tree(out)
    page = project / "content/portal/news/2024-05-08-meeting.md"
    page.write_text(page.read_text().replace("source: 示例市人民政府办公室\n", ""))
    result = govsite("build", "--project", project, "--out", out)
    assert result.exit_code == 1
    assert "is missing required field `source`" in result.output
    assert tree(out) == before
    assert not list(tmp_path.glob(".build.staging-*")), "staging folder left behind"


def test_site_option_rebuilds_one_site_and_keeps_the_others(govsite, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    out = tmp_path / "build"
    govsite("build", "--project", project, "--out", out)
    full = tree(out)
    page = project / "content/county/news/2024-05-07-harvest.md"
    page.write_text(page.read_text().replace("全县小麦收获过半", "全县小麦收获已完成八成"))
    assert govsite("build", "--project", project, "--out", out, "--site", "county").exit_code == 0
    partial = tree(out)
    assert "八成".encode() in partial["county.example.gov.cn/news/2024-05-07-harvest.html"]
    assert set(partial) == set(full)
    portal = [n for n in full if n.startswith("www.example.gov.cn/")]
    assert all(partial[n] == full[n] for n in portal if "/_search/" not in n)
    # The portal searches the whole cluster, so its index follows the county's change.
    portal_index = b"".join(v for n, v in partial.items() if n.startswith("www.example.gov.cn/_search/"))
    assert "八成".encode() in portal_index


def test_next_change_names_the_next_scheduled_publication(govsite):
    result = govsite("next-change", "--project", FIXTURES / "small")
    assert result.exit_code == 0
    assert result.output == "2099-01-01T09:00:00+08:00 publish content/portal/news/2099-01-01-scheduled.md\n"


def test_cross_site_links_are_absolute_and_same_host_links_relative(govsite, tmp_path):
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    portal_news = (out / "www.example.gov.cn/news/2024-05-08-meeting.html").read_text()
    assert 'href="../policy/2024-001.html"' in portal_news
    assert 'href="https://county.example.gov.cn/news/2024-05-07-harvest.html"' in portal_news
    english = (out / "www.example.gov.cn/en/news/2024-05-08-meeting.html").read_text()
    assert 'href="../../policy/2024-001.html"' in english


def test_policy_and_interpretation_link_each_other(govsite, tmp_path):
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    policy = (out / "www.example.gov.cn/policy/2024-001.html").read_text()
    interpretation = (out / "www.example.gov.cn/jiedu/2024-001-jiedu.html").read_text()
    assert 'href="../jiedu/2024-001-jiedu.html"' in policy
    assert 'href="../policy/2024-001.html"' in interpretation
    repealed = (out / "www.example.gov.cn/policy/2020-009.html").read_text()
    assert "badge-repealed" in repealed and 'href="2024-001.html"' in repealed


def test_portal_collects_county_news_with_canonical_url_on_the_county(govsite, tmp_path):
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    counties = (out / "www.example.gov.cn/counties/index.html").read_text()
    assert 'href="https://county.example.gov.cn/news/2024-05-07-harvest.html"' in counties
    home = (out / "www.example.gov.cn/index.html").read_text()
    assert "示例县夏收进展顺利" in home


def test_attachments_are_copied_only_when_a_published_page_links_them(govsite, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", project)
    (project / "content/portal/news/unlinked.pdf").write_bytes(b"%PDF-1.4\n")
    out = tmp_path / "build"
    result = govsite("build", "--project", project, "--out", out)
    assert result.exit_code == 0
    assert (out / "www.example.gov.cn/news/会议材料.pdf").is_file()
    assert (out / "www.example.gov.cn/service/登记表.docx").is_file()
    assert not (out / "www.example.gov.cn/news/unlinked.pdf").exists()
    assert "unlinked.pdf: warning: attachment is not linked from any published page" in result.output


# The county has three URLs: its home, its news column and one article.
@pytest.mark.parametrize("limit,files", [(50_000, 1), (3, 1), (2, 3), (1, 4)])
def test_sitemap_splits_into_an_index_past_the_url_limit(limit, files):
    from datetime import datetime

    from govsite import sitemap
    from govsite.build import _Stages, load_cluster
    from govsite.diagnostics import Report
    from govsite.render import Renderer
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, datetime(2025, 1, 1, tzinfo=UTC),
                           False, _Stages(report, False))
    outputs = sitemap.sitemaps(Renderer(cluster, {}), cluster.sites["county"], limit=limit)
    assert len(outputs) == files
    index = outputs[-1].data
    if files > 1:
        assert "<sitemapindex" in index and index.count("<sitemap>") == files - 1


def test_one_run_reports_front_matter_and_link_errors_together(project, govsite):
    root = project({
        "content/portal/news/bad.md": "---\ntitle: 缺少来源的新闻\ndate: 2024-05-08 09:00\n---\n正文\n",
        "content/portal/news/good.md": (
            "---\ntitle: 新闻\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n"
            "见[坏页面](bad.md)和[不存在的页面](missing.md)。\n"),
    })
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "content/portal/news/bad.md:2: error: a news page is missing required field `source` — "
        "add `source: …` to the front matter",
        "content/portal/news/good.md:6: error: broken link `missing.md`: "
        "content/portal/news/missing.md does not exist — link to an existing file, relative to "
        "this one or as site:<site>/<column>/<file>.md",
        f"build failed: 2 errors; {root / 'build'} was left unchanged",
    ]


def test_a_site_overrides_a_template_by_extending_the_shared_one(project, govsite):
    root = project({
        "themes/sites/portal/templates/article.html": (
            '{% extends "theme/article.html" %}'
            '{% block after_body %}<p class="local-note">本站特别提示</p>{% endblock %}'),
        "content/portal/news/a.md": "---\ntitle: 新闻\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n正文\n",
    })
    assert govsite("build", "--project", root).exit_code == 0
    page = (root / "build/www.example.gov.cn/news/a.html").read_text()
    assert '<p class="local-note">本站特别提示</p>' in page
    assert 'name="SiteIDCode"' in page and "网站标识码" in page  # the shared chrome is still there
    column = (root / "build/www.example.gov.cn/news/index.html").read_text()
    assert "local-note" not in column


def test_no_page_loads_anything_from_another_host(govsite, tmp_path):
    import re
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    loads = re.compile(r'<(?:script|img|iframe|link[^>]*rel="(?:stylesheet|icon)")[^>]*(?:src|href)="([^"]+)"')
    for name, data in tree(out).items():
        if name.endswith(".html"):
            html = data.decode()
            assert "<script>" not in html and " style=" not in html and "<style" not in html, name
            for url in loads.findall(html):
                assert not url.startswith(("http:", "https:", "//")), f"{name} loads {url}"


def test_page_weight_stays_within_the_budget(govsite, tmp_path):
    # Transferred bytes (gzip) of the HTML and everything it loads, images aside:
    # home pages ≤ 200 KB, articles ≤ 100 KB.
    import gzip
    import re
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    for name, budget in (("www.example.gov.cn/index.html", 200_000),
                         ("www.example.gov.cn/policy/2024-001.html", 100_000),
                         ("www.example.gov.cn/service/jzz.html", 100_000)):
        page = out / name
        html = page.read_text()
        assets = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+\.(?:css|js))"', html)
        total = len(gzip.compress(page.read_bytes()))
        total += sum(len(gzip.compress((page.parent / a).read_bytes())) for a in assets)
        assert total <= budget, f"{name}: {total} bytes"
        assert len(assets) >= 4  # the theme's CSS and scripts were counted


def test_a_template_mistake_names_the_template_and_line(project, govsite):
    root = project({
        "themes/sites/portal/templates/article.html": (
            '{% extends "theme/article.html" %}\n'
            '{% block after_body %}\n<p>{{ no_such_value }}</p>\n{% endblock %}\n'),
        "content/portal/news/a.md": "---\ntitle: 新闻\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n正文\n",
    })
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first == ("themes/sites/portal/templates/article.html:3: error: template error: "
                     "'no_such_value' is undefined — fix the template, or the site override "
                     "that replaced it")
    assert "Traceback" not in result.output


def test_links_in_raw_html_are_resolved_and_checked_like_markdown_links(project, govsite):
    root = project({
        "content/portal/news/a.md": "---\ntitle: 新闻甲\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n正文\n",
        "content/portal/news/b.md": (
            "---\ntitle: 新闻乙\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n"
            '<p>见<a href="a.md">新闻甲</a>。</p>\n'),
    })
    assert govsite("build", "--project", root).exit_code == 0
    page = (root / "build/www.example.gov.cn/news/b.html").read_text()
    assert '<a href="a.html">新闻甲</a>' in page
    (root / "content/portal/news/b.md").write_text(
        "---\ntitle: 新闻乙\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n"
        '<p>见<img src="missing.png" alt="图"></p>\n', encoding="utf-8")
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert result.stderr.startswith("content/portal/news/b.md:6: error: broken link `missing.png`")


def test_profile_prints_each_stage_and_the_slowest_templates(govsite, tmp_path):
    result = govsite("build", "--project", FIXTURES / "small", "--out", tmp_path / "b", "--profile",
                     "--jobs", "2", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "time per stage" in result.output and "  render " in result.output and " MB" in result.output
    # The ten slowest of the templates used (which ones depends on the machine's timing).
    templates = result.output.split("slowest templates", 1)[1]
    assert len(re.findall(r"^  \w+\.html +\d+\.\d\d s$", templates, re.M)) == 10
    assert "[###" not in result.output   # no progress bar when not on a terminal


def test_a_cache_folder_that_cannot_be_written_is_a_warning_not_a_failure(govsite, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    result = govsite("build", "--project", FIXTURES / "small", "--out", tmp_path / "b",
                     "--cache", blocked / "cache")
    assert result.exit_code == 0, result.output
    assert f"{blocked / 'cache'}: warning: the build cache could not be saved" in result.output
    assert "give --cache a folder govsite may write, or use --no-cache" in result.output


def test_the_themes_cached_fragments_name_everything_they_show(tmp_path, monkeypatch):
    # The shipped example cluster (sites, columns, folders, 404s, an English site) built with
    # the fragment store and with every fragment rendered afresh: the same bytes, so the keys
    # a theme gives {% cached %} leave nothing out (a header keyed without the page's folder
    # or its column fails here).
    from datetime import datetime

    from govsite import themes
    from govsite.build import build
    example = Path(__file__).resolve().parent.parent
    now = datetime.now(UTC)   # the example's pages as published today (one clock for both)
    build(example, tmp_path / "cached", now=now, jobs=1)
    monkeypatch.setattr(themes.CachedFragments, "_fragment",
                        staticmethod(lambda context, key, caller: caller()))
    themes._environment.cache_clear()   # (compiled with the extension's method bound at parse)
    build(example, tmp_path / "fresh", now=now, jobs=1)
    assert tree(tmp_path / "cached") == tree(tmp_path / "fresh")


def test_converted_bodies_wait_in_their_spool_and_read_back_as_converted(tmp_path):
    # A converted body's HTML and text stay in the files the converting processes wrote (a
    # build's parent would otherwise hold every body: a gigabyte at 100,000 pages); each reads
    # back exactly what converting its source gives, in this process and after a fork, and a
    # pickled one carries them along.
    import pickle
    from datetime import datetime

    from govsite import markup
    from govsite.build import _Stages, load_cluster
    from govsite.diagnostics import Report
    from govsite.parallel import ordered_map
    report = Report(FIXTURES / "small")
    cluster = load_cluster(FIXTURES / "small", report, datetime(2025, 1, 1, tzinfo=UTC), False,
                           _Stages(report, False))
    bodies = markup.convert_all(cluster, report, jobs=2)
    assert len(bodies) >= 8
    assert all(b._html is None and b._text is None and b.spooled is not None for b in bodies.values())
    fresh = {key: body._converted() for key, body in bodies.items()}
    assert {key: (b.html, b.text) for key, b in bodies.items()} == \
        {key: (b.html, b.text) for key, b in fresh.items()}
    assert any("<p>" in b.html for b in fresh.values())
    keys = sorted(bodies)
    forked = list(ordered_map(lambda n: bodies[keys[n]].html, len(keys), 2))
    assert forked == [fresh[key].html for key in keys]
    carried = pickle.loads(pickle.dumps(bodies[keys[0]]))
    assert (carried.html, carried.text) == (fresh[keys[0]].html, fresh[keys[0]].text)
