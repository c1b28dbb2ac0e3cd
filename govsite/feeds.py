"""Atom feeds per site and per column, from the same items the lists show.

Feeds carry no build time: a feed's `updated` is its newest entry's, so an unchanged cluster
gives an unchanged feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from xml.etree import ElementTree as ET

from govsite.model import Column, Page, Site
from govsite.render import Item, Output, Renderer
from govsite.urls import output_path

ATOM = "http://www.w3.org/2005/Atom"
FEED_ITEMS = 20


def site_feeds(renderer: Renderer, site: Site) -> list[Output]:
    """The feed of each column with dated items, and the site's own. Made through the renderer,
    so a feed none of whose items changed is reused."""
    cluster = renderer.cluster
    config = site.config
    columns = [c for c in site.columns.values() if not c.link]

    def dated(column: Column, own: str = "") -> list[str]:
        """The column's newest dated items (of the site `own` only, when given), as many as
        a feed shows. A column lists its dated items first (assemble), so no page after them
        is read: a portal's column lists the whole cluster's."""
        found: list[str] = []
        for k in cluster.column_items.get(f"{column.site}/{column.id}", ()):
            if len(found) == FEED_ITEMS:
                break
            if not k.startswith(own):
                continue
            if not cluster.pages[k].date:
                break
            found.append(k)
        return found

    outputs = []
    for column in columns:
        renderer.begin()
        keys = dated(column)
        if keys:
            home = cluster.urls[f"{column.site}/{column.id}/"]
            url = home + "feed.xml"
            feed = partial(_feed, renderer, keys, url, f"{column.title} - {config.name}", home,
                           config.language)
            outputs.append(Output(output_path(url), renderer.made(site, url, feed), config.id,
                                  column.source))
    renderer.begin()   # the site's feed reads every column again, so that it is noted as its own
    site_keys = {k for column in columns for k in dated(column, config.id + "/")}
    newest = sorted(site_keys, key=lambda k: (-cluster.pages[k].date.timestamp(), k))  # type: ignore[union-attr]
    if newest:
        url = config.url + "feed.xml"
        feed = partial(_feed, renderer, newest, url, config.name, config.url, config.language)
        outputs.append(Output(output_path(url), renderer.made(site, url, feed), config.id,
                              f"content/{config.id}"))
    return outputs


def _feed(renderer: Renderer, keys: list[str], url: str, title: str, home: str,
          language: str) -> str:
    return atom(renderer.cluster.pages, renderer.items(keys[:FEED_ITEMS]), url, title, home,
                language)


def atom(pages: Mapping[str, Page], items: list[Item], url: str, title: str, home: str,
         language: str) -> str:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": language})
    _text(feed, "id", url)
    _text(feed, "title", title)
    _text(feed, "updated", _iso(max(_updated(pages, i) for i in items)))
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": url})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": home})
    for item in items:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", item.url)
        _text(entry, "title", item.title)
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": item.url})
        _text(entry, "published", _iso(item.date))
        _text(entry, "updated", _iso(_updated(pages, item)))
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        _text(author, "name", pages[item.key].content_source or item.site_name)
        if item.summary:
            _text(entry, "summary", item.summary)
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def _updated(pages: Mapping[str, Page], item: Item) -> datetime:
    page = pages[item.key]
    assert page.date is not None
    return max(page.date, page.updated) if page.updated else page.date


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = text
