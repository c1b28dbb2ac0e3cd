"""The search stage of a build: an index per site, and the portal's over the whole cluster.

    <site url>_search/…     one index (index.py); a portal's holds every site's pages, so the
                            portal searches the cluster and filters by site, while a county or
                            department searches itself and links to the portal to widen
    <host>/_t2s/<n>.json    the traditional→simplified table, once per host
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from govsite import output
from govsite.markup import Body
from govsite.model import Cluster
from govsite.render import Output
from govsite.search import index_url, is_cluster_wide
from govsite.search.index import build_index, documents, index_terms, score, t2s_files
from govsite.search.settings import SearchSettings
from govsite.urls import host_root, output_path

T2S_FOLDER = "_t2s/"


def search_outputs(cluster: Cluster, bodies: Mapping[str, Body], settings: SearchSettings,
                   selected: tuple[str, ...]) -> Iterator[Output]:
    docs = documents(cluster, bodies)
    scores = score([index_terms(doc) for doc in docs])
    hot = dict(settings.hot_words)
    for site in cluster.sites.values():
        wide = is_cluster_wide(site)
        if not wide and site.config.id not in selected:
            continue
        # A portal's index covers other sites' pages, so it is rebuilt whatever `--site` says.
        owner = output.CLUSTER if wide else site.config.id
        keep = list(range(len(docs))) if wide else [
            n for n, doc in enumerate(docs) if doc.site == site.config.id]
        folder = urlsplit(index_url(site)).path
        files = build_index([docs[n] for n in keep], settings.synonyms,
                            hot.get(site.config.id, ()), settings.ranking,
                            scores if wide else scores.only(keep),
                            t2s_path=posixpath.relpath("/" + T2S_FOLDER, folder) + "/",
                            share=1.0 if wide else len(keep) / max(1, len(docs)))
        for name, text in files.items():
            yield Output(output_path(index_url(site) + name), text, owner, "search.yaml")
    for root in sorted({host_root(s.url) for s in cluster.config.sites}):
        for name, text in t2s_files().items():
            yield Output(output_path(root + T2S_FOLDER + name), text, output.CLUSTER, "search.yaml")
