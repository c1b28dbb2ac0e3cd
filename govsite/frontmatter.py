"""Markdown sources → Column, SiteIntro and Page values, with every field validated per kind.

Front matter is YAML between `---` lines. Each field has one parser that turns the YAML value into
the model's type or reports `path:line` with a hint; unknown keys are errors, because a misspelt
`isuer:` that is silently dropped becomes a page missing its 发文机关.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

from govsite import model, yamlfile
from govsite.cache import Cache
from govsite.config import ClusterConfig
from govsite.diagnostics import Report, did_you_mean
from govsite.discover import Source, read_text
from govsite.model import (
    COLUMN_TYPES,
    DATED_KINDS,
    KIND_BY_COLUMN_TYPE,
    KINDS,
    Column,
    Link,
    Material,
    Page,
    Policy,
    ServiceGuide,
    SiteIntro,
    Withdrawal,
)
from govsite.parallel import ordered_map
from govsite.spool import Spool, Spooled
from govsite.yamlfile import Node

COLUMN_KEYS = ("title", "type", "description", "keywords", "column_type", "link", "collect",
               "page_size")
SITE_INTRO_KEYS = ("description", "keywords")
COMMON_KEYS = ("title", "date", "updated", "summary", "keywords", "author", "source", "image",
               "draft", "expires", "withdrawn", "also_in", "weight", "date_correction", "kind",
               "origin")
POLICY_KEYS = ("index_no", "issuer", "doc_number", "written", "subject", "validity", "repealed_by")
SERVICE_KEYS = ("item_name", "agency", "legal_basis", "conditions", "materials", "steps",
                "time_limit", "fee", "place", "hours", "phone", "complaint", "online_url")
KEYS_BY_KIND = {
    "news": COMMON_KEYS, "notice": COMMON_KEYS, "page": COMMON_KEYS,
    "policy": COMMON_KEYS + POLICY_KEYS,
    "interpretation": COMMON_KEYS + ("interprets",),
    "service": COMMON_KEYS + SERVICE_KEYS,
}
REQUIRED_BY_KIND = {
    "news": ("title", "date", "source"),
    "notice": ("title", "date", "source"),
    "policy": ("title", "date", "index_no", "issuer", "written", "subject"),
    "interpretation": ("title", "date", "interprets"),
    "service": ("title", "legal_basis", "conditions", "materials", "steps", "time_limit", "fee",
                "place", "hours", "phone", "complaint"),
    "page": ("title",),
}
# The `govsite check` rule a missing required field breaks.
RULE_BY_KIND = {"policy": "policy-fields", "interpretation": "policy-links", "service": "service-guide"}
VALIDITY = ("有效", "失效", "废止")
MATERIAL_FORMS = ("原件", "复印件", "原件和复印件", "电子件")
ORIGIN_KEYS = ("url", "repo", "path", "license")
INDEX_NO = re.compile(r"^[0-9A-Z]{9,18}/\d{4}-\d{5}$")
# A year in the wrong brackets inside a Chinese document number: 国发[2019]1号, 国发(2019)1号 …
WRONG_BRACKETS = re.compile(r"[\[［【(（〈<]\s*(\d{4})\s*[\]］】)）〉>]")
CJK = re.compile(r"[\u4e00-\u9fff]")

ColumnTypeLabels = {
    "zh-CN": {"news": "动态要闻", "notice": "通知公告", "policy": "政策文件", "interpretation": "政策解读",
              "service": "办事服务", "profile": "概况信息", "disclosure": "政府信息公开",
              "interaction": "互动交流", "data": "数据发布", "topic": "专题专栏",
              "personnel": "人事信息", "plan": "规划计划", "response": "回应关切", "page": "其他"},
    "en": {"news": "News", "notice": "Notices", "policy": "Policies",
           "interpretation": "Policy interpretations", "service": "Services", "profile": "About",
           "disclosure": "Information disclosure", "interaction": "Interaction", "data": "Data",
           "topic": "Topics", "personnel": "Personnel", "plan": "Plans", "response": "Responses",
           "page": "Pages"},
}


@dataclass(frozen=True)
class Parsed:
    columns: tuple[Column, ...]
    intros: tuple[tuple[str, SiteIntro], ...]
    pages: tuple[Page, ...]
    # Page key → where its body waits, for pages parsed with `spool` (their own body is None).
    texts: dict[str, Spooled] = field(default_factory=dict)

    def valid_sources(self) -> frozenset[str]:
        """Content-relative paths of the files that parsed cleanly."""
        return frozenset([c.source.removeprefix("content/") for c in self.columns]
                         + [i.source for _, i in self.intros]
                         + [p.source.removeprefix("content/") for p in self.pages])


PARSED = "parsed page"   # cache namespace: a site → its pages by source and setting (Pack)


def parse(config: ClusterConfig, sources: tuple[Source, ...], report: Report,
          cache: Cache | None = None, jobs: int = 1, spool: bool = False) -> Parsed:
    """Parse columns first: a page's kind defaults from its column's type. With a `cache`, a
    page whose file, column and site time zone are unchanged is read back instead of parsed.
    The other pages are parsed on `jobs` processes, each slice's problems coming back with it.
    With `spool`, their bodies stay in files (Parsed.texts) for the processes that convert
    them: at 100,000 pages, 350 MB of text the parent held, and every Markdown worker with it."""
    columns: dict[tuple[str, str], Column] = {}
    intros: list[tuple[str, SiteIntro]] = []
    missing: set[str] = set()
    for source in sources:
        parts = source.rel.split("/")
        if parts[-1] == "_index.md" and len(parts) == 2:
            intro = _site_intro(source, report)
            if intro:
                intros.append((source.site, intro))
        elif parts[-1] == "_index.md" and len(parts) == 3:
            column = _column(config, source, report)
            if column:
                columns[(column.site, column.id)] = column
    candidates: list[tuple[int, Source, Column]] = []   # position, source, its column
    for n, source in enumerate(sources):
        parts = source.rel.split("/")
        if parts[-1] == "_index.md" and len(parts) <= 3:
            continue
        if len(parts) == 2:
            report.error(source.path, 0, "pages belong in a column folder",
                         f"move it to content/{source.site}/<column>/{parts[1]}")
            continue
        column = columns.get((source.site, parts[1]))
        if column is None:
            column_file = f"content/{source.site}/{parts[1]}/_index.md"
            if column_file not in missing and not (config.root / column_file).is_file():
                missing.add(column_file)  # once per folder, not once per page in it
                report.error(f"content/{source.site}/{parts[1]}", 0,
                             f"column folder `{parts[1]}` has no _index.md",
                             f"create {column_file} with `title:` and `type:`")
            continue
        if column.link:
            report.error(source.path, 0, f"column `{column.id}` is a link to {column.link} and "
                         "cannot hold pages", "move the page to another column, or remove `link:`")
            continue
        candidates.append((n, source, column))
    # Pages read back from the cache come from one pack per site: the cluster's 100,000 in
    # twenty lookups, not 100,000.
    packs = cache.load_packs(PARSED, sorted({source.site for _, source, _ in candidates}),
                             parser_digest()) if cache is not None and cache.path else {}
    pages: dict[int, Page] = {}
    todo: list[tuple[int, Source, Column, str]] = []   # position, source, column, cache key
    for n, source, column in candidates:
        key = _cache_key(config, source, column) if packs else ""
        # Its body is not read: most are converted already (read_body reads it if not).
        page = packs[source.site].get(key) if key else None
        if page is not None:
            pages[n] = page
        else:
            todo.append((n, source, column, key))
    size = max(1, -(-len(todo) // (jobs * 4)))
    slices = -(-len(todo) // size)
    bodies = Spool(slices, "govsite-pages-") if spool and todo else None

    def parse_slice(part: int) -> tuple[list[tuple[int, Page, bool, tuple[int, int, int] | None]], list]:
        local = Report(report.root)
        done = []
        sharing = Sharing()   # (and so pickled once per slice: see Sharing)
        for n, source, column, key in todo[part * size:(part + 1) * size]:
            problems = len(local.items)
            page = _page(config, source, column, local)
            if page:
                sharing.page(page)
                where = None
                if bodies is not None and page.body is not None:
                    where = bodies.put(part, "", page.body).where()
                    object.__setattr__(page, "body", None)   # (made just now: seen by no one)
                # Only a page that parsed without a word is kept: a hit then owes no diagnostics.
                done.append((n, page, bool(key) and len(local.items) == problems, where))
        return done, local.items

    keys = {n: key for n, _, _, key in todo}
    texts: dict[str, Spooled] = {}
    sharing = Sharing()   # across slices, and with the pages read back from the cache
    for page in pages.values():
        sharing.page(page)
    for part, (done, problems) in enumerate(ordered_map(parse_slice, slices, jobs)):
        report.items.extend(problems)
        for n, page, keep, where in done:
            pages[n] = sharing.page(page)
            if bodies is not None and where is not None:
                texts[page.key] = bodies.spooled(part, *where)
            if keep:
                packs[page.site].put(keys[n], page if page.body is None else replace(page, body=None))
    for pack in packs.values():
        pack.save()
    return Parsed(tuple(columns[k] for k in sorted(columns)), tuple(intros),
                  tuple(pages[n] for n in sorted(pages)), texts)


class Sharing:
    """One object for each value that pages repeat: their keywords, sources, issuers, a
    department's service guides, the time zone of every time (each its own object as read
    from the front matter). A 100,000-page cluster's pages took 1.9 KB each, 190 MB, half of
    it in such copies; the parse stage's process holds them all, and every worker forked
    after it. Pages are shared before a worker sends them (pickle then writes each value
    once per slice) and again as they arrive (across slices). A page's own fields, unique
    to it (its key, title, summary…), are left alone: remembering them would only cost."""

    OWN = frozenset({"key", "name", "source", "digest", "title", "summary", "body", "body_line"})

    def __init__(self) -> None:
        self._seen: dict[tuple[type, Any, tuple], Any] = {}
        self._zones: dict[tuple[Any, str | None], Any] = {}

    def page(self, page: Page) -> Page:
        for name in _PAGE_FIELDS:
            if name in self.OWN:
                continue
            value = getattr(page, name)
            shared = self.value(value)   # (a time is its own, but for its zone: see _time)
            if shared is not value:
                object.__setattr__(page, name, shared)   # (made by this parse: seen by no one)
        return page

    def value(self, value: Any) -> Any:
        """The one object equal to `value` (of its type) met so far, or `value`, made so."""
        if isinstance(value, datetime):
            return self._time(value)
        if isinstance(value, tuple):
            value = tuple(self.value(item) for item in value)
        elif is_dataclass(value) and not isinstance(value, type):
            changed = {f.name: shared for f in fields(value)
                       if (shared := self.value(getattr(value, f.name))) is not getattr(value, f.name)}
            if changed:
                value = replace(value, **changed)
        elif not isinstance(value, str):
            return value   # (numbers and flags: True == 1, and they cost nothing to repeat)
        # Equal times in other zones are equal: a value holding one is told apart by its zone.
        zones = tuple(getattr(value, f.name).utcoffset() for f in fields(value)
                      if isinstance(getattr(value, f.name), datetime)) if is_dataclass(value) else ()
        try:
            return self._seen.setdefault((type(value), value, zones), value)
        except TypeError:   # (unhashable)
            return value

    def _time(self, moment: Any) -> Any:
        """The time with the one time-zone object of its offset and name."""
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            return moment
        zone = self._zones.setdefault((moment.utcoffset(), moment.tzname()), moment.tzinfo)
        return moment if zone is moment.tzinfo else moment.replace(tzinfo=zone)


_PAGE_FIELDS = tuple(f.name for f in fields(Page))


def _cache_key(config: ClusterConfig, source: Source, column: Column) -> str:
    """All a page is parsed from within its site's pack, whose key names the parser's own code
    and govsite's version (a Page pickled by other code is never read back): the file, its
    column's id and type, its site's time zone. Spelled out, not hashed: a pack is private."""
    return "\0".join((source.rel, source.digest, column.id, column.type,
                       str(config.site(source.site).timezone)))


@functools.cache
def parser_digest() -> str:
    digest = hashlib.sha256()
    for module in (sys.modules[__name__], yamlfile, model):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()


def read_body(page: Page, root: Path, report: Report,
              texts: Mapping[str, Spooled] | None = None) -> str | None:
    """A page's body: as parsed (on the page, or in `texts`: Parsed.texts), or else (a page
    read back from the cache) the end of its source file from its first line; None (reported)
    when the file changed since it was found."""
    if page.body is not None:
        return page.body
    spooled = texts.get(page.key) if texts else None
    if spooled is not None:
        return spooled.read()[1].decode("utf-8")
    text = read_text(str(root / page.source), page.digest, report)
    return None if text is None else "\n".join(text.split("\n")[page.body_line - 1:])


def split(source: Source, report: Report) -> tuple[Node, str, int] | None:
    """Front matter and body, with the body's first line number (read_body() depends on it)."""
    text = source.read(report)
    if text is None:
        return None
    if not text.startswith("---\n"):
        report.error(source.path, 1, "missing front matter",
                     "start the file with a line `---`, the fields, and another `---`")
        return None
    lines = text.split("\n")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        report.error(source.path, 1, "front matter is not closed",
                     "add a line `---` after the last field")
        return None
    try:
        data = yamlfile.parse("\n".join(lines[1:end]), first_line=2)
    except yamlfile.YamlError as exc:
        report.error(source.path, exc.line, exc.message,
                     "check indentation, and quote values containing `: ` or starting with [ { * &")
        return None
    if data is None:
        data = Node()
        data.line, data.key_lines = 1, {}
    if not isinstance(data, Node):
        report.error(source.path, 2, "front matter must be `key: value` lines")
        return None
    return data, "\n".join(lines[end + 1:]), end + 2


