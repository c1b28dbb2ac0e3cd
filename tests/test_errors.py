"""User errors: one tiny broken project per mistake.

Each test builds a valid project first, breaks it, and rebuilds. The broken build must print the
exact `path:line: error: message — hint` line and the summary, exit with 1, print no traceback,
and leave the previous build/ exactly as it was (same files, same bytes, same inodes).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EPOCH, FIXTURES, MINIMAL_SITES

# ---------------------------------------------------------------------------------------------
# helpers


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file and folder under `folder` with its bytes, inode and mtime."""
    tree: dict[str, tuple] = {".": (folder.stat().st_ino, folder.stat().st_mtime_ns)}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        st = path.lstat()
        if path.is_dir():
            tree[rel + "/"] = (st.st_ino, st.st_mtime_ns)
        else:
            tree[rel] = (path.read_bytes(), st.st_ino, st.st_mtime_ns)
    return tree


def summary(root: Path, count: int) -> str:
    return (f"build failed: {count} error{'s' if count != 1 else ''}; "
            f"{root / 'build'} was left unchanged")


def fails_with(project, govsite, files: dict[str, str], *diagnostics: str,
               args: tuple[str, ...] = ()) -> None:
    """Build the minimal valid project, break it with `files`, rebuild: exactly `diagnostics`."""
    root = project()
    first = govsite("build", "--project", root)
    assert first.exit_code == 0, first.output
    before = snapshot(root / "build")

    project(files)
    result = govsite("build", "--project", root, *args)

    assert result.stderr.splitlines() == [*diagnostics, summary(root, len(diagnostics))]
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    assert snapshot(root / "build") == before
    assert not list(root.glob(".build.staging-*")), "the staging folder was left behind"


def sites_yaml(extra_site_lines: str = "", columns: str = "[news]", after: str = "") -> str:
    """MINIMAL_SITES with lines added to the portal entry and text appended after it."""
    text = MINIMAL_SITES.replace("    columns: [news]\n", f"    columns: {columns}\n")
    return text + extra_site_lines + textwrap.indent(textwrap.dedent(after), "  ")


NEWS_PAGE = """\
---
title: 市政府召开常务会议
date: 2024-05-08 09:30
source: 示例市人民政府办公室
---
"""

POLICY_COLUMN = """\
---
title: 政策文件
type: policy
---
"""

PORTAL_WITH_POLICY = sites_yaml(columns="[news, policy]")


# ---------------------------------------------------------------------------------------------
# sites.yaml


def test_unknown_site_key_suggests_the_closest_key(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
            languag: en
        """},
        "sites.yaml:12: error: unknown key `languag` in a site — did you mean `language`?")


def test_unknown_cluster_key_suggests_the_closest_key(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
        cluster:
          timezon: "+08:00"
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
        """},
        "sites.yaml:2: error: unknown key `timezon` in cluster — did you mean `timezone`?")


def test_unknown_identity_key_suggests_the_closest_key(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
        cluster:
          identity:
            sponsor: 示例市人民政府办公室
            adress: 示例市人民路1号
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity:
              site_code: "1100000001"
            columns: [news]
        """},
        "sites.yaml:4: error: unknown key `adress` in identity — did you mean `address`?")


WITHOUT_KEY = {
    "id": ("  - id: portal\n    name:", "  - name:"),
    "name": ("    name: 示例市人民政府\n", ""),
    "type": ("    type: portal\n", ""),
    "url": ("    url: https://www.example.gov.cn/\n", ""),
}


@pytest.mark.parametrize("key", [
    "id",
    "name",
    "type",
    "url",
])
def test_site_missing_a_required_key_names_the_key(project, govsite, key):
    text = MINIMAL_SITES.replace(*WITHOUT_KEY[key])
    fails_with(project, govsite, {"sites.yaml": text},
               f"sites.yaml:5: error: site is missing required key `{key}` — "
               f"add `{key}: …` to this site")


def test_duplicate_site_id_names_both_lines(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
          - id: portal
            name: 示例县人民政府
            type: county
            parent: portal
            url: https://county.example.gov.cn/
        """},
        "sites.yaml:12: error: duplicate site id `portal` — it is already used at sites.yaml:5")


