"""The search stage of a build: an index per site, and the portal's over the whole cluster.

    <site url>_search/…     one index (index.py); a portal's holds every site's pages, so the
                            portal searches the cluster and filters by site, while a county or
                            department searches itself and links to the portal to widen
    <host>/_t2s/<n>.json    the traditional→simplified table, once per host
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import astuple
from urllib.parse import urlsplit

import numpy as np

from govsite import output
from govsite.cache import key as cache_key
from govsite.model import Cluster, Site
from govsite.parallel import ordered_map
from govsite.render import Output
from govsite.search import index_url, is_cluster_wide
from govsite.search.index import Scores, SearchDoc, build_index, score, t2s_files
from govsite.search.settings import SearchSettings
from govsite.urls import host_root, output_path

T2S_FOLDER = "_t2s/"


def document_digests(docs: list[SearchDoc]) -> list[str]:
    """One digest per document as indexed: the cache keys below are made of these, so each
    document's text is hashed once per build."""
    return [cache_key("search document", astuple(doc)) for doc in docs]


def inputs_key(cluster: Cluster, digests: list[str], settings: SearchSettings,
               selected: tuple[str, ...]) -> str:
    """Everything the search files are made from: every published document as indexed, the
    settings, the sites and their hosts, and which sites are built (govsite's version, which
    fixes the format and the budgets, is in every cache key)."""
    sites = [(s.config.id, s.config.url, s.config.type, s.config.name) for s in cluster.sites.values()]
    return cache_key("search", digests, repr(settings), sites, selected)


def search_outputs(cluster: Cluster, docs: list[SearchDoc], settings: SearchSettings,
                   selected: tuple[str, ...], jobs: int = 1,
                   known: Mapping[str, Mapping[str, list[str]]] | None = None,
                   made: dict[str, list[str]] | None = None,
                   digests: list[str] | None = None) -> Iterator[Output]:
    """Every site's index, and the portal's, from the published documents (documents()).
    With `digests` (document_digests of them) each index is keyed: `known` maps an index's key
    to the files the previous build made from the same inputs ({path: [site, origin, sha256]},
    checked against that build by the caller), and those indexes come back as Linked outputs,
    not exported again; `made` is filled with each exported index's key and paths."""
    scores = score(docs, jobs)
    hot = dict(settings.hot_words)
    # A portal's index covers other sites' pages, so it is rebuilt whatever `--site` says.
    sites = [site for site in cluster.sites.values()
             if is_cluster_wide(site) or site.config.id in selected]

    def site_index(n: int) -> tuple[str, dict[str, str] | None]:
        site = sites[n]
        wide = is_cluster_wide(site)
        keep = list(range(len(docs))) if wide else [
            i for i, doc in enumerate(docs) if doc.site == site.config.id]
        own = scores if wide else scores.only(keep)
        options = (settings.synonyms, hot.get(site.config.id, ()), settings.ranking)
        share = 1.0 if wide else len(keep) / max(1, len(docs))
        key = _index_key(own, [digests[i] for i in keep], options, _t2s_path(site), share) \
            if digests is not None else ""
        if known and key in known:
            return key, None
        return key, build_index([docs[i] for i in keep], *options, own,
                                t2s_path=_t2s_path(site), share=share)

    for site, (key, files) in zip(sites, ordered_map(site_index, len(sites), jobs), strict=True):
        if files is None:
            assert known is not None
            for rel, (owner, origin, sha) in known[key].items():
                yield Output(rel, Linked(sha), owner, origin)
            if made is not None:
                made[key] = list(known[key])
            continue
        owner = output.CLUSTER if is_cluster_wide(site) else site.config.id
        paths = []
        for name, text in files.items():
            paths.append(output_path(index_url(site) + name))
            yield Output(paths[-1], text, owner, "search.yaml")
        if made is not None and key:
            made[key] = paths
    for root in sorted({host_root(s.url) for s in cluster.config.sites}):
        for name, text in t2s_files().items():
            yield Output(output_path(root + T2S_FOLDER + name), text, output.CLUSTER, "search.yaml")


def _t2s_path(site: Site) -> str:
    return posixpath.relpath("/" + T2S_FOLDER, urlsplit(index_url(site)).path) + "/"


class Linked(str):
    """An index file the previous build wrote from the same inputs: linked, not written."""

    def __new__(cls, sha256: str) -> Linked:
        linked = super().__new__(cls, "")
        linked.sha256 = sha256
        return linked

    sha256: str


def _index_key(scores: Scores, digests: list[str], options: tuple, t2s_path: str,
               share: float) -> str:
    """Exactly what one index is made of: its terms in order with their postings, its
    documents' records, its settings. Column numbers are not in it (they shift when the
    cluster gains a word); the terms themselves are."""
    present = np.unique(scores.columns)
    digest = hashlib.sha256()
    digest.update("\0".join(scores.terms[c] for c in present.tolist()).encode("utf-8"))
    for array in (np.bincount(np.searchsorted(present, scores.columns), minlength=len(present)),
                  scores.docs, scores.values):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return cache_key("search index", digest.hexdigest(), digests, repr(options), t2s_path, share)