class _Fields:
    """Reads one file's front matter, reporting each bad field at its line."""

    def __init__(self, source: Source, data: Node, report: Report, tz: timezone):
        self.source = source
        self.data = data
        self.report = report
        self.tz = tz
        self.ok = True

    def error(self, key: str, message: str, hint: str = "", rule: str = "") -> None:
        self.ok = False
        self.report.error(self.source.path, self.data.line_of(key), message, hint, rule)

    def check_keys(self, allowed: tuple[str, ...], what: str) -> None:
        for key in self.data:
            if key not in allowed:
                self.error(key, f"unknown field `{key}` for {what}", did_you_mean(key, allowed))

    def require(self, keys: tuple[str, ...], what: str, rule: str = "") -> None:
        for key in keys:
            value = self.data.get(key)
            if value is None or value == "" or value == []:
                self.ok = False
                self.report.error(self.source.path, self.data.line or 1,
                                  f"{what} is missing required field `{key}`",
                                  f"add `{key}: …` to the front matter", rule)

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            self.error(key, f"`{key}` must be text")
            return default
        if isinstance(value, bool):
            self.error(key, f"`{key}` must be text, not true/false", "put the value in quotes")
            return default
        return str(value).strip()

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings; a single string counts as a list of one."""
        value = self.data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value.strip(),)
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v).strip() for v in value)
        self.error(key, f"`{key}` must be a list of texts", f"write `{key}: [first, second]`")
        return ()

    def time(self, key: str) -> datetime | None:
        value = self.data.get(key)
        if value is None:
            return None
        parsed = parse_time(value, self.tz)
        if parsed is None:
            self.error(key, f"`{key}` is not a time: `{value}`",
                       "write it as 2024-05-08 09:30 (or 2024-05-08)")
        return parsed

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            self.error(key, f"`{key}` must be true or false")
            return False
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(key, f"`{key}` must be a whole number")
            return default
        return value

    def link(self, key: str) -> Link | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(key, f"`{key}` must be a link such as ../policy/2024-001.md")
            return None
        return Link(value.strip(), self.data.line_of(key))

    def links(self, key: str) -> tuple[Link, ...]:
        line = self.data.line_of(key)
        return tuple(Link(text, line) for text in self.texts(key))


def parse_time(value: Any, tz: timezone) -> datetime | None:
    """Front-matter times: 2024-05-08, 2024-05-08 09:30[:00], or ISO 8601 with an offset."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _site_intro(source: Source, report: Report) -> SiteIntro | None:
    parts = split(source, report)
    if parts is None:
        return None
    data, body, body_line = parts
    fields = _Fields(source, data, report, UTC)
    fields.check_keys(SITE_INTRO_KEYS, "a site's _index.md")
    intro = SiteIntro(fields.text("description"), fields.texts("keywords"), body, body_line,
                      source.rel)
    return intro if fields.ok else None