def test_unknown_parent_suggests_the_closest_site(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
          - id: county
            name: 示例县人民政府
            type: county
            parent: portl
            url: https://county.example.gov.cn/
            identity:
              site_code: "1101010001"
        """},
        "sites.yaml:15: error: unknown parent `portl` — did you mean `portal`?")


def test_county_without_parent_is_an_error(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml(after="""\
          - id: county
            name: 示例县人民政府
            type: county
            url: https://county.example.gov.cn/
            identity:
              site_code: "1101010001"
        """)},
        "sites.yaml:12: error: a county site needs a `parent` — add `parent: <the portal's id>`")


def test_inheritance_cycle_is_reported_at_each_parent_line(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
          - id: dept-a
            name: 甲局
            type: department
            parent: dept-b
            url: https://a.example.gov.cn/
            identity:
              site_code: "1100000002"
          - id: dept-b
            name: 乙局
            type: department
            parent: dept-a
            url: https://b.example.gov.cn/
            identity:
              site_code: "1100000003"
        """},
        "sites.yaml:15: error: inheritance cycle: dept-a → dept-b → dept-a — "
        "one of these sites must have a different parent",
        "sites.yaml:22: error: inheritance cycle: dept-a → dept-b → dept-a — "
        "one of these sites must have a different parent")


@pytest.mark.parametrize("url", [
    "ftp://www.example.gov.cn/",
    "www.example.gov.cn/",
    "https://www example.gov.cn/",
    "https:///",
    "https://www.example.gov.cn/?page=1/",
    "https://www.example.gov.cn/#top/",
    "https://www.example.gov.cn/a//",
    "https://www.example.gov.cn/../",
])
def test_malformed_site_url_shows_both_accepted_forms(project, govsite, url):
    fails_with(project, govsite,
               {"sites.yaml": MINIMAL_SITES.replace("https://www.example.gov.cn/", url)},
               f"sites.yaml:8: error: site URL `{url}` is malformed — write "
               "https://host.example.gov.cn/ or a path under the parent such as /en/")


def test_site_url_without_trailing_slash_hint_adds_the_slash(project, govsite):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace(
        "https://www.example.gov.cn/", "https://www.example.gov.cn")},
        "sites.yaml:8: error: site URL `https://www.example.gov.cn` must end with / — "
        "write `https://www.example.gov.cn/`")


def test_path_url_on_a_portal_asks_for_a_full_url(project, govsite):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace(
        "https://www.example.gov.cn/", "/en/")},
        "sites.yaml:8: error: site URL `/en/` is a path, but the site has no parent with a URL — "
        "give the full URL, e.g. https://dept.example.gov.cn/")


@pytest.mark.parametrize("code", ["110000001", "11000000012", "bm1234567", "BM12345678",
                                  "11000O0001"])
def test_malformed_site_code_shows_the_expected_form(project, govsite, code):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace("1100000001", code)},
               f"sites.yaml:10: error: 网站标识码 is 10 digits (region code + serial), or bm + 8 "
               f"digits: `{code}` — e.g. \"5301000001\" or \"bm07000001\", in quotes")


@pytest.mark.parametrize("icp", ["ICP备12345678号", "滇ICP备1234号", "滇ICP12345678号-1"])
def test_malformed_icp_number_shows_an_example(project, govsite, icp):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace(
        "    sponsor: 示例市人民政府办公室\n", f"    sponsor: 示例市人民政府办公室\n    icp: {icp}\n")},
        f"sites.yaml:4: error: ICP备案号 is malformed: `{icp}` — "
        "write it as on the MIIT record, e.g. 滇ICP备12345678号-1")


@pytest.mark.parametrize("filing", ["京公网安备1101020200001号", "京公网安备110102020000123",
                                    "公网安备11010202000123号"])
def test_malformed_police_filing_number_says_14_digits(project, govsite, filing):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace(
        "    sponsor: 示例市人民政府办公室\n",
        f"    sponsor: 示例市人民政府办公室\n    police_filing: {filing}\n")},
        f"sites.yaml:4: error: 公安机关备案号 is malformed: `{filing}` — "
        "write it like 滇公网安备53010202000123号 (14 digits)")


def test_unknown_site_type_suggests_the_closest_type(project, govsite):
    fails_with(project, govsite, {"sites.yaml": MINIMAL_SITES.replace(
        "type: portal", "type: portl")},
        "sites.yaml:7: error: unknown site type `portl` — did you mean `portal`?")


