"""Markdown bodies → safe HTML with every link resolved to its real URL.

One Python-Markdown instance per process, reset between documents. Links are rewritten in a
tree processor while the document is still a tree; raw HTML that editors paste is sanitized
afterwards with nh3 (an allow-list: no scripts, event handlers or javascript: URLs).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import markdown as md
import nh3
from markdown.extensions.toc import slugify_unicode
from markdown.postprocessors import Postprocessor
from markdown.treeprocessors import Treeprocessor

from govsite.cache import Cache
from govsite.cache import key as cache_key
from govsite.diagnostics import Report
from govsite.model import WITHDRAWN, Cluster, Link
from govsite.parallel import ordered_map
from govsite.urls import relative

EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")
ALLOWED_TAGS = set(nh3.ALLOWED_TAGS) | {"figure", "figcaption", "caption", "section"}
ALLOWED_ATTRIBUTES = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": {"id", "title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "img": {"src", "alt", "width", "height"},
    "th": {"scope", "colspan", "rowspan", "style"},
    "td": {"colspan", "rowspan", "style"},
}
# Markdown tables align columns with inline styles; nothing but alignment survives.
STYLE_PROPERTIES = {"text-align"}
URL_SCHEMES = {"http", "https", "mailto", "tel"}


@dataclass(frozen=True)
class Body:
    html: str
    text: str      # plain text, for summaries, feeds and search


class _Context:
    """Per-document state the link rewriter reads; set before each conversion."""

    def __init__(self) -> None:
        self.source = ""
        self.url = ""
        self.text = ""
        self.first_line = 1
        self.cluster: Cluster | None = None
        self.report: Report | None = None
        self.links: list[tuple[str, str]] = []   # (href as written, href written out): the cache checks them
        self.files: list[str] = []               # the attachments it links to, by target key


class _LinkRewriter(Treeprocessor):
    def __init__(self, md_instance: md.Markdown, context: _Context):
        super().__init__(md_instance)
        self.context = context

    def run(self, root: Element) -> None:
        for element in root.iter():
            attribute = {"a": "href", "img": "src"}.get(element.tag)
            if attribute and element.get(attribute):
                element.set(attribute, self.rewrite(element.get(attribute, ""), element.tag == "img"))

    def rewrite(self, href: str, image: bool = False) -> str:
        out = self._rewrite(href, image)
        self.context.links.append((href, out))
        return out

    def _rewrite(self, href: str, image: bool = False) -> str:
        ctx = self.context
        if not href or href.startswith("#") or (EXTERNAL.match(href) and not href.startswith("site:")):
            return href
        assert ctx.cluster is not None and ctx.report is not None
        link = Link(href, line_of(ctx.text, href, ctx.first_line))
        target = ctx.cluster.resolver.resolve(link, ctx.source, ctx.report, rule=_link_rule(
            href, image, ctx.source))
        if target is None:
            return href
        if target.kind == "file":
            ctx.files.append(target.key)
        fragment = href.split("#", 1)[1] if "#" in href else ""
        url = target.url + (f"#{fragment}" if fragment else "")
        return relative(ctx.url, url)


def _link_rule(href: str, image: bool, source: str) -> str:
    """The `govsite check` rule a broken link breaks: home pages apart (the inspection weighs
    them more), then images and attachments, then links between pages."""
    if source.endswith("/_index.md") and source.count("/") == 2:   # content/<site>/_index.md
        return "link-home"
    path = href.split("#", 1)[0].split("?", 1)[0]
    page = path.endswith(".md") or path.endswith("/") or not path
    return "link-file" if image or not page else "link-internal"


RAW_TAG = re.compile(r"<(?:a|img)\b[^>]*>", re.I)
RAW_LINK = re.compile(r"""(\b(?:href|src)\s*=\s*)(["'])(.*?)\2""", re.I | re.S)


class _RawHtmlLinks(Postprocessor):
    """Links written as raw HTML (<a href>, <img src>) are resolved and checked like Markdown
    links. It runs before Python-Markdown puts the stashed raw HTML back into the page."""

    def __init__(self, md_instance: md.Markdown, rewriter: _LinkRewriter):
        super().__init__(md_instance)
        self.rewriter = rewriter
        self._stash: list | None = None
        self._done: set[int] = set()

    def run(self, text: str) -> str:
        # Python-Markdown may run postprocessors more than once per document (the toc extension
        # does, for heading text); each stashed block is rewritten only the first time.
        stash = self.md.htmlStash.rawHtmlBlocks
        if stash is not self._stash:
            self._stash, self._done = stash, set()
        for index, block in enumerate(stash):
            if index in self._done:
                continue
            self._done.add(index)
            if isinstance(block, str) and ("href" in block or "src" in block):
                stash[index] = RAW_TAG.sub(lambda tag: RAW_LINK.sub(self._rewrite, tag.group(0)),
                                           block)
        return text

    def _rewrite(self, match: re.Match[str]) -> str:
        value = html.unescape(match.group(3))
        rewritten = self.rewriter.rewrite(value, match.group(1).lower().startswith("src"))
        return f"{match.group(1)}{match.group(2)}{html.escape(rewritten, quote=True)}{match.group(2)}"


def line_of(text: str, href: str, first_line: int) -> int:
    """The body line where a link is written, so an error can point at it."""
    for marker in (f"]({href}", f"]: {href}", f'"{href}"', href):
        index = text.find(marker)
        if index >= 0:
            return first_line + text.count("\n", 0, index)
    return first_line


class Converter:
    def __init__(self, cluster: Cluster, report: Report):
        self.context = _Context()
        self.context.cluster = cluster
        self.context.report = report
        self.md = md.Markdown(
            extensions=["tables", "fenced_code", "sane_lists", "toc", "attr_list"],
            extension_configs={"toc": {"slugify": slugify_unicode, "permalink": False}},
            output_format="html",
        )
        rewriter = self.rewriter = _LinkRewriter(self.md, self.context)
        self.md.treeprocessors.register(rewriter, "govsite_links", 1)
        # Above the raw-HTML postprocessor (30), so the stash is rewritten before it is restored.
        self.md.postprocessors.register(_RawHtmlLinks(self.md, rewriter), "govsite_raw_links", 35)

    def still_valid(self, links: list[list[str]], text: str, source: str, url: str,
                    first_line: int) -> bool:
        """Whether a cached body's links still resolve as they did: every other input is in its
        key, but a link's target can appear, move or be withdrawn without the page changing."""
        ctx = self.context
        ctx.source, ctx.url, ctx.text, ctx.first_line = source, url, text, first_line
        ctx.links, ctx.files = [], []
        real = ctx.report
        ctx.report = Report(real.root if real else Path("."))
        try:
            return all(self.rewriter.rewrite(href) == out for href, out in links) \
                and not ctx.report.items
        finally:
            ctx.report = real

    def convert(self, text: str, source: str, url: str, first_line: int, sanitize: bool) -> Body:
        ctx = self.context
        ctx.source, ctx.url, ctx.text, ctx.first_line = source, url, text, first_line
        ctx.links, ctx.files = [], []
        self.md.reset()
        out = self.md.convert(text)
        if sanitize:
            out = nh3.clean(out, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                            url_schemes=URL_SCHEMES, link_rel=None,
                            filter_style_properties=STYLE_PROPERTIES)
        return Body(scrollable_tables(out), plain_text(out))


def scrollable_tables(fragment: str) -> str:
    """Wide tables scroll inside a keyboard-focusable box instead of making a phone page scroll."""
    if "<table" not in fragment:
        return fragment
    fragment = re.sub(r"<table\b", '<div class="table-scroll" tabindex="0"><table', fragment)
    return fragment.replace("</table>", "</table></div>")


def plain_text(fragment: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", fragment, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def convert_all(cluster: Cluster, report: Report, jobs: int = 1,
                cache: Cache | None = None) -> dict[str, Body]:
    """Every body in the cluster: pages by key, column intros by "site/column/", homes by "site/".
    Converted in slices on `jobs` processes; each slice's problems and linked attachments come
    back with its bodies, so the result is the same for any number of jobs."""
    work: list[tuple[str, str, str, str, int, bool]] = []   # key, text, source, url, line, sanitize
    for key, page in cluster.pages.items():
        if cluster.states[key] == WITHDRAWN:
            continue  # only a notice stays online: no body, no attachments
        work.append((key, page.body, page.source, cluster.urls[key], page.body_line,
                     cluster.sites[page.site].config.sanitize_html))
    for site in cluster.sites.values():
        sanitize = site.config.sanitize_html
        if site.intro.body.strip():
            work.append((f"{site.config.id}/", site.intro.body,
                         site.intro.source and f"content/{site.intro.source}", site.config.url,
                         site.intro.body_line, sanitize))
        for column in site.columns.values():
            if column.intro.strip():
                key = f"{column.site}/{column.id}/"
                work.append((key, column.intro, column.source, cluster.urls[key],
                             column.intro_line, sanitize))
    cache = cache or Cache(None)
    keys = [_cache_key(*item[1:]) for item in work]
    stored = cache.load(CACHE, keys)
    # Every input of a body is in its key but where its links lead: a cached body whose links
    # were resolved against the very same targets is right as it is, and any other is checked.
    targets = _targets_digest(cluster) if cache.path else ""
    bodies: dict[str, Body] = {}
    todo: list[int] = []
    for n, (item, entry) in enumerate(zip(work, keys, strict=True)):
        cached = stored.get(entry)
        if cached and cached["targets"] == targets:
            cluster.resolver.used_files.update(cached["files"])
            bodies[item[0]] = Body(cached["html"], cached["text"])
            cache.used(CACHE, entry)
        else:
            todo.append(n)
    size = max(1, -(-len(todo) // (jobs * 4)))  # a few slices per process evens out their cost

    def convert_slice(n: int) -> tuple[list[tuple[str, Body]], list, set[str], dict]:
        local = Report(report.root)
        converter = Converter(cluster, local)
        done, fresh = [], {}
        for i in todo[n * size:(n + 1) * size]:
            (key, text, source, url, line, sanitize), entry = work[i], keys[i]
            cached = stored.get(entry)
            if cached and converter.still_valid(cached["links"], text, source, url, line):
                done.append((key, Body(cached["html"], cached["text"])))
                fresh[entry] = {**cached, "targets": targets}   # checked against these targets
                continue
            problems = len(local.items)
            body = converter.convert(text, source, url, line, sanitize)
            done.append((key, body))
            if len(local.items) == problems:  # a body with a broken link is converted again
                fresh[entry] = {"html": body.html, "text": body.text, "targets": targets,
                                "links": sorted(set(converter.context.links)),
                                "files": sorted(set(converter.context.files))}
        return done, local.items, set(cluster.resolver.used_files), fresh

    for done, problems, used, fresh in ordered_map(convert_slice, -(-len(todo) // size), jobs):
        bodies.update(done)
        report.items.extend(problems)
        cluster.resolver.used_files.update(used)
        for entry, value in fresh.items():
            cache.keep(CACHE, entry, value)
    return {item[0]: bodies[item[0]] for item in work}   # in the order of the work, always


CACHE = "markdown"


def _targets_digest(cluster: Cluster) -> str:
    """Everything a link can resolve to, or be refused for (Resolver.lookup)."""
    resolver = cluster.resolver
    return cache_key("link targets", sorted((k, t.kind, t.key, t.url) for k, t in resolver.targets.items()),
                     sorted(resolver.hidden.items()), resolver.site_ids)


def _cache_key(text: str, source: str, url: str, line: int, sanitize: bool) -> str:
    # The converter's own settings are code: govsite's version, in every key, stands for them.
    return cache_key(CACHE, text, source, url, line, sanitize)