def _open(config: ClusterConfig, source: Source, report: Report
          ) -> tuple[_Fields, str, int] | None:
    """The file's fields (times in its site's zone), body and the body's first line."""
    parts = split(source, report)
    if parts is None:
        return None
    data, body, body_line = parts
    return _Fields(source, data, report, config.site(source.site).timezone), body, body_line


def _column(config: ClusterConfig, source: Source, report: Report) -> Column | None:
    opened = _open(config, source, report)
    if opened is None:
        return None
    fields, body, body_line = opened
    data, site = fields.data, config.site(source.site)
    fields.check_keys(COLUMN_KEYS, "a column")
    fields.require(("title", "type"), "column")
    kind = fields.text("type")
    if kind and kind not in COLUMN_TYPES:
        fields.error("type", f"unknown column type `{kind}`", did_you_mean(kind, COLUMN_TYPES))
    collect_sites: tuple[str, ...] = ()
    collect_types: tuple[str, ...] = ()
    children = False
    collect = data.get("collect")
    if collect is not None:
        if not isinstance(collect, Node):
            fields.error("collect", "`collect` must be a mapping",
                         "write `collect: {sites: children, types: [news]}`")
        else:
            sub = _Fields(source, collect, report, site.timezone)
            sub.check_keys(("sites", "types"), "collect")
            if collect.get("sites") == "children":
                children = True
            else:
                collect_sites = sub.texts("sites")
                for other in collect_sites:
                    if other not in config.ids:
                        sub.error("sites", f"unknown site `{other}` in collect",
                                  did_you_mean(other, config.ids))
            collect_types = sub.texts("types")
            for other in collect_types:
                if other not in COLUMN_TYPES:
                    sub.error("types", f"unknown column type `{other}` in collect",
                              did_you_mean(other, COLUMN_TYPES))
            fields.ok = fields.ok and sub.ok
    labels = ColumnTypeLabels.get(site.language, ColumnTypeLabels["zh-CN"])
    page_size = fields.integer("page_size", site.page_size)
    if not 1 <= page_size <= 1000:
        fields.error("page_size", "`page_size` must be a whole number from 1 to 1000")
    if not fields.ok:
        return None
    return Column(
        site=source.site, id=source.rel.split("/")[1], title=fields.text("title"), type=kind,
        description=fields.text("description"), keywords=fields.texts("keywords"),
        column_type=fields.text("column_type") or labels.get(kind, kind),
        link=fields.text("link"), collect_sites=collect_sites, collect_types=collect_types,
        collect_children=children, page_size=page_size, intro=body,
        intro_line=body_line, source=f"content/{source.rel}")


