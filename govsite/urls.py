"""URL arithmetic shared by every stage: page URLs, output paths, relative links.

Links between pages on the same host are written relative, so a build works from any folder,
preview server or file://; links to another host are absolute.
"""

from __future__ import annotations

import posixpath
import re
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

SAFE = "/-_.~"


_NOTHING_TO_QUOTE = re.compile(r"[A-Za-z0-9/\-_.~]*")


# A link that is a plain path (no scheme, query, fragment, escape or empty segment): what
# govsite writes between its own pages.
_PLAIN_PATH = re.compile(r"/?[A-Za-z0-9\-_.~]+(?:/[A-Za-z0-9\-_.~]+)*/?")
_NOT_PLAIN = "?#%\\@"   # in a URL, what output_path leaves to urlsplit
_NOT_SHORT = "?\\\t\r\n"   # in a URL, what _relative leaves to urlsplit (which drops tabs, newlines)


def quote_path(path: str) -> str:
    """Percent-encode a URL path (attachments are often named in Chinese). Most paths are plain
    ASCII already, and are returned as they are without quote()'s work (every page has one)."""
    return path if _NOTHING_TO_QUOTE.fullmatch(path) else quote(path, safe=SAFE)


def output_path(url: str) -> str:
    """The file under build/ that serves an absolute URL: <host>/<path>[index.html]."""
    scheme, sep, rest = url.partition("://")
    if sep and "/" in rest and not any(c in url for c in _NOT_PLAIN) and scheme.isalpha():
        # The common case, several times per page, without urlsplit's generality.
        netloc, _, path = rest.partition("/")
        return f"{netloc}/{path}index.html" if not path or path.endswith("/") else f"{netloc}/{path}"
    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.endswith("/"):
        path += "index.html"
    return parts.netloc + path


def output_path_from(folder: str, link: str) -> str | None:
    """output_path() of a plain relative or host-absolute `link` on a page in `folder`
    (<host>/<path>), joined by segments with dot segments removed as RFC 3986 says (never above
    the host's root): what urljoin would make of it, at a fifth of the cost. None for any other
    link, which urljoin resolves."""
    if not _PLAIN_PATH.fullmatch(link) or any(c in folder for c in _NOT_PLAIN):
        return None
    host, _, path = folder.partition("/")
    parts = [] if link.startswith("/") else path.split("/") if path else []
    segments = link.strip("/").split("/")
    for segment in segments:
        if segment == "..":
            if parts:
                parts.pop()
        elif segment != ".":
            parts.append(segment)
    # A path ending in a folder (a slash, or a dot segment) is served by its index.html.
    if link.endswith("/") or segments[-1] in (".", ".."):
        parts.append("index.html")
    return "/".join([host, *parts])


def relative(from_url: str, to_url: str) -> str:
    """A link from one page to another: relative on the same host, absolute elsewhere."""
    return _relative(from_url.rsplit("/", 1)[0], to_url)


@lru_cache(maxsize=1 << 16)
def _relative(from_folder: str, to_url: str) -> str:
    # By folder: every page of a folder links to the same navigation, so most calls repeat.
    # A link in a body to another page on the host repeats nowhere, though: those take the
    # short way, without urlsplit and posixpath.relpath (a tenth of converting a body).
    scheme, _, rest = from_folder.partition("://")
    host, _, path = rest.partition("/")
    origin = f"{scheme}://{host}/"
    if scheme in ("https", "http") and to_url.startswith(origin) \
            and not any(c in rest or c in to_url for c in _NOT_SHORT) and "#" not in rest:
        target_path, _, fragment = to_url[len(origin):].partition("#")
        if target_path.endswith("/") or not target_path:
            target_path += "index.html"
        parts, start = target_path.split("/"), path.split("/")
        if "." not in parts and ".." not in parts and "." not in start and ".." not in start:
            return _relpath(parts, start) + (f"#{fragment}" if fragment else "")
    source, target = urlsplit(from_folder + "/"), urlsplit(to_url)
    if (source.scheme, source.netloc) != (target.scheme, target.netloc):
        return to_url
    target_path = target.path + ("index.html" if target.path.endswith("/") else "")
    base = source.path.rsplit("/", 1)[0] or "/"
    rel = posixpath.relpath(target_path, base)
    return rel + (f"#{target.fragment}" if target.fragment else "")


def _relpath(path: list[str], start: list[str]) -> str:
    """posixpath.relpath of two absolute paths without dot segments, as split at their
    slashes (the empty parts a double or final slash leaves are dropped, as relpath drops
    them)."""
    path = [part for part in path if part]
    start = [part for part in start if part]
    common = 0
    for a, b in zip(path, start, strict=False):   # (as far as the shorter goes)
        if a != b:
            break
        common += 1
    return "/".join([".."] * (len(start) - common) + path[common:]) or "."


def host_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"
