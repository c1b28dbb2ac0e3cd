"""Markdown bodies → safe HTML with every link resolved to its real URL.

Markdown is CommonMark with GitHub's tables and strikethrough, converted by cmark-gfm (GitHub's
C library, through cmarkgfm): some forty times faster than a pure-Python parser, which made
Markdown the slowest stage of a large build. The HTML it writes is then finished here: every
link and image (in Markdown or pasted as raw HTML) is resolved to its real URL, headings get
ids for in-page links, and raw HTML is sanitized with nh3 where a site asks for it (an
allow-list: no scripts, event handlers or javascript: URLs).
"""

from __future__ import annotations

import ctypes
import hashlib
import html
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from govsite.cache import Cache
from govsite.cache import key as cache_key
from govsite.diagnostics import Report
from govsite.frontmatter import read_body
from govsite.model import WITHDRAWN, Cluster, Link, Site
from govsite.parallel import ordered_map
from govsite.spool import Spool, Spooled
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


# Raw HTML is kept (and sanitized afterwards where a site asks for it); GitHub's tables and
# strikethrough are the extensions editors expect from other tools.
OPTIONS = Options.CMARK_OPT_UNSAFE
EXTENSIONS = ["table", "strikethrough"]


class _CommonMark:
    """cmark-gfm through cmarkgfm's declarations of its C functions, but not through its
    markdown_to_html_with_extensions(), which frees neither the document it parses nor the HTML
    it renders (theacodes/cmarkgfm#53): 21 KB a body, and a markdown worker of a 100,000-page
    build grew by 1.1 GB. Both are freed here, through functions the library exports that its
    declarations leave out."""

    def __init__(self) -> None:
        lib = _cmark.lib
        lib.cmark_gfm_core_extensions_ensure_registered()
        self._extensions = [lib.cmark_find_syntax_extension(name.encode()) for name in EXTENSIONS]
        self._node_free: Any = _leave
        self._free: Any = _leave
        try:   # (a build of cmarkgfm that hides the symbols leaks as cmarkgfm does)
            native = ctypes.CDLL(_cmark.__file__)   # the library already loaded, not a second copy
            node_free, free = native.cmark_node_free, ctypes.CDLL(None).free
        except (AttributeError, OSError):
            return
        # The HTML is allocated by cmark's default allocator: the C library's calloc.
        for function in (node_free, free):
            function.argtypes, function.restype = [ctypes.c_void_p], None
        self._node_free, self._free = node_free, free

    def __call__(self, text: str) -> str:
        lib, ffi = _cmark.lib, _cmark.ffi
        parser = lib.cmark_parser_new(OPTIONS)
        try:
            for extension in self._extensions:
                lib.cmark_parser_attach_syntax_extension(parser, extension)
            data = text.encode()
            lib.cmark_parser_feed(parser, data, len(data))
            root = lib.cmark_parser_finish(parser)   # the caller's to free
            try:
                raw = lib.cmark_render_html(root, OPTIONS, lib.cmark_parser_get_syntax_extensions(parser))
                try:
                    return ffi.string(raw).decode()
                finally:
                    self._free(int(ffi.cast("uintptr_t", raw)))
            finally:
                self._node_free(int(ffi.cast("uintptr_t", root)))
        finally:
            lib.cmark_parser_free(parser)


def _leave(address: int) -> None:
    pass


commonmark = _CommonMark()


# How much of a body's text summaries (shorten(), 120 characters) and search excerpts (200)
# read: each is the same from this much of the text as from all of it.
LEAD = 200