def test_unknown_language_suggests_the_closest_language(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml("    language: zh_CN\n")},
               "sites.yaml:12: error: unknown language `zh_CN` — did you mean `zh-CN`?")


def test_unknown_language_without_a_close_match_lists_the_languages(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml("    language: fr\n")},
               "sites.yaml:12: error: unknown language `fr` — valid: `en`, `zh-CN`")


def test_listed_column_without_folder_suggests_the_existing_column(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml(columns="[news, nwes]")},
               "sites.yaml:11: error: site `portal` lists column `nwes`, but "
               "content/portal/nwes/_index.md does not exist — did you mean `news`?")


def test_listed_column_of_a_site_without_content_says_what_to_create(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml(after="""\
          - id: county
            name: 示例县人民政府
            type: county
            parent: portal
            url: https://county.example.gov.cn/
            identity:
              site_code: "1101010001"
            columns: [news]
        """)},
        "sites.yaml:19: error: site `county` lists column `news`, but "
        "content/county/news/_index.md does not exist — create content/county/news/_index.md")


def test_listed_column_in_a_block_list_points_at_its_own_line(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
            columns:
              - news
              - nwes
        """},
        "sites.yaml:13: error: site `portal` lists column `nwes`, but "
        "content/portal/nwes/_index.md does not exist — did you mean `news`?")


def test_invalid_yaml_in_sites_yaml_names_the_bad_line(project, govsite):
    fails_with(project, govsite, {"sites.yaml": """\
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
        """},
        "sites.yaml:7: error: invalid YAML: did not find expected '-' indicator — "
        "check indentation and quoting on that line")


def test_duplicate_key_in_sites_yaml_names_the_second_key(project, govsite):
    fails_with(project, govsite, {"sites.yaml": sites_yaml(
        "    url: https://www2.example.gov.cn/\n")},
        "sites.yaml:12: error: invalid YAML: duplicate key `url` — "
        "check indentation and quoting on that line")


def test_missing_sites_yaml_says_where_govsite_looked(project, govsite):
    root = project()
    (root / "sites.yaml").unlink()
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "sites.yaml: error: no sites.yaml in the project folder — "
        "run govsite in the cluster repository, or pass --project DIR",
        summary(root, 1)]
    assert not (root / "build").exists()


# ---------------------------------------------------------------------------------------------
# content: front matter


def test_page_without_front_matter_is_reported_at_line_1(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": "title: 市政府召开常务会议\n\n正文\n"},
               "content/portal/news/a.md:1: error: missing front matter — "
               "start the file with a line `---`, the fields, and another `---`")


def test_unclosed_front_matter_asks_for_the_closing_line(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        source: 示例市人民政府办公室

        正文
        """},
        "content/portal/news/a.md:1: error: front matter is not closed — "
        "add a line `---` after the last field")


def test_bad_yaml_in_front_matter_names_the_file_line(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        summary: 会议研究部署优化营商环境工作
        source: 办公室: 新闻科
        ---
        正文
        """},
        "content/portal/news/a.md:5: error: invalid YAML: mapping values are not allowed in this context — "
        "check indentation, and quote values containing `: ` or starting with [ { * &")


def test_duplicate_front_matter_field_names_the_second_one(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE.replace(
        "source:", "title: 又一个标题\nsource:") + "正文\n"},
        "content/portal/news/a.md:4: error: invalid YAML: duplicate key `title` — "
        "check indentation, and quote values containing `: ` or starting with [ { * &")


def test_unknown_front_matter_field_suggests_the_closest_field(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        source: 示例市人民政府办公室
        sumary: 会议研究部署优化营商环境工作。
        ---
        正文
        """},
        "content/portal/news/a.md:5: error: unknown field `sumary` for a news page — "
        "did you mean `summary`?")


def test_policy_field_on_a_news_page_is_unknown(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE.replace(
        "source:", "issuer: 示例市人民政府\nsource:") + "正文\n"},
        "content/portal/news/a.md:4: error: unknown field `issuer` for a news page — "
        "valid: `also_in`, `author`, `date`, `date_correction`, `draft`, `expires`, `image`, "
        "`keywords`, `kind`, `origin`, `source`, `summary`, `title`, `updated`, `weight`, "
        "`withdrawn`")


