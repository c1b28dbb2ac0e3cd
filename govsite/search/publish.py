"""The search stage of a build: an index per site, and the portal's over the whole cluster.

    <site url>_search/…     one index (index.py); a portal's holds every site's pages, so the
                            portal searches the cluster and filters by site, while a county or
                            department searches itself and links to the portal to widen
    <host>/_t2s/<n>.json    the traditional→simplified table, once per host
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import astuple
from urllib.parse import urlsplit

from govsite import output
from govsite.cache import key as cache_key
from govsite.markup import Body
from govsite.model import Cluster, Site
from govsite.parallel import ordered_map
from govsite.render import Output
from govsite.search import index_url, is_cluster_wide
from govsite.search.index import build_index, documents, score, t2s_files
from govsite.search.settings import SearchSettings
from govsite.urls import host_root, output_path

T2S_FOLDER = "_t2s/"


def inputs_key(cluster: Cluster, bodies: Mapping[str, Body], settings: SearchSettings,
               selected: tuple[str, ...]) -> str:
    """Everything the search files are made from: every published document as indexed, the
    settings, the sites and their hosts, and which sites are built (govsite's version, which
    fixes the format and the budgets, is in every cache key)."""
    sites = [(s.config.id, s.config.url, s.config.type, s.config.name) for s in cluster.sites.values()]
    return cache_key("search", [astuple(doc) for doc in documents(cluster, bodies)], repr(settings),
                     sites, selected)


def search_outputs(cluster: Cluster, bodies: Mapping[str, Body], settings: SearchSettings,
                   selected: tuple[str, ...], jobs: int = 1) -> Iterator[Output]:
    docs = documents(cluster, bodies)
    scores = score(docs, jobs)
    hot = dict(settings.hot_words)
    # A portal's index covers other sites' pages, so it is rebuilt whatever `--site` says.
    sites = [site for site in cluster.sites.values()
             if is_cluster_wide(site) or site.config.id in selected]

    def site_index(n: int) -> dict[str, str]:
        site = sites[n]
        if is_cluster_wide(site):
            return build_index(docs, settings.synonyms, hot.get(site.config.id, ()),
                               settings.ranking, scores, t2s_path=_t2s_path(site))
        keep = [i for i, doc in enumerate(docs) if doc.site == site.config.id]
        return build_index([docs[i] for i in keep], settings.synonyms, hot.get(site.config.id, ()),
                           settings.ranking, scores.only(keep), t2s_path=_t2s_path(site),
                           share=len(keep) / max(1, len(docs)))

    for site, files in zip(sites, ordered_map(site_index, len(sites), jobs), strict=True):
        owner = output.CLUSTER if is_cluster_wide(site) else site.config.id
        for name, text in files.items():
            yield Output(output_path(index_url(site) + name), text, owner, "search.yaml")
    for root in sorted({host_root(s.url) for s in cluster.config.sites}):
        for name, text in t2s_files().items():
            yield Output(output_path(root + T2S_FOLDER + name), text, output.CLUSTER, "search.yaml")


def _t2s_path(site: Site) -> str:
    return posixpath.relpath("/" + T2S_FOLDER, urlsplit(index_url(site)).path) + "/"