def parse_page(config: ClusterConfig, source: Source, column: Column, report: Report
               ) -> Page | None:
    """One page on its own, as parse() makes it: for the preview of a single saved page."""
    return _page(config, source, column, report)


def _page(config: ClusterConfig, source: Source, column: Column, report: Report) -> Page | None:
    opened = _open(config, source, report)
    if opened is None:
        return None
    fields, body, body_line = opened
    data = fields.data
    kind = fields.text("kind") or KIND_BY_COLUMN_TYPE.get(column.type, "page")
    if kind not in KINDS:
        fields.error("kind", f"unknown kind `{kind}`", did_you_mean(kind, KINDS))
        return None
    fields.check_keys(KEYS_BY_KIND[kind], f"a {kind} page")
    fields.require(REQUIRED_BY_KIND[kind], f"a {kind} page", RULE_BY_KIND.get(kind, ""))
    date = fields.time("date")
    if kind in DATED_KINDS and date is None and "date" in data:
        pass  # already reported as not a time
    page_parts = source.rel.split("/")
    name = "/".join(page_parts[2:])[: -len(".md")]
    page = Page(
        key=f"{source.site}/{column.id}/{name}", site=source.site, column=column.id, name=name,
        kind=kind, source=f"content/{source.rel}", digest=source.digest,
        title=fields.text("title"), date=date, updated=fields.time("updated"),
        expires=fields.time("expires"), draft=fields.flag("draft"),
        withdrawn=_withdrawal(fields), summary=fields.text("summary"),
        keywords=fields.texts("keywords"), author=fields.text("author"),
        content_source=fields.text("source"), image=fields.link("image"),
        also_in=fields.links("also_in"), weight=fields.integer("weight", 0),
        origin=_origin(fields), date_correction=fields.text("date_correction"),
        body=body, body_line=body_line,
        policy=_policy(fields, date) if kind == "policy" else None,
        interprets=fields.link("interprets") if kind == "interpretation" else None,
        service=_service(fields) if kind == "service" else None,
    )
    return page if fields.ok else None


