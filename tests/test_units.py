"""Unit tests of the small pure pieces every stage relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from govsite.assemble import state_of
from govsite.diagnostics import Report
from govsite.model import DRAFT, EXPIRED, PUBLISHED, SCHEDULED, WITHDRAWN, Withdrawal
from govsite.output import Staging, UnsafeOutput
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


def test_output_path_decodes_percent_escapes_and_serves_folders_with_index_html():
    assert output_path("https://a.gov.cn/news/%E9%99%84%E4%BB%B6.pdf") == "a.gov.cn/news/附件.pdf"
    assert output_path("https://a.gov.cn/en/") == "a.gov.cn/en/index.html"


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
