"""`govsite check`: every rule on a small cluster that breaks it and on one that does not, the
reports, the exit codes, and the guard every build runs."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import write_project

from govsite.check import check
from govsite.check.rules import RULES

AS_OF = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)

SITES = """\
cluster:
  identity:
    sponsor: 示例市人民政府办公室
    phone: 010-12345678
    icp: 京ICP备12345678号-1
    police_filing: 京公网安备11010502000001号
    consultation: https://www.example.gov.cn/hudong/zixun.html
sites:
  - id: portal
    name: 示例市人民政府
    type: portal
    url: https://www.example.gov.cn/
    identity:
      site_code: "1100000001"
    columns: [news, notices, policy, service, hudong]
  - id: county
    name: 示例市东城区人民政府
    type: county
    parent: portal
    url: https://dc.example.gov.cn/
    identity:
      site_code: "1101010001"
    columns: [news]
"""


def column(title: str, kind: str) -> str:
    return f"---\ntitle: {title}\ntype: {kind}\n---\n"


def news(title: str, date: str, body: str = "正文内容，记录本次会议的主要议程和决定事项。") -> str:
    return f"---\ntitle: {title}\ndate: {date}\nsource: 示例市人民政府办公室\n---\n\n{body}\n"


POLICY = """\
---
title: 示例市人民政府关于优化营商环境的实施意见
date: 2026-11-10 10:00
index_no: 11110000MB0000001X/2026-00001
issuer: 示例市人民政府
doc_number: 示政发〔2026〕1号
written: 2026-11-05
subject: 综合政务\\其他
---

一、总体要求。为持续优化营商环境，制定本意见。
"""

SERVICE = """\
---
title: 居住证办理
legal_basis: [《居住证暂行条例》]
conditions: 在本市居住半年以上。
materials:
  - {name: 居民身份证, form: 原件, count: 1}
  - {name: 居住证申领登记表, form: 原件, count: 1, template: 登记表.docx}
steps: [申请, 受理, 审核, 发证]
time_limit: {legal: 15个工作日, promised: 10个工作日}
fee: 不收费
place: 各派出所户籍窗口
hours: 工作日 9:00-17:00
phone: 010-12345678
complaint: "12345"
online_url: https://zwfw.example.gov.cn/jzz
---

