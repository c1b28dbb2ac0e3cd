"""config.load: sites.yaml → resolved SiteConfigs (cluster → parent → site)."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from govsite import config
from govsite.diagnostics import Report

README = Path(__file__).resolve().parent.parent / "README.md"


def load(tmp_path: Path, text: str, files: dict[str, str] | None = None):
    """Write sites.yaml (dedented) and any extra files; return (config or None, report)."""
    (tmp_path / "sites.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    for rel, content in (files or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))
    report = Report(tmp_path)
    return config.load(tmp_path, report), report


def messages(report: Report) -> list[str]:
    return [str(d) for d in report.sorted()]


THREE_LEVELS = """\
    cluster:
      organisation: 示例市人民政府
      language: en
      timezone: "+08:00"
      page_size: 25
      theme_tokens:
        main_color: "#9e1b1b"
        logo: assets/logo.png
      identity:
        sponsor: 示例市人民政府办公室
        operator: 示例市大数据局
        phone: 010-12345678
        icp: 京ICP备12345678号-1
        police_filing: 京公网安备11010202000001号
    sites:
      - id: portal
        name: 示例市人民政府
        type: portal
        url: https://www.example.gov.cn/
        language: zh-CN
        page_size: 10
        identity:
          site_code: "1100000001"
          operator: 示例市政务服务中心
        columns: [news]
      - id: county
        name: 示例县人民政府
        type: county
        parent: portal
        url: https://county.example.gov.cn/
        timezone: "+09:00"
        theme_tokens:
          main_color: "#004b87"
        identity:
          sponsor: 示例县人民政府办公室
          site_code: "1101010001"
    """


@pytest.fixture
def three_levels(tmp_path):
    cfg, report = load(tmp_path, THREE_LEVELS, {"assets/logo.png": "PNG"})
    assert messages(report) == []
    assert cfg is not None
    return cfg


def test_site_overrides_its_parent_which_overrides_the_cluster(three_levels):
    portal, county = three_levels.site("portal"), three_levels.site("county")
    assert portal.page_size == 10              # portal's own value beats the cluster's 25
    assert county.page_size == 10              # the county inherits it from its parent
    assert portal.language == "zh-CN"
    assert county.language == "zh-CN"          # parent's language, not the cluster's `en`


def test_values_not_set_anywhere_come_from_the_defaults(three_levels):
    portal = three_levels.site("portal")
    assert portal.theme == "default"
    assert portal.sanitize_html is True
    assert portal.timezone == timezone(timedelta(hours=8))


def test_timezone_set_on_a_site_applies_to_that_site_only(three_levels):
    assert three_levels.site("county").timezone == timezone(timedelta(hours=9))
    assert three_levels.site("portal").timezone == timezone(timedelta(hours=8))


def test_identity_merges_key_by_key_through_every_level(three_levels):
    portal, county = three_levels.site("portal").identity, three_levels.site("county").identity
    assert portal.sponsor == "示例市人民政府办公室"        # cluster
    assert portal.operator == "示例市政务服务中心"        # portal overrides the cluster
    assert portal.site_code == "1100000001"
    assert county.sponsor == "示例县人民政府办公室"        # county's own
    assert county.site_code == "1101010001"
    assert county.operator == "示例市政务服务中心"        # from its parent
    assert county.phone == "010-12345678"                 # from the cluster
    assert county.icp == "京ICP备12345678号-1"
    assert county.police_filing == "京公网安备11010202000001号"
    assert county.police_filing_code == "11010202000001"


def test_theme_tokens_merge_key_by_key(three_levels):
    assert three_levels.site("portal").tokens == {"main_color": "#9e1b1b",
                                                  "logo": "assets/logo.png"}
    assert three_levels.site("county").tokens == {"main_color": "#004b87",
                                                  "logo": "assets/logo.png"}


def test_organisation_and_site_order_are_kept(three_levels):
    assert three_levels.organisation == "示例市人民政府"
    assert three_levels.ids == ("portal", "county")


def test_language_is_inherited_from_the_cluster_when_no_parent_sets_it(tmp_path):
    cfg, report = load(tmp_path, """\
        cluster:
          language: en
          identity: {sponsor: Example City Government}
        sites:
          - id: portal
            name: Example City
            type: portal
            url: https://www.example.gov.cn/
            identity: {site_code: "1100000001"}
          - id: dept
            name: Example Bureau
            type: department
            parent: portal
            url: https://dept.example.gov.cn/
            identity: {site_code: "1100000002"}
        """)
    assert messages(report) == []
    assert cfg.site("portal").language == "en"
    assert cfg.site("dept").language == "en"
    assert cfg.site("dept").identity.site_code == "1100000002"


EDITION = """\
    cluster:
      identity:
        sponsor: 示例市人民政府办公室
    sites:
      - id: en
        name: Example City
        type: edition
        parent: portal
        url: /en/
        language: en
      - id: portal
        name: 示例市人民政府
        type: portal
        url: https://www.example.gov.cn/
        identity:
          site_code: "1100000001"
      - id: en-invest
        name: Invest in Example City
        type: edition
        parent: en
        url: /en/invest/
    """


def test_path_url_lives_under_the_parents_host(tmp_path):
    cfg, report = load(tmp_path, EDITION)
    assert messages(report) == []
    en = cfg.site("en")
    assert en.url == "https://www.example.gov.cn/en/"
    assert en.host == "www.example.gov.cn"
    assert en.path == "/en/"


def test_path_url_resolves_when_the_child_is_listed_before_its_parent(tmp_path):
    cfg, _ = load(tmp_path, EDITION)
    assert cfg.ids == ("en", "portal", "en-invest")
    assert cfg.site("en").url == "https://www.example.gov.cn/en/"


def test_path_url_of_a_grandchild_uses_the_same_host(tmp_path):
    cfg, _ = load(tmp_path, EDITION)
    invest = cfg.site("en-invest")
    assert invest.url == "https://www.example.gov.cn/en/invest/"
    assert (invest.host, invest.path) == ("www.example.gov.cn", "/en/invest/")
    assert invest.language == "en"                       # inherited from the edition


def test_own_domain_url_gives_host_and_root_path(tmp_path):
    cfg, _ = load(tmp_path, EDITION)
    portal = cfg.site("portal")
    assert (portal.url, portal.host, portal.path) == (
        "https://www.example.gov.cn/", "www.example.gov.cn", "/")


def test_columns_keep_their_navigation_order(tmp_path):
    cfg, report = load(tmp_path, """\
        cluster:
          identity: {sponsor: 示例市人民政府办公室}
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity: {site_code: "bm07000001"}
            columns: [policy, news, about]
        """)
    assert messages(report) == []
    assert cfg.site("portal").columns == ("policy", "news", "about")
    assert cfg.site("portal").column_lines == (9, 9, 9)
    assert cfg.site("portal").identity.site_code == "bm07000001"


def test_negative_timezone_offset_is_parsed_with_its_sign(tmp_path):
    cfg, _ = load(tmp_path, """\
        cluster:
          timezone: "-05:30"
          identity: {sponsor: 示例市人民政府办公室}
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity: {site_code: "1100000001"}
        """)
    assert cfg.site("portal").timezone == timezone(-timedelta(hours=5, minutes=30))


def test_two_sites_with_the_same_resolved_url_are_rejected(tmp_path):
    cfg, report = load(tmp_path, """\
        cluster:
          identity: {sponsor: 示例市人民政府办公室}
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity: {site_code: "1100000001"}
          - id: en
            name: Example City
            type: edition
            parent: portal
            url: /
        """)
    assert cfg is None
    assert messages(report) == [
        "sites.yaml:13: error: URL https://www.example.gov.cn/ is already the URL of site "
        "`portal` — give each site its own domain or path"]


def test_site_without_sponsor_or_site_code_anywhere_is_rejected(tmp_path):
    cfg, report = load(tmp_path, """\
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
        """)
    assert cfg is None
    assert messages(report) == [
        "sites.yaml:2: error: site `portal` has no 主办单位 (`identity.sponsor`) — "
        "set `sponsor` under `identity` for the site or the cluster",
        "sites.yaml:2: error: site `portal` has no 网站标识码 (`identity.site_code`) — "
        "each website has its own: set `site_code` under this site's `identity`"]


def test_logo_that_does_not_exist_is_rejected_at_its_line(tmp_path):
    cfg, report = load(tmp_path, THREE_LEVELS)   # assets/logo.png not written
    assert cfg is None
    assert messages(report) == [
        "sites.yaml:8: error: logo file `assets/logo.png` does not exist in the project — "
        "give a path relative to the folder of sites.yaml"]


def test_logo_outside_the_project_is_rejected(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "logo.png").write_bytes(b"PNG")
    cfg, report = load(project, THREE_LEVELS.replace("assets/logo.png", "../logo.png"))
    assert cfg is None
    assert messages(report) == [
        "sites.yaml:8: error: logo file `../logo.png` does not exist in the project — "
        "give a path relative to the folder of sites.yaml"]


@pytest.mark.parametrize("line,value,message", [
    ("timezone: +8", "", "sites.yaml:2: error: timezone `8` is not an offset — "
                         'write it like "+08:00" (in quotes)'),
    ("page_size: 0", "", "sites.yaml:2: error: `page_size` must be a whole number from 1 to 1000"),
    ("sanitize_html: 'no'", "", "sites.yaml:2: error: `sanitize_html` must be true or false"),
    ("theme: My_Theme", "", "sites.yaml:2: error: theme name `My_Theme` is not a folder name — "
                            "use lowercase letters, digits and -"),
])
def test_bad_inherited_setting_is_reported_at_its_line(tmp_path, line, value, message):
    cfg, report = load(tmp_path, f"""\
        cluster:
          {line}
          identity: {{sponsor: 示例市人民政府办公室}}
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity: {{site_code: "1100000001"}}
        """)
    assert cfg is None
    assert messages(report) == [message]


# ---------------------------------------------------------------------------------------------
# The README's own examples


def readme_yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_sites_yaml_example_is_valid(tmp_path):
    example = readme_yaml_blocks()[0]
    cfg, report = load(tmp_path, example)
    assert messages(report) == []
    www = cfg.site("www")
    assert (www.url, www.language, www.page_size) == ("https://www.yunchuan.gov.cn/", "zh-CN", 20)
    assert www.identity.police_filing_code == "53010202000123"


def test_readme_department_joins_with_only_its_one_entry(tmp_path):
    example, department = readme_yaml_blocks()[:2]
    assert "- id: fgw" in department
    assert len(department.strip().splitlines()) <= 12
    cfg, report = load(tmp_path, example + department)
    assert messages(report) == []
    www, fgw = cfg.site("www"), cfg.site("fgw")
    assert (fgw.type, fgw.parent, fgw.url, fgw.host) == (
        "department", "www", "https://fgw.yunchuan.gov.cn/", "fgw.yunchuan.gov.cn")
    assert fgw.identity.sponsor == "云川市发展和改革委员会"
    assert fgw.identity.site_code == "5301000012"
    assert fgw.identity.phone == "0871-63100012"
    # Everything else is inherited: theme, footer filing numbers, language, time zone.
    assert fgw.theme == www.theme == "default"
    assert fgw.tokens == www.tokens == {"main_color": "#9e1b1b"}
    assert fgw.identity.icp == "滇ICP备12345678号-1"
    assert fgw.identity.police_filing == "滇公网安备53010202000123号"
    assert fgw.identity.operator == "云川市大数据管理局"
    assert fgw.language == "zh-CN"
    assert fgw.timezone == timezone(timedelta(hours=8))
    assert fgw.columns == ("news", "notices", "policy", "service")


COLUMN_TYPE = {"news": "news", "notices": "notice", "policy": "policy",
               "interpretation": "interpretation", "service": "service", "about": "profile"}


def test_readme_department_builds_with_its_content_folder(tmp_path, govsite):
    example, department = readme_yaml_blocks()[:2]
    (tmp_path / "sites.yaml").write_text(example + department, encoding="utf-8")
    for site, columns in (("www", COLUMN_TYPE), ("fgw", ("news", "notices", "policy", "service"))):
        for column in columns:
            folder = tmp_path / "content" / site / column
            folder.mkdir(parents=True)
            (folder / "_index.md").write_text(
                f"---\ntitle: {column}\ntype: {COLUMN_TYPE[column]}\n---\n", encoding="utf-8")
    result = govsite("build", "--project", tmp_path)
    assert result.exit_code == 0, result.output
    home = (tmp_path / "build" / "fgw.yunchuan.gov.cn" / "index.html").read_text(encoding="utf-8")
    assert "云川市发展和改革委员会" in home
    assert "滇ICP备12345678号-1" in home          # footer filing number, inherited


def test_site_code_and_conac_id_belong_to_one_website_and_are_not_inherited(tmp_path):
    cfg, report = load(tmp_path, """\
        cluster:
          identity: {sponsor: 示例市人民政府办公室}
        sites:
          - id: portal
            name: 示例市人民政府
            type: portal
            url: https://www.example.gov.cn/
            identity: {site_code: "1100000001", conac_id: 0123456789abcdef0123456789abcdef}
          - id: en
            name: Example City
            type: edition
            parent: portal
            url: /en/
          - id: dept
            name: 示例市发展和改革委员会
            type: department
            parent: portal
            url: https://fgw.example.gov.cn/
        """)
    assert messages(report) == [
        "sites.yaml:14: error: site `dept` has no 网站标识码 (`identity.site_code`) — "
        "each website has its own: set `site_code` under this site's `identity`"]
    assert cfg is None