class Body:
    """A converted body. One read back from the cache comes with the start of its text only
    (`lead`) and without its HTML: a rebuild shows the HTML of the pages it makes again and
    counts the text of the documents it has not counted, no more. load_html() and load_text()
    read those in one go; a process that finds one missing anyway converts its source again
    (same input, same body; a cache does not cross a fork). One converted by convert_all()
    holds neither: both wait in its Spool, read where shown or counted."""

    __slots__ = ("_html", "_text", "_lead", "digest", "entry", "source", "files", "spooled")

    def __init__(self, html: str | None, text: str | None, digest: str, entry: str = "",
                 source: BodySource | str | None = None, lead: str | None = "",
                 files: tuple[str, ...] = (), spooled: Spooled | None = None):
        self._html = html
        self._text = text       # plain text, for feeds' summaries and search
        # None: read from the spool when asked (a spooled body's, in a cold build: see lead).
        self._lead = text[:LEAD] if text is not None else lead
        self.digest = digest    # of both: what a rendered output that shows it remembers of it
        self.entry = entry      # its cache key, for a body read back without all of it
        self.source = source    # to convert it again: a BodySource, or its key (body_source)
        self.files = files      # the attachments it links to (Resolver.used_files)
        self.spooled = spooled  # where its HTML and text wait (Spool), if they do

    @classmethod
    def of(cls, html: str, text: str) -> Body:
        digest = hashlib.sha256(html.encode("utf-8"))
        digest.update(b"\0" + text.encode("utf-8"))
        return cls(html, text, digest.hexdigest())

    @property
    def html(self) -> str:
        if self._html is not None:
            return self._html
        if self.spooled is not None:   # not kept: a page's HTML is shown once
            return self.spooled.read()[0].decode("utf-8")
        self._html = self._converted().html
        return self._html

    @property
    def text(self) -> str:
        if self._text is not None:
            return self._text
        if self.spooled is not None:
            return self.spooled.read()[1].decode("utf-8")
        self._text = self._converted().text
        return self._text

    @property
    def lead(self) -> str:
        """The start of its text. A spooled body's is read from its spool file each time it is
        asked, not held: a cold build's parent held 100,000 of them to its end (79 MB at
        100,000 pages, and as much again in the UTF-8 copy pickling leaves in each), and
        asks for them only to keep them in the cache and to send the search documents on."""
        if self._lead is not None:
            return self._lead
        if self.spooled is not None:
            return self.spooled.lead(LEAD)
        self._lead = self.text[:LEAD]
        return self._lead

    def spool_lead(self) -> None:
        """Let go of its lead, read from the spool from now on (lead)."""
        if self.spooled is not None:
            self._lead = None

    def unread(self) -> bool:
        """Whether its HTML and text are neither held nor spooled: load_html(), load_text()."""
        return self.spooled is None and bool(self.entry)

    def _converted(self) -> Body:
        assert self.source is not None and _reconvert is not None, "a body without its source"
        return _reconvert(self.source)

    def __getstate__(self) -> tuple:
        # Its source stays in this process (the parent sets it on the bodies that come back);
        # what is spooled goes along, as a Spool does not.
        html, text = (self._html, self._text) if self.spooled is None else (self.html, self.text)
        return (html, text, self.lead, self.digest, self.entry, None, self.files)

    def __setstate__(self, state: tuple) -> None:
        (self._html, self._text, self._lead, self.digest, self.entry, self.source,
         self.files) = state
        self.spooled = None


class SpoolPlaces:
    """Where spooled bodies wait, for another process: each spool file numbered in the order
    first met (`files`, passed along as such), and each place as (that number, where())."""

    def __init__(self) -> None:
        self.files: list[Any] = []
        self._numbers: dict[int, int] = {}   # a spool file's id → its number

    def of(self, spooled: Spooled) -> tuple[int, int, int, int]:
        n = self._numbers.setdefault(id(spooled.file), len(self.files))
        if n == len(self.files):
            self.files.append(spooled.file)
        return (n, *spooled.where())


# A body as another process takes it (portable()): its lead (None: read from its spool there),
# digest and cache entry, and its text (when held) or where it waits (the spool file's number
# among those sent, and the place).
PortableBody = tuple[str | None, str, str, str | None, tuple[int, int, int, int] | None]


