"""Rules on the built HTML, as a crawler or an inspector sees the sites: the 网页标签 per page
type, the footer identity, links and anchors, content accessibility, page weight, and the
consultation channel on home pages.

Every HTML file is parsed once (lxml, which keeps source lines). Faults in a page's own text are
reported at its Markdown source and line; faults of the page around it (theme, footer, tags) at
the built file, once per site and fault, with how many pages share it.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import lxml.html

from govsite.check.rules import ERROR, WARNING
from govsite.config import POLICE_FILING, SITE_CODE
from govsite.model import DATED_KINDS, PUBLISHED, Cluster, Page
from govsite.output import MANIFEST, read_manifest
from govsite.urls import output_path

SITE_TAGS = ("SiteName", "SiteDomain", "SiteIDCode")
COLUMN_TAGS = ("ColumnName", "ColumnDescription", "ColumnKeywords", "ColumnType")
ARTICLE_TAGS = ("ArticleTitle", "PubDate", "ContentSource")
PUBDATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$")
CONSULTATION = re.compile(r"咨询|留言|信箱|问政|诉求|consult", re.IGNORECASE)
VAGUE_LINKS = frozenset(["点击这里", "点击此处", "请点击", "点击", "这里", "此处", "更多", "详情",
                         "查看", "点击查看", "下载", "链接", "click here", "here", "more",
                         "read more", "link", "details"])
NOT_FETCHED = ("mailto:", "tel:", "javascript:", "data:", "sms:")
# A page is "only a PDF" when its own text, without link texts, is shorter than this.
PDF_ONLY_TEXT = 40
EXTERNAL_PAUSE = 0.5     # seconds between requests to one host (--external)
EXTERNAL_TIMEOUT = 10


@dataclass
class Link:
    url: str        # absolute, without fragment
    fragment: str
    line: int
    tag: str
    text: str


@dataclass
class Built:
    """What the rules need of one HTML file."""

    rel: str
    site: str
    url: str
    size: int
    meta: dict[str, str]
    h1: str
    ids: set[str]
    links: list[Link]
    footer: str
    footer_links: list[Link]
    main: lxml.html.HtmlElement | None


def check(cluster: Cluster, built: Path, shown: Path, as_of: datetime, external: bool,
          earlier: Iterable) -> list:
    manifest = read_manifest(built)
    if not (built / MANIFEST).is_file():
        return []
    schemes = {urlsplit(s.url).netloc: urlsplit(s.url).scheme for s in cluster.config.sites}
    files = {rel: entry["site"] for rel, entry in manifest.items()}
    parsed = {rel: _parse(built, rel, site, schemes) for rel, site in sorted(files.items())
              if rel.endswith(".html")}
    checker = _Checker(cluster, built, shown, files, parsed, as_of)
    # A broken link the build already reported at its Markdown line is not reported twice.
    reported = {f.path for f in earlier if f.rule.startswith("link-")}
    checker.skip_links = {cluster.urls[p.key] for p in cluster.pages.values()
                          if p.source in reported and p.key in cluster.urls}
    checker.skip_links |= {site.config.url for site_id, site in cluster.sites.items()
                           if f"content/{site_id}/_index.md" in reported}
    checker.run(external)
    return checker.findings


def _parse(built: Path, rel: str, site: str, schemes: dict[str, str]) -> Built:
    data = (built / rel).read_bytes()
    host = rel.split("/", 1)[0]
    url = f"{schemes.get(host, 'https')}://{rel.removesuffix('index.html')}"
    root = lxml.html.fromstring(data) if data.strip() else lxml.html.fromstring("<html></html>")
    meta = {m.get("name"): (m.get("content") or "").strip() for m in root.iter("meta") if m.get("name")}
    h1 = next((" ".join(h.text_content().split()) for h in root.iter("h1")), "")
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    ids |= {e.get("name") for e in root.iter("a") if e.get("name")}
    links = list(_links(root, url))
    footer = next(root.iter("footer"), None)
    mains = list(root.iter("main"))
    return Built(rel, site, url, len(data), meta, h1, ids, links,
                 " ".join(footer.text_content().split()) if footer is not None else "",
                 list(_links(footer, url)) if footer is not None else [], mains[0] if mains else None)


def _links(root: lxml.html.HtmlElement, base: str) -> Iterator[Link]:
    for element in root.iter("a", "img", "link", "script", "source", "iframe"):
        attribute = "href" if element.tag in ("a", "link") else "src"
        raw = (element.get(attribute) or "").strip()
        if not raw or raw.lower().startswith(NOT_FETCHED):
            continue
        if element.tag == "link" and (element.get("rel") or "") in ("preconnect", "dns-prefetch"):
            continue
        absolute = urljoin(base, raw)
        parts = urlsplit(absolute)
        text = " ".join(element.text_content().split()) if element.tag == "a" else ""
        yield Link(parts._replace(fragment="").geturl(), unquote(parts.fragment),
                   element.sourceline or 0, element.tag, text)


class _Checker:
    def __init__(self, cluster: Cluster, built: Path, shown: Path, files: dict[str, str],
                 parsed: dict[str, Built], as_of: datetime):
        self.cluster, self.built, self.shown = cluster, built, shown
        self.files, self.parsed, self.as_of = files, parsed, as_of
        self.hosts = {urlsplit(s.url).netloc for s in cluster.config.sites}
        self.by_output = {output_path(url): key for key, url in cluster.urls.items()}
        self.homes = {output_path(site.config.url): site_id for site_id, site in cluster.sites.items()}
        self.findings: list = []
        self.shared: dict[tuple[str, str, str, str], list[Built]] = defaultdict(list)
        self.skip_links: set[str] = set()

    def run(self, external: bool) -> None:
        outside: dict[str, list[tuple[Built, Link]]] = defaultdict(list)
        for page in self.parsed.values():
            self.tags(page)
            self.identity(page)
            self.weight(page)
            for link in page.links:
                if urlsplit(link.url).netloc in self.hosts:
                    self.link(page, link)
                elif link.tag == "a":
                    outside[link.url].append((page, link))
            source = self.source_page(page)
            if source is not None and page.main is not None:
                self.content(page, source)
        for site_id, site in self.cluster.sites.items():
            home = self.parsed.get(output_path(site.config.url))
            if home is not None:
                self.consultation(site_id, home)
        for (owner, rule, level, message), pages in sorted(self.shared.items()):
            more = f" (and {len(pages) - 1} other page{'s' * (len(pages) > 2)})" if len(pages) > 1 else ""
            self.add(owner, self.out(pages[0].rel), 0, rule, level, message + more, "")
        if external:
            self.external(outside)

    # — helpers —

    def add(self, site: str, path: str, line: int, rule: str, level: str, message: str,
            hint: str) -> None:
        from govsite.check import Finding

        self.findings.append(Finding(site, path, line, rule, level, message, hint))

    def once(self, page: Built, rule: str, message: str, level: str = ERROR) -> None:
        """A fault of the page around the content: reported once per site, with a count."""
        self.shared[(page.site, rule, level, message)].append(page)

    def out(self, rel: str) -> str:
        return f"{self.shown.as_posix()}/{rel}"

    def source_page(self, page: Built) -> Page | None:
        key = self.by_output.get(page.rel)
        found = self.cluster.pages.get(key) if key else None
        return found if found and self.cluster.states.get(found.key) == PUBLISHED else None

    def page_type(self, page: Built) -> str:
        if page.rel in self.homes:
            return "home"
        key = self.by_output.get(page.rel) or self.by_output.get(re.sub(r"index_\d+\.html$", "index.html", page.rel))
        if key is None:
            return "other"
        if key.endswith("/"):
            return "column" if key.count("/") == 2 else "other"
        found = self.cluster.pages.get(key)
        if found and self.cluster.states.get(key) == PUBLISHED:
            return "article" if found.kind in DATED_KINDS else "column"
        return "column"

    # — rules —

    def tags(self, page: Built) -> None:
        kind = self.page_type(page)
        required = SITE_TAGS + (COLUMN_TAGS if kind in ("column", "article") else ()) \
            + (ARTICLE_TAGS if kind == "article" else ())
        for name in required:
            if not page.meta.get(name):
                self.once(page, "meta-required", f"{kind} pages lack the `{name}` tag")
        if kind != "article":
            return
        title = " ".join(page.meta.get("ArticleTitle", "").split())
        if title and title != page.h1:
            self.add(page.site, self.out(page.rel), 0, "meta-title", ERROR,
                     f"ArticleTitle “{title}” differs from the h1 “{page.h1}”",
                     "the tag and the heading must carry the same title")
        stamp = page.meta.get("PubDate", "")
        if stamp and not PUBDATE.match(stamp):
            self.add(page.site, self.out(page.rel), 0, "meta-pubdate", ERROR,
                     f"PubDate `{stamp}` is not YYYY-MM-DD HH:MM", "fix the page's `date`")
        elif stamp:
            site = self.cluster.sites.get(page.site)
            tz = site.config.timezone if site else None
            moment = datetime.fromisoformat(stamp).replace(tzinfo=tz)
            if moment > self.as_of:
                self.add(page.site, self.out(page.rel), 0, "meta-pubdate", ERROR,
                         f"PubDate {stamp} lies in the future", "a page cannot be published before its date")

    def identity(self, page: Built) -> None:
        site = self.cluster.sites.get(page.site)
        if site is None or not page.footer:
            return
        identity = site.config.identity
        code = identity.site_code
        if not SITE_CODE.match(code):
            self.once(page, "identity-site-code", f"网站标识码 `{code}` is malformed")
        if page.meta.get("SiteIDCode", code) != code:
            self.once(page, "identity-site-code",
                      f"SiteIDCode `{page.meta['SiteIDCode']}` differs from the site's 网站标识码 {code}")
        if code not in page.footer:
            self.once(page, "identity-site-code", f"the footer does not show 网站标识码 {code}")
        reports = [link for link in page.footer_links if "jiucuo" in link.url]
        codes = {parse_qs(urlsplit(link.url).query).get("site_code", [""])[0] for link in reports}
        if not reports:
            self.once(page, "identity-site-code", "the footer has no error-reporting (找错) entry")
        elif codes != {code}:
            self.once(page, "identity-site-code", f"the 找错 entry reports for site code "
                      f"{', '.join(sorted(codes))}, not {code}")
        if site.config.type == "edition":
            return  # a language edition shows its parent's filings in its own words
        if not identity.icp:
            self.once(page, "identity-filing", "the site has no ICP filing number (`identity.icp`)")
        elif identity.icp not in page.footer or not any(
                "beian.miit.gov.cn" in link.url for link in page.footer_links):
            self.once(page, "identity-filing", f"the footer does not show ICP number {identity.icp} "
                      "linked to beian.miit.gov.cn")
        if not identity.police_filing:
            self.once(page, "identity-filing", "the site has no 公安 filing number "
                      "(`identity.police_filing`)")
        elif identity.police_filing not in page.footer or not any(
                "beian.gov.cn" in link.url and "beian.miit" not in link.url
                for link in page.footer_links):
            self.once(page, "identity-filing", f"the footer does not show 公安 filing number "
                      f"{identity.police_filing} linked to beian.gov.cn")
        elif not POLICE_FILING.match(identity.police_filing):
            self.once(page, "identity-filing", f"公安 filing number `{identity.police_filing}` is malformed")
        if identity.sponsor not in page.footer:
            self.once(page, "identity-sponsor", f"the footer does not show the 主办单位 {identity.sponsor}")
        if not any(value and value in page.footer for value in (identity.phone, identity.email)):
            self.once(page, "identity-sponsor", "the footer shows no contact (phone or email)")

    def weight(self, page: Built) -> None:
        site = self.cluster.sites.get(page.site)
        if site is None:
            return
        settings = site.config.check
        if page.size > settings["html_kb"] * 1024:
            self.add(page.site, self.out(page.rel), 0, "page-weight", WARNING,
                     f"the HTML is {page.size / 1024:.0f} kB (budget {settings['html_kb']} kB)",
                     "split the page, or move long tables into attachments")
        loaded = {output_path(link.url) for link in page.links if link.tag in ("img", "script", "link")
                  and urlsplit(link.url).netloc in self.hosts}
        total = page.size + sum(self.size_of(rel) for rel in loaded)
        if total > settings["page_kb"] * 1024:
            self.add(page.site, self.out(page.rel), 0, "page-weight", WARNING,
                     f"the page loads {total / 1024:.0f} kB (budget {settings['page_kb']} kB)",
                     "make its images smaller")

    def size_of(self, rel: str) -> int:
        try:
            return (self.built / rel).stat().st_size
        except OSError:
            return 0

    def link(self, page: Built, link: Link) -> None:
        if page.url in self.skip_links:
            return
        target = output_path(link.url)
        exists = target in self.files
        if not exists and not target.endswith(".html") and target + "/index.html" in self.files:
            exists = True
            target += "/index.html"
        home = page.rel in self.homes
        rule = "link-home" if home else ("link-internal" if link.tag == "a" and (
            target.endswith(".html") or "." not in target.rsplit("/", 1)[-1]) else "link-file")
        if not exists:
            where, line = self.written_at(page, link, target.rsplit("/", 1)[-1])
            self.add(page.site, where, line, rule, ERROR,
                     f"`{link.url}` does not exist in the build",
                     "fix the link in the page's source or template")
            return
        if link.fragment and target.endswith(".html"):
            other = self.parsed.get(target)
            if other is not None and link.fragment not in other.ids:
                where, line = self.written_at(page, link, f"#{link.fragment}")
                self.add(page.site, where, line, "link-home" if home else "link-anchor", ERROR,
                         f"`{link.url}#{link.fragment}` has no element with id `{link.fragment}`",
                         "link to a heading or id the page has")

    def written_at(self, page: Built, link: Link, needle: str) -> tuple[str, int]:
        """Where a link is written: its Markdown line when the page's source holds it (the
        editor's mistake), else the built file's line (a template's)."""
        source = self.source_page(page)
        if source is not None and needle:
            lines = self.source_text(source)
            for number in range(max(0, source.body_line - 1), len(lines)):
                if needle in lines[number]:
                    return source.source, number + 1
        return self.out(page.rel), link.line

    def content(self, page: Built, source: Page) -> None:
        """Accessibility of the editor's own content: the article body, not the theme."""
        body = next((e for e in page.main.iter() if "article-body" in (e.get("class") or "")), None) \
            if page.main is not None else None
        if body is None:
            return
        text = self.source_text(source)
        for image in body.iter("img"):
            # An image in an article carries content: alt="" (decorative) does not belong there.
            if not (image.get("alt") or "").strip():
                self.add(page.site, source.source, self.line_of(text, source, image.get("src") or ""),
                         "a11y-alt", ERROR, f"image `{image.get('src')}` has no alt text",
                         "describe what it shows: ![市政府常务会议现场](photo.jpg)")
        for table in body.iter("table"):
            if not any(True for _ in table.iter("th")):
                first = " ".join(table.text_content().split())[:20]
                self.add(page.site, source.source, self.line_of(text, source, first.split(" ")[0]),
                         "a11y-table-header", ERROR, "a table has no header cells",
                         "give the table a header row (the line before |---|)")
        previous = 1  # the page's h1 is the title
        for heading in body.iter("h1", "h2", "h3", "h4", "h5", "h6"):
            level = int(heading.tag[1])
            label = " ".join(heading.text_content().split())
            if level > previous + 1:
                self.add(page.site, source.source, self.line_of(text, source, label),
                         "a11y-headings", WARNING,
                         f"heading “{label}” is h{level} after h{previous}",
                         f"use {'#' * (previous + 1)} for it: levels may not be skipped")
            previous = level
        for anchor in body.iter("a"):
            label = " ".join(anchor.text_content().split()).strip("。，、：:>» ").lower()
            if label in VAGUE_LINKS and not (anchor.get("aria-label") or anchor.get("title")):
                self.add(page.site, source.source, self.line_of(text, source, f"[{label}"),
                         "a11y-link-text", WARNING, f"link text “{label}” says nothing on its own",
                         "name the target: 《关于…的通知》全文, not 点击这里")
        own = " ".join(body.text_content().split())
        linked = "".join(" ".join(a.text_content().split()) for a in body.iter("a"))
        pdfs = [a for a in body.iter("a") if (a.get("href") or "").lower().split("?")[0].endswith(".pdf")]
        if pdfs and len(own) - len(linked) < PDF_ONLY_TEXT:
            self.add(page.site, source.source, self.line_of(text, source, pdfs[0].get("href") or ""),
                     "a11y-pdf-only", WARNING,
                     "the page is only a link to a PDF",
                     "publish the document's text as the page body too; keep the PDF as an attachment")

    def source_text(self, source: Page) -> list[str]:
        try:
            return (self.cluster.config.root / source.source).read_text(encoding="utf-8").splitlines()
        except OSError:
            return []

    @staticmethod
    def line_of(lines: list[str], source: Page, needle: str) -> int:
        """The first body line holding `needle` (an image's file name, a heading, a cell)."""
        needle = needle.rsplit("/", 1)[-1] if needle.startswith(("http", "/", ".")) else needle
        if needle:
            for number in range(max(0, source.body_line - 1), len(lines)):
                if needle in lines[number]:
                    return number + 1
        return source.body_line

    def consultation(self, site_id: str, home: Built) -> None:
        site = self.cluster.sites[site_id]
        serves = any(p.site == site_id and p.service and self.cluster.published(p.key)
                     for p in self.cluster.pages.values())
        if site.config.type != "portal" and not serves:
            return
        for link in home.links:
            if link.tag == "a" and CONSULTATION.search(link.text):
                netloc = urlsplit(link.url).netloc
                if netloc not in self.hosts or output_path(link.url) in self.files:
                    return
        self.add(site_id, "sites.yaml", site.config.line, "interaction-channel", ERROR,
                 f"the home page of `{site_id}` has no working link to a consultation channel "
                 "(政务咨询)", "set `identity.consultation` to the address of the cluster's "
                 "consultation platform, or link to it from the home page")

    def external(self, outside: dict[str, list[tuple[Built, Link]]]) -> None:
        cache_path = self.cluster.config.root / ".govsite-cache" / "external-links.json"
        import json
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
        last: dict[str, float] = {}
        day = self.as_of.strftime("%Y-%m-%d")
        for url in sorted(outside):
            if urlsplit(url).scheme not in ("http", "https"):
                continue
            status = cache.get(url, {}).get(day)
            if status is None:
                host = urlsplit(url).netloc
                wait = EXTERNAL_PAUSE - (time.monotonic() - last.get(host, 0.0))
                if wait > 0:
                    time.sleep(wait)
                last[host] = time.monotonic()
                status = _status(url)
                cache[url] = {day: status}
            if status == "ok":
                continue
            page, link = outside[url][0]
            self.add(page.site, self.out(page.rel), link.line, "link-external", WARNING,
                     f"`{url}` does not answer ({status})"
                     + (f"; {len(outside[url]) - 1} more pages link to it" if len(outside[url]) > 1 else ""),
                     "update or remove the link")
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, ensure_ascii=False, sort_keys=True, indent=0),
                              encoding="utf-8")


def _status(url: str) -> str:
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "govsite-check"})
    try:
        with urllib.request.urlopen(request, timeout=EXTERNAL_TIMEOUT) as response:  # noqa: S310
            return "ok" if response.status < 400 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        if error.code in (403, 405):  # some servers refuse HEAD; a GET tells
            try:
                with urllib.request.urlopen(url, timeout=EXTERNAL_TIMEOUT) as response:  # noqa: S310
                    return "ok" if response.status < 400 else f"HTTP {response.status}"
            except Exception as second:  # noqa: BLE001 - any failure is "does not answer"
                return type(second).__name__
        return f"HTTP {error.code}"
    except Exception as error:  # noqa: BLE001
        return type(error).__name__
