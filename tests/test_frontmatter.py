"""frontmatter: times, kinds, service guides and line numbers, without building anything."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import MINIMAL_SITES, write_project

from govsite import config, discover, frontmatter, yamlfile
from govsite.diagnostics import Report
from govsite.model import KIND_BY_COLUMN_TYPE, Link, Material, Withdrawal

CST = timezone(timedelta(hours=8))


def parse(tmp_path: Path, files: dict[str, str]):
    """Write a project (minimal cluster + files) and parse it: (Parsed, list of diagnostics)."""
    root = write_project(tmp_path / "project", files)
    report = Report(root)
    cfg = config.load(root, report)
    assert cfg is not None, [str(d) for d in report.sorted()]
    found = discover.find_sources(cfg, report)
    parsed = frontmatter.parse(cfg, found.sources, report)
    return parsed, [str(d) for d in report.sorted()]


def page_of(tmp_path: Path, files: dict[str, str], key: str):
    parsed, problems = parse(tmp_path, files)
    assert problems == []
    pages = {p.key: p for p in parsed.pages}
    return pages[key]


NEWS = """\
---
title: 市政府召开常务会议
date: {date}
source: 示例市人民政府办公室
---
正文
"""

# ---------------------------------------------------------------------------------------------
# times


@pytest.mark.parametrize("text,expected", [
    ("2024-05-08", datetime(2024, 5, 8, 0, 0, tzinfo=CST)),
    ("2024-05-08 09:30", datetime(2024, 5, 8, 9, 30, tzinfo=CST)),
    ("2024-05-08 09:30:15", datetime(2024, 5, 8, 9, 30, 15, tzinfo=CST)),
    ("2024-05-08T09:30", datetime(2024, 5, 8, 9, 30, tzinfo=CST)),
    ("2024-05-08T09:30:00+09:00",
     datetime(2024, 5, 8, 9, 30, tzinfo=timezone(timedelta(hours=9)))),
    ("2024-05-08T01:30:00Z", datetime(2024, 5, 8, 1, 30, tzinfo=UTC)),
    ("2024-05-08T09:30:00-05:00",
     datetime(2024, 5, 8, 9, 30, tzinfo=timezone(-timedelta(hours=5)))),
])
def test_time_is_parsed_in_every_accepted_form(text, expected):
    parsed = frontmatter.parse_time(text, CST)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_time_with_its_own_offset_ignores_the_site_timezone():
    parsed = frontmatter.parse_time("2024-05-08T09:30:00+00:00", CST)
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["2024-5-8", "2024/05/08", "20240508", 20240508, "5月8日",
                                   "2024-02-30", "2024-05-08 24:00", "2024-05-08 9:30", "", True,
                                   None, ["2024-05-08"], 2024.5])
def test_anything_else_is_not_a_time(value):
    assert frontmatter.parse_time(value, CST) is None


def test_time_without_offset_takes_the_sites_timezone(tmp_path):
    sites = MINIMAL_SITES.replace("    columns: [news]\n",
                                  '    columns: [news]\n    timezone: "+09:00"\n')
    page = page_of(tmp_path, {"sites.yaml": sites,
                              "content/portal/news/a.md": NEWS.format(date="2024-05-08 09:30")},
                   "portal/news/a")
    assert page.date == datetime(2024, 5, 8, 9, 30, tzinfo=timezone(timedelta(hours=9)))
    assert page.date.utcoffset() == timedelta(hours=9)


def test_time_without_offset_defaults_to_beijing_time(tmp_path):
    page = page_of(tmp_path, {"content/portal/news/a.md": NEWS.format(date="2024-05-08 09:30")},
                   "portal/news/a")
    assert page.date.utcoffset() == timedelta(hours=8)
    assert page.date == datetime(2024, 5, 8, 1, 30, tzinfo=UTC)


def test_yaml_timestamp_with_seconds_and_offset_is_read_as_written(tmp_path):
    # YAML itself would turn this into a (naive, UTC-shifted) datetime; govsite keeps the text.
    page = page_of(tmp_path, {"content/portal/news/a.md":
                              NEWS.format(date="2024-05-08T09:30:00+08:00")}, "portal/news/a")
    assert page.date == datetime(2024, 5, 8, 9, 30, tzinfo=CST)
    assert page.date.utcoffset() == timedelta(hours=8)


def test_updated_expires_and_withdrawn_use_the_same_time_rules(tmp_path):
    page = page_of(tmp_path, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        updated: 2024-05-09
        expires: 2024-06-01T00:00:00Z
        withdrawn: {date: 2024-05-10 10:00, reason: 内容有误}
        source: 示例市人民政府办公室
        ---
        """}, "portal/news/a")
    assert page.updated == datetime(2024, 5, 9, tzinfo=CST)
    assert page.expires == datetime(2024, 6, 1, tzinfo=UTC)
    assert page.withdrawn.date == datetime(2024, 5, 10, 10, 0, tzinfo=CST)
    assert page.withdrawn.reason == "内容有误"