def portable(bodies: Iterable[Body]) -> tuple[list[PortableBody], list[Any]] | None:
    """Bodies for a process this one did not fork (restored() there), with the spool files
    they wait in: the HTML and text a pickled Body carries stay where they are. None when one
    of them is neither spooled nor holds its text (such a body is read back from the cache, or
    converted again, which takes the cluster)."""
    places = SpoolPlaces()
    out: list[PortableBody] = []
    for body in bodies:
        place = None
        if body.spooled is not None:
            place = places.of(body.spooled)
        elif body._text is None:
            return None
        out.append((body._lead if place is not None else body.lead, body.digest, body.entry,
                    body._text if place is None else None, place))
    return out, places.files


def restored(bodies: list[PortableBody], descriptors: list[int]) -> list[Body]:
    """portable()'s bodies, in the process it sent them to with these spool files."""
    # Not closed with them: the descriptors are the sender's own where run() could not fork.
    files = [open(fd, "rb", buffering=0, closefd=False) for fd in descriptors]  # noqa: SIM115
    return [Body(None, text, digest, entry, None, lead, (),
                 Spooled(files[place[0]], *place[1:]) if place is not None else None)
            for lead, digest, entry, text, place in bodies]


# What a body is converted from: (key, its text or None for a page's, source file, URL, first
# line, whether to sanitize).
BodySource = tuple[str, str | None, str, str, int, bool]
# How this process converts a body again that it has not read all of (set by reconverting()).
_reconvert: Callable[[BodySource | str], Body] | None = None


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


class _LinkRewriter:
    def __init__(self, context: _Context):
        self.context = context

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

    def rewrite_tags(self, fragment: str) -> str:
        """Every <a href> and <img src> of a fragment, from Markdown or raw HTML alike (code
        is escaped by then, so a tag shown in a code block is never mistaken for one)."""
        return RAW_TAG.sub(lambda tag: RAW_LINK.sub(self._attribute, tag.group(0)), fragment)

    def _attribute(self, match: re.Match[str]) -> str:
        value = html.unescape(match.group(3))
        if not EXTERNAL.match(value) or value.startswith("site:"):
            # cmark percent-encodes a Markdown link's non-ASCII path (附件.pdf); the resolver,
            # and any error message, want the name as the editor wrote it.
            value = unquote(value)
        rewritten = self.rewrite(value, match.group(1).lower().startswith("src"))
        return f"{match.group(1)}{match.group(2)}{html.escape(rewritten, quote=True)}{match.group(2)}"


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
HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.S)
ID = re.compile(r"""\bid\s*=\s*["']([^"']*)["']""", re.I)
MAY_BE_ID = re.compile(r"""[iI\u0130\u0131][dD]\s*=\s*["']""")   # (what re.I lets "i" be too)
OWN_ID = re.compile(r"\s*\{:?\s*#([^\s{}#]+)\s*\}\s*$")
ALIGN = re.compile(r' align="(left|center|right)"')
TAG = re.compile(r"<[^>]+>")
NUMBERED = re.compile(r"^(.*)_([0-9]+)$")


def heading_ids(fragment: str) -> str:
    """An id on every Markdown heading, for links to a section (page.md#一总体要求): its text as
    a slug, Unicode kept, made unique with _1, _2 … the way Python-Markdown's toc did it, so
    links written against earlier output keep working."""
    if "<h" not in fragment:
        return fragment
    own_ids = (OWN_ID.search(inner) for _, inner in HEADING.findall(fragment))
    # (ID, case-blind and at a word's start, is slow to scan with: a third of a body's cost.
    # MAY_BE_ID finds any place it could match, and most bodies have none.)
    used = set(ID.findall(fragment) if MAY_BE_ID.search(fragment) else ()) \
        | {own.group(1) for own in own_ids if own}

    def add_id(match: re.Match[str]) -> str:
        level, inner = match.group(1), match.group(2)
        own = OWN_ID.search(inner)
        if own:   # `## 标题 {#id}` names its own id
            inner, slug = inner[:own.start()], own.group(1)
        else:
            text = html.unescape(TAG.sub("", inner))
            slug = _unique(re.sub(r"[-\s]+", "-", re.sub(r"[^\w\s-]", "", text).strip().lower()),
                           used)
        return f'<h{level} id="{html.escape(slug, quote=True)}">{inner}</h{level}>'

    return HEADING.sub(add_id, fragment)


