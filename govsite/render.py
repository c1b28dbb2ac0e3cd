"""The cluster → HTML files: home pages, column lists, every page, 404, site map, catalogue.

Each output is a pure function of the cluster and one key, so later stages can render pages in
parallel and cache them. Templates get small view objects and plain values, never the
mutable cluster, and every URL they print goes through `rel`, relative to the page itself.

Every output notes what it reads of the cluster (`Renderer.made`): which pages, URLs, states,
lists and bodies, each by key. A rebuild reuses the previous build's copy of an output when
none of those has changed, without working out anything the output shows.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jinja2

from govsite import themes
from govsite.cache import key as cache_key
from govsite.config import SiteConfig
from govsite.markup import Body, shorten
from govsite.model import PUBLISHED, WITHDRAWN, Cluster, Column, Page, Site
from govsite.search import index_url, is_cluster_wide
from govsite.urls import host_root, output_path, quote_path, relative

HOME_ITEMS = 6
SUBSITE_ITEMS = 8


@dataclass(frozen=True)
class Item:
    """One entry in a list: what a list, a feed or the home page shows of a page."""

    key: str
    title: str
    url: str
    date: datetime | None
    kind: str
    summary: str
    site_id: str
    site_name: str
    column_title: str
    validity: str


class Reused(str):
    """A page whose rendering inputs equal those of the previous build's copy: the build links
    that file instead of rendering it again (see Renderer.render)."""

    sha256: str = ""
    links: tuple[str, ...] = ()   # the files it links to on the cluster's hosts


@dataclass(frozen=True)
class Output:
    rel: str            # path under build/
    data: str | bytes
    site: str
    origin: str         # project-relative source, for collision errors


class _Reads:
    """What the output being made has read so far. A read of one key of a page's maps (its
    page, URL, state, body, interpretations …) is noted as the key alone: a page is shown
    whole or not at all, so one token stands for all of it (Renderer._find_token). A read of
    any other map is "<map>\0<key>", and of a whole map "<map>\0*"."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now: set[str] = set()


# The maps read by a page's key, noted together as that key.
KEYED = ("pages", "urls", "states", "bodies", "interpretations", "interprets", "repealed_by",
         "previewed")


