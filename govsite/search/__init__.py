"""Cluster search: analysis.py (the text rules), index.py (build-time index → static files),
query.py (the ranking, as the browser client runs it), publish.py (the build stage), settings.py
(search.yaml)."""

from dataclasses import dataclass

from govsite.model import Site

FOLDER = "_search/"


def index_url(site: Site) -> str:
    """Where a site's index is published: beside its pages, so the search page fetches it from
    its own origin (a strict Content-Security-Policy allows nothing else)."""
    return site.config.url + FOLDER


def is_cluster_wide(site: Site) -> bool:
    """A portal searches the whole cluster; every other site searches itself."""
    return site.config.type == "portal"


@dataclass(frozen=True)
class DocumentBasis:
    """Whose documents a build's are: its own id (snapshot), and when its model is the
    previous build's with some pages taken anew, that build's id and those pages' keys."""

    build: str
    previous: str = ""
    edited: frozenset[str] | None = None