def _unique(slug: str, used: set[str]) -> str:
    if slug in used or not slug:
        numbered = NUMBERED.match(slug)
        base, count = (numbered.group(1), int(numbered.group(2))) if numbered else (slug, 0)
        count += 1
        while f"{base}_{count}" in used:
            count += 1
        slug = f"{base}_{count}"
    used.add(slug)
    return slug


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
        self.rewriter = _LinkRewriter(self.context)

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
        out = commonmark(text).rstrip("\n")
        # Table alignment as a style, as sanitizing allows it (align= is obsolete HTML).
        out = ALIGN.sub(r' style="text-align: \1;"', heading_ids(self.rewriter.rewrite_tags(out)))
        self._unread_links(out)
        if sanitize:
            out = nh3.clean(out, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                            url_schemes=URL_SCHEMES, link_rel=None,
                            filter_style_properties=STYLE_PROPERTIES)
        return Body.of(scrollable_tables(out), plain_text(out))


    def _unread_links(self, fragment: str) -> None:
        """CommonMark takes no spaces in a link's address, so `[text](a b.pdf)` shows as text:
        say so, at its line, rather than let the page carry a dead link nobody sees."""
        if "](" not in fragment:
            return
        ctx = self.context
        assert ctx.report is not None
        for match in UNREAD_LINK.finditer(CODE.sub("", fragment)):
            address = html.unescape(match.group(1))
            ctx.report.warning(ctx.source, line_of(ctx.text, address, ctx.first_line),
                               f"`[…]({shorten(address, 60)})` is not read as a link: its address "
                               "holds a space", "write the space as %20, or put the address in "
                               "<…>: [text](<a b.pdf>)", "markdown-link")


UNREAD_LINK = re.compile(r"\]\(([^()\s<>]+\s[^()<>]*)\)")
CODE = re.compile(r"<(pre|code)\b.*?</\1>", re.S)


def shorten(text: str, limit: int = 120) -> str:
    """At most `limit` characters, an ellipsis marking a cut (summaries, long addresses)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def scrollable_tables(fragment: str) -> str:
    """Wide tables scroll inside a keyboard-focusable box instead of making a phone page scroll."""
    if "<table" not in fragment:
        return fragment
    fragment = re.sub(r"<table\b", '<div class="table-scroll" tabindex="0"><table', fragment)
    return fragment.replace("</table>", "</table></div>")


def plain_text(fragment: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", fragment, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    # What re.sub(r"\s+", " ", …).strip() makes (the same characters are whitespace to both),
    # three times as fast.
    return " ".join(html.unescape(text).split())


def body_sources(cluster: Cluster, only: frozenset[str] | None = None) -> list[BodySource]:
    """What every body is converted from, in the order of the bodies: pages by key, then each
    site's home ("site/") and column intros ("site/column/"); or the bodies of the keys in
    `only`. A page's text is None: read when converted (read_body), for most pages never."""
    pages = cluster.pages if only is None else [k for k in sorted(only) if k in cluster.pages]
    work = [_page_source(cluster, key) for key in pages if cluster.states[key] != WITHDRAWN]
    for site in cluster.sites.values():   # (a withdrawn page's notice has no body)
        work += [item for item in _intro_sources(cluster, site)
                 if only is None or item[0] in only]
    return work


def body_source(cluster: Cluster, key: str) -> BodySource:
    """What the body of `key` is converted from (body_sources)."""
    if key in cluster.pages:
        return _page_source(cluster, key)
    return next(item for item in _intro_sources(cluster, cluster.sites[key.split("/", 1)[0]])
                if item[0] == key)


