"""URL arithmetic shared by every stage: page URLs, output paths, relative links.

Links between pages on the same host are written relative, so a build works from any folder,
preview server or file://; links to another host are absolute.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, unquote, urlsplit

SAFE = "/-_.~"


def quote_path(path: str) -> str:
    """Percent-encode a URL path (attachments are often named in Chinese)."""
    return quote(path, safe=SAFE)


def output_path(url: str) -> str:
    """The file under build/ that serves an absolute URL: <host>/<path>[index.html]."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if path.endswith("/"):
        path += "index.html"
    return parts.netloc + path


def relative(from_url: str, to_url: str) -> str:
    """A link from one page to another: relative on the same host, absolute elsewhere."""
    source, target = urlsplit(from_url), urlsplit(to_url)
    if (source.scheme, source.netloc) != (target.scheme, target.netloc):
        return to_url
    target_path = target.path + ("index.html" if target.path.endswith("/") else "")
    base = source.path.rsplit("/", 1)[0] or "/"
    rel = posixpath.relpath(target_path, base)
    return rel + (f"#{target.fragment}" if target.fragment else "")


def host_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"