def _withdrawal(fields: _Fields) -> Withdrawal | None:
    value = fields.data.get("withdrawn")
    if value is None:
        return None
    if not isinstance(value, Node):
        fields.error("withdrawn", "`withdrawn` needs a date and a reason",
                     "write `withdrawn: {date: 2024-06-01 10:00, reason: 因内容有误撤回}`")
        return None
    sub = _Fields(fields.source, value, fields.report, fields.tz)
    sub.check_keys(("date", "reason"), "withdrawn")
    sub.require(("date", "reason"), "`withdrawn`")
    date, reason = sub.time("date"), sub.text("reason")
    fields.ok = fields.ok and sub.ok
    return Withdrawal(date, reason) if date and reason else None


def _origin(fields: _Fields) -> tuple[tuple[str, str], ...]:
    value = fields.data.get("origin")
    if value is None:
        return ()
    if not isinstance(value, Node):
        fields.error("origin", "`origin` must be a mapping", "write `origin: {url: …, license: …}`")
        return ()
    sub = _Fields(fields.source, value, fields.report, fields.tz)
    sub.check_keys(ORIGIN_KEYS, "origin")
    fields.ok = fields.ok and sub.ok
    return tuple((k, sub.text(k)) for k in ORIGIN_KEYS if sub.text(k))


