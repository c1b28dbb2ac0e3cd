"""Raw HTML in Markdown: dangerous parts are removed unless a site sets `sanitize_html: false`,
and ordinary Markdown comes through the sanitizer unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import MINIMAL_SITES, write_project

HOST = "www.example.gov.cn"
COUNTY_HOST = "county.example.gov.cn"
FRONT = """\
---
title: 市政府召开常务会议
date: 2024-05-08 09:30
source: 示例市人民政府办公室
---
"""

UNSAFE_SITES = MINIMAL_SITES.replace("    columns: [news]\n",
                                     "    columns: [news]\n    sanitize_html: false\n")


def article(html: str) -> str:
    """The page's article body: from the body wrapper to the end of the article."""
    start = html.index('<div class="article-body"')
    return html[start:html.index("</article>", start)]


def build(project, govsite, files: dict[str, str]) -> Path:
    root = project(files)
    result = govsite("build", "--project", root)
    assert result.exit_code == 0, result.output
    return root / "build"


def body_of(project, govsite, body: str, sites: str = MINIMAL_SITES,
            extra: dict[str, str] | None = None) -> str:
    out = build(project, govsite, {"sites.yaml": sites, "content/portal/news/a.md": FRONT + body,
                                   **(extra or {})})
    return article((out / HOST / "news" / "a.html").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# dangerous HTML

DANGEROUS = [
    # (id, Markdown body, text that must vanish when sanitizing, text that must stay)
    # Inline, only the tags are raw HTML (CommonMark): the text between them is escaped.
    ("script", '正文<script>alert("xss")</script>结束。\n', ["<script", "alert("],
     ["正文", "结束。"]),
    ("script-block", '<script>\ndocument.cookie\n</script>\n\n后文\n', ["<script", "document.cookie"],
     ["后文"]),
    ("onclick", '<p onclick="steal()">点击这里</p>\n', ["onclick", "steal()"], ["点击这里"]),
    ("onerror", '<img src="https://www.gov.cn/logo.png" onerror="alert(3)">\n',
     ["onerror", "alert(3)"], ['src="https://www.gov.cn/logo.png"']),
    ("onmouseover", '<div onmouseover="alert(4)">悬停</div>\n', ["onmouseover", "alert(4)"],
     ["悬停"]),
    ("markdown-javascript-link", "[恶意链接](javascript:alert(1))\n", ["javascript:", "alert(1)"],
     ["恶意链接"]),
    ("html-javascript-link", '<a href="javascript:alert(2)">原始链接</a>\n',
     ["javascript:", "alert(2)"], ["原始链接"]),
    ("mixed-case-javascript", '<a href="JaVaScRiPt:alert(5)">大小写</a>\n',
     ["JaVaScRiPt", "alert(5)"], ["大小写"]),
    ("vbscript", "[旧式](vbscript:msgbox(6))\n", ["vbscript", "msgbox"], ["旧式"]),
    ("data-url", "[数据](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==)\n",
     ["data:text/html", "PHNjcmlwdD5"], ["数据"]),
    ("iframe", '<iframe src="https://evil.example.com/"></iframe>\n\n后文\n',
     ["<iframe", "evil.example.com"], ["后文"]),
    ("object-embed", '<object data="x.swf"></object><embed src="y.swf">\n\n后文\n',
     ["<object", "<embed", ".swf"], ["后文"]),
    ("form", '<form action="https://evil.example.com/"><input name="pw"></form>\n\n后文\n',
     ["<form", "<input", "evil.example.com"], ["后文"]),
    ("style-tag", "<style>body{display:none}</style>\n\n后文\n", ["<style", "display:none"],
     ["后文"]),
    ("style-attribute", '<p style="position:fixed;top:0">覆盖</p>\n', ["style=", "position:fixed"],
     ["覆盖"]),
]
DANGEROUS_PARAMS = [pytest.param(b, g, k, id=i) for i, b, g, k in DANGEROUS]


@pytest.mark.parametrize("body,gone,kept", DANGEROUS_PARAMS)
def test_dangerous_html_is_removed_by_default(project, govsite, body, gone, kept):
    html = body_of(project, govsite, body)
    for text in gone:
        assert text not in html
    for text in kept:
        assert text in html


@pytest.mark.parametrize("body,gone,kept", DANGEROUS_PARAMS)
def test_dangerous_html_is_kept_when_the_site_turns_sanitizing_off(project, govsite, body, gone,
                                                                   kept):
    html = body_of(project, govsite, body, sites=UNSAFE_SITES)
    for text in gone + kept:
        assert text in html


def test_sanitize_html_true_explicitly_removes_scripts(project, govsite):
    sites = MINIMAL_SITES.replace("    columns: [news]\n",
                                  "    columns: [news]\n    sanitize_html: true\n")
    html = body_of(project, govsite, "正文<script>alert(1)</script>\n", sites=sites)
    assert "<script" not in html


TWO_SITES = UNSAFE_SITES + """\
  - id: county
    name: 示例县人民政府
    type: department
    parent: portal
    url: https://county.example.gov.cn/
    identity:
      site_code: "1101010001"
    sanitize_html: true
    columns: [news]
"""


def test_sanitize_setting_is_per_site(project, govsite):
    out = build(project, govsite, {
        "sites.yaml": TWO_SITES,
        "content/portal/news/a.md": FRONT + "门户<script>alert(1)</script>\n",
        "content/county/news/_index.md": "---\ntitle: 县域动态\ntype: news\n---\n",
        "content/county/news/a.md": FRONT + "区县<script>alert(2)</script>\n"})
    portal = article((out / HOST / "news" / "a.html").read_text(encoding="utf-8"))
    county = article((out / COUNTY_HOST / "news" / "a.html").read_text(encoding="utf-8"))
    assert "<script>alert(1)</script>" in portal
    assert "<script" not in county and "区县" in county


def test_sanitize_off_is_inherited_by_child_sites(project, govsite):
    out = build(project, govsite, {
        "sites.yaml": TWO_SITES.replace("    sanitize_html: true\n", ""),
        "content/county/news/_index.md": "---\ntitle: 县域动态\ntype: news\n---\n",
        "content/county/news/a.md": FRONT + "区县<script>alert(2)</script>\n"})
    county = article((out / COUNTY_HOST / "news" / "a.html").read_text(encoding="utf-8"))
    assert "<script>alert(2)</script>" in county


def test_column_and_home_intros_are_sanitized_too(project, govsite):
    out = build(project, govsite, {
        "content/portal/_index.md": "---\ndescription: 首页\n---\n首页<script>alert(1)</script>"
                                    '<a href="javascript:alert(2)">首页链接</a>\n',
        "content/portal/news/_index.md": "---\ntitle: 要闻动态\ntype: news\n---\n"
                                         '栏目<iframe src="https://evil.example.com/"></iframe>'
                                         '<b onclick="alert(3)">说明</b>\n'})
    home = (out / HOST / "index.html").read_text(encoding="utf-8")
    column = (out / HOST / "news" / "index.html").read_text(encoding="utf-8")
    for page in (home, column):
        # The theme's own scripts are external files (<script src=…>); no inline one may appear.
        for text in ("<script>", "alert(", "javascript:", "<iframe", "onclick"):
            assert text not in page
    assert "首页" in home and "首页链接" in home
    assert "栏目" in column and "说明" in column


def test_html_inside_a_code_block_is_shown_as_text(project, govsite):
    html = body_of(project, govsite, '```html\n<script>alert("demo")</script>\n```\n')
    assert "<script" not in html
    assert "&lt;script&gt;alert(" in html


# ---------------------------------------------------------------------------------------------
# ordinary Markdown

ORDINARY = """\
## 一、会议内容 {#meeting}

会议听取了**工作汇报**，*研究部署*了`营商环境`工作。

### 二、主要内容

| 项目 | 数量 |
|---|---|
| 甲 | 1 |
| 乙 | 2 |

1. 第一项
2. 第二项

- 要点
- 要点二

> 引用国务院文件。

![会场照片](meeting.png "会场")

详见[第二篇](b.md)、[政府网](https://www.gov.cn/)和[电话](tel:12345)。

---

H<sub>2</sub>O 与 10<sup>3</sup>
"""


@pytest.fixture
def ordinary(project, govsite) -> str:
    return body_of(project, govsite, ORDINARY, extra={
        "content/portal/news/b.md": FRONT + "第二篇\n",
        "content/portal/news/meeting.png": "PNG"})


def test_headings_keep_their_ids(ordinary):
    assert '<h2 id="meeting">一、会议内容</h2>' in ordinary
    assert '<h3 id="二主要内容">二、主要内容</h3>' in ordinary


def test_tables_survive_sanitizing(ordinary):
    table = re.search(r"<table>.*</table>", ordinary, re.S).group(0)
    assert re.sub(r"\s+", "", table) == (
        "<table><thead><tr><th>项目</th><th>数量</th></tr></thead>"
        "<tbody><tr><td>甲</td><td>1</td></tr><tr><td>乙</td><td>2</td></tr></tbody></table>")


def test_images_keep_src_alt_and_title(ordinary):
    img = re.search(r"<img [^>]*>", ordinary).group(0)
    assert 'src="meeting.png"' in img
    assert 'alt="会场照片"' in img
    assert 'title="会场"' in img


def test_links_survive_with_their_rewritten_urls(ordinary):
    assert '<a href="b.html">第二篇</a>' in ordinary
    assert '<a href="https://www.gov.cn/">政府网</a>' in ordinary
    assert '<a href="tel:12345">电话</a>' in ordinary


def test_inline_and_block_markup_survive(ordinary):
    for fragment in ("<strong>工作汇报</strong>", "<em>研究部署</em>", "<code>营商环境</code>",
                     "<ol>", "<li>第一项</li>", "<ul>", "<li>要点</li>", "<blockquote>",
                     "<hr>", "H<sub>2</sub>O", "10<sup>3</sup>"):
        assert fragment in ordinary


def test_ordinary_markdown_is_the_same_with_and_without_sanitizing(project, govsite, ordinary,
                                                                   tmp_path):
    files = {"sites.yaml": UNSAFE_SITES, "content/portal/news/a.md": FRONT + ORDINARY,
             "content/portal/news/b.md": FRONT + "第二篇\n", "content/portal/news/meeting.png": "PNG"}
    root = write_project(tmp_path / "unsanitized", files)
    assert govsite("build", "--project", root).exit_code == 0
    raw = article((root / "build" / HOST / "news" / "a.html").read_text(encoding="utf-8"))

    def normal(html: str) -> str:  # serialisation details only: <hr /> vs <hr>
        return html.replace(" />", ">")
    assert normal(ordinary) == normal(raw)


def test_attachment_link_survives_sanitizing(project, govsite):
    html = body_of(project, govsite, "下载[会议材料](会议材料.pdf)。\n",
                   extra={"content/portal/news/会议材料.pdf": "%PDF-1.4"})
    assert '<a href="%E4%BC%9A%E8%AE%AE%E6%9D%90%E6%96%99.pdf">会议材料</a>' in html


def test_table_column_alignment_survives_sanitizing(project, govsite):
    html = body_of(project, govsite, "| 左 | 中 | 右 |\n|:--|:--:|--:|\n| a | b | c |\n")
    for side in ("left", "center", "right"):
        assert re.search(rf'<th [^>]*(?:align="{side}"|text-align: ?{side})', html), side
        assert re.search(rf'<td [^>]*(?:align="{side}"|text-align: ?{side})', html), side


# ---------------------------------------------------------------------------------------------
# CommonMark details editors meet

def test_a_link_whose_address_holds_a_space_is_reported_at_its_line(project, govsite):
    root = project({"sites.yaml": MINIMAL_SITES, "content/portal/news/a.md": FRONT
                    + "第一段。\n\n请下载[申请表](https://www.example.gov.cn/files/申请 表.pdf)。\n"})
    result = govsite("build", "--project", root)
    assert result.exit_code == 0   # a warning: the page is still published
    assert ("content/portal/news/a.md:8: warning: `[…](https://www.example.gov.cn/files/申请 表.pdf)` "
            "is not read as a link: its address holds a space — write the space as %20, or put "
            "the address in <…>: [text](<a b.pdf>)") in result.output


def test_headings_get_unique_ids_and_lists_may_follow_a_paragraph_line(project, govsite):
    html = body_of(project, govsite, "## 办理流程\n\n## 办理流程\n\n## 办理流程_1\n\n所需材料：\n- 身份证\n- 户口簿\n")
    assert re.findall(r'<h2 id="([^"]+)">', html) == ["办理流程", "办理流程_1", "办理流程_2"]
    assert "<li>身份证</li>" in html and "<li>户口簿</li>" in html