常见问题：居住证有效期多久？
"""

CLEAN = {
    "sites.yaml": SITES,
    "content/portal/news/_index.md": column("要闻动态", "news"),
    "content/portal/news/2026-11-20-meeting.md": news("市政府召开常务会议", "2026-11-20 09:00"),
    "content/portal/notices/_index.md": column("通知公告", "notice"),
    "content/portal/notices/2026-11-18-holiday.md": news("关于元旦放假安排的通知", "2026-11-18 09:00"),
    "content/portal/policy/_index.md": column("政策文件", "policy"),
    "content/portal/policy/2026-001.md": POLICY,
    "content/portal/service/_index.md": column("办事服务", "service"),
    "content/portal/service/jzz.md": SERVICE,
    "content/portal/service/登记表.docx": "表格",
    "content/portal/hudong/_index.md": column("互动交流", "interaction"),
    "content/portal/hudong/zixun.md": "---\ntitle: 政务咨询\n---\n\n请通过本页留言咨询。\n",
    "content/county/news/_index.md": column("东城动态", "news"),
    "content/county/news/2026-11-21-work.md": news("东城区部署冬季供暖工作", "2026-11-21 09:00"),
}


@pytest.fixture
def run(tmp_path: Path):
    """run({path: text or None}) → findings of a check of CLEAN with those files changed."""
    def go(changes: dict[str, str | None] | None = None, as_of: datetime = AS_OF, **options):
        root = tmp_path / "project"
        files = {**CLEAN, **(changes or {})}
        write_project(root, {k: v for k, v in files.items() if v is not None})
        for rel, text in (changes or {}).items():
            if text is None:
                (root / rel).unlink(missing_ok=True)
        return check(root, root / "build", as_of, **options)
    return go


def rules_at(result) -> set[tuple[str, str]]:
    return {(f.rule, f.path) for f in result.findings}


def test_the_clean_cluster_has_no_findings(run):
    result = run()
    assert result.findings == []
    assert not result.failed(strict=True)


def test_every_rule_has_a_level_a_summary_and_a_basis():
    for rule in RULES.values():
        assert rule.level in ("error", "warning") and rule.summary and rule.basis, rule.id


# — freshness and empty columns —

def test_a_home_page_without_news_for_ten_days_warns_and_for_fourteen_fails(run):
    # The portal's home page shows the county's news too: its newest item is of 11-21.
    warned = run(as_of=datetime(2026, 12, 1, 12, tzinfo=UTC))
    home = [f for f in warned.findings if f.rule == "fresh-home" and f.site == "portal"]
    assert [f.level for f in home] == ["warning"] and "2026-12-05" in home[0].message
    failed = run(as_of=datetime(2026, 12, 5, 12, tzinfo=UTC))
    assert {f.level for f in failed.findings if f.rule == "fresh-home" and f.site == "portal"} == {"error"}
    assert ("fresh-home", "sites.yaml") in rules_at(failed)


def test_as_of_moves_freshness_and_the_scorecard_says_when_a_site_fails(run):
    early = run(as_of=datetime(2026, 11, 21, 12, tzinfo=UTC))
    card = {v.veto: v for v in early.scorecards["portal"]}
    assert card["V3 首页不更新"].status == "at risk" and card["V3 首页不更新"].fails_on == "2026-12-05"
    assert not [f for f in early.findings if f.rule == "fresh-home"]
    late = run(as_of=datetime(2027, 1, 10, tzinfo=UTC))
    assert {v.veto: v.status for v in late.scorecards["portal"]}["V3 首页不更新"] == "fails"


def test_a_stale_news_column_warns_and_five_stale_columns_fail(run):
    stale = run({"content/county/news/2026-11-21-work.md": news("旧闻", "2026-10-01 09:00")})
    found = [f for f in stale.findings if f.rule == "fresh-column"]
    assert [(f.path, f.level) for f in found] == [("content/county/news/_index.md", "warning")]
    old = {f"content/county/c{n}/_index.md": column(f"动态{n}", "news") for n in range(5)}
    old |= {f"content/county/c{n}/old.md": news(f"旧闻{n}", "2026-09-01 09:00") for n in range(5)}
    sites = SITES.replace("    columns: [news]\n", "    columns: [news, c0, c1, c2, c3, c4]\n")
    vetoed = run({**old, "sites.yaml": sites})
    levels = {f.path: f.level for f in vetoed.findings if f.rule == "fresh-column"}
    assert levels == {f"content/county/c{n}/_index.md": "error" for n in range(5)}


def test_an_empty_column_is_an_error(run):
    sites = SITES.replace("    columns: [news]\n", "    columns: [news, notices]\n")
    result = run({"sites.yaml": sites, "content/county/notices/_index.md": column("通知公告", "notice")})
    assert ("empty-column", "content/county/notices/_index.md") in rules_at(result)
    assert result.failed()


# — interaction and services —

def test_a_portal_without_a_consultation_link_fails(run):
    result = run({"sites.yaml": SITES.replace(
        "    consultation: https://www.example.gov.cn/hudong/zixun.html\n", ""),
        "content/portal/hudong/zixun.md": "---\ntitle: 调查征集\n---\n\n问卷。\n"})
    assert [(f.rule, f.site, f.path) for f in result.findings] == [
        ("interaction-channel", "portal", "sites.yaml")]


def test_a_consultation_link_to_a_missing_page_is_not_a_working_channel(run):
    result = run({"content/portal/hudong/zixun.md": None})
    assert ("interaction-channel", "sites.yaml") in rules_at(result)


def test_a_service_guide_missing_an_element_fails(run):
    result = run({"content/portal/service/jzz.md": SERVICE.replace("fee: 不收费\n", "")})
    assert ("service-guide", "content/portal/service/jzz.md") in rules_at(result)


def test_a_missing_form_fails(run):
    result = run({"content/portal/service/登记表.docx": None})
    assert ("service-forms", "content/portal/service/jzz.md") in rules_at(result)


def test_a_guide_without_an_online_link_fails(run):
    result = run({"content/portal/service/jzz.md": SERVICE.replace(
        "online_url: https://zwfw.example.gov.cn/jzz\n", "")})
    assert ("service-online", "content/portal/service/jzz.md") in rules_at(result)


# — identity and tags —

def test_a_site_without_filing_numbers_fails(run):
    result = run({"sites.yaml": SITES.replace("    icp: 京ICP备12345678号-1\n", "")})
    found = [f for f in result.findings if f.rule == "identity-filing"]
    assert {f.site for f in found} == {"portal", "county"} and "ICP" in found[0].message


def test_a_footer_code_that_differs_from_the_tag_fails(run, tmp_path):
    override = (Path(__file__).parents[1] / "themes/default/templates/partials/footer.html").read_text()
    result = run({"themes/sites/county/templates/partials/footer.html":
                  override.replace("site_code={{ identity.site_code }}", "site_code=1101010009")})
    found = [f for f in result.findings if f.rule == "identity-site-code"]
    assert [f.site for f in found] == ["county"] and "1101010009" in found[0].message
    assert found[0].path.startswith("build/dc.example.gov.cn/")


def test_a_built_page_missing_a_tag_or_with_a_different_title_fails(run, tmp_path):
    root = tmp_path / "project"
    clean = run()
    assert clean.findings == []
    write_project(root, CLEAN)
    from govsite.build import build
    build(root, root / "build", now=AS_OF)
    page = root / "build/www.example.gov.cn/news/2026-11-20-meeting.html"
    html = page.read_text()
    html = html.replace('<meta name="ContentSource"', '<meta name="Unrelated"')
    html = html.replace('name="ArticleTitle" content="市政府召开常务会议"', 'name="ArticleTitle" content="另一个标题"')
    page.write_text(html)
    result = check(root, root / "build", AS_OF)
    assert ("meta-required", "build/www.example.gov.cn/news/2026-11-20-meeting.html") in rules_at(result)
    assert ("meta-title", "build/www.example.gov.cn/news/2026-11-20-meeting.html") in rules_at(result)


def test_a_pubdate_in_the_future_fails(run):
    result = run({"content/portal/news/2026-12-20-future.md": news("未来的新闻", "2026-12-20 09:00")},
                 as_of=datetime(2026, 11, 25, tzinfo=UTC))
    # A page dated after the check day is scheduled, so it is not published and has no PubDate.
    assert "meta-pubdate" not in {f.rule for f in result.findings}


# — policies —

@pytest.mark.parametrize(("change", "rule"), [
    (POLICY.replace("issuer: 示例市人民政府\n", ""), "policy-fields"),
    (POLICY.replace("示政发〔2026〕1号", "示政发[2026]1号"), "policy-doc-number"),
    (POLICY.replace("written: 2026-11-05", "written: 2026-11-15"), "policy-dates"),
    (POLICY.replace("subject:", "validity: 废止\nsubject:"), "policy-repealed"),
    (POLICY.replace("subject:", "repealed_by: 示政发〔2026〕9号\nsubject:"), "policy-repealed"),
])
def test_policy_metadata_faults_are_found_at_their_file(run, change, rule):
    result = run({"content/portal/policy/2026-001.md": change})
    assert (rule, "content/portal/policy/2026-001.md") in rules_at(result)


def test_an_index_number_used_twice_fails(run):
    second = POLICY.replace("示政发〔2026〕1号", "示政发〔2026〕2号").replace("优化", "进一步优化")
    result = run({"content/portal/policy/2026-002.md": second})
    assert ("policy-index-number", "content/portal/policy/2026-002.md") in rules_at(result)


def test_an_interpretation_of_a_missing_policy_fails(run):
    sites = SITES.replace("[news, notices, policy, service, hudong]",
                          "[news, notices, policy, jiedu, service, hudong]")
    result = run({"sites.yaml": sites, "content/portal/jiedu/_index.md": column("政策解读", "interpretation"),
                  "content/portal/jiedu/1.md": "---\ntitle: 解读\ndate: 2026-11-11 09:00\n"
                                               "interprets: ../policy/2026-999.md\n---\n\n解读正文。\n"})
    assert ("policy-links", "content/portal/jiedu/1.md") in rules_at(result)


# — date integrity (git history) —

def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.gov.cn",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.gov.cn",
                        "PATH": "/usr/bin:/bin", "GIT_COMMITTER_DATE": "2026-11-24T10:00:00+08:00",
                        "GIT_AUTHOR_DATE": "2026-11-24T10:00:00+08:00"})


@pytest.mark.parametrize(("correction", "found"), [("", True), ("date_correction: 录入错误\n", False)])
def test_a_published_date_moved_later_is_faked_freshness(run, tmp_path, correction, found):
    root = tmp_path / "project"
    write_project(root, CLEAN)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    page = root / "content/portal/news/2026-11-20-meeting.md"
    page.write_text(page.read_text().replace("date: 2026-11-20 09:00", correction + "date: 2026-11-24 09:00"))
    _git(root, "commit", "-q", "-am", "make it look new")
    result = check(root, root / "build", AS_OF)
    hits = [f for f in result.findings if f.rule == "date-integrity"]
    assert bool(hits) is found
    if found:
        assert hits[0].path == "content/portal/news/2026-11-20-meeting.md" and hits[0].line == 3


def test_rescheduling_a_page_before_it_came_out_is_fine(run, tmp_path):
    root = tmp_path / "project"
    write_project(root, {**CLEAN, "content/portal/news/later.md": news("预告", "2026-12-30 09:00")})
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    page = root / "content/portal/news/later.md"
    page.write_text(page.read_text().replace("2026-12-30 09:00", "2026-11-24 09:00"))
    result = check(root, root / "build", AS_OF)   # uncommitted: counts as changed now
    assert "date-integrity" not in {f.rule for f in result.findings}


# — links —

@pytest.mark.parametrize(("body", "rule"), [
    ("正文。\n\n详见[附件](missing.pdf)。", "link-file"),
    ("正文。\n\n![会议现场](missing.png)", "link-file"),
    ("正文。\n\n见[通知](../notices/missing.md)。", "link-internal"),
    ("正文。\n\n见[意见第二条](../policy/2026-001.md#no-such-heading)。", "link-anchor"),
])
def test_a_broken_link_in_a_page_is_found_at_its_markdown_line(run, body, rule):
    result = run({"content/portal/news/2026-11-20-meeting.md": news(
        "市政府召开常务会议", "2026-11-20 09:00", body)})
    found = [f for f in result.findings if f.rule.startswith("link-")]
    assert [(f.rule, f.path, f.line) for f in found] == [
        (rule, "content/portal/news/2026-11-20-meeting.md", 9)]


def test_a_broken_link_on_a_home_page_is_reported_apart(run):
    result = run({"content/portal/_index.md": "---\ndescription: 示例市人民政府门户网站\n---\n\n"
                                              "欢迎访问。[旧栏目](old/)\n"})
    assert [(f.rule, f.path) for f in result.findings] == [("link-home", "content/portal/_index.md")]


def test_a_malformed_site_code_stops_the_check_with_its_rule(govsite, tmp_path):
    root = write_project(tmp_path / "project", {**CLEAN, "sites.yaml": SITES.replace('"1101010001"', '"11010100"')})
    result = govsite("check", "--project", root, "--as-of", "2026-11-25")
    assert result.exit_code == 1
    assert "sites.yaml:22: identity-site-code: error: 网站标识码 is 10 digits" in result.output


def test_broken_links_and_anchors_in_the_output_are_found_and_home_pages_apart(run, tmp_path):
    root = tmp_path / "project"
    run()
    from govsite.build import build
    build(root, root / "build", now=AS_OF)
    home = root / "build/www.example.gov.cn/index.html"
    home.write_text(home.read_text().replace("</main>", '<a href="gone.html">失效</a></main>'))
    page = root / "build/www.example.gov.cn/news/2026-11-20-meeting.html"
    page.write_text(page.read_text().replace(
        "</main>", '<a href="../policy/2026-001.html#nowhere">意见</a><img src="x.png" alt="x"></main>'))
    result = check(root, root / "build", AS_OF)
    assert ("link-home", "build/www.example.gov.cn/index.html") in rules_at(result)
    assert ("link-anchor", "build/www.example.gov.cn/news/2026-11-20-meeting.html") in rules_at(result)
    assert ("link-file", "build/www.example.gov.cn/news/2026-11-20-meeting.html") in rules_at(result)


# — accessibility of content —

@pytest.mark.parametrize(("body", "rule", "line"), [
    ("![](chart.png)\n", "a11y-alt", None),
    ("正文。\n\n| 项目 | 金额 |\n|---|---|\n| 甲 | 1 |\n", None, None),
    ("正文。\n\n## 一、背景\n\n#### 细节\n\n内容。\n", "a11y-headings", 11),
    ("通知全文请[点击这里](../notices/2026-11-18-holiday.md)。\n", "a11y-link-text", 7),
    ("[下载全文](doc.pdf)\n", "a11y-pdf-only", 7),
])
def test_content_accessibility_faults_are_found_at_their_line(run, body, rule, line):
    files = {"content/portal/news/2026-11-20-meeting.md": news("市政府召开常务会议", "2026-11-20 09:00", body),
             "content/portal/news/chart.png": "png", "content/portal/news/doc.pdf": "pdf"}
    result = run(files)
    found = [f for f in result.findings if f.rule.startswith("a11y-")]
    if rule is None:   # a Markdown table always has its header row
        assert found == []
        return
    assert [f.rule for f in found] == [rule]
    assert found[0].path == "content/portal/news/2026-11-20-meeting.md"
    if line:
        assert found[0].line == line


def test_a_raw_html_table_without_headers_is_found(run):
    body = "<table><tr><td>甲</td><td>1</td></tr></table>\n"
    result = run({"content/portal/news/2026-11-20-meeting.md": news("市政府召开常务会议", "2026-11-20 09:00", body)})
    assert ("a11y-table-header", "content/portal/news/2026-11-20-meeting.md") in rules_at(result)


# — terms, weight, domains —

def test_banned_terms_from_the_cluster_list_are_found_with_their_line(run, tmp_path):
    sites = SITES.replace("cluster:\n", "cluster:\n  check:\n    banned_terms_file: banned.txt\n")
    result = run({"sites.yaml": sites, "banned.txt": "# 敏感词\n某违禁词\n",
                  "content/county/news/2026-11-21-work.md": news(
                      "东城区部署冬季供暖工作", "2026-11-21 09:00", "第一段。\n\n这里出现了某违禁词。")})
    found = [f for f in result.findings if f.rule == "banned-term"]
    assert [(f.path, f.line) for f in found] == [("content/county/news/2026-11-21-work.md", 9)]


def test_a_page_over_its_weight_budget_warns(run):
    sites = SITES.replace("cluster:\n", "cluster:\n  check:\n    html_kb: 1\n")
    result = run({"sites.yaml": sites})
    assert "page-weight" in {f.rule for f in result.findings}
    assert not result.failed() and result.failed(strict=True)


def test_domain_rules_warn_and_can_be_switched_off(run):
    sites = SITES.replace("https://dc.example.gov.cn/", "https://dongcheng.example.com/")
    result = run({"sites.yaml": sites})
    assert {f.rule for f in result.findings} == {"domain-gov-cn", "domain-portal"}
    off = run({"sites.yaml": sites.replace("cluster:\n", "cluster:\n  check:\n    domain_rules: false\n")})
    assert off.findings == []


def test_a_rule_can_be_switched_off_per_site(run):
    sites = SITES.replace("    columns: [news]\n", "    columns: [news, notices]\n    check: {disable: [empty-column]}\n")
    result = run({"sites.yaml": sites, "content/county/notices/_index.md": column("通知公告", "notice")})
    assert result.findings == []


# — the command —

def test_the_command_exit_codes_and_formats(govsite, tmp_path):
    root = write_project(tmp_path / "project", CLEAN)
    assert govsite("check", "--project", root, "--as-of", "2026-11-25").exit_code == 0
    stale = govsite("check", "--project", root, "--as-of", "2027-03-01")
    assert stale.exit_code == 1 and "fresh-home: error" in stale.output
    assert govsite("check", "--project", root, "--as-of", "25/11/2026").exit_code == 2
    unknown = govsite("check", "--project", root, "--site", "countyy")
    assert unknown.exit_code == 2 and "did you mean `county`?" in unknown.output
    data = json.loads(govsite("check", "--project", root, "--as-of", "2027-03-01", "--format", "json").stdout)
    assert {f["rule"] for f in data["findings"]} >= {"fresh-home"} and "portal" in data["scorecards"]
    suites = ET.fromstring(govsite("check", "--project", root, "--as-of", "2027-03-01", "--format",
                                   "junit").stdout)
    failed = [case.get("name") for case in suites.iter("testcase") if case.find("failure") is not None]
    assert "fresh-home" in failed
    report = tmp_path / "report.html"
    govsite("check", "--project", root, "--as-of", "2027-03-01", "--format", "html", "--output", report)
    assert "V3 首页不更新" in report.read_text() and "<table>" in report.read_text()
    only = json.loads(govsite("check", "--project", root, "--as-of", "2027-03-01", "--site", "county",
                              "--format", "json").stdout)
    assert {f["site"] for f in only["findings"]} == {"county"}


def test_the_example_cluster_has_no_findings_as_of_its_snapshot(govsite):
    result = govsite("check", "--project", Path(__file__).parents[1], "--out",
                     Path(__file__).parents[1] / "build-check-none", "--as-of", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings" in result.output


# — the build's guard —

def test_the_build_refuses_a_template_link_to_a_file_it_does_not_write(govsite, tmp_path):
    override = (Path(__file__).parents[1] / "themes/default/templates/partials/footer.html").read_text()
    root = write_project(tmp_path / "project", {
        **CLEAN, "themes/sites/county/templates/partials/footer.html":
            override.replace("</footer>", '<a href="/nowhere.html">去向</a></footer>')})
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert "links to dc.example.gov.cn/nowhere.html, which this build does not write" in result.output
    assert not (root / "build").exists()


def test_a_footer_without_a_contact_fails(run):
    result = run({"sites.yaml": SITES.replace("    phone: 010-12345678\n", "")})
    found = [f for f in result.findings if f.rule == "identity-sponsor"]
    assert {f.site for f in found} == {"portal", "county"} and "contact" in found[0].message


@pytest.mark.parametrize(("stamp", "why"), [("2026-11-20", "is not YYYY-MM-DD HH:MM"),
                                            ("2027-01-01 09:00", "lies in the future")])
def test_a_malformed_or_future_pubdate_in_the_output_fails(run, tmp_path, stamp, why):
    root = tmp_path / "project"
    run()
    from govsite.build import build
    build(root, root / "build", now=AS_OF)
    page = root / "build/www.example.gov.cn/news/2026-11-20-meeting.html"
    page.write_text(page.read_text().replace('content="2026-11-20 09:00"', f'content="{stamp}"'))
    found = [f for f in check(root, root / "build", AS_OF).findings if f.rule == "meta-pubdate"]
    assert [f.path for f in found] == ["build/www.example.gov.cn/news/2026-11-20-meeting.html"]
    assert why in found[0].message


def test_external_links_are_requested_only_with_external_and_remembered(run, tmp_path):
    from conftest import serve
    site = tmp_path / "elsewhere"
    site.mkdir()
    (site / "ok.html").write_text("<p>ok</p>")
    server, base = serve(site)
    base += "/"
    try:
        body = f"正文。\n\n[参考]({base}ok.html)，[旧链接]({base}gone.html)。"
        files = {"content/portal/news/2026-11-20-meeting.md": news("市政府召开常务会议", "2026-11-20 09:00", body)}
        assert "link-external" not in {f.rule for f in run(files).findings}
        found = [f for f in run(files, external=True).findings
                 if f.rule == "link-external" and base in f.message]   # the footer's go out too
    finally:
        server.shutdown()
    assert [(f.level, f"{base}gone.html" in f.message) for f in found] == [("warning", True)]
    cache = json.loads((tmp_path / "project/.govsite-cache/external-links.json").read_text())
    assert cache[f"{base}gone.html"] == {"2026-11-25": "HTTP 404"}
