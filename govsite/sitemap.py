"""sitemap.xml per site (split with an index past 50,000 URLs) and robots.txt per host."""

from __future__ import annotations

from html import escape as _escape
from xml.etree import ElementTree as ET

from govsite.model import PUBLISHED, Cluster, Site
from govsite.render import ClusterView, Output, Renderer
from govsite.urls import host_root, output_path

SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_URLS = 50_000


def site_urls(cluster: Cluster | ClusterView, site: Site) -> list[tuple[str, str]]:
    """(URL, lastmod) of every published page of the site, home and lists first."""
    config = site.config
    urls: list[tuple[str, str]] = [(config.url, "")]
    urls += [(cluster.urls[f"{c.site}/{c.id}/"], "") for c in site.columns.values() if not c.link]
    pages = sorted((p for p in cluster.pages_by_site[config.id]
                    if cluster.states[p.key] == PUBLISHED), key=lambda p: cluster.urls[p.key])
    for page in pages:
        moment = page.updated or page.date
        urls.append((cluster.urls[page.key], moment.isoformat(timespec="seconds") if moment else ""))
    return urls


def sitemaps(renderer: Renderer, site: Site, limit: int = MAX_URLS) -> list[Output]:
    """The site's sitemap; past `limit` URLs, several and an index of them. Made through the
    renderer (reading the cluster as it notes reads), so that an unchanged site's is reused."""
    config = site.config
    cluster = renderer.cluster
    origin = f"content/{config.id}"
    url = config.url + "sitemap.xml"
    renderer.begin()
    if 1 + len(site.columns) + len(cluster.keys_by_site.get(config.id, ())) <= limit:
        return [Output(output_path(url), renderer.made(
            site, url, lambda: _urlset(site_urls(cluster, site))), config.id, origin)]
    urls = site_urls(cluster, site)
    if len(urls) <= limit:
        return [Output(output_path(url), _urlset(urls), config.id, origin)]
    outputs = []
    parts = []
    for number, start in enumerate(range(0, len(urls), limit), start=1):
        url = f"{config.url}sitemap-{number}.xml"
        parts.append(url)
        outputs.append(Output(output_path(url), _urlset(urls[start:start + limit]), config.id,
                              origin))
    ET.register_namespace("", SITEMAP)
    index = ET.Element(f"{{{SITEMAP}}}sitemapindex")
    for url in parts:
        ET.SubElement(ET.SubElement(index, f"{{{SITEMAP}}}sitemap"), f"{{{SITEMAP}}}loc").text = url
    outputs.append(Output(output_path(config.url + "sitemap.xml"), _xml(index), config.id, origin))
    return outputs


def _urlset(urls: list[tuple[str, str]]) -> str:
    """Written as text, not built with ElementTree: a sitemap lists every page of its site, and
    ElementTree took a tenth of a second per 10,000 of them. Same bytes (a test compares)."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', f'<urlset xmlns="{SITEMAP}">']
    for loc, lastmod in urls:
        lines += ["  <url>", f"    <loc>{escape(loc)}</loc>"]
        if lastmod:
            lines.append(f"    <lastmod>{escape(lastmod)}</lastmod>")
        lines.append("  </url>")
    return "\n".join(lines) + "\n</urlset>\n"


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def robots(cluster: Cluster) -> dict[str, str]:
    """robots.txt for each host, naming the sitemap of every site that lives on it."""
    by_host: dict[str, list[str]] = {}
    for site in cluster.config.sites:
        by_host.setdefault(host_root(site.url), []).append(site.url + "sitemap.xml")
    return {output_path(root + "robots.txt"): "User-agent: *\nAllow: /\n\n"
            + "".join(f"Sitemap: {url}\n" for url in sorted(maps))
            for root, maps in sorted(by_host.items())}


def escape(text: str) -> str:
    """&, < and > as XML text needs them (xml.sax.saxutils.escape does the same, but importing
    it imports urllib.request and http.client: 17 ms of every command's start)."""
    return _escape(text, quote=False)
