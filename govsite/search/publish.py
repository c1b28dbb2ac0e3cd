"""The search stage of a build: an index per site, and the portal's over the whole cluster.

    <site url>_search/…     one index (index.py); a portal's holds every site's pages, so the
                            portal searches the cluster and filters by site, while a county or
                            department searches itself and links to the portal to widen
    <host>/_t2s/<n>.json    the traditional→simplified table, once per host
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from govsite import output
from govsite.cache import key as cache_key
from govsite.model import Cluster, Site
from govsite.parallel import ordered_map
from govsite.render import Output
from govsite.search import index_url, is_cluster_wide
from govsite.search.index import CountCache, SearchDoc, build_index, score, t2s_files
from govsite.search.settings import SearchSettings
from govsite.urls import host_root, output_path

T2S_FOLDER = "_t2s/"


def document_digests(docs: list[SearchDoc]) -> list[str]:
    """One digest per document as indexed: the cache keys below are made of these. A text is
    named by its digest where it has one (its body's, made when it was converted): hashing
    every text again cost a second per 100,000 pages."""
    names = [f.name for f in fields(SearchDoc) if f.name != "text"]   # astuple() would copy texts
    return [cache_key("search document", doc.text_digest or doc.text,
                      [getattr(doc, name) for name in names]) for doc in docs]


def inputs_key(cluster: Cluster, digests: list[str], settings: SearchSettings,
               selected: tuple[str, ...]) -> str:
    """Everything the search files are made from: every published document as indexed, the
    settings, the sites and their hosts, and which sites are built (govsite's version, which
    fixes the format and the budgets, is in every cache key)."""
    sites = [(s.config.id, s.config.url, s.config.type, s.config.name) for s in cluster.sites.values()]
    return cache_key("search", digests, repr(settings), sites, selected)


@dataclass
class SearchCache:
    """The search stage's share of the build cache (build._search reads and saves it): term
    counts by document, and the index files the previous build holds, by file_key()."""
    counts: CountCache
    files: Mapping[str, str]                             # file_key() → sha256 of that file
    made: dict[str, str] = field(default_factory=dict)   # output path → file_key(), filled


def file_key(rel: str, content: str) -> str:
    """An index file by where it is and the digest of what it holds (index.build_index)."""
    return cache_key("search file", rel, content)


def search_outputs(cluster: Cluster, docs: list[SearchDoc], settings: SearchSettings,
                   selected: tuple[str, ...], jobs: int = 1,
                   cache: SearchCache | None = None) -> Iterator[Output]:
    """Every site's index, and the portal's, from the published documents (documents()). With
    a `cache`, documents counted before are not counted again, and an index file whose content
    the previous build already holds comes back as a Linked output, not exported again."""
    scores = score(docs, jobs, cache.counts if cache else None)
    hot = dict(settings.hot_words)
    # A portal's index covers other sites' pages, so it is rebuilt whatever `--site` says.
    sites = [site for site in cluster.sites.values()
             if is_cluster_wide(site) or site.config.id in selected]

    def site_index(n: int) -> tuple[dict[str, str], dict[str, str]]:
        site = sites[n]
        wide = is_cluster_wide(site)
        keep = list(range(len(docs))) if wide else [
            i for i, doc in enumerate(docs) if doc.site == site.config.id]
        made: dict[str, str] = {}

        def reuse(name: str, content: str) -> str | None:
            assert cache is not None
            sha = cache.files.get(file_key(output_path(index_url(site) + name), content))
            return Linked(sha) if sha else None

        files = build_index([docs[i] for i in keep], settings.synonyms, hot.get(site.config.id, ()),
                            settings.ranking, scores if wide else scores.only(keep),
                            t2s_path=_t2s_path(site), share=1.0 if wide else len(keep) / max(1, len(docs)),
                            doc_digests=[cache.counts.digests[i] for i in keep] if cache else None,
                            reuse=reuse if cache else None, made=made)
        return files, made

    for site, (files, made) in zip(sites, ordered_map(site_index, len(sites), jobs), strict=True):
        owner = output.CLUSTER if is_cluster_wide(site) else site.config.id
        for name, text in files.items():
            yield Output(output_path(index_url(site) + name), text, owner, "search.yaml")
        if cache:
            for name, content in made.items():
                rel = output_path(index_url(site) + name)
                cache.made[rel] = file_key(rel, content)
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