def _policy(fields: _Fields, date: datetime | None) -> Policy | None:
    doc_number = fields.text("doc_number")
    if doc_number and CJK.search(doc_number):
        wrong = WRONG_BRACKETS.search(doc_number)
        if wrong:
            fixed = WRONG_BRACKETS.sub(lambda m: f"〔{m.group(1)}〕", doc_number)
            fields.error("doc_number", f"发文字号 `{doc_number}` puts the year in the wrong brackets",
                         f"write 〔〕: {fixed}", "policy-doc-number")
    index_no = fields.text("index_no")
    if index_no and not INDEX_NO.match(index_no):
        fields.report.warning(fields.source.path, fields.data.line_of("index_no"),
                              f"索引号 `{index_no}` does not look like <org code>/<year>-<5 digits>",
                              "e.g. 11530100MB0000000X/2024-00012", "policy-index-number")
    written = fields.time("written")
    if written and date and written > date:
        fields.error("written", "成文日期 (written) is after 发布日期 (date)",
                     "a document is written before it is published; check both dates",
                     "policy-dates")
    validity = fields.text("validity", "有效")
    if validity not in VALIDITY:
        fields.error("validity", f"有效性 `{validity}` is not one of 有效, 失效, 废止",
                     did_you_mean(validity, VALIDITY))
    repealed_by = fields.link("repealed_by")
    if repealed_by is not None and validity == "有效":
        fields.error("repealed_by", "the document names what repealed it but is marked 有效",
                     "set `validity: 废止`", "policy-repealed")
    if validity == "废止" and repealed_by is None:
        fields.error("validity", "a 废止 (repealed) document must say what repealed it",
                     "add `repealed_by: ../policy/<file>.md` (or the repealing document's name)",
                     "policy-repealed")
    if written is None:
        return None
    return Policy(index_no, fields.text("issuer"), doc_number, written, fields.text("subject"),
                  validity, repealed_by, fields.data.line_of("index_no"))