def _page_source(cluster: Cluster, key: str) -> BodySource:
    page = cluster.pages[key]
    return (key, None, page.source, cluster.urls[key], page.body_line,
            cluster.sites[page.site].config.sanitize_html)


def _intro_sources(cluster: Cluster, site: Site) -> list[BodySource]:
    sanitize = site.config.sanitize_html
    work: list[BodySource] = []
    if site.intro.body.strip():
        work.append((f"{site.config.id}/", site.intro.body,
                     site.intro.source and f"content/{site.intro.source}", site.config.url,
                     site.intro.body_line, sanitize))
    for column in site.columns.values():
        if column.intro.strip():
            key = f"{column.site}/{column.id}/"
            work.append((key, column.intro, column.source, cluster.urls[key],
                         column.intro_line, sanitize))
    return work


def reconverting(cluster: Cluster, root: Path) -> None:
    """Let the bodies of this cluster that were read back without their HTML or text, and do
    not find them in the cache, convert themselves again (Body.html, Body.text)."""
    global _reconvert

    def reconvert(source: BodySource | str) -> Body:
        item = body_source(cluster, source) if isinstance(source, str) else source
        local = Report(root)
        return Converter(cluster, local).convert(_text_of(cluster, item, local), *item[2:])

    _reconvert = reconvert


def _text_of(cluster: Cluster, item: BodySource, report: Report,
             texts: Mapping[str, Spooled] | None = None) -> str:
    if item[1] is not None:
        return item[1]
    # (A file that changed since it was found is reported: the build stops after this stage.)
    return read_body(cluster.pages[item[0]], cluster.config.root, report, texts) or ""


