"""The site model: plain frozen data handed from stage to stage. No I/O here.

Cluster → Site → Column (栏目) → Page. A Page knows its own fields; relations that need the whole
cluster (which interpretations a policy has, which columns show a page) live on the Cluster, so
each page stays a value that can be rendered, cached and compared on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from govsite.config import ClusterConfig, SiteConfig

# Page kinds and the column types whose pages default to each kind.
KIND_BY_COLUMN_TYPE = {
    "news": "news", "response": "news", "topic": "news", "data": "news",
    "notice": "notice", "personnel": "notice", "plan": "notice",
    "policy": "policy", "interpretation": "interpretation", "service": "service",
    "profile": "page", "disclosure": "page", "interaction": "page", "page": "page",
}
COLUMN_TYPES = tuple(KIND_BY_COLUMN_TYPE)
KINDS = ("news", "notice", "policy", "interpretation", "service", "page")
DATED_KINDS = ("news", "notice", "policy", "interpretation")

# States a page can be in at build time; only "published" and "withdrawn" reach the output
# (a withdrawn page as a short notice), and "preview" only with --drafts.
PUBLISHED, WITHDRAWN, DRAFT, SCHEDULED, EXPIRED = (
    "published", "withdrawn", "draft", "scheduled", "expired")


@dataclass(frozen=True, slots=True)
class Link:
    """A reference to another item written by an editor: raw text plus where it was written."""

    raw: str
    line: int


@dataclass(frozen=True, slots=True)
class Withdrawal:
    date: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Policy:
    """政策文件 metadata, as shown in the 信息公开 block of a policy page."""

    index_no: str
    issuer: str
    doc_number: str
    written: datetime
    subject: str
    validity: str
    repealed_by: Link | None
    index_no_line: int = 0


@dataclass(frozen=True, slots=True)
class Material:
    name: str
    form: str
    count: int
    template: Link | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ServiceGuide:
    """办事指南 elements; the national spot checks look for each of them."""

    item_name: str
    agency: str
    legal_basis: tuple[str, ...]
    conditions: tuple[str, ...]
    materials: tuple[Material, ...]
    steps: tuple[str, ...]
    time_limit_legal: str
    time_limit_promised: str
    fee: str
    place: str
    hours: str
    phone: str
    complaint: str
    online_url: str


@dataclass(frozen=True)
class Column:
    site: str
    id: str
    title: str
    type: str
    description: str
    keywords: tuple[str, ...]
    column_type: str
    link: str
    collect_sites: tuple[str, ...]
    collect_types: tuple[str, ...]
    collect_children: bool
    page_size: int
    intro: str
    intro_line: int
    source: str  # project-relative path of _index.md


@dataclass(frozen=True)
class SiteIntro:
    """Optional content/<site>/_index.md: what the home page says about itself."""

    description: str = ""
    keywords: tuple[str, ...] = ()
    body: str = ""
    body_line: int = 1
    source: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    key: str            # "<site>/<column>/<name>": unique in the cluster
    site: str
    column: str
    name: str           # file name without .md; may contain "/" for files in subfolders
    kind: str
    source: str         # project-relative path, for diagnostics
    digest: str
    title: str
    date: datetime | None
    updated: datetime | None
    expires: datetime | None
    draft: bool
    withdrawn: Withdrawal | None
    summary: str
    keywords: tuple[str, ...]
    author: str
    content_source: str
    image: Link | None
    also_in: tuple[Link, ...]
    weight: int
    origin: tuple[tuple[str, str], ...]
    date_correction: str
    body: str | None    # None when not read: read_body() reads it from the source file
    body_line: int
    policy: Policy | None = None
    interprets: Link | None = None
    service: ServiceGuide | None = None


class Attachment(NamedTuple):
    """(A named tuple: a cluster has tens of thousands, made and kept by every build.)"""

    site: str
    rel: str            # path under content/<site>/, posix
    path: str           # absolute filesystem path
    digest: str = ""    # SHA-256 of its bytes when found


@dataclass
class Site:
    config: SiteConfig
    intro: SiteIntro
    columns: dict[str, Column] = field(default_factory=dict)


@dataclass
class Cluster:
    """Everything the renderer needs, assembled once. URLs are absolute."""

    config: ClusterConfig
    sites: dict[str, Site]
    pages: MutableMapping[str, Page]             # every page in the output (published/withdrawn)
    states: dict[str, str]                       # page key → state
    urls: dict[str, str]                         # page key, column "site/col/", site "site/" → URL
    column_items: dict[str, tuple[str, ...]]     # "site/col" → page keys, newest first
    interpretations: dict[str, tuple[str, ...]]  # policy key → interpretation keys
    interprets: dict[str, str]                   # interpretation key → policy key
    repealed_by: dict[str, str]                  # policy key → repealing policy key
    policies: dict[str, tuple[str, ...]]         # site → its published policies, newest first
    attachments: tuple[Attachment, ...]
    resolver: Any                                # assemble.Resolver, for links in bodies
    previewed: frozenset[str] = frozenset()      # drafts and scheduled pages shown by --drafts

    def published(self, key: str) -> bool:
        return self.states.get(key) == PUBLISHED

    @functools.cached_property
    def pages_by_site(self) -> Mapping[str, tuple[Page, ...]]:
        """Each site's pages in cluster order: per-site outputs must not each scan the cluster."""
        by_site = getattr(self.pages, "by_site", None)   # a kept model's (snapshot.KeptPages)
        if by_site is not None:
            return by_site(self.keys_by_site)
        found: dict[str, list[Page]] = {site: [] for site in self.sites}
        for page in self.pages.values():
            found.setdefault(page.site, []).append(page)
        return {site: tuple(pages) for site, pages in found.items()}

    @functools.cached_property
    def keys_by_site(self) -> dict[str, tuple[str, ...]]:
        """pages_by_site's keys, known without reading a page (a key starts with its site)."""
        found: dict[str, list[str]] = {site: [] for site in self.sites}
        for key in self.pages:
            found.setdefault(key.split("/", 1)[0], []).append(key)
        return {site: tuple(keys) for site, keys in found.items()}


def source_of(key: str) -> str:
    """A page's source file, by its key alone: the key is that file's path under content/
    without ".md" (frontmatter names the site and the column by its folders)."""
    return f"content/{key}.md"
