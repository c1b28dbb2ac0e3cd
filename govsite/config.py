"""sites.yaml → ClusterConfig: every site's settings resolved cluster → parent → site, validated.

Every mistake is reported with its `sites.yaml:line` before anything is built; unknown keys get a
"did you mean" hint because a misspelt key silently ignored is worse than an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from govsite import yamlfile
from govsite.check.rules import RULES
from govsite.diagnostics import Report, did_you_mean
from govsite.yamlfile import Node

SITE_TYPES = ("portal", "county", "department", "edition")
LANGUAGES = ("zh-CN", "en")

IDENTITY_KEYS = ("sponsor", "operator", "address", "postcode", "phone", "email", "site_code",
                 "icp", "police_filing", "conac_id", "consultation")
TOKEN_KEYS = ("main_color", "logo", "banner")
PER_WEBSITE = ("site_code", "conac_id")
# The `govsite check` rule a mistake in an identity field breaks.
IDENTITY_RULES = {"site_code": "identity-site-code", "icp": "identity-filing",
                  "police_filing": "identity-filing", "sponsor": "identity-sponsor",
                  "email": "identity-sponsor", "conac_id": "identity-site-code",
                  "consultation": "interaction-channel"}
INHERITED_KEYS = ("language", "timezone", "theme", "page_size", "sanitize_html", "theme_tokens",
                  "identity", "check")
CLUSTER_KEYS = ("organisation",) + INHERITED_KEYS
SITE_KEYS = ("id", "name", "type", "parent", "url", "columns") + INHERITED_KEYS

# `check:` thresholds for `govsite check`, per cluster and per site. Defaults from the national
# spot-check rules (国办秘函〔2019〕19号): a home page without a new item for 14 days, or 5 news
# columns older than 14 days and top-level notice or policy columns older than 6 months, or 10
# stale should-update columns, each fail a site outright.
CHECK_NUMBERS = {
    "home_warn_days": 10, "home_error_days": 14,   # newest item reachable from the home page
    "news_days": 14,            # news columns (动态要闻类)
    "notice_days": 183,         # top-level notice and policy columns (通知公告、政策文件类)
    "yearly_days": 365,         # personnel and planning columns (人事、规划计划类)
    "stale_warn": 3,            # stale columns of those kinds: warn from this many …
    "stale_veto": 5,            # … the veto counts this many (V4a)
    "should_update_veto": 10,   # stale columns of any updated kind (V4b)
    "html_kb": 100,             # one HTML file
    "page_kb": 1024,            # a page with the images, styles and scripts it loads
}
CHECK_KEYS = tuple(CHECK_NUMBERS) + ("domain_rules", "banned_terms", "banned_terms_file", "disable")


@dataclass(frozen=True)
class CheckSettings:
    numbers: tuple[tuple[str, int], ...] = tuple(CHECK_NUMBERS.items())
    domain_rules: bool = True          # .gov.cn and departments under the portal's domain
    banned_terms: tuple[str, ...] = ()
    banned_terms_file: str = ""        # one term per line, relative to sites.yaml
    disable: tuple[str, ...] = ()      # rule ids switched off

    def __getitem__(self, key: str) -> int:
        return dict(self.numbers)[key]


DEFAULTS: dict[str, Any] = {
    "language": "zh-CN", "timezone": "+08:00", "theme": "default", "page_size": 20,
    "sanitize_html": True,
}

SITE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
SITE_CODE = re.compile(r"^(?:\d{10}|bm\d{8})$")
ICP = re.compile(r"^[\u4e00-\u9fa5]ICP备\d{8,10}号(?:-\d+)?$")
POLICE_FILING = re.compile(r"^[\u4e00-\u9fa5]公网安备\s?(\d{14})号$")
CONAC_ID = re.compile(r"^[0-9a-f]{32}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
TZ = re.compile(r"^([+-])(\d{2}):(\d{2})$")
HOST_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WEB_ADDRESS = re.compile(r"^https?://[^\s/]+/\S*$")


@dataclass(frozen=True)
class Identity:
    """The footer identity (底部功能区) the national rules ask every page to show."""

    sponsor: str
    site_code: str
    operator: str = ""
    address: str = ""
    postcode: str = ""
    phone: str = ""
    email: str = ""
    icp: str = ""
    police_filing: str = ""
    conac_id: str = ""
    consultation: str = ""   # the 政务咨询 channel's address, usually the cluster's shared platform

    @property
    def police_filing_code(self) -> str:
        match = POLICE_FILING.match(self.police_filing)
        return match.group(1) if match else ""


@dataclass(frozen=True)
class SiteConfig:
    id: str
    name: str
    type: str
    parent: str | None
    url: str          # absolute, ends with "/"
    host: str
    path: str         # URL path of the site root on its host, starts and ends with "/"
    language: str
    timezone: timezone
    theme: str
    page_size: int
    sanitize_html: bool
    theme_tokens: tuple[tuple[str, str], ...]
    identity: Identity
    columns: tuple[str, ...]
    line: int
    column_lines: tuple[int, ...]
    check: CheckSettings = CheckSettings()

    @property
    def tokens(self) -> dict[str, str]:
        return dict(self.theme_tokens)


@dataclass(frozen=True)
class ClusterConfig:
    root: Path
    organisation: str
    sites: tuple[SiteConfig, ...]

    def site(self, site_id: str) -> SiteConfig:
        return next(s for s in self.sites if s.id == site_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.sites)


FILENAME = "sites.yaml"


def load(root: Path, report: Report) -> ClusterConfig | None:
    """Read and validate `root/sites.yaml`; None when it has errors (all of them reported)."""
    path = root / FILENAME
    if not path.is_file():
        report.error(path, 0, "no sites.yaml in the project folder",
                     "run govsite in the cluster repository, or pass --project DIR")
        return None
    try:
        data = yamlfile.parse(path.read_text(encoding="utf-8"))
    except yamlfile.YamlError as exc:
        report.error(path, exc.line, exc.message, "check indentation and quoting on that line")
        return None
    except UnicodeDecodeError:
        report.error(path, 0, "sites.yaml is not UTF-8 text", "save it as UTF-8")
        return None
    before = len(report.errors())
    config = _Validator(root, path, report).cluster(data)
    return config if len(report.errors()) == before else None


class _Validator:
    def __init__(self, root: Path, path: Path, report: Report):
        self.root = root
        self.path = path
        self.report = report

    def error(self, line: int, message: str, hint: str = "", rule: str = "") -> None:
        self.report.error(self.path, line, message, hint, rule)

    def keys(self, node: Node, allowed: tuple[str, ...], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.error(node.line_of(key), f"unknown key `{key}` in {what}",
                           did_you_mean(key, allowed))

    def cluster(self, data: Any) -> ClusterConfig | None:
        if not isinstance(data, Node):
            self.error(1, "sites.yaml must be a mapping with `cluster` and `sites`",
                       "see the sites.yaml section of the README")
            return None
        self.keys(data, ("cluster", "sites"), "sites.yaml")
        cluster = data.get("cluster") or Node()
        if not isinstance(cluster, Node):
            self.error(data.line_of("cluster"), "`cluster` must be a mapping of defaults")
            cluster = Node()
        self.keys(cluster, CLUSTER_KEYS, "cluster")
        self.check_inherited(cluster)
        sites = data.get("sites")
        if not isinstance(sites, list) or not sites:
            self.error(data.line_of("sites"), "`sites` must be a non-empty list of sites",
                       "add at least the portal: `- id: www`, `type: portal`, `url: https://…/`")
            return None
        entries = self.entries(sites, data.line_of("sites"))
        resolved = self.resolve(cluster, entries)
        return ClusterConfig(
            root=self.root,
            organisation=str(cluster.get("organisation") or ""),
            sites=tuple(resolved),
        )

    def entries(self, sites: list[Any], line: int) -> dict[str, Node]:
        by_id: dict[str, Node] = {}
        for entry in sites:
            if not isinstance(entry, Node):
                self.error(line, "each entry of `sites` must be a mapping", "start it with `- id: …`")
                continue
            self.keys(entry, SITE_KEYS, "a site")
            self.check_inherited(entry)
            for key in ("id", "name", "type", "url"):
                if not entry.get(key):
                    self.error(entry.line, f"site is missing required key `{key}`",
                               f"add `{key}: …` to this site")
            site_id = entry.get("id")
            if not site_id:
                continue
            site_id = str(site_id)
            if not SITE_ID.match(site_id):
                self.error(entry.line_of("id"), f"site id `{site_id}` is not a valid id",
                           "use lowercase letters, digits and -, e.g. `county-a`")
                continue
            if site_id in by_id:
                self.error(entry.line_of("id"), f"duplicate site id `{site_id}`",
                           f"it is already used at sites.yaml:{by_id[site_id].line_of('id')}")
                continue
            kind = entry.get("type")
            if kind and kind not in SITE_TYPES:
                self.error(entry.line_of("type"), f"unknown site type `{kind}`",
                           did_you_mean(str(kind), SITE_TYPES))
            if kind == "portal" and entry.get("parent"):
                self.error(entry.line_of("parent"), "a portal has no parent",
                           "remove `parent`, or change `type` to county or department")
            if kind in ("county", "department", "edition") and not entry.get("parent"):
                self.error(entry.line, f"a {kind} site needs a `parent`",
                           "add `parent: <the portal's id>`")
            columns = entry.get("columns", [])
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                self.error(entry.line_of("columns"), "`columns` must be a list of column folder names",
                           "e.g. `columns: [news, notices, policy]`")
            by_id[site_id] = entry
        for site_id, entry in by_id.items():
            parent = entry.get("parent")
            if parent is not None and str(parent) not in by_id:
                self.error(entry.line_of("parent"), f"unknown parent `{parent}`",
                           did_you_mean(str(parent), [i for i in by_id if i != site_id]))
        return by_id

    def check_inherited(self, node: Node) -> None:
        if "language" in node and node["language"] not in LANGUAGES:
            self.error(node.line_of("language"), f"unknown language `{node['language']}`",
                       did_you_mean(str(node["language"]), LANGUAGES))
        if "timezone" in node and not TZ.match(str(node["timezone"])):
            self.error(node.line_of("timezone"), f"timezone `{node['timezone']}` is not an offset",
                       'write it like "+08:00" (in quotes)')
        if "page_size" in node:
            size = node["page_size"]
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1000:
                self.error(node.line_of("page_size"), "`page_size` must be a whole number from 1 to 1000")
        if "sanitize_html" in node and not isinstance(node["sanitize_html"], bool):
            self.error(node.line_of("sanitize_html"), "`sanitize_html` must be true or false")
        if "theme" in node and not SITE_ID.match(str(node["theme"])):
            self.error(node.line_of("theme"), f"theme name `{node['theme']}` is not a folder name",
                       "use lowercase letters, digits and -")
        self.check_tokens(node)
        self.check_identity(node)
        self.check_check(node)

    def check_check(self, node: Node) -> None:
        settings = node.get("check")
        if settings is None:
            return
        if not isinstance(settings, Node):
            self.error(node.line_of("check"), "`check` must be a mapping",
                       "e.g. `check: {news_days: 14}`")
            return
        self.keys(settings, CHECK_KEYS, "check")
        for key in CHECK_NUMBERS:
            value = settings.get(key)
            if key in settings and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                self.error(settings.line_of(key), f"`check.{key}` must be a whole number above 0")
        if "domain_rules" in settings and not isinstance(settings["domain_rules"], bool):
            self.error(settings.line_of("domain_rules"), "`check.domain_rules` must be true or false")
        for key in ("banned_terms", "disable"):
            value = settings.get(key)
            if key in settings and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                self.error(settings.line_of(key), f"`check.{key}` must be a list of texts",
                           f"write `{key}: [first, second]`")
        disabled = settings.get("disable")
        for rule in disabled if isinstance(disabled, list) else []:
            if rule not in RULES:
                self.error(settings.line_of("disable"), f"unknown rule `{rule}` in check.disable",
                           did_you_mean(str(rule), RULES))
        terms_file = settings.get("banned_terms_file")
        if terms_file is not None and not (self.root / str(terms_file)).is_file():
            self.error(settings.line_of("banned_terms_file"),
                       f"banned_terms_file `{terms_file}` does not exist in the project",
                       "give a path relative to the folder of sites.yaml")

    def check_tokens(self, node: Node) -> None:
        tokens = node.get("theme_tokens")
        if tokens is None:
            return
        if not isinstance(tokens, Node):
            self.error(node.line_of("theme_tokens"), "`theme_tokens` must be a mapping")
            return
        self.keys(tokens, TOKEN_KEYS, "theme_tokens")
        color = tokens.get("main_color")
        if color is not None and not COLOR.match(str(color)):
            self.error(tokens.line_of("main_color"), f"main_color `{color}` is not a colour",
                       'write six hex digits in quotes, e.g. "#9e1b1b"')
        elif color is not None and contrast(str(color), "#ffffff") < 4.5:
            # The theme sets white text on the main colour and main-coloured links on white.
            self.error(tokens.line_of("main_color"),
                       f"main_color `{color}` has only {contrast(str(color), '#ffffff'):.1f}:1 "
                       "contrast with white; text needs 4.5:1 (WCAG 2.1 AA)",
                       "choose a darker shade of the colour")
        for key in ("logo", "banner"):
            value = tokens.get(key)
            if value is None:
                continue
            target = (self.root / str(value)).resolve()
            if not target.is_relative_to(self.root.resolve()) or not target.is_file():
                self.error(tokens.line_of(key), f"{key} file `{value}` does not exist in the project",
                           "give a path relative to the folder of sites.yaml")

    def check_identity(self, node: Node) -> None:
        identity = node.get("identity")
        if identity is None:
            return
        if not isinstance(identity, Node):
            self.error(node.line_of("identity"), "`identity` must be a mapping")
            return
        self.keys(identity, IDENTITY_KEYS, "identity")
        rules = {
            "site_code": (SITE_CODE, "网站标识码 is 10 digits (region code + serial), or bm + 8 digits",
                          'e.g. "5301000001" or "bm07000001", in quotes'),
            "icp": (ICP, "ICP备案号 is malformed", "write it as on the MIIT record, e.g. 滇ICP备12345678号-1"),
            "police_filing": (POLICE_FILING, "公安机关备案号 is malformed",
                              "write it like 滇公网安备53010202000123号 (14 digits)"),
            "conac_id": (CONAC_ID, "党政机关网站标识 id is malformed",
                         "copy the 32 hex digits from the badge's certificate link"),
            "email": (EMAIL, "email address is malformed", "e.g. webmaster@example.gov.cn"),
            "consultation": (WEB_ADDRESS, "the consultation channel is not a web address",
                             "give its full address, e.g. https://www.example.gov.cn/hdjl/zxzx/"),
        }
        for key, (pattern, message, hint) in rules.items():
            value = identity.get(key)
            if value is not None and not pattern.match(str(value)):
                self.error(identity.line_of(key), f"{message}: `{value}`", hint, IDENTITY_RULES.get(key, ""))

    def resolve(self, cluster: Node, entries: dict[str, Node]) -> list[SiteConfig]:
        resolved: dict[str, dict[str, Any]] = {}
        cyclic: set[str] = set()

        def settings(site_id: str, chain: tuple[str, ...]) -> dict[str, Any] | None:
            if site_id in resolved:
                return resolved[site_id]
            if site_id in chain:
                cycle = chain[chain.index(site_id):] + (site_id,)
                for member in cycle[:-1]:
                    if member not in cyclic:
                        cyclic.add(member)
                        self.error(entries[member].line_of("parent"),
                                   "inheritance cycle: " + " → ".join(cycle),
                                   "one of these sites must have a different parent")
                return None
            entry = entries[site_id]
            parent_id = entry.get("parent")
            if parent_id is None or str(parent_id) not in entries:
                base = _inheritable(cluster, DEFAULTS)
            else:
                parent = settings(str(parent_id), chain + (site_id,))
                if parent is None:
                    return None
                base = parent
            if entry.get("type") != "edition" or parent_id is None:
                # 网站标识码 and the 党政机关网站标识 identify one website; only a language
                # edition of the same website shares its parent's.
                base = {**base, "identity": {k: v for k, v in base["identity"].items()
                                             if k not in PER_WEBSITE}}
            merged = _inheritable(entry, base)
            merged["url"] = self.site_url(entry, parent_id and resolved.get(str(parent_id)))
            resolved[site_id] = merged
            return merged

        sites: list[SiteConfig] = []
        urls: dict[str, str] = {}
        for site_id, entry in entries.items():
            merged = settings(site_id, ())
            if merged is None or merged["url"] is None or not entry.get("name") \
                    or entry.get("type") not in SITE_TYPES:
                continue
            identity = merged["identity"]
            for key, label, hint in (
                    ("sponsor", "主办单位", "set `sponsor` under `identity` for the site or the cluster"),
                    ("site_code", "网站标识码",
                     "each website has its own: set `site_code` under this site's `identity`")):
                if not identity.get(key):
                    self.error(entry.line, f"site `{site_id}` has no {label} (`identity.{key}`)", hint,
                               IDENTITY_RULES[key])
            if not identity.get("sponsor") or not identity.get("site_code"):
                continue
            url = merged["url"]
            if url in urls:
                self.error(entry.line_of("url"), f"URL {url} is already the URL of site `{urls[url]}`",
                           "give each site its own domain or path")
                continue
            urls[url] = site_id
            parts = urlsplit(url)
            hours, minutes = _offset(str(merged["timezone"]))
            tokens = {k: str(v) for k, v in merged["theme_tokens"].items() if v is not None}
            columns = entry.get("columns") or []
            columns = [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else []
            sites.append(SiteConfig(
                id=site_id,
                name=str(entry["name"]),
                type=str(entry["type"]),
                parent=str(entry["parent"]) if entry.get("parent") else None,
                url=url,
                host=parts.netloc,
                path=parts.path,
                language=str(merged["language"]),
                timezone=timezone(timedelta(hours=hours, minutes=minutes)),
                theme=str(merged["theme"]),
                page_size=int(merged["page_size"]),
                sanitize_html=bool(merged["sanitize_html"]),
                theme_tokens=tuple(sorted(tokens.items())),
                identity=Identity(**{k: str(v) for k, v in identity.items() if v is not None}),
                columns=tuple(str(c) for c in columns),
                line=entry.line,
                column_lines=tuple(_item_lines(entry, "columns", len(columns))),
                check=_check_settings(merged["check"]),
            ))
        return sites

    def site_url(self, entry: Node, parent: dict[str, Any] | None) -> str | None:
        raw = str(entry.get("url") or "")
        line = entry.line_of("url")
        if not raw:
            return None
        if not raw.endswith("/"):
            self.error(line, f"site URL `{raw}` must end with /", f"write `{raw}/`")
            return None
        if raw.startswith("/"):
            if parent is None or parent.get("url") is None:
                self.error(line, f"site URL `{raw}` is a path, but the site has no parent with a URL",
                           "give the full URL, e.g. https://dept.example.gov.cn/")
                return None
            if not _clean_path(raw):
                self.error(line, f"site URL path `{raw}` is malformed",
                           "use plain path segments such as /en/ (no .., //, ? or #)")
                return None
            parent_url: str = parent["url"]
            base = urlsplit(parent_url)
            return f"{base.scheme}://{base.netloc}{raw}"
        parts = urlsplit(raw)
        host = parts.hostname or ""
        if parts.netloc != parts.netloc.lower():
            self.error(line, f"site URL `{raw}` has capital letters in its host",
                       f"write the host in lowercase: {parts.netloc.lower()}")
            return None
        if (parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment
                or parts.username or parts.password
                or not all(HOST_LABEL.match(label) for label in host.split("."))
                or not _clean_path(parts.path)):
            self.error(line, f"site URL `{raw}` is malformed",
                       "write https://host.example.gov.cn/ or a path under the parent such as /en/")
            return None
        return raw


def _inheritable(node: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    merged.setdefault("theme_tokens", {})
    merged.setdefault("identity", {})
    merged.setdefault("check", {})
    for key in INHERITED_KEYS:
        if key not in node:
            continue
        value = node[key]
        if key in ("theme_tokens", "identity", "check"):
            if isinstance(value, dict):
                merged[key] = {**merged[key], **{k: v for k, v in value.items()
                                                 if k in (TOKEN_KEYS + IDENTITY_KEYS + CHECK_KEYS)}}
        else:
            merged[key] = value
    return merged


def _check_settings(values: dict[str, Any]) -> CheckSettings:
    """Valid values only: a wrong one is reported, and the default stands in for it."""
    def texts(key: str) -> tuple[str, ...]:
        value = values.get(key)
        return tuple(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else ()

    numbers = {key: value if isinstance(value := values.get(key), int) and not isinstance(value, bool)
               and value > 0 else default for key, default in CHECK_NUMBERS.items()}
    return CheckSettings(tuple(numbers.items()), values.get("domain_rules") is not False,
                         texts("banned_terms"), str(values.get("banned_terms_file") or ""), texts("disable"))


def contrast(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two #rrggbb colours."""
    def luminance(color: str) -> float:
        channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _clean_path(path: str) -> bool:
    if not path.startswith("/") or not path.endswith("/") or "//" in path:
        return False
    segments = [s for s in path.split("/") if s]
    return all(s not in (".", "..") and re.match(r"^[A-Za-z0-9._~-]+$", s) for s in segments)


def _offset(text: str) -> tuple[int, int]:
    match = TZ.match(text)
    if not match:
        return 8, 0
    sign = -1 if match.group(1) == "-" else 1
    return sign * int(match.group(2)), sign * int(match.group(3))


def _item_lines(entry: Node, key: str, count: int) -> list[int]:
    items = entry.get(key)
    if isinstance(items, yamlfile.Seq) and len(items.item_lines) == count:
        return items.item_lines
    return [entry.line_of(key)] * count