def convert_all(cluster: Cluster, report: Report, jobs: int = 1,
                cache: Cache | None = None, only: frozenset[str] | None = None,
                earlier: Callable[[], tuple[str, Mapping[str, Any]] | None] | None = None,
                texts: Mapping[str, Spooled] | None = None, work: list[BodySource] | None = None,
                into: Bodies | None = None) -> MutableMapping[str, Body]:
    """Every body in the cluster (body_sources, or `work` when the caller has it), or the
    bodies of the keys in `only`. Converted in slices on `jobs` processes; each slice's
    problems and linked attachments come back with its bodies, so the result is the same for
    any number of jobs. `earlier` gives the previous build's link targets and their digest
    (Resolver.digest), if known; `texts`, where pages' bodies wait when they are not on the
    pages (frontmatter.Parsed.texts). The bodies are put `into` that as they come (a dict by
    default), which gives them back in the order of the work (Bodies.done)."""
    work = body_sources(cluster, only) if work is None else work
    # What a body's cache key names it by: a page's body is the end of its source file from
    # its first line (in the key), so the file's digest stands for its text (hashing every
    # text again cost 0.1 s per 10,000 pages); an intro is keyed by its text.
    names: list[object] = [("page", cluster.pages[item[0]].digest) if item[1] is None else item[1]
                           for item in work]
    cache = cache or Cache(None)
    keys = [_cache_key(name, *item[2:]) for name, item in zip(names, work, strict=True)]

    # Heads come in one pack per site (Cache.load_packs): 100,000 of them in twenty lookups.
    site_of = {entry: item[0].split("/", 1)[0] for item, entry in zip(work, keys, strict=True)}
    packs = cache.load_packs(CACHE, sorted(set(site_of.values()))) if cache.path else {}
    stored = {entry: head for entry, site in site_of.items()
              if (head := _head(packs[site].get(entry))) is not None} if packs else {}
    # Every input of a body is in its key but where its links lead: a cached body whose links
    # were resolved against the very same targets is right as it is, and any other is checked.
    targets = cluster.resolver.digest if cache.path else ""
    # A body cached without a problem links only to targets that existed then. When every one
    # of those is still where it was (pages were added, none moved or went), it links the same
    # way now: its links are not read back and checked one by one (a new page at 10,000 pages
    # did that for every body, 0.8 s). Its head is kept under the new digest.
    grown: dict[str, bool] = {}   # the earlier targets' digest → whether these extend them

    def links_hold(digest: str) -> bool:
        if digest == targets:
            return True
        if not grown:   # read once, and only when a head was checked against other targets
            found = earlier() if earlier is not None else None
            grown[found[0] if found else ""] = found is not None and \
                cluster.resolver.extends(found[1])
        return grown.get(digest, False)

    bodies = into if into is not None else InOrder()
    todo: list[int] = []
    for n, (item, entry) in enumerate(zip(work, keys, strict=True)):
        cached = stored.get(entry)
        if cached and links_hold(cached["targets"]):
            if cached["targets"] != targets:
                packs[site_of[entry]].put(entry, {**cached, "targets": targets})
            cluster.resolver.used_files.update(cached["files"])
            bodies[item[0]] = Body(None, None, cached["digest"], entry, item, cached["lead"],
                                   tuple(cached["files"]))
            for namespace in (CACHE_LINKS, CACHE_TEXT, CACHE_HTML):
                cache.used(namespace, entry)
        else:
            todo.append(n)
    # Each site's heads are saved once its last body is in (a pack held to the end, every
    # site's, was 73 MB at 100,000 pages): its bodies converted together, its intros with its
    # pages (body_sources lists every site's intros after all the pages).
    todo.sort(key=lambda n: site_of[keys[n]])
    waiting = Counter(site_of[keys[n]] for n in todo)

    def site_done(site: str) -> None:
        pack = packs.pop(site)
        if only is not None:   # the other bodies' heads stay: this build did not look at them
            pack.keep_stored()
        pack.save()

    for site in [site for site in packs if not waiting[site]]:
        site_done(site)
    # The links of the cached bodies to check: read only when targets changed (half a head).
    links = cache.load(CACHE_LINKS, [keys[n] for n in todo if keys[n] in stored])
    size = max(1, -(-len(todo) // (jobs * 4)))  # a few slices per process evens out their cost
    slices = -(-len(todo) // size)
    spool = Spool(slices, "govsite-bodies-")

    def convert_slice(n: int) -> tuple[list[tuple[int, Body, tuple[int, int, int] | None]],
                                       list, set[str], dict, dict]:
        local = Report(report.root)
        converter = Converter(cluster, local)
        done: list[tuple[int, Body, tuple[int, int, int] | None]] = []
        fresh, markup = {}, {}
        for i in todo[n * size:(n + 1) * size]:
            (_, _, source, url, line, sanitize), entry = work[i], keys[i]
            text = _text_of(cluster, work[i], local, texts)
            cached = stored.get(entry)
            if cached and entry in links and \
                    converter.still_valid(links[entry], text, source, url, line):
                done.append((i, Body(None, None, cached["digest"], entry, lead=cached["lead"],
                                     files=tuple(cached["files"])), None))
                fresh[entry] = {**cached, "targets": targets}   # checked against these
                continue
            problems = len(local.items)
            body = converter.convert(text, source, url, line, sanitize)
            body.entry, body.files = entry, tuple(sorted(set(converter.context.files)))
            where = spool.put(n, body.html, body.text).where()
            body._html = body._text = None
            done.append((i, body, where))
            if len(local.items) == problems:  # a body with a broken link is converted again
                # (its lead is put in where this comes back: see _SpooledLead)
                fresh[entry] = {"digest": body.digest, "targets": targets,
                                "files": list(body.files)}
                # (its text and HTML travel back once, in the body)
                markup[entry] = sorted(set(converter.context.links))
        return done, local.items, set(cluster.resolver.used_files), fresh, markup

    for n, (done, problems, used, fresh, markup) in enumerate(ordered_map(convert_slice, slices, jobs)):
        converted = {}
        for i, body, where in done:
            body.source = work[i]
            if where is not None:
                body.spooled = spool.spooled(n, *where)
                body.spool_lead()   # (its head below reads it from there too: _SpooledLead)
            bodies[work[i][0]] = converted[body.entry] = body
        report.items.extend(problems)
        cluster.resolver.used_files.update(used)
        for entry, value in fresh.items() if packs else ():
            if "lead" not in value:
                value["lead"] = _SpooledLead(converted[entry].spooled)
            packs[site_of[entry]].put(entry, value)
            if entry in markup:
                spooled = converted[entry].spooled
                assert spooled is not None
                html_bytes, text_bytes = spooled.read()
                cache.keep(CACHE_LINKS, entry, markup[entry])
                cache.keep(CACHE_TEXT, entry, text_bytes)
                cache.keep(CACHE_HTML, entry, html_bytes)
            else:   # checked: the links, text and HTML stored are still right
                for namespace in (CACHE_LINKS, CACHE_TEXT, CACHE_HTML):
                    cache.used(namespace, entry)
        for entry in converted.keys() if packs else ():
            site = site_of[entry]
            waiting[site] -= 1
            if not waiting[site]:
                site_done(site)

    reconverting(cluster, report.root)
    return bodies.done([item[0] for item in work])   # in the order of the work, always


class Bodies(Protocol):
    """Where convert_all() puts the bodies as they come."""

    def __setitem__(self, key: str, body: Body) -> None: ...

    def done(self, order: list[str]) -> MutableMapping[str, Body]:
        """The bodies put, by key in this order."""
        ...


class InOrder(dict[str, Body]):
    """Bodies held as objects (convert_all's default)."""

    def done(self, order: list[str]) -> dict[str, Body]:
        return {key: self[key] for key in order}


class _SpooledLead:
    """A head's lead while its pack waits to be saved: read from the body's spool when the
    pack is pickled, and pickled as the string. The packs are saved once every body is in,
    and held 100,000 leads until then at 100,000 pages (and, pickled, a UTF-8 copy of each):
    the parent's peak, at the Markdown stage's end. It holds the place, not the body, which
    may be packed before then (`into`)."""

    __slots__ = ("spooled",)

    def __init__(self, spooled: Spooled | None):
        assert spooled is not None
        self.spooled = spooled

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (self.spooled.lead(LEAD),)


def load_html(bodies: Mapping[str, Body], keys: Iterable[str], cache: Cache) -> None:
    """Read back in one go the HTML of the bodies these keys name, where it was left out."""
    lazy = {body.entry: body for key in keys
            if (body := bodies.get(key)) is not None and body._html is None and body.unread()}
    for entry, markup in cache.load(CACHE_HTML, lazy, _decode).items():
        lazy[entry]._html = markup


def load_text(bodies: Iterable[Body], cache: Cache) -> None:
    """Read back in one go the text of these bodies, where it was left out."""
    lazy = {body.entry: body for body in bodies if body._text is None and body.unread()}
    for entry, text in cache.load(CACHE_TEXT, lazy, _decode).items():
        lazy[entry]._text = text


# A body's digest, the start of its text and the targets its links were checked against
# ("markdown head"); then its links, its text and its HTML apart: a rebuild reads every head,
# but the links only of the bodies to check again, the text only of the documents it counts
# and the HTML only of the pages it makes again.
CACHE = "markdown head"   # packed by site (Cache.load_packs)
CACHE_LINKS = "markdown links"
CACHE_TEXT = "markdown text"
CACHE_HTML = "markdown html"


def _decode(value: object) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else None


def _head(value: object) -> dict[str, Any] | None:
    """A head as stored, or None for anything else (an entry of an older format, such as one
    that still held its links)."""
    if not isinstance(value, dict) or "links" in value or not all(
            isinstance(value.get(k), str) for k in ("lead", "digest", "targets")):
        return None
    return value


def _cache_key(text: object, source: str, url: str, line: int, sanitize: bool) -> str:
    # The converter's own settings are code: govsite's version, in every key, stands for them.
    return cache_key(CACHE, text, source, url, line, sanitize)