# ---------------------------------------------------------------------------------------------
# kinds

FIELDS_BY_KIND = {
    "news": "date: 2024-05-08\nsource: 办公室\n",
    "notice": "date: 2024-05-08\nsource: 办公室\n",
    "page": "",
    "policy": ("date: 2024-05-08\nindex_no: 11110000MB0000001X/2024-00001\nissuer: 示例市人民政府\n"
               "written: 2024-05-01\nsubject: 综合政务\n"),
    "interpretation": "date: 2024-05-08\ninterprets: ../news/a.md\n",
    "service": ("legal_basis: [条例]\nconditions: 无\nmaterials: [身份证]\nsteps: [申请]\n"
                "time_limit: 即办\nfee: 不收费\nplace: 大厅\nhours: 工作日\nphone: '12345'\n"
                "complaint: '12345'\n"),
}


def column(column_type: str, title: str = "栏目") -> str:
    return f"---\ntitle: {title}\ntype: {column_type}\n---\n"


@pytest.mark.parametrize("column_type,kind", sorted(KIND_BY_COLUMN_TYPE.items()))
def test_page_kind_defaults_from_its_column_type(tmp_path, column_type, kind):
    page = page_of(tmp_path, {
        "content/portal/col/_index.md": column(column_type),
        "content/portal/col/p.md": f"---\ntitle: 页面\n{FIELDS_BY_KIND[kind]}---\n"},
        "portal/col/p")
    assert page.kind == kind


def test_kind_defaults_cover_every_column_type_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    listed = ("news", "notice", "policy", "interpretation", "service", "profile", "disclosure",
              "interaction", "data", "topic", "personnel", "plan", "response", "page")
    assert all(f"`{t}`" in readme for t in listed)
    assert set(KIND_BY_COLUMN_TYPE) == set(listed)


def test_kind_override_makes_a_page_in_a_news_column_need_no_date(tmp_path):
    page = page_of(tmp_path,
                   {"content/portal/news/about.md": "---\ntitle: 关于本栏目\nkind: page\n---\n"},
                   "portal/news/about")
    assert page.kind == "page"
    assert page.date is None


def test_kind_override_to_policy_in_a_disclosure_column_reads_policy_fields(tmp_path):
    page = page_of(tmp_path, {
        "content/portal/gkml/_index.md": column("disclosure", "信息公开目录"),
        "content/portal/gkml/p.md": f"---\ntitle: 实施意见\nkind: policy\n{FIELDS_BY_KIND['policy']}"
                                    "doc_number: 示政发〔2024〕1号\n---\n"},
        "portal/gkml/p")
    assert page.kind == "policy"
    assert page.policy.index_no == "11110000MB0000001X/2024-00001"
    assert page.policy.doc_number == "示政发〔2024〕1号"
    assert page.policy.written == datetime(2024, 5, 1, tzinfo=CST)
    assert page.policy.validity == "有效"


def test_kind_override_to_policy_requires_the_policy_fields(tmp_path):
    _, problems = parse(tmp_path, {
        "content/portal/gkml/_index.md": column("disclosure"),
        "content/portal/gkml/p.md": "---\ntitle: 实施意见\nkind: policy\ndate: 2024-05-08\n---\n"})
    assert problems == [
        f"content/portal/gkml/p.md:2: error: a policy page is missing required field `{key}` — "
        f"add `{key}: …` to the front matter"
        for key in ("index_no", "issuer", "subject", "written")]


def test_unknown_kind_suggests_the_closest_kind(tmp_path):
    _, problems = parse(tmp_path, {"content/portal/news/a.md": "---\ntitle: x\nkind: polcy\n---\n"})
    assert problems == ["content/portal/news/a.md:3: error: unknown kind `polcy` — "
                        "did you mean `policy`?"]