def _service(fields: _Fields) -> ServiceGuide | None:
    materials: list[Material] = []
    raw = fields.data.get("materials")
    if raw is not None and not isinstance(raw, list):
        fields.error("materials", "`materials` must be a list",
                     "write one `- {name: 身份证, form: 原件, count: 1}` per material")
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            materials.append(Material(item, "", 1, None))
            continue
        if not isinstance(item, Node):
            fields.error("materials", "each material must be a name or {name, form, count}")
            continue
        sub = _Fields(fields.source, item, fields.report, fields.tz)
        sub.check_keys(("name", "form", "count", "template", "note"), "a material")
        sub.require(("name",), "a material")
        form = sub.text("form")
        if form and form not in MATERIAL_FORMS:
            sub.error("form", f"material form `{form}` is not one of " + "/".join(MATERIAL_FORMS),
                      did_you_mean(form, MATERIAL_FORMS))
        count = sub.integer("count", 1)
        if count < 1:
            sub.error("count", "a material's count must be at least 1")
        fields.ok = fields.ok and sub.ok
        materials.append(Material(sub.text("name"), form, count, sub.link("template"),
                                  sub.text("note")))
    steps = fields.texts("steps")
    legal, promised = "", ""
    limit = fields.data.get("time_limit")
    if isinstance(limit, Node):
        sub = _Fields(fields.source, limit, fields.report, fields.tz)
        sub.check_keys(("legal", "promised"), "time_limit")
        legal, promised = sub.text("legal"), sub.text("promised")
        fields.ok = fields.ok and sub.ok
    elif limit is not None:
        promised = fields.text("time_limit")
    online = fields.text("online_url")
    if online and not re.match(r"^https?://\S+$", online):
        fields.error("online_url", f"online_url `{online}` is not a web address",
                     "write the full https:// address of the online service", "service-online")
    return ServiceGuide(
        item_name=fields.text("item_name") or fields.text("title"), agency=fields.text("agency"),
        legal_basis=fields.texts("legal_basis"), conditions=fields.texts("conditions"),
        materials=tuple(materials), steps=steps, time_limit_legal=legal,
        time_limit_promised=promised, fee=fields.text("fee"), place=fields.text("place"),
        hours=fields.text("hours"), phone=fields.text("phone"),
        complaint=fields.text("complaint"), online_url=online)