def test_news_without_source_names_the_missing_field(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        ---
        正文
        """},
        "content/portal/news/a.md:2: error: a news page is missing required field `source` — "
        "add `source: …` to the front matter")


def test_notice_without_date_names_the_missing_field(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": sites_yaml(columns="[news, notices]"),
        "content/portal/notices/_index.md": "---\ntitle: 通知公告\ntype: notice\n---\n",
        "content/portal/notices/a.md": "---\ntitle: 停水通知\nsource: 示例市水务局\n---\n正文\n"},
        "content/portal/notices/a.md:2: error: a notice page is missing required field `date` — "
        "add `date: …` to the front matter")


def policy_page(**fields: str | None) -> str:
    values = {
        "title": "示例市人民政府关于优化营商环境的实施意见",
        "date": "2024-05-06 10:00",
        "index_no": "11110000MB0000001X/2024-00001",
        "issuer": "示例市人民政府",
        "doc_number": "示政发〔2024〕1号",
        "written": "2024-05-01",
        "subject": "综合政务\\其他",
    }
    values.update(fields)
    lines = "".join(f"{k}: {v}\n" for k, v in values.items() if v is not None)
    return f"---\n{lines}---\n正文\n"


def test_policy_without_index_no_names_the_missing_field(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": PORTAL_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(index_no=None)},
        "content/portal/policy/2024-001.md:2: error: a policy page is missing required field "
        "`index_no` — add `index_no: …` to the front matter")


@pytest.mark.parametrize("value", ["2024-13-08", "5月8日", "2024-05-08 9:30", "2024-05-08 25:00",
                                   "2024/05/08"])
def test_bad_time_value_shows_the_expected_format(project, govsite, value):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE.replace(
        "2024-05-08 09:30", value) + "正文\n"},
        f"content/portal/news/a.md:3: error: `date` is not a time: `{value}` — "
        "write it as 2024-05-08 09:30 (or 2024-05-08)")


@pytest.mark.parametrize("written,fixed", [
    ("示政发[2024]1号", "示政发〔2024〕1号"),
    ("示政发（2024）1号", "示政发〔2024〕1号"),
    ("示政发(2024)1号", "示政发〔2024〕1号"),
    ("示政发【2024】1号", "示政发〔2024〕1号"),
    ("示政发［2024］1号", "示政发〔2024〕1号"),
])
def test_doc_number_with_wrong_brackets_hint_shows_the_chinese_form(project, govsite, written,
                                                                    fixed):
    fails_with(project, govsite, {
        "sites.yaml": PORTAL_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(doc_number=written)},
        f"content/portal/policy/2024-001.md:6: error: 发文字号 `{written}` puts the year in the "
        f"wrong brackets — write 〔〕: {fixed}")


def test_written_after_published_is_reported_at_written(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": PORTAL_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(written="2024-05-07")},
        "content/portal/policy/2024-001.md:7: error: 成文日期 (written) is after 发布日期 (date) — "
        "a document is written before it is published; check both dates")


def test_repealed_policy_without_repealed_by_asks_for_it(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": PORTAL_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(validity="废止")},
        "content/portal/policy/2024-001.md:9: error: a 废止 (repealed) document must say what "
        "repealed it — add `repealed_by: ../policy/<file>.md` (or the repealing document's name)")


COUNTY_WITH_POLICY = """\
  - id: county
    name: 示例县人民政府
    type: county
    parent: portal
    url: https://county.example.gov.cn/
    identity:
      site_code: "1101010001"
    columns: [policy]
"""


def test_duplicate_index_no_across_sites_names_both_files_and_lines(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": PORTAL_WITH_POLICY + COUNTY_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/county/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(),
        "content/county/policy/2024-007.md": policy_page(issuer="示例县人民政府")},
        "content/portal/policy/2024-001.md:4: error: 索引号 `11110000MB0000001X/2024-00001` is "
        "already used by content/county/policy/2024-007.md:4 — "
        "each policy document needs its own index number in the cluster")


def test_duplicate_index_no_across_sites_fails_the_build(project, govsite):
    # The line-number-independent part of the check above, so the rule itself stays guarded.
    root = project({
        "sites.yaml": PORTAL_WITH_POLICY + COUNTY_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/county/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(),
        "content/county/policy/2024-007.md": policy_page(issuer="示例县人民政府")})
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    [line, last] = result.stderr.splitlines()
    assert line.startswith("content/portal/policy/2024-001.md")
    assert ": error: 索引号 `11110000MB0000001X/2024-00001` is already used by " \
           "content/county/policy/2024-007.md" in line
    assert last == summary(root, 1)


def test_duplicate_index_no_counts_drafts_too(project, govsite):
    root = project({
        "sites.yaml": PORTAL_WITH_POLICY,
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/policy/2024-001.md": policy_page(),
        "content/portal/policy/2024-002.md": policy_page(draft="true")})
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert "索引号 `11110000MB0000001X/2024-00001` is already used by " \
           "content/portal/policy/2024-001.md" in result.stderr


def test_interpretation_of_a_news_page_is_rejected(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": sites_yaml(columns="[news, jiedu]"),
        "content/portal/jiedu/_index.md": "---\ntitle: 政策解读\ntype: interpretation\n---\n",
        "content/portal/news/meeting.md": NEWS_PAGE + "正文\n",
        "content/portal/jiedu/meeting.md": """\
            ---
            title: 常务会议解读
            date: 2024-05-08 10:00
            interprets: ../news/meeting.md
            ---
            正文
            """},
        "content/portal/jiedu/meeting.md:4: error: `interprets` must name a policy document, but "
        "portal/news/meeting.md is a news — point it at the policy this interpretation explains")


def test_interpretation_of_a_withdrawn_policy_says_it_is_withdrawn(project, govsite):
    root = project({
        "sites.yaml": sites_yaml(columns="[news, policy, jiedu]"),
        "content/portal/policy/_index.md": POLICY_COLUMN,
        "content/portal/jiedu/_index.md": "---\ntitle: 政策解读\ntype: interpretation\n---\n",
        "content/portal/policy/2024-001.md": policy_page(
            withdrawn="{date: 2024-06-01 10:00, reason: 内容有误}"),
        "content/portal/jiedu/2024-001.md": """\
            ---
            title: 实施意见解读
            date: 2024-05-08 10:00
            interprets: ../policy/2024-001.md
            ---
            正文
            """})
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    [line, _] = result.stderr.splitlines()
    assert line.startswith("content/portal/jiedu/2024-001.md:4: error: ")
    assert "withdrawn" in line
    assert "missing page" not in line


# ---------------------------------------------------------------------------------------------
# content: links

LINK_HINT = "link to an existing file, relative to this one or as site:<site>/<column>/<file>.md"


def test_broken_relative_link_names_its_body_line(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE + textwrap.dedent("""\
        第一段，提到 ../notices/2024-03.md 这个文件名但不是链接。

        | 项目 | 说明 |
        |---|---|
        | 甲 | 乙 |

        详见[停水通知](../notices/2024-03.md)。
        """)},
        f"content/portal/news/a.md:12: error: broken link `../notices/2024-03.md`: "
        f"content/portal/notices/2024-03.md does not exist — {LINK_HINT}")


def test_broken_link_line_counts_blank_lines_after_front_matter(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE + "\n\n\n[x](b.md)\n"},
               f"content/portal/news/a.md:9: error: broken link `b.md`: "
               f"content/portal/news/b.md does not exist — {LINK_HINT}")


def test_broken_image_names_its_body_line(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE + "正文\n\n![会场](会场.png)\n"},
               f"content/portal/news/a.md:8: error: broken link `会场.png`: "
               f"content/portal/news/会场.png does not exist — {LINK_HINT}")


def test_broken_link_in_a_column_intro_names_its_line(project, govsite):
    fails_with(project, govsite, {"content/portal/news/_index.md": """\
        ---
        title: 要闻动态
        type: news
        ---
        本栏目发布市政府要闻。

        参见[专题](../zhuanti/_index.md)。
        """},
        f"content/portal/news/_index.md:7: error: broken link `../zhuanti/_index.md`: "
        f"content/portal/zhuanti/_index.md does not exist — {LINK_HINT}")


def test_site_link_to_an_unknown_site_suggests_the_closest_site(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE +
                                  "正文\n\n参见[区县动态](site:porta/news/b.md)。\n"},
               "content/portal/news/a.md:8: error: broken link `site:porta/news/b.md`: "
               f"there is no site `porta` (did you mean `portal`?) — {LINK_HINT}")


def test_site_link_to_a_missing_page_names_the_missing_file(project, govsite):
    fails_with(project, govsite, {"content/portal/news/a.md": NEWS_PAGE +
                                  "参见[旧闻](site:portal/news/old.md)。\n"},
               "content/portal/news/a.md:6: error: broken link `site:portal/news/old.md`: "
               f"content/portal/news/old.md does not exist — {LINK_HINT}")


@pytest.mark.parametrize("field,state", [("draft: true", "draft"),
                                         ("expires: 2024-06-01", "expired")])
def test_link_to_an_unpublished_page_says_why(project, govsite, field, state):
    fails_with(project, govsite, {
        "content/portal/news/a.md": NEWS_PAGE + "正文\n\n参见[下一篇](b.md)。\n",
        "content/portal/news/b.md": NEWS_PAGE.replace("source:", f"{field}\nsource:") + "b\n"},
        f"content/portal/news/a.md:8: error: broken link `b.md`: the page is {state} and will "
        f"not be published — {LINK_HINT}")


def test_link_to_a_scheduled_page_says_it_is_scheduled(project, govsite):
    fails_with(project, govsite, {
        "content/portal/news/a.md": NEWS_PAGE + "参见[下一篇](b.md)。\n",
        "content/portal/news/b.md": NEWS_PAGE.replace("2024-05-08 09:30", "2099-01-01") + "b\n"},
        "content/portal/news/a.md:6: error: broken link `b.md`: the page is scheduled and will "
        f"not be published — {LINK_HINT}")


# ---------------------------------------------------------------------------------------------
# content: folders and columns


def test_column_folder_without_index_is_reported_once(project, govsite):
    fails_with(project, govsite, {
        "content/portal/notices/a.md": NEWS_PAGE + "a\n",
        "content/portal/notices/b.md": NEWS_PAGE + "b\n"},
        "content/portal/notices: error: column folder `notices` has no _index.md — "
        "create content/portal/notices/_index.md with `title:` and `type:`")


def test_content_folder_of_an_unknown_site_suggests_the_closest_site(project, govsite):
    fails_with(project, govsite,
               {"content/portl/news/_index.md": "---\ntitle: x\ntype: news\n---\n"},
               "content/portl: error: content folder `portl` is not a site in sites.yaml — "
               "did you mean `portal`? (or add the site to sites.yaml)")


def test_unknown_column_type_suggests_the_closest_type(project, govsite):
    fails_with(project, govsite, {"content/portal/news/_index.md": """\
        ---
        title: 要闻动态
        type: nwes
        ---
        """},
        "content/portal/news/_index.md:3: error: unknown column type `nwes` — "
        "did you mean `news`?")


def test_column_without_type_names_the_missing_field(project, govsite):
    fails_with(project, govsite, {"content/portal/news/_index.md": "---\ntitle: 要闻动态\n---\n"},
               "content/portal/news/_index.md:2: error: column is missing required field `type` — "
               "add `type: …` to the front matter")


SERVICE_COLUMN = "---\ntitle: 办事服务\ntype: service\n---\n"
SERVICE_GUIDE = """\
---
title: 居住证办理
legal_basis: [《居住证暂行条例》]
conditions: 在本市居住半年以上。
materials:
  - {name: 居民身份证, form: 原件, count: 1}
  - {name: 居住证申领登记表, form: 复印件, count: 2}
steps: [申请, 受理, 审核, 发证]
time_limit: {legal: 15个工作日, promised: 10个工作日}
fee: 不收费
place: 各派出所户籍窗口
hours: 工作日 9:00-17:00
phone: 010-12345678
complaint: "12345"
---
常见问题
"""
SERVICE_SITES = sites_yaml(columns="[news, service]")


def test_valid_service_guide_builds(project, govsite):
    root = project({"sites.yaml": SERVICE_SITES, "content/portal/service/_index.md": SERVICE_COLUMN,
                    "content/portal/service/jzz.md": SERVICE_GUIDE})
    result = govsite("build", "--project", root)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("field", ["legal_basis", "conditions", "materials", "steps",
                                   "time_limit", "fee", "place", "hours", "phone", "complaint"])
def test_service_guide_missing_a_required_element_names_it(project, govsite, field):
    lines = SERVICE_GUIDE.splitlines(keepends=True)
    kept = []
    skipping = False
    for line in lines:
        if line.startswith(f"{field}:"):
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        kept.append(line)
    fails_with(project, govsite, {
        "sites.yaml": SERVICE_SITES, "content/portal/service/_index.md": SERVICE_COLUMN,
        "content/portal/service/jzz.md": "".join(kept)},
        f"content/portal/service/jzz.md:2: error: a service page is missing required field "
        f"`{field}` — add `{field}: …` to the front matter")


def test_material_with_a_misspelt_form_suggests_the_closest_form(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": SERVICE_SITES, "content/portal/service/_index.md": SERVICE_COLUMN,
        "content/portal/service/jzz.md": SERVICE_GUIDE.replace("form: 复印件", "form: 复印")},
        "content/portal/service/jzz.md:7: error: material form `复印` is not one of "
        "原件/复印件/原件和复印件/电子件 — did you mean `复印件`?")


def test_material_with_an_unknown_form_lists_the_forms(project, govsite):
    fails_with(project, govsite, {
        "sites.yaml": SERVICE_SITES, "content/portal/service/_index.md": SERVICE_COLUMN,
        "content/portal/service/jzz.md": SERVICE_GUIDE.replace("form: 复印件", "form: 扫描件")},
        "content/portal/service/jzz.md:7: error: material form `扫描件` is not one of "
        "原件/复印件/原件和复印件/电子件 — valid: `原件`, `原件和复印件`, `复印件`, `电子件`")


# ---------------------------------------------------------------------------------------------
# many errors, warnings, command line


def test_several_errors_are_reported_together_sorted_by_file_and_line(project, govsite):
    fails_with(project, govsite, {
        # parsed first (columns before pages) but sorts last
        "content/portal/zeta/_index.md": "---\ntitle: 专题\ntype: topc\n---\n",
        # within one file the unknown field (line 4) is found before the missing field (line 2)
        "content/portal/news/b.md": "---\ntitle: 会议\ndate: 2024-05-08\nsumary: 摘要\n---\n正文\n",
        "content/portal/news/a.md": "没有前置元数据\n"},
        "content/portal/news/a.md:1: error: missing front matter — "
        "start the file with a line `---`, the fields, and another `---`",
        "content/portal/news/b.md:2: error: a news page is missing required field `source` — "
        "add `source: …` to the front matter",
        "content/portal/news/b.md:4: error: unknown field `sumary` for a news page — "
        "did you mean `summary`?",
        "content/portal/zeta/_index.md:3: error: unknown column type `topc` — "
        "did you mean `topic`?")


def test_several_broken_links_are_all_reported(project, govsite):
    fails_with(project, govsite, {
        "content/portal/news/a.md": NEWS_PAGE + "[一](x.md)\n\n[二](y.md)\n",
        "content/portal/news/b.md": NEWS_PAGE + "\n[三](site:portal/news/z.md)\n"},
        f"content/portal/news/a.md:6: error: broken link `x.md`: "
        f"content/portal/news/x.md does not exist — {LINK_HINT}",
        f"content/portal/news/a.md:8: error: broken link `y.md`: "
        f"content/portal/news/y.md does not exist — {LINK_HINT}",
        f"content/portal/news/b.md:7: error: broken link `site:portal/news/z.md`: "
        f"content/portal/news/z.md does not exist — {LINK_HINT}")


UNPUBLISHED_FILE_WARNING = (
    "content/portal/news/notes.odt: {level}: file type `.odt` is not published — attachments can "
    "be 7z, csv, doc, docx, et, gif, jpeg, jpg, json, mp3, mp4, ofd, pdf, png, ppt, pptx, rar, "
    "svg, txt, webp, wps, xls, xlsx, xml, zip")


def test_warning_alone_does_not_fail_the_build(project, govsite):
    root = project({"content/portal/news/notes.odt": "x"})
    result = govsite("build", "--project", root)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [UNPUBLISHED_FILE_WARNING.format(level="warning")]
    assert result.stdout.endswith("(1 warning)\n")


def test_strict_turns_a_warning_into_a_failing_error(project, govsite):
    fails_with(project, govsite, {"content/portal/news/notes.odt": "x"},
               UNPUBLISHED_FILE_WARNING.format(level="error"), args=("--strict",))


def test_strict_build_without_warnings_succeeds(project, govsite):
    root = project()
    result = govsite("build", "--project", root, "--strict")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_failed_first_build_creates_no_build_folder(project, govsite):
    root = project({"content/portal/news/a.md": "没有前置元数据\n"})
    result = govsite("build", "--project", root)
    assert result.exit_code == 1
    assert not (root / "build").exists()
    assert not list(root.glob(".build.staging-*"))


def test_unknown_site_option_is_a_usage_error(project, govsite):
    root = project()
    assert govsite("build", "--project", root).exit_code == 0
    before = snapshot(root / "build")
    result = govsite("build", "--project", root, "--site", "portl")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: no site `portl` in sites.yaml; "
                                          "did you mean `portal`?"]
    assert snapshot(root / "build") == before


def test_out_into_a_foreign_non_empty_folder_is_refused(project, govsite, tmp_path):
    root = project()
    foreign = tmp_path / "documents"
    (foreign / "sub").mkdir(parents=True)
    (foreign / "报告.docx").write_bytes(b"precious")
    (foreign / "sub" / "notes.txt").write_text("mine", encoding="utf-8")
    before = snapshot(foreign)
    result = govsite("build", "--project", root, "--out", foreign)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {foreign} exists and was not written by govsite; "
        "remove it or choose another --out"]
    assert snapshot(foreign) == before
    assert not list(tmp_path.glob(".documents.staging-*"))


def test_out_into_a_previous_govsite_output_is_allowed(project, govsite, tmp_path):
    root = project()
    out = tmp_path / "site-out"
    assert govsite("build", "--project", root, "--out", out).exit_code == 0
    result = govsite("build", "--project", root, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "www.example.gov.cn" / "index.html").is_file()


def test_out_equal_to_the_project_folder_is_refused(project, govsite):
    root = project()
    before = snapshot(root)
    result = govsite("build", "--project", root, "--out", root)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --out {root} would replace the project folder itself"]
    assert snapshot(root) == before


def test_out_equal_to_a_folder_holding_the_project_is_refused(project, govsite):
    root = project()
    before = snapshot(root)
    result = govsite("build", "--project", root, "--out", root.parent)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --out {root.parent} would replace the project folder itself"]
    assert snapshot(root) == before


def test_out_inside_the_content_folder_is_refused(project, govsite):
    root = project()
    before = snapshot(root)
    result = govsite("build", "--project", root, "--out", root / "content" / "out")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --out {root / 'content' / 'out'} lies inside the project's sources"]
    assert snapshot(root) == before


def test_real_command_prints_one_line_per_error_and_no_traceback(project):
    root = project({"content/portal/news/a.md": NEWS_PAGE + "[x](missing.md)\n"})
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH}
    repo = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "govsite", "build", "--project", str(root)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"content/portal/news/a.md:6: error: broken link `missing.md`: "
        f"content/portal/news/missing.md does not exist — {LINK_HINT}",
        summary(root, 1)]
    assert "Traceback" not in proc.stderr
    # The program leaves without Python's shutdown (cli.run): its exit codes still hold.
    proc = subprocess.run([sys.executable, "-m", "govsite", "build", "--project", str(root),
                           "--site", "nosuch"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no site `nosuch` in sites.yaml")


def test_check_settings_in_sites_yaml_are_validated(project, govsite):
    sites = MINIMAL_SITES.replace("cluster:\n", "cluster:\n  check:\n    news_days: 0\n"
                                  "    disable: [empty-colum]\n    domain_rule: false\n")
    fails_with(project, govsite, {"sites.yaml": sites},
               "sites.yaml:3: error: `check.news_days` must be a whole number above 0",
               "sites.yaml:4: error: unknown rule `empty-colum` in check.disable — did you mean "
               "`empty-column`?",
               "sites.yaml:5: error: unknown key `domain_rule` in check — did you mean `domain_rules`?")


def test_check_says_what_is_wrong_with_as_of(govsite):
    result = govsite("check", "--project", FIXTURES / "small", "--as-of", "2026-13-01")
    assert result.exit_code == 2
    assert result.output == "error: --as-of '2026-13-01' is not a date; write it as YYYY-MM-DD\n"


def test_front_matter_errors_found_by_worker_processes_are_reported_the_same(project, govsite):
    # With --jobs, pages are parsed in slices on other processes: their errors must come back
    # with their file and line, and the build must still fail.
    pages = {f"content/portal/news/p{n:02}.md": NEWS_PAGE + f"正文{n}\n" for n in range(30)}
    pages["content/portal/news/p17.md"] = NEWS_PAGE.replace("source:", "sumary: 摘要\nsource:") + "正文\n"
    root = project(pages)
    result = govsite("build", "--project", root, "--jobs", "2")
    assert result.exit_code == 1
    assert "content/portal/news/p17.md:4: error: unknown field `sumary` for a news page" in result.stderr
    assert not (root / "build").exists()