def test_fields_of_another_kind_are_unknown(tmp_path):
    text = NEWS.format(date="2024-05-08").replace("source:", "fee: 不收费\nsource:")
    _, problems = parse(tmp_path, {"content/portal/news/a.md": text})
    assert len(problems) == 1
    assert problems[0].startswith("content/portal/news/a.md:4: error: unknown field `fee` for a "
                                  "news page — ")


# ---------------------------------------------------------------------------------------------
# service guides

SERVICE = {
    "content/portal/service/_index.md": column("service", "办事服务"),
    "content/portal/service/jzz.md": """\
        ---
        title: 居住证办理
        legal_basis: [《居住证暂行条例》, 《示例省居住证实施办法》]
        conditions:
          - 在本市居住半年以上
          - 有合法稳定住所
        materials:
          - 居民身份证
          - {name: 居住证申领登记表, form: 原件, count: 2, template: 登记表.docx}
          - name: 近期照片
            form: 电子件
            note: 白底
        steps: [申请, 受理, 审核, 发证]
        time_limit: {legal: 15个工作日, promised: 10个工作日}
        fee: 不收费
        place: 各派出所户籍窗口
        hours: 工作日 9:00-17:00
        phone: 010-12345678
        complaint: 12345
        online_url: https://zwfw.example.gov.cn/jzz
        ---
        常见问题
        """,
}


def test_service_guide_reads_every_element(tmp_path):
    guide = page_of(tmp_path, SERVICE, "portal/service/jzz").service
    assert guide.item_name == "居住证办理"          # defaults to the title
    assert guide.legal_basis == ("《居住证暂行条例》", "《示例省居住证实施办法》")
    assert guide.conditions == ("在本市居住半年以上", "有合法稳定住所")
    assert guide.steps == ("申请", "受理", "审核", "发证")
    assert (guide.fee, guide.place, guide.hours) == ("不收费", "各派出所户籍窗口", "工作日 9:00-17:00")
    assert (guide.phone, guide.complaint) == ("010-12345678", "12345")
    assert guide.online_url == "https://zwfw.example.gov.cn/jzz"


def test_service_materials_take_a_name_or_name_form_count_template(tmp_path):
    guide = page_of(tmp_path, SERVICE, "portal/service/jzz").service
    assert guide.materials == (
        Material("居民身份证", "", 1, None),
        Material("居住证申领登记表", "原件", 2, Link("登记表.docx", 9)),
        Material("近期照片", "电子件", 1, None, "白底"),
    )


def test_service_time_limit_mapping_gives_legal_and_promised(tmp_path):
    guide = page_of(tmp_path, SERVICE, "portal/service/jzz").service
    assert (guide.time_limit_legal, guide.time_limit_promised) == ("15个工作日", "10个工作日")


def test_service_time_limit_text_is_the_promised_limit(tmp_path):
    files = dict(SERVICE)
    files["content/portal/service/jzz.md"] = files["content/portal/service/jzz.md"].replace(
        "time_limit: {legal: 15个工作日, promised: 10个工作日}", "time_limit: 即办件，当场办结")
    guide = page_of(tmp_path, files, "portal/service/jzz").service
    assert (guide.time_limit_legal, guide.time_limit_promised) == ("", "即办件，当场办结")


def test_service_conditions_as_text_become_one_condition(tmp_path):
    files = dict(SERVICE)
    files["content/portal/service/jzz.md"] = files["content/portal/service/jzz.md"].replace(
        "conditions:\n          - 在本市居住半年以上\n          - 有合法稳定住所",
        "conditions: 在本市居住半年以上。")
    guide = page_of(tmp_path, files, "portal/service/jzz").service
    assert guide.conditions == ("在本市居住半年以上。",)


def test_service_item_name_overrides_the_title(tmp_path):
    files = dict(SERVICE)
    files["content/portal/service/jzz.md"] = files["content/portal/service/jzz.md"].replace(
        "title: 居住证办理\n", "title: 居住证办理\n        item_name: 居住证申领\n")
    guide = page_of(tmp_path, files, "portal/service/jzz").service
    assert guide.item_name == "居住证申领"


