"""Atom feeds per site and per column, from the same items the lists show.

Feeds carry no build time: a feed's `updated` is its newest entry's, so an unchanged cluster
gives an unchanged feed.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET

from govsite.model import Cluster, Site
from govsite.render import Item, Output, Renderer
from govsite.urls import output_path

ATOM = "http://www.w3.org/2005/Atom"
FEED_ITEMS = 20


def site_feeds(renderer: Renderer, site: Site) -> list[Output]:
    cluster = renderer.cluster
    config = site.config
    outputs = []
    site_keys: list[str] = []
    for column in site.columns.values():
        if column.link:
            continue
        keys = [k for k in cluster.column_items.get(f"{column.site}/{column.id}", ())
                if cluster.pages[k].date]
        site_keys += [k for k in keys if cluster.pages[k].site == config.id]
        if keys:
            url = cluster.urls[f"{column.site}/{column.id}/"] + "feed.xml"
            outputs.append(Output(output_path(url), atom(
                cluster, renderer.items(keys[:FEED_ITEMS]), url,
                f"{column.title} - {config.name}", cluster.urls[f"{column.site}/{column.id}/"],
                config.language), config.id, column.source))
    newest = sorted(set(site_keys), key=lambda k: (-cluster.pages[k].date.timestamp(), k))  # type: ignore[union-attr]
    if newest:
        url = config.url + "feed.xml"
        outputs.append(Output(output_path(url), atom(
            cluster, renderer.items(newest[:FEED_ITEMS]), url, config.name, config.url,
            config.language), config.id, f"content/{config.id}"))
    return outputs


def atom(cluster: Cluster, items: list[Item], url: str, title: str, home: str,
         language: str) -> str:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": language})
    _text(feed, "id", url)
    _text(feed, "title", title)
    _text(feed, "updated", _iso(max(_updated(cluster, i) for i in items)))
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": url})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": home})
    for item in items:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", item.url)
        _text(entry, "title", item.title)
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": item.url})
        _text(entry, "published", _iso(item.date))
        _text(entry, "updated", _iso(_updated(cluster, item)))
        author = ET.SubElement(entry, f"{{{ATOM}}}author")
        _text(author, "name", cluster.pages[item.key].content_source or item.site_name)
        if item.summary:
            _text(entry, "summary", item.summary)
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


def _updated(cluster: Cluster, item: Item) -> datetime:
    page = cluster.pages[item.key]
    assert page.date is not None
    return max(page.date, page.updated) if page.updated else page.date


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def _text(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}{tag}").text = text
