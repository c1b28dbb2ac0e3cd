"""The build cache CI keeps between runs: content-addressed entries in one SQLite file.

A key is the SHA-256 of everything an entry was computed from, govsite's version included, so
an entry is either exactly right or never found; nothing is ever judged by modification times.
Entries a build did not use are dropped when it saves, which keeps the cache the size of the
cluster. A cache that cannot be read is treated as empty: it only ever saves time.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from govsite import __version__

FILENAME = "build-cache.sqlite"
FORMAT = 3


_PREFIX = f"govsite {__version__} cache {FORMAT}".encode()


def key(*parts: object) -> str:
    # orjson: a rebuild hashes every document's text, and json.dumps took most of a second.
    return hashlib.sha256(_PREFIX + orjson.dumps(
        parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()


class Cache:
    def __init__(self, folder: Path | None):
        self.path = folder / FILENAME if folder else None
        self.found: dict[str, Any] = {}
        self.new: dict[str, Any] = {}
        self.retained: set[str] = set()

    def load(self, namespace: str, keys: Iterable[str]) -> dict[str, Any]:
        """The stored entries among `keys`."""
        wanted = list(dict.fromkeys(keys))
        # SQLite takes a bounded number of parameters per statement: ask in chunks.
        return self._select(namespace, [wanted[i:i + 500] for i in range(0, len(wanted), 500)])

    def load_all(self, namespace: str) -> dict[str, Any]:
        return self._select(namespace, None)

    def _select(self, namespace: str, chunks: list[list[str]] | None) -> dict[str, Any]:
        if self.path is None or not self.path.is_file() or chunks == []:
            return {}
        found: dict[str, Any] = {}
        try:
            db = sqlite3.connect(self.path)
            try:
                for chunk in chunks if chunks is not None else [None]:
                    rows = db.execute(
                        "SELECT key, value FROM entries WHERE namespace = ?"
                        + (f" AND key IN ({','.join('?' * len(chunk))})" if chunk else ""),
                        [namespace, *(chunk or [])])
                    # Text is JSON; bytes were kept as they are (keep()).
                    found.update({k: orjson.loads(v) if isinstance(v, str) else v for k, v in rows})
            finally:
                db.close()
        except (sqlite3.Error, ValueError):   # orjson.JSONDecodeError is a ValueError
            return {}
        self.found.update({f"{namespace}\0{k}": v for k, v in found.items()})
        return found

    def keep(self, namespace: str, entry_key: str, value: Any) -> None:
        """Keep an entry: bytes as they are, anything else as JSON."""
        self.new[f"{namespace}\0{entry_key}"] = value

    def used(self, namespace: str, entry_key: str) -> None:
        name = f"{namespace}\0{entry_key}"
        if name in self.found:
            self.new[name] = self.found[name]

    def retain(self, *namespaces: str) -> None:
        """Keep every stored entry of these namespaces that this build does not replace,
        unread: for a stage that found its inputs unchanged and so never looked them up."""
        self.retained.update(namespaces)

    def save(self) -> None:
        """Keep this build's entries and only them, in one transaction (a build killed halfway
        leaves the previous cache whole): entries reused as they were are not written again,
        so a rebuild that changed little writes little."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._save()
        except sqlite3.Error:   # an unreadable cache is replaced, never trusted
            self.path.unlink(missing_ok=True)
            self.found = {}
            self._save()

    def _save(self) -> None:
        assert self.path is not None
        db = sqlite3.connect(self.path)
        try:
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS entries (namespace TEXT, key TEXT, "
                           "value TEXT, PRIMARY KEY (namespace, key))")
                stored = {f"{namespace}\0{key}" for namespace, key
                          in db.execute("SELECT namespace, key FROM entries")}
                db.executemany("DELETE FROM entries WHERE namespace = ? AND key = ?",
                               [name.split("\0", 1) for name in sorted(stored - self.new.keys())
                                if name.split("\0", 1)[0] not in self.retained])
                db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", [
                    (*name.split("\0", 1), value if isinstance(value, bytes)
                     else orjson.dumps(value).decode("utf-8"))
                    for name, value in sorted(self.new.items())
                    if name not in stored or self.found.get(name) is not value])
        finally:
            db.close()