@pytest.mark.parametrize("old,new,expected", [
    ("count: 2", "count: 0",
     "content/portal/service/jzz.md:9: error: a material's count must be at least 1"),
    ("count: 2", "count: 两份",
     "content/portal/service/jzz.md:9: error: `count` must be a whole number"),
    ("note: 白底", "notes: 白底",
     "content/portal/service/jzz.md:12: error: unknown field `notes` for a material — "
     "did you mean `note`?"),
    ("promised: 10个工作日", "promise: 10个工作日",
     "content/portal/service/jzz.md:14: error: unknown field `promise` for time_limit — "
     "did you mean `promised`?"),
    ("online_url: https://zwfw.example.gov.cn/jzz", "online_url: zwfw.example.gov.cn/jzz",
     "content/portal/service/jzz.md:20: error: online_url `zwfw.example.gov.cn/jzz` is not a "
     "web address — write the full https:// address of the online service"),
])
def test_service_guide_mistakes_point_at_their_own_line(tmp_path, old, new, expected):
    files = dict(SERVICE)
    assert old in files["content/portal/service/jzz.md"]
    guide = files["content/portal/service/jzz.md"]
    files["content/portal/service/jzz.md"] = guide.replace(old, new)
    _, problems = parse(tmp_path, files)
    assert problems == [expected]


# ---------------------------------------------------------------------------------------------
# line numbers


def test_front_matter_key_lines_count_the_opening_dashes(tmp_path):
    page = page_of(tmp_path, {
        "sites.yaml": MINIMAL_SITES.replace("[news]", "[news, jiedu]"),
        "content/portal/jiedu/_index.md": column("interpretation"),
        "content/portal/jiedu/j.md": """\
            ---
            title: 解读
            date: 2024-05-08


            interprets: ../policy/2024-001.md
            image: 图解.png
            also_in: [site:portal/news, ../news]
            ---
            正文
            """}, "portal/jiedu/j")
    assert page.interprets == Link("../policy/2024-001.md", 6)
    assert page.image == Link("图解.png", 7)
    assert page.also_in == (Link("site:portal/news", 8), Link("../news", 8))
    assert page.body == "正文\n"
    assert page.body_line == 10


