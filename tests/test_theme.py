"""The shared theme's rules that need no browser: colours, translations, per-site assets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES

THEME = Path(__file__).parent.parent / "themes" / "default"


def _hex_colours(css: str) -> set[str]:
    colours = set()
    for value in re.findall(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", css):
        full = value if len(value) == 6 else "".join(c * 2 for c in value)
        colours.add(full.lower())
    return colours


def test_theme_has_one_main_colour_and_otherwise_only_neutral_greys():
    # The national page-design rule: one main colour, at most three colours per site. The theme
    # adds nothing chromatic to the site's main colour: text, lines and panels are greys.
    css = (THEME / "static" / "govsite.css").read_text()
    normal_mode = css.split("/* High contrast")[0]
    colours = _hex_colours(normal_mode.replace("--main: #9e1b1b;", ""))
    chromatic = {c for c in colours if len({c[0:2], c[2:4], c[4:6]}) > 1}
    assert chromatic == set(), f"colours besides the main colour: {chromatic}"


def test_every_ui_string_exists_in_both_languages():
    zh = yaml.safe_load((THEME / "i18n" / "zh-CN.yaml").read_text())
    en = yaml.safe_load((THEME / "i18n" / "en.yaml").read_text())
    assert set(zh) == set(en)
    used = set()
    for template in (THEME / "templates").rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'[,)]", template.read_text()))
    assert used and used <= set(zh), f"templates use strings missing from i18n: {used - set(zh)}"


def test_each_site_gets_its_main_colour_logo_and_favicon(govsite, tmp_path):
    out = tmp_path / "build"
    assert govsite("build", "--project", FIXTURES / "small", "--out", out).exit_code == 0
    assets = out / "www.example.gov.cn/_assets/sites"
    assert (assets / "portal.css").read_text().count("--main: #1f4e8c;") == 1
    assert (assets / "portal/logo.svg").read_bytes() == (FIXTURES / "small/assets/logo.svg").read_bytes()
    assert 'fill="#1f4e8c"' in (assets / "portal/favicon.svg").read_text()
    home = (out / "www.example.gov.cn/index.html").read_text()
    assert 'href="_assets/sites/portal.css"' in home
    assert '<img src="_assets/sites/portal/logo.svg" alt=""' in home


def test_footer_carries_the_identity_the_inspections_check(govsite, tmp_path):
    out = tmp_path / "build"
    govsite("build", "--project", FIXTURES / "small", "--out", out)
    page = (out / "www.example.gov.cn/news/2024-05-08-meeting.html").read_text()
    footer = page[page.index('<footer'):]
    assert "主办单位：示例市人民政府办公室" in footer
    assert "网站标识码：1100000001" in footer
    assert '<a href="https://beian.miit.gov.cn/" rel="noopener">京ICP备12345678号-1</a>' in footer
    assert ('href="https://www.beian.gov.cn/portal/registerSystemInfo?recordcode=11010202000001"'
            in footer)
    assert ("https://zfwzgl.www.gov.cn/exposure/jiucuo.html?site_code=1100000001&amp;url="
            "https%3A//www.example.gov.cn/news/2024-05-08-meeting.html") in footer
    assert 'href="../sitemap.html"' in footer and 'href="../about/contact.html"' in footer
    for tag in ("SiteName", "SiteDomain", "SiteIDCode", "ColumnName", "ColumnDescription",
                "ColumnKeywords", "ColumnType", "ArticleTitle", "PubDate", "ContentSource"):
        assert f'<meta name="{tag}" content="' in page, tag
    assert '<meta name="PubDate" content="2024-05-08 09:30">' in page


def test_literal_ui_strings_are_looked_up_and_a_missing_one_is_a_template_error():
    import jinja2

    from govsite.themes import UiStringLookups, UiStrings
    env = jinja2.Environment(extensions=[UiStringLookups], undefined=jinja2.StrictUndefined)
    source = "{{ t('home') }}|{{ t('count', n=2) }}|{{ obj.t('home') }}|{{ t(\"home\") ~ '!' }}"
    strings = {"home": "首页", "count": "共{n}条"}
    called: list[str] = []

    def t(key, **kwargs):
        called.append(key)
        return strings[key].format(**kwargs)

    class Obj:
        def t(self, key):
            return f"obj:{key}"

    out = env.from_string(source).render(t=t, ui=UiStrings(strings, "zh-CN"), obj=Obj())
    assert out == "首页|共2条|obj:home|首页!"
    assert called == ["count"]   # the literal lookups never called t(); the one with arguments did
    with pytest.raises(jinja2.UndefinedError, match="no UI string `nothing` for zh-CN"):
        env.from_string("{{ t('nothing') }}").render(t=t, ui=UiStrings(strings, "zh-CN"))


def test_a_cached_fragment_is_rendered_once_per_key_and_only_with_a_store():
    import jinja2

    from govsite.themes import CachedFragments
    env = jinja2.Environment(extensions=[CachedFragments], autoescape=True)
    template = env.from_string('{% cached "nav", folder %}<a href="{{ link(folder) }}">{{ label }}</a>'
                               '{% endcached %}')
    rendered: list[str] = []

    def link(folder):
        rendered.append(folder)
        return folder + "/"

    store: dict = {}
    pages = [template.render(folder=f, label="<首页>", link=link, fragments=store)
             for f in ("a", "b", "a", "a")]
    assert pages == ['<a href="a/">&lt;首页&gt;</a>', '<a href="b/">&lt;首页&gt;</a>',
                     '<a href="a/">&lt;首页&gt;</a>', '<a href="a/">&lt;首页&gt;</a>']
    assert rendered == ["a", "b"]   # once per key, escaped once
    template.render(folder="a", label="x", link=link)
    template.render(folder="a", label="x", link=link)
    assert rendered == ["a", "b", "a", "a"]   # no store: rendered every time