class _Tracked(Mapping):
    """One of the cluster's maps, noting every key an output reads of it."""

    __slots__ = ("name", "data", "reads", "prefix")

    def __init__(self, name: str, data: Mapping, reads: _Reads):
        self.name, self.data, self.reads = name, data, reads
        self.prefix = "" if name in KEYED else f"{name}\0"

    def __getitem__(self, key: str) -> Any:
        self.reads.now.add(self.prefix + key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.now.add(self.prefix + key)
        return self.data.get(key, default)

    def __contains__(self, key: object) -> bool:
        self.reads.now.add(self.prefix + str(key))
        return key in self.data

    def _all(self) -> None:
        self.reads.now.add(f"{self.name}\0*")

    def __iter__(self) -> Iterator:
        self._all()
        return iter(self.data)

    def __len__(self) -> int:
        self._all()
        return len(self.data)

    def keys(self) -> Any:
        self._all()
        return self.data.keys()

    def values(self) -> Any:
        self._all()
        return self.data.values()

    def items(self) -> Any:
        self._all()
        return self.data.items()


class _TrackedResolver:
    def __init__(self, resolver: Any, reads: _Reads):
        self.resolver, self.reads = resolver, reads

    def lookup(self, raw: str, source: str) -> tuple[Any, str]:
        self.reads.now.add(f"resolve\0{raw}\0{source}")
        return self.resolver.lookup(raw, source)


class ClusterView:
    """The cluster as the outputs see it: the same maps, each read noted. Only what the
    outputs use is here, so a new use has to be added, and is then tracked too."""

    def __init__(self, cluster: Cluster, reads: _Reads):
        self._cluster, self._reads = cluster, reads
        self._facets: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.config = cluster.config   # in every output's base (Renderer.base)
        self.pages: Mapping[str, Page] = _Tracked("pages", cluster.pages, reads)
        self.urls: Mapping[str, str] = _Tracked("urls", cluster.urls, reads)
        self.states: Mapping[str, str] = _Tracked("states", cluster.states, reads)
        self.column_items: Mapping[str, tuple[str, ...]] = _Tracked(
            "column_items", cluster.column_items, reads)
        self.interpretations: Mapping[str, tuple[str, ...]] = _Tracked(
            "interpretations", cluster.interpretations, reads)
        self.interprets: Mapping[str, str] = _Tracked("interprets", cluster.interprets, reads)
        self.repealed_by: Mapping[str, str] = _Tracked("repealed_by", cluster.repealed_by, reads)
        self.policies: Mapping[str, tuple[str, ...]] = _Tracked("policies", cluster.policies, reads)
        self.sites: Mapping[str, Site] = _Tracked("sites", cluster.sites, reads)
        self.pages_by_site: Mapping[str, tuple[Page, ...]] = _Tracked(
            "pages_by_site", cluster.pages_by_site, reads)
        # Its keys, noted as a read of it (and known without reading the pages).
        self.keys_by_site: Mapping[str, tuple[str, ...]] = _Tracked(
            "pages_by_site", cluster.keys_by_site, reads)
        self.previewed: Mapping[str, bool] = _Tracked(
            "previewed", dict.fromkeys(cluster.previewed, True), reads)
        self.resolver = _TrackedResolver(cluster.resolver, reads)

    def published(self, key: str) -> bool:
        return self.states.get(key) == PUBLISHED

    def search_facets(self, site_id: str, note: bool = True) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """search_facets(), noted as one read whose token is its value: a site's search page
        then waits on what its filters offer, not on every page they were found in."""
        if note:
            self._reads.now.add(f"facets\0{site_id}")
        if site_id not in self._facets:
            self._facets[site_id] = search_facets(self._cluster, site_id)
        return self._facets[site_id]


def search_facets(cluster: Cluster, site_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The kinds and the years (newest first) of the published pages a site's search page
    searches, which it offers as filters: the whole cluster's on the portal."""
    site, sites = cluster.sites[site_id], cluster.sites
    kinds, years = set(), set()
    # A page at a time: the portal's are the cluster's, held packed (snapshot.Chunked).
    for page in cluster.pages.values() if is_cluster_wide(site) else cluster.pages_by_site[site_id]:
        if cluster.states.get(page.key) == PUBLISHED and page.key not in cluster.previewed:
            kinds.add(page.kind)
            if page.date:
                years.add(fmt_date(page.date, sites[page.site].config)[:4])
    return tuple(sorted(kinds)), tuple(sorted(years, reverse=True))


def fmt_time(moment: datetime | None, site: SiteConfig) -> str:
    """Publication times as the national rules show them: YYYY-MM-DD HH:MM, in the site's zone."""
    # isoformat() writes the same as strftime() in a fifth of the time (a list shows hundreds).
    return moment.astimezone(site.timezone).isoformat(" ", "minutes")[:16] if moment else ""


def fmt_date(moment: datetime | None, site: SiteConfig) -> str:
    return moment.astimezone(site.timezone).date().isoformat() if moment else ""


class Renderer:
    def __init__(self, cluster: Cluster, bodies: Mapping[str, Body], compiled: Path | None = None):
        """`compiled`: a folder kept between builds for compiled templates (themes.environment)."""
        self._reads = _Reads()
        self._compiled = compiled
        self._cluster = cluster
        self._bodies = bodies
        self.cluster = ClusterView(cluster, self._reads)
        self.bodies: Mapping[str, Body] = _Tracked("bodies", bodies, self._reads)
        self.root = cluster.config.root
        self._site_values: dict[str, dict[str, Any]] = {}
        self._themes: dict[str, tuple[jinja2.Environment, themes.UiStrings]] = {}
        self.fragments: dict[tuple, str] = {}   # themes.CachedFragments' store
        self.template_seconds: dict[str, float] = {}   # for --profile
        # The previous build's outputs that may be linked instead of made, by output path
        # ({"base", "reads", "sha256", "links"}), and what this build's outputs read (made()),
        # for build._render to remember; see compare().
        self.reuse: dict[str, dict[str, Any]] = {}
        self.keep_reads = False
        self.reads: dict[str, dict[str, Any]] = {}
        self._changed: set[str] = set()
        self._previous_tokens: Mapping[str, str] = {}
        self._differing: set[str] | None = None   # the reads that may differ (compare())
        self._bases: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._theme_digests: dict[tuple[str, str], str] = {}

    # -- views ---------------------------------------------------------------------------
    def item(self, key: str) -> Item:
        page = self.cluster.pages[key]
        site = self.cluster.sites[page.site]
        body = self.bodies.get(key)
        summary = page.summary or (shorten(body.lead) if body else "")
        return Item(key, page.title, self.cluster.urls[key], page.date, page.kind, summary,
                    page.site, site.config.name, site.columns[page.column].title,
                    page.policy.validity if page.policy else "")

    def items(self, keys: tuple[str, ...] | list[str]) -> list[Item]:
        return [self.item(k) for k in keys]

    def nav(self, site: Site) -> list[dict[str, str]]:
        return [{"id": c, "title": site.columns[c].title,
                 "url": self.cluster.urls[f"{site.config.id}/{c}/"]}
                for c in site.config.columns if c in site.columns]

    def editions(self, site: Site) -> list[dict[str, str]]:
        """The other language editions of this site's family, for the language link and hreflang."""
        config = site.config
        home = config if config.type != "edition" else self.cluster.config.site(config.parent or "")
        family = [home] + [s for s in self.cluster.config.sites
                           if s.type == "edition" and s.parent == home.id]
        return [{"language": s.language, "name": s.name, "url": s.url} for s in family
                if s.id != config.id]

    # -- rendering -----------------------------------------------------------------------
    def begin(self) -> None:
        """Start noting reads for the next outputs: what is read from here on, up to and during
        each made(), is what that output is remembered as depending on."""
        self._reads.now = set()

    def compare(self, tokens: Mapping[str, str], edited: frozenset[str] | None = None) -> None:
        """Given the token of everything the previous build's outputs read, as it was then,
        find what reads differently now: an output none of whose reads is among those is
        reused (made()), at the cost of a set operation. Without the tokens nothing is.
        `edited`: when the model is the previous build's but for these pages, each changed in
        nothing assemble() joins on (govsite.snapshot): then only reads of them, of their
        sites' page lists and of whole maps can differ, and every other read keeps its token
        without working it out (200,000 of them at 100,000 pages: 2 s)."""
        if not tokens:
            self.reuse = {}
        self._previous_tokens = tokens
        if edited is None:
            self._differing = None
            self._changed = {read for read, token in tokens.items() if self.token(read) != token}
            return
        # Picked out by C-level operations, not a call per read: there are 200,000.
        sites = {key.split("/", 1)[0] for key in edited}
        self._differing = {read for read in tokens if read.endswith("\0*")} | (
            (edited | {f"pages_by_site\0{site}" for site in sites}) & tokens.keys())
        unchanged = dict(tokens)
        for read in self._differing:
            del unchanged[read]
        self._tokens.update(unchanged)
        self._changed = {read for read in self._differing if self.token(read) != tokens[read]}

    def tokens(self, reads: set[str]) -> dict[str, str]:
        """The token of each of these reads, in order, for the next build's compare(): when they
        are what the previous build's outputs read and compare() was told what was edited, its
        tokens with those that may differ worked out again."""
        previous = self._previous_tokens
        if self._differing is not None and reads == previous.keys():
            # Worked out again in the previous tokens' own dictionary, which is let go of here:
            # a copy of it (200,000 tokens at 100,000 pages) was at the top of an edit's peak.
            fresh = previous if isinstance(previous, dict) else dict(previous)
            self._previous_tokens = {}
            fresh.update((read, self.token(read)) for read in self._differing)
            return fresh
        return {read: self.token(read) for read in sorted(reads)}

    def made(self, site: Site, url: str, make: Callable[[], str]) -> str:
        """The output at `url`, made by make(); or, when the previous build's copy read nothing
        that has changed since (and the site's settings and theme are the same), a Reused that
        stands for that copy, and make() is never called. Reads since begin() count for each
        output made after them: they are what decided that the output exists at all."""
        target = output_path(url)
        shared = self._reads.now
        base = self.base(site) if self.reuse or self.keep_reads else ""
        previous = self._reusable(site, target)
        if previous is not None:
            reused = Reused()
            reused.sha256, reused.links = previous["sha256"], tuple(previous["links"])
            return reused
        self._reads.now = set(shared)
        try:
            text = make()
            if base:
                self.reads[target] = {"base": base, "reads": sorted(self._reads.now)}
        finally:
            self._reads.now = shared
        return text

    def _reusable(self, site: Site, target: str) -> dict[str, Any] | None:
        """The previous build's copy of an output, if none of what it read has changed."""
        previous = self.reuse.get(target)
        if previous is None or not self.stands(site, previous.get("base", ""), previous["reads"]):
            return None
        return previous

    def stands(self, site: Site, base: str, reads: Iterable[str]) -> bool:
        """Whether outputs of the site remembered with this base and these reads (all of them,
        as one set) read nothing that has changed since: the test made() applies, at once."""
        return bool(base) and base == self.base(site) and self._changed.isdisjoint(reads)

    def kept_pages(self, site_id: str) -> tuple[list[str], list[tuple[str, str, dict[str, Any]]]]:
        """The site's pages to make again, by key, and those whose previous copy stands, as
        (key, output path, what the cache remembers of it): the test made() applies."""
        cluster = self._cluster
        site = cluster.sites[site_id]
        make: list[str] = []
        kept: list[tuple[str, str, dict[str, Any]]] = []
        for key in cluster.keys_by_site.get(site_id, ()):   # (pages read only to be made)
            target = output_path(cluster.urls[key])
            previous = self._reusable(site, target)
            if previous is None:
                make.append(key)
            else:
                kept.append((key, target, previous))
        return make, kept

    def base(self, site: Site) -> str:
        """What every output of a site depends on without reading it from the cluster: the
        site's settings, columns and shared values, the theme's files, the cluster's settings.
        Empty when any of it cannot be written out, and then nothing of the site is reused."""
        key = site.config.id
        if key not in self._bases:
            shared = repr({k: v for k, v in self.site_values(site).items() if not callable(v)})
            structure = self._site_token(key)
            settings = repr(self._cluster.config)
            theme = self._theme_digest(site)
            self._bases[key] = "" if " object at 0x" in shared + settings or not structure else \
                cache_key("output", theme, shared, settings, structure)
        return self._bases[key]

    def _theme_digest(self, site: Site) -> str:
        """themes.digest(), worked out once for all the sites without templates of their own."""
        config = site.config
        own = themes.site_override(self.root, config.id).is_dir()
        key = (config.theme, config.id if own else "")
        if key not in self._theme_digests:
            self._theme_digests[key] = themes.digest(self.root, config.theme, config.id)
        return self._theme_digests[key]

    def token(self, read: str) -> str:
        """What one read (as _Reads notes it) finds, in short: equal tokens, equal values."""
        found = self._tokens.get(read)
        if found is None:
            found = self._tokens[read] = self._find_token(read)
        return found

    def _find_token(self, read: str) -> str:
        cluster = self._cluster
        if "\0" not in read:   # everything of one page's key
            page, body = cluster.pages.get(read), self._bodies.get(read)
            return _digest("\1".join((
                f"{page.source}\0{page.digest}" if page else "", cluster.urls.get(read, ""),
                cluster.states.get(read, ""), body.digest if body else "",
                "\0".join(cluster.interpretations.get(read, ())),
                cluster.interprets.get(read, ""), cluster.repealed_by.get(read, ""),
                "1" if read in cluster.previewed else "")))
        name, key = read.split("\0", 1)
        if key == "*":
            if name in KEYED:
                everything: Iterable[str] = self._bodies if name == "bodies" else (
                    cluster.previewed if name == "previewed" else getattr(cluster, name))
                return _digest("\0".join(f"{k}\1{self.token(k)}" for k in everything))
            return _digest("\0".join(f"{k}\1{self.token(f'{name}{chr(0)}{k}')}"
                                       for k in getattr(cluster, name)))
        if name in ("column_items", "policies"):
            return _digest("\0".join(getattr(cluster, name).get(key, ())))
        if name == "facets":
            return _digest(repr(self.cluster.search_facets(key, note=False))
                           if key in cluster.sites else "")
        if name == "sites":
            return self._site_token(key)
        if name == "pages_by_site":
            return _digest("\0".join(f"{p.source}\1{p.digest}"
                                       for p in cluster.pages_by_site.get(key, ())))
        if name == "resolve":
            raw, source = key.split("\0", 1)
            target, why = cluster.resolver.lookup(raw, source)
            return target.url if target else f"\0{why}"
        raise KeyError(name)

    def _site_token(self, site_id: str) -> str:
        site = self._cluster.sites.get(site_id)
        if site is None:
            return ""
        text = repr((site.config, site.columns, site.intro))
        return "" if " object at 0x" in text else _digest(text)

    def render(self, site: Site, template: str, url: str, page_type: str, title: str,
               meta: list[tuple[str, str]], **values: Any) -> str:
        config = site.config
        env, strings = self.theme(site)
        assets = f"{host_root(config.url)}_assets/{config.theme}/"

        def rel(target: str) -> str:
            if page_type == "404":
                # A 404 page is served at any depth, so its links cannot be relative.
                return urlsplit(target).path if host_root(target) == host_root(url) else target
            return relative(url, target)

        def t(key: str, **kwargs: Any) -> str:
            return strings[key].format(**kwargs) if kwargs else strings[key]

        if not any(name == "Description" for name, _ in meta):
            meta = meta + [("Description", f"{title} - {config.name}" if title else config.name)]
        context = {
            **self.site_values(site),
            "page_url": url, "page_type": page_type, "title": title, "meta": meta,
            "rel": rel, "t": t, "ui": strings,
            "asset": lambda name: rel(assets + quote_path(name)),
            "preview": False, "fragments": self.fragments,
            # What a relative link depends on: the page's folder (a 404 page's are absolute).
            "page_folder": "" if page_type == "404" else url.rsplit("/", 1)[0],
        }
        context.update(values)
        started = time.perf_counter()
        html = env.get_template(template).render(context)
        self.template_seconds[template] = (self.template_seconds.get(template, 0.0)
                                           + time.perf_counter() - started)
        return html

    def theme(self, site: Site) -> tuple[jinja2.Environment, themes.UiStrings]:
        """The site's template environment and UI strings, looked up once per site: finding
        them checks the file system for overrides, which has no place in a per-page loop."""
        key = site.config.id
        if key not in self._themes:
            config = site.config
            self._themes[key] = (themes.environment(self.root, config.theme, config.id,
                                                    self._compiled),
                                 themes.UiStrings(themes.strings(self.root, config.theme,
                                                                 config.language), config.language))
        return self._themes[key]

    def site_values(self, site: Site) -> dict[str, Any]:
        """What every page of a site shares, worked out once per site rather than per page."""
        key = site.config.id
        if key not in self._site_values:
            config = site.config
            urls = self.site_asset_urls(site)
            self._site_values[key] = {
                "site": config, "identity": config.identity, "tokens": config.tokens,
                "site_css": urls["css"], "favicon_url": urls["favicon"],
                "logo_url": urls.get("logo", ""), "banner_url": urls.get("banner", ""),
                "search_url": config.url + "search.html", "nav": self.nav(site),
                "editions": self.editions(site), "home_url": config.url,
                "organisation": self.cluster.config.organisation,
                "time": lambda m: fmt_time(m, config), "day": lambda m: fmt_date(m, config),
                "sitemap_url": config.url + "sitemap.html",
                # feeds.site_feeds writes the site's feed only when it has dated items of its own.
                "feed_url": config.url + "feed.xml" if self._has_own_dated_items(site) else "",
                "contact_url": self._contact_url(site),
            }
        return self._site_values[key]

    def site_asset_urls(self, site: Site) -> dict[str, str]:
        """The site's own assets: its colour tokens, and its logo and banner if configured."""
        config = site.config
        base = f"{host_root(config.url)}_assets/sites/{config.id}"
        urls = {"css": f"{base}.css", "favicon": f"{base}/favicon.svg"}
        for key in ("logo", "banner"):
            if key in config.tokens:
                urls[key] = f"{base}/{key}{PurePosixPath(config.tokens[key]).suffix.lower()}"
        return urls

    def site_assets(self, site: Site) -> Iterator[Output]:
        config = site.config
        urls = self.site_asset_urls(site)
        env, _ = self.theme(site)
        for key, template in (("css", "site.css"), ("favicon", "favicon.svg")):
            text = env.get_template(template).render(site=config, tokens=config.tokens)
            yield Output(output_path(urls[key]), text, config.id, "sites.yaml")
        for key in ("logo", "banner"):
            if key in urls:
                yield Output(output_path(urls[key]), (self.root / config.tokens[key]).read_bytes(),
                             config.id, config.tokens[key])

    def _has_own_dated_items(self, site: Site) -> bool:
        # A column lists its dated items first (assemble): its first of the site's own tells.
        # (By key: another site's page is not read.)
        own = site.config.id + "/"
        firsts = (next((key for key in self.cluster.column_items.get(f"{own}{column.id}", ())
                        if key.startswith(own)), None)
                  for column in site.columns.values() if not column.link)
        return any(key and self.cluster.pages[key].date for key in firsts)

    def _contact_url(self, site: Site) -> str:
        for column in site.columns.values():
            key = f"{site.config.id}/{column.id}/contact"
            if key in self.cluster.pages:
                return self.cluster.urls[key]
        return ""

    def site_meta(self, site: Site) -> list[tuple[str, str]]:
        config = site.config
        return [("SiteName", config.name), ("SiteDomain", config.host),
                ("SiteIDCode", config.identity.site_code)]

    def column_meta(self, column: Column) -> list[tuple[str, str]]:
        return [("ColumnName", column.title),
                ("ColumnDescription", column.description or column.title),
                ("ColumnKeywords", ",".join(column.keywords) or column.title),
                ("ColumnType", column.column_type)]

    def outputs(self, site_id: str) -> Iterator[Output]:
        yield from self.site_outputs(site_id)
        yield from self.page_outputs(site_id, self.page_keys(site_id))

    def page_keys(self, site_id: str) -> list[str]:
        return list(self.cluster.keys_by_site.get(site_id, ()))

    def page_outputs(self, site_id: str, keys: Iterable[str]) -> Iterator[Output]:
        site = self.cluster.sites[site_id]
        for key in keys:
            yield self.page(site, self.cluster.pages[key])

    def site_outputs(self, site_id: str) -> Iterator[Output]:
        """Everything of a site but its pages: home, column lists, 404, site map, search page,
        its own assets, the catalogue."""
        site = self.cluster.sites[site_id]
        yield self.home(site)
        for column in site.columns.values():
            if not column.link:
                yield from self.column_pages(site, column)
        yield self.not_found(site)
        yield self.site_map(site)
        yield self.search(site)
        yield from self.site_assets(site)
        catalogue = self.catalogue(site)
        if catalogue:
            yield catalogue

    def home(self, site: Site) -> Output:
        config = site.config
        self.begin()
        return Output(output_path(config.url), self.made(site, config.url, lambda: self._home(site)),
                      config.id, f"content/{config.id}")

    def _home(self, site: Site) -> str:
        config = site.config
        sections = []
        for entry in self.nav(site):
            column = site.columns[entry["id"]]
            keys = self.cluster.column_items.get(f"{config.id}/{column.id}", ())
            if column.link or not keys:
                continue
            sections.append({"column": column, "url": entry["url"],
                             "entries": self.items(keys[:HOME_ITEMS])})
        children = [s for s in self.cluster.sites.values() if s.config.parent == config.id
                    and s.config.type != "edition"]
        # A column that already collects the sub-sites' news makes a second block redundant.
        collecting = any(c.collect_children or c.collect_sites for c in site.columns.values())
        # The newest few of thousands, from the head of each column (newest first already):
        # only the pages read count, so an edit to an old county page leaves the portal's home.
        child_items = [] if collecting else heapq.nsmallest(SUBSITE_ITEMS, {
            k for child in children for c in child.columns.values() if c.type == "news"
            for k in self._newest(f"{child.config.id}/{c.id}", SUBSITE_ITEMS)},
            key=lambda k: (-_stamp(self.cluster.pages[k].date), k))
        body = self.bodies.get(f"{config.id}/")
        meta = self.site_meta(site) + [("Description", site.intro.description or config.name),
                                       ("Keywords", ",".join(site.intro.keywords))]
        return self.render(
            site, "home.html", config.url, "home", config.name, _present(meta),
            sections=sections, intro=body.html if body else "",
            subsites=[{"name": s.config.name, "url": s.config.url, "type": s.config.type}
                      for s in children],
            subsite_items=self.items(child_items),
            links=[{"title": site.columns[e["id"]].title, "url": e["url"]} for e in self.nav(site)
                   if site.columns[e["id"]].link],
            description=site.intro.description)

    def column_pages(self, site: Site, column: Column) -> Iterator[Output]:
        self.begin()
        keys = self.cluster.column_items.get(f"{column.site}/{column.id}", ())
        size = column.page_size
        chunks = [keys[i:i + size] for i in range(0, len(keys), size)] or [()]
        base = self.cluster.urls[f"{column.site}/{column.id}/"]
        urls = [base] + [f"{base}index_{n}.html" for n in range(1, len(chunks))]
        for number, (chunk, url) in enumerate(zip(chunks, urls, strict=True), start=1):
            html = self.made(site, url, partial(self._column_page, site, column, keys, chunk,
                                                number, urls))
            yield Output(output_path(url), html, site.config.id, column.source)

    def _column_page(self, site: Site, column: Column, keys: tuple[str, ...],
                     chunk: tuple[str, ...], number: int, urls: list[str]) -> str:
        intro = self.bodies.get(f"{column.site}/{column.id}/") if number == 1 else None
        feed = f"{urls[0]}feed.xml" if any(self.cluster.pages[k].date for k in keys) else ""
        meta = self.site_meta(site) + self.column_meta(column) + [
            ("Description", column.description or f"{column.title} - {site.config.name}")]
        url = urls[number - 1]
        return self.render(
            site, "column.html", url, "column", column.title, meta, column=column,
            items=self.items(chunk), intro=intro.html if intro else "",
            pager={"number": number, "count": len(urls), "urls": urls,
                   "previous": urls[number - 2] if number > 1 else "",
                   "next": urls[number] if number < len(urls) else ""},
            column_feed=feed, canonical=url)

    def page(self, site: Site, page: Page) -> Output:
        self.begin()
        page = self.cluster.pages[page.key]   # read again, now that it is noted
        url = self.cluster.urls[page.key]
        return Output(output_path(url), self.made(site, url, lambda: self._page(site, page, url)),
                      site.config.id, page.source)

    def _page(self, site: Site, page: Page, url: str) -> str:
        column = site.columns[page.column]
        meta = self.site_meta(site) + self.column_meta(column)
        if self.cluster.states.get(page.key) == WITHDRAWN:
            return self.render(site, "withdrawn.html", url, "withdrawn", page.title, meta,
                               page=page, column=column, withdrawal=page.withdrawn)
        body = self.bodies[page.key]
        image_url = ""
        if page.image:
            target, _ = self.cluster.resolver.lookup(page.image.raw, page.source)
            image_url = target.url if target else ""
        meta += [("ArticleTitle", page.title), ("PubDate", fmt_time(page.date, site.config)),
                 ("ContentSource", page.content_source or site.config.identity.sponsor),
                 ("Keywords", ",".join(page.keywords)), ("Author", page.author),
                 ("Description", page.summary or shorten(body.lead)), ("Image", image_url),
                 ("Url", url)]
        template = {"news": "article.html", "notice": "article.html"}.get(page.kind,
                                                                           f"{page.kind}.html")
        related = {
            "interpretations": self.items(self.cluster.interpretations.get(page.key, ())),
            "policy": self._maybe_item(self.cluster.interprets.get(page.key)),
            "repealed_by": self._maybe_item(self.cluster.repealed_by.get(page.key)),
            "column_url": self.cluster.urls[f"{page.site}/{page.column}/"],
        }
        materials = []
        if page.service:
            for material in page.service.materials:
                link = ""
                if material.template:
                    target, _ = self.cluster.resolver.lookup(material.template.raw, page.source)
                    link = target.url if target else ""
                materials.append({"material": material, "url": link})
        return self.render(
            site, template, url, "article", page.title, _present(meta), page=page,
            column=column, body=body.html, image_url=image_url, related=related,
            materials=materials, origin=dict(page.origin), canonical=url,
            preview=page.key in self.cluster.previewed)

    def _newest(self, column: str, count: int) -> tuple[str, ...]:
        """Pages of a column among which are its `count` newest as _home orders them: its head,
        when that many pages dated after 1970 lead it (a column lists dated pages newest first,
        in _home's order, then the rest), else the whole column."""
        keys = self.cluster.column_items.get(column, ())
        head = keys[:count]
        if len(head) == count and all(_stamp(self.cluster.pages[k].date) > 0 for k in head):
            return head
        return keys

    def _maybe_item(self, key: str | None) -> Item | None:
        return self.item(key) if key and key in self.cluster.pages else None

    def not_found(self, site: Site) -> Output:
        self.begin()
        url = site.config.url + "404.html"
        html = self.made(site, url, lambda: self.render(site, "404.html", url, "404", "404",
                                                        self.site_meta(site)))
        return Output(output_path(url), html, site.config.id, f"content/{site.config.id}")

    def search(self, site: Site) -> Output:
        self.begin()
        url = self.site_values(site)["search_url"]
        return Output(output_path(url), self.made(site, url, lambda: self._search(site, url)),
                      site.config.id, f"content/{site.config.id}")

    def _search(self, site: Site, url: str) -> str:
        wide = is_cluster_wide(site)
        cluster = self.cluster
        kinds, years = cluster.search_facets(site.config.id)
        portal = next((s for s in cluster.sites.values() if is_cluster_wide(s)), None)
        return self.render(
            site, "search.html", url, "search", "", self.site_meta(site),
            search_index=index_url(site),
            search_sites=[s.config for s in cluster.sites.values()] if wide else [],
            search_kinds=list(kinds), search_years=list(years),
            cluster_search_url=portal.config.url + "search.html" if portal and not wide else "")

    def site_map(self, site: Site) -> Output:
        self.begin()
        url = self.site_values(site)["sitemap_url"]
        return Output(output_path(url), self.made(site, url, lambda: self._site_map(site, url)),
                      site.config.id, f"content/{site.config.id}")

    def _site_map(self, site: Site, url: str) -> str:
        own = site.config.id + "/"   # (by key first: another site's page is not read)
        columns = [{"column": c, "url": self.cluster.urls[f"{c.site}/{c.id}/"],
                    "in_nav": c.id in site.config.columns,
                    "pages": self.items([k for k in self.cluster.column_items.get(f"{c.site}/{c.id}", ())
                                         if k.startswith(own) and self.cluster.pages[k].date is None])}
                   for c in _nav_order(site)]
        return self.render(site, "sitemap.html", url, "sitemap", "", self.site_meta(site),
                           columns=columns, catalogue_url=self._catalogue_url(site))

    def _policies(self, site: Site) -> list[Page]:
        return [self.cluster.pages[key] for key in self.cluster.policies.get(site.config.id, ())]

    def _catalogue_url(self, site: Site) -> str:
        return site.config.url + "xxgkml.html" if self.cluster.policies.get(site.config.id) else ""

    def catalogue(self, site: Site) -> Output | None:
        """信息公开目录: every policy document of the site with its disclosure metadata."""
        self.begin()
        url = self._catalogue_url(site)
        if not url:
            return None

        def make() -> str:   # (the policies read only when it is made)
            rows = [{"page": p, "url": self.cluster.urls[p.key],
                     "summary": p.summary or shorten(self.bodies[p.key].lead)}
                    for p in self._policies(site)]
            return self.render(site, "catalogue.html", url, "catalogue", "", self.site_meta(site),
                               rows=rows)

        return Output(output_path(url), self.made(site, url, make), site.config.id,
                      f"content/{site.config.id}")


def _nav_order(site: Site) -> list[Column]:
    listed = [site.columns[c] for c in site.config.columns if c in site.columns]
    rest = [c for cid, c in sorted(site.columns.items()) if cid not in site.config.columns]
    return listed + rest


def _present(meta: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Optional tags are left out when empty; the required ones always stay."""
    optional = {"Keywords", "Author", "Description", "Image", "PubDate"}
    return [(k, v) for k, v in meta if v or k not in optional]




def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0