def test_error_in_a_nested_block_mapping_points_at_the_nested_line(tmp_path):
    _, problems = parse(tmp_path, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        source: 示例市人民政府办公室
        withdrawn:
          date: 2024-05-10 10:00
          reason: 内容有误
          by: 办公室
        ---
        """})
    assert problems == ["content/portal/news/a.md:8: error: unknown field `by` for withdrawn — "
                        "valid: `date`, `reason`"]


def parse_bytes(tmp_path: Path, data: bytes):
    """The minimal cluster with content/portal/news/a.md holding these bytes, parsed:
    (project folder, Parsed, Report)."""
    root = tmp_path / "project"
    write_project(root, {})
    (root / "content/portal/news/a.md").write_bytes(data)
    report = Report(root)
    cfg = config.load(root, report)
    return root, frontmatter.parse(cfg, discover.find_sources(cfg, report).sources, report), report


def test_body_line_and_field_lines_survive_windows_line_endings_and_bom(tmp_path):
    text = ("\ufeff---\r\ntitle: 会议\r\ndate: 2024-05-08\r\nsource: 办公室\r\n"
            "image: a.png\r\n---\r\n\r\n正文\r\n")
    _, parsed, report = parse_bytes(tmp_path, text.encode("utf-8"))
    assert report.sorted() == []
    [page] = parsed.pages
    assert page.image == Link("a.png", 5)
    assert page.body_line == 7
    assert page.body == "\n正文\n"


def test_a_body_read_back_from_its_file_is_the_body_parsed(tmp_path):
    """A page read back from the cache holds no body; read_body() reads it from the file as the
    parser cut it: windows line endings, a byte order mark and a blank first line included."""
    text = ("\ufeff---\r\ntitle: 会议\r\ndate: 2024-05-08\r\nsource: 办公室\r\n---\r\n"
            "\r\n正文\r\n第二段\r\n")
    root, parsed, report = parse_bytes(tmp_path, text.encode("utf-8"))
    [page] = parsed.pages
    assert page.body == "\n正文\n第二段\n"
    unread = dataclasses.replace(page, body=None)
    assert frontmatter.read_body(unread, root, report) == page.body
    assert report.sorted() == []


def test_a_file_changed_after_it_was_found_is_reported_not_read(tmp_path):
    """Everything a build knows of a file is by the digest found first: a body read later from
    a file saved in between would mix two versions of it."""
    root, parsed, report = parse_bytes(tmp_path, NEWS.format(date="2024-05-08").encode("utf-8"))
    [page] = parsed.pages
    (root / "content/portal/news/a.md").write_text(NEWS.format(date="2024-05-09"), encoding="utf-8")
    assert frontmatter.read_body(dataclasses.replace(page, body=None), root, report) is None
    assert [str(d) for d in report.sorted()] == [
        "content/portal/news/a.md: error: file changed or went away while govsite was building"
        " — build again once the files are saved"]


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    _, parsed, report = parse_bytes(
        tmp_path, "---\ntitle: 会议\ndate: 2024-05-08\nsource: 办公室\n---\n正文\n".encode("gbk"))
    assert parsed.pages == ()
    assert [str(d) for d in report.sorted()] == [
        "content/portal/news/a.md:2: error: file is not UTF-8 text — save it as UTF-8 (an editor "
        "set to GBK or GB 18030 writes other bytes)"]


def test_yaml_error_line_is_shifted_to_the_file_line(tmp_path):
    _, problems = parse(tmp_path, {"content/portal/news/a.md": """\
        ---
        title: 市政府召开常务会议
        date: 2024-05-08 09:30
        keywords: [会议, 营商环境
        source: 示例市人民政府办公室
        ---
        """})
    assert len(problems) == 1
    assert problems[0].startswith("content/portal/news/a.md:5: error: invalid YAML: ")


def test_yamlfile_shifts_lines_of_nested_mappings_and_list_items():
    data = yamlfile.parse("a: 1\nb:\n  c: 2\nitems:\n  - {d: 3}\n  - e: 4\n", first_line=10)
    assert data.line == 10
    assert data.key_lines == {"a": 10, "b": 11, "items": 13}
    assert data["b"].line_of("c") == 12
    assert data["items"][0].line_of("d") == 14
    assert data["items"][1].line_of("e") == 15


def test_yamlfile_keeps_line_one_without_a_shift():
    data = yamlfile.parse("a: 1\nb: {c: 2}\n")
    assert data.key_lines == {"a": 1, "b": 2}
    assert data["b"].line_of("c") == 2


def test_yamlfile_leaves_times_as_text():
    data = yamlfile.parse("d: 2024-05-08\nt: 2024-05-08T09:30:00+08:00\n")
    assert data == {"d": "2024-05-08", "t": "2024-05-08T09:30:00+08:00"}


def test_yamlfile_shifts_an_aliased_mapping_only_once():
    data = yamlfile.parse("a: 1\nm: &x {k: 1}\nn: *x\n", first_line=10)
    assert data["m"].line_of("k") == 11
    assert data["n"].line_of("k") == 11


def test_a_large_cluster_is_digested_on_several_processes_in_the_same_order(tmp_path):
    """Past discover.PARALLEL_FROM files, reading is spread over processes: the sources, their
    digests and a file that cannot be read come out as from one process."""
    root = tmp_path / "project"
    files = {f"content/portal/news/{n:04}.md": NEWS.format(date="2024-05-08") + f"{n}\n"
             for n in range(discover.PARALLEL_FROM + 100)}
    write_project(root, files)
    (root / "content/portal/news/0500b.md").symlink_to(root / "content/portal/news/gone.md")
    results = []
    for jobs in (1, 2):
        report = Report(root)
        cfg = config.load(root, report)
        found = discover.find_sources(cfg, report, jobs)
        results.append(([(s.rel, s.digest) for s in found.sources], [str(d) for d in report.sorted()]))
    assert results[0] == results[1]
    sources, problems = results[1]
    digests = dict(sources)
    assert {f"content/{rel}" for rel in digests} >= set(files)
    data = (NEWS.format(date="2024-05-08") + "501\n").encode()
    assert digests["portal/news/0501.md"] == hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert problems == ["content/portal/news/gone.md: error: file cannot be read: "
                        "No such file or directory — check that govsite may read it"]


def test_spooled_bodies_wait_in_files_and_convert_as_bodies_on_the_pages_do(tmp_path):
    # A build parses with `spool`: 100,000 pages' Markdown (350 MB) stayed in the parent, and in
    # every Markdown worker forked from it, until converted.
    import shutil

    from conftest import FIXTURES

    from govsite import assemble, markup
    from govsite.build import clock
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", root)
    report = Report(root)
    cfg = config.load(root, report)
    assert cfg is not None
    found = discover.find_sources(cfg, report)
    held, spooled = (frontmatter.parse(cfg, found.sources, report, jobs=2, spool=spool)
                     for spool in (False, True))
    assert held.pages and not held.texts
    assert all(page.body is None for page in spooled.pages)
    assert {key: text.read()[1].decode() for key, text in spooled.texts.items()} == \
        {page.key: page.body for page in held.pages}
    for page in held.pages:   # converted from what was parsed, not read again
        (root / page.source).write_text("---\ntitle: 改了\n---\n改了。\n", encoding="utf-8")
    converted = []
    for parsed in (held, spooled):
        cluster = assemble.assemble(cfg, parsed, found.attachments, clock(), False, report, frozenset())
        bodies = markup.convert_all(cluster, report, jobs=2, texts=parsed.texts)
        converted.append({key: (body.html, body.text, body.lead) for key, body in bodies.items()})
        # Spooled, a body's lead is read from its spool when asked, not held.
        assert all(body._lead is None for body in bodies.values())
    assert converted[0] == converted[1] and len(converted[0]) > 5
    assert all(lead == text[:markup.LEAD] for _, text, lead in converted[0].values())


def test_a_converted_bodys_head_waits_for_its_pack_without_its_lead(tmp_path, monkeypatch):
    # The heads' packs are saved once every body is converted; holding each head's lead till
    # then was the parent's peak at 100,000 pages. The lead is read from the spool as the
    # pack is pickled, and a rebuild reads back exactly the lead the body had.
    import shutil

    from conftest import FIXTURES

    from govsite import assemble, markup
    from govsite.build import clock
    from govsite.cache import Cache, Pack
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "small", root)
    (root / "content/portal/news/长文.md").write_text(
        "---\ntitle: 长文\ndate: 2024-05-08 09:00\nsource: 办公室\n---\n" + "政务公开𠀀" * 80 + "\n",
        encoding="utf-8")
    report = Report(root)
    cfg = config.load(root, report)
    assert cfg is not None
    found = discover.find_sources(cfg, report)
    waiting: list[object] = []
    save = Pack.save

    def saving(pack: Pack) -> None:
        waiting.extend(value["lead"] for value in pack._kept.values())
        save(pack)

    monkeypatch.setattr(Pack, "save", saving)
    leads = []
    for _ in range(2):   # converted, then read back from the heads
        store = Cache(tmp_path / "cache")
        parsed = frontmatter.parse(cfg, found.sources, report, jobs=2, spool=True)
        cluster = assemble.assemble(cfg, parsed, found.attachments, clock(), False, report, frozenset())
        bodies = markup.convert_all(cluster, report, jobs=2, cache=store, texts=parsed.texts)
        leads.append({key: body.lead for key, body in bodies.items()})
        store.save()
    assert not any(isinstance(lead, str) for lead in waiting[:len(leads[0])])
    assert leads[0] == leads[1]
    assert leads[1]["portal/news/长文"] == ("政务公开𠀀" * 80)[:markup.LEAD]


def test_pages_share_the_values_they_repeat_but_not_a_time_in_another_zone(tmp_path):
    # frontmatter.Sharing: one object for repeated keywords and time zones (memory at 100,000
    # pages), never one that changes what a page shows.
    page = "---\ntitle: {title}\ndate: {date}\nsource: 示例市政府办公室\nkeywords: [政务公开, 营商环境]\n---\nBody.\n"
    parsed, problems = parse(tmp_path, {
        "content/portal/news/a.md": page.format(title="甲", date="2024-05-08 09:30"),
        "content/portal/news/b.md": page.format(title="乙", date="2024-05-09 10:00"),
        "content/portal/news/c.md": page.format(title="丙", date="2024-05-08T01:30:00+00:00"),
    })
    assert problems == []
    a, b, c = sorted(parsed.pages, key=lambda p: p.name)
    assert a.keywords == b.keywords == ("政务公开", "营商环境")
    assert a.keywords is b.keywords and a.keywords[0] is c.keywords[0]
    assert a.date.tzinfo is b.date.tzinfo and a.date.utcoffset() == timedelta(hours=8)
    assert c.date == a.date and c.date.utcoffset() == timedelta(0)   # same moment, its own zone
    sharing = frontmatter.Sharing()
    here = sharing.value(Withdrawal(a.date, "过期"))
    assert sharing.value(Withdrawal(c.date, "过期")) is not here   # equal, but shown otherwise
    assert sharing.value(Withdrawal(b.date.replace(day=8, hour=9, minute=30), "过期")) is here
