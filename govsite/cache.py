"""The build cache CI keeps between runs: content-addressed entries in one SQLite file.

A key is the SHA-256 of everything an entry was computed from, govsite's version included, so
an entry is either exactly right or never found; nothing is ever judged by modification times.
Entries a build did not use are dropped when it saves, which keeps the cache the size of the
cluster: a small cache at every save, a large one once the entries written since it was last
swept are a tenth of it (finding the unused entries reads every key, half a second at 100,000
pages, and one edit leaves a few). A build of some sites (`--site`) sweeps at once: the other
sites' entries say what an older build made of them, and a later build must not take them for
its predecessor's. A cache that cannot be read is treated as empty: it only ever saves time.

A build holds one connection and one transaction: new entries are written as they come, a few
thousand at a time, so the cache never holds a large cluster's bodies in memory, and they become
the cache only when the build succeeded and saves (a failed or killed build leaves the previous
cache whole). A large value (the search stage's state, tens of megabytes) is a file of its own
beside the database, which holds its name: SQLite would write it twice, once to its journal.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import pickle
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from govsite import __version__
from govsite.spool import write_at

FILENAME = "build-cache.sqlite"
FORMAT = 5   # entries of another format are never found: 5, sources by git blob id
LARGE = 1 << 20       # bytes from which a value is a file of its own
FILE_MARK = "@file:"  # an entry's value that names such a file (JSON never starts with @)
FLUSH_EVERY = 2_000   # entries kept in memory before they are written into the transaction
FLUSH_BYTES = 4 << 20    # or bytes of them
BUSY_SECONDS = 5.0    # how long to wait for another build that holds the cache, then do without
SWEEP_ALWAYS = 20_000  # entries up to which every save drops the unused ones (Cache.save)
SWEEP_SHARE = 10       # beyond, once the entries written since the last sweep are this part

_PREFIX = f"govsite {__version__} cache {FORMAT}".encode()
# The entries whose value names a file, found through an index on this very expression (SQLite
# uses an index on an expression only for the same expression, constants and all).
_MARKED = f"substr(value, 1, {len(FILE_MARK)})"
NAMED_FILES = f"SELECT value FROM entries WHERE {_MARKED} = ?"


def key(*parts: object) -> str:
    # orjson: a rebuild hashes every document's text, and json.dumps took most of a second.
    return hashlib.sha256(_PREFIX + orjson.dumps(
        parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)).hexdigest()


class Pack:
    """One namespace's entries for one group (a site's pages, say), kept as a single value:
    read back with one lookup and one decode instead of one per entry, and lying together on
    disk (a large value is a file of its own). A rebuild whose cache was not in memory read
    100,000 entries scattered over gigabytes for 3.5 s; from a site's pack, in a moment.
    Entries are content-addressed as anywhere else; the pack is saved again only when its
    entries changed (Cache.load_packs, Pack.save)."""

    def __init__(self, cache: Cache, namespace: str, key: str, stored: dict[str, Any]):
        self._cache, self._namespace, self._key = cache, namespace, key
        self._stored = stored
        self._kept: dict[str, Any] = {}
        self._changed = False

    def stored(self) -> Iterable[tuple[str, Any]]:
        """Every stored entry, none of them marked as kept."""
        return self._stored.items()

    def get(self, entry_key: str) -> Any:
        """The stored entry (kept for the next build), or None."""
        value = self._stored.get(entry_key)
        if value is not None:
            self._kept[entry_key] = value
        return value

    def put(self, entry_key: str, value: Any) -> None:
        self._kept[entry_key] = value
        self._changed = True

    def keep_stored(self) -> None:
        """Keep every stored entry not put anew: for a build that looked at a few of them."""
        self._kept = {**self._stored, **self._kept}

    def save(self) -> None:
        """Keep the entries got or put, and only them."""
        if not self._changed and self._kept.keys() == self._stored.keys():
            self._cache.used(self._namespace, self._key)
        else:
            self._cache.keep(self._namespace, self._key, pickle.dumps(
                dict(sorted(self._kept.items())), pickle.HIGHEST_PROTOCOL))


def unpickled(value: Any) -> Any:
    """A pickled entry's value, or None for anything else (no entry, a damaged one)."""
    if not isinstance(value, bytes):
        return None
    try:
        return pickle.loads(value)
    except Exception:   # noqa: BLE001 — anything a damaged pickle raises: read as no entry
        return None


def _unpacked(value: Any) -> dict[str, Any]:
    """A pack's entries, or none when the value is not a pack this code wrote (whoever uses
    packs puts its code's digest in their `version`; this is for a damaged value)."""
    entries = unpickled(value)
    return entries if isinstance(entries, dict) else {}


class Chunks(tuple):
    """A large value given as consecutive buffers (bytes, numpy arrays), or functions giving
    buffers one after the other (made as written): written to its file in order, never joined
    in memory first. Read back as bytes."""

    def pieces(self) -> Iterator[Any]:
        """The buffers, in order."""
        for part in self:
            yield from part() if callable(part) else (part,)


def pickled(value: Any) -> bytes | Chunks:
    """A value pickled into a temporary file as it is pickled, and kept from there when it is
    of a file's size: a large record is never one string of bytes in memory (the kept model's
    cluster, 29 MB at 100,000 pages, was at the end of the build's peak)."""
    return kept_from(pickled_file(value))


def pickled_file(value: Any) -> Any:
    """A value pickled into a new temporary file: kept_from() keeps it, here or in a process
    the file is handed to (parallel.apart)."""
    spooled = tempfile.TemporaryFile(prefix="govsite-pickled-")  # noqa: SIM115 (closed once read)
    try:
        pickle.dump(value, spooled, pickle.HIGHEST_PROTOCOL)
        spooled.flush()   # (in the file itself: a process handed it reads it from there)
    except BaseException:
        spooled.close()
        raise
    return spooled


def kept_from(spooled: Any) -> bytes | Chunks:
    """A pickled_file() as a value to keep: its bytes when it is an entry like any other,
    else read from the file as it is kept (and closed once read)."""
    size = spooled.seek(0, os.SEEK_END)
    spooled.seek(0)
    if size < LARGE:
        with spooled:
            return spooled.read()

    def blocks() -> Iterator[bytes]:
        with spooled:
            spooled.seek(0)
            while block := spooled.read(LARGE):
                yield block
    return Chunks([blocks])


def _file_sized(value: Any) -> bool:
    """Whether a value kept goes to a file of its own at once."""
    return isinstance(value, Chunks) or (isinstance(value, bytes) and len(value) >= LARGE)


class _Named(str):
    """An entry's value that names the file holding it (FILE_MARK and the file's name)."""


class CacheBusy(OSError):
    """Another build holds the cache (SQLite's busy or locked)."""


def _unusable(exc: sqlite3.Error) -> OSError:
    busy = getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return (CacheBusy if busy else OSError)(str(exc))


class Cache:
    def __init__(self, folder: Path | None):
        self.path = folder / FILENAME if folder else None
        self._db: sqlite3.Connection | None = None
        self._pending: dict[tuple[str, str], Any] = {}   # kept, not yet written
        self._pending_bytes = 0
        # The keys used as stored, or written, by namespace: a set of pairs held a tuple more
        # for each of the 400,000 entries of a 100,000-page build (26 MB at its end).
        self._kept: dict[str, set[str]] = {}
        self._retained: set[str] = set()
        self._failure: OSError | None = None              # why the cache cannot be written
        self._has_table = False
        self._written = 0   # entries written by this build (Cache._sweep)

    def load(self, namespace: str, keys: Iterable[str],
             read: Callable[[Any], Any] | None = None, mapped: bool = False) -> dict[str, Any]:
        """The stored entries among `keys`, each passed through `read` as it comes when given
        (so that a stage's bytes are not all held twice); an entry it reads as None is left out.
        `mapped`: a large value comes as a read-only memory map of its file instead of bytes,
        read as it is used and droppable from memory part by part (index.TermState.release)."""
        wanted = list(dict.fromkeys(keys))
        # SQLite takes a bounded number of parameters per statement: ask in chunks.
        return self._select(namespace, [wanted[i:i + 500] for i in range(0, len(wanted), 500)],
                            read, mapped)

    def load_packs(self, namespace: str, groups: Iterable[str], version: str = ""
                   ) -> dict[str, Pack]:
        """The packs of these groups (empty where none is stored), in one lookup. `version`
        names the code that reads and writes them: a pack of other code is never read."""
        keys = {group: key(namespace, version, group) for group in groups}
        stored = self.load(namespace, keys.values())
        return {group: Pack(self, namespace, k, _unpacked(stored.get(k)))
                for group, k in keys.items()}

    def used_pack(self, namespace: str, group: str, version: str = "") -> None:
        """Keep a group's pack as it is stored, unread."""
        self.used(namespace, key(namespace, version, group))

    def has(self, namespace: str, entry_key: str | None = None) -> bool:
        """Whether an entry is stored (any of the namespace's, without a key), unread."""
        if self.path is None or self._failure is not None or not self.path.is_file():
            return False
        db = self._connection()
        try:
            return db is not None and self._has_table and bool(db.execute(
                "SELECT 1 FROM entries WHERE namespace = ? LIMIT 1", [namespace]
            ).fetchall() if entry_key is None else db.execute(
                "SELECT 1 FROM entries WHERE namespace = ? AND key = ?",
                [namespace, entry_key]).fetchall())
        except sqlite3.Error:
            return False

    def load_all(self, namespace: str) -> dict[str, Any]:
        return self._select(namespace, None)

    def _select(self, namespace: str, chunks: list[list[str]] | None,
                read: Callable[[Any], Any] | None = None, mapped: bool = False) -> dict[str, Any]:
        if chunks == [] or self.path is None or self._failure is not None \
                or not self.path.is_file():
            return {}
        db = self._connection()
        if db is None or not self._has_table:
            return {}
        found: dict[str, Any] = {}
        try:
            for chunk in chunks if chunks is not None else [None]:
                rows = db.execute(
                    "SELECT key, value FROM entries WHERE namespace = ?"
                    + (f" AND key IN ({','.join('?' * len(chunk))})" if chunk else ""),
                    [namespace, *(chunk or [])])
                # Text is JSON or names a file; bytes were kept as they are (keep()).
                for k, v in rows:
                    if not isinstance(v, str):
                        value = v
                    elif v.startswith(FILE_MARK):
                        value = self._read_file(v.removeprefix(FILE_MARK), mapped)
                    else:
                        value = orjson.loads(v)
                    if value is not None and read is not None:
                        value = read(value)
                    if value is not None:
                        found[k] = value
        except sqlite3.OperationalError as exc:   # another build holds it: do without, touch nothing
            self._failure = _unusable(exc)
            return {}
        except (sqlite3.Error, ValueError):   # a broken file (orjson.JSONDecodeError is a ValueError)
            self._replace()
            return {}
        return found

    def _read_file(self, name: str, mapped: bool = False) -> bytes | mmap.mmap | None:
        assert self.path is not None
        try:
            if not mapped:
                return (self.path.parent / name).read_bytes()
            with open(self.path.parent / name, "rb") as handle:
                return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):   # gone (as if never stored), or empty: nothing to map
            return None

    def _write_file(self, data: bytes | Chunks) -> str:
        """A new file (never one the saved cache names), written whole before it is named."""
        assert self.path is not None
        name = f"{FILENAME}.{uuid.uuid4().hex}"
        temporary = self.path.parent / f".{name}.tmp"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            for piece in data.pieces() if isinstance(data, Chunks) else (data,):
                handle.write(piece)
        os.replace(temporary, self.path.parent / name)
        return FILE_MARK + name

    def _drop_unnamed_files(self, db: sqlite3.Connection) -> None:
        """Files no entry names: replaced, or written by a build that failed."""
        named = {v.removeprefix(FILE_MARK) for (v,) in db.execute(NAMED_FILES, [FILE_MARK])}
        assert self.path is not None
        for path in self.path.parent.glob(f"*{FILENAME}.*"):
            if path.name not in named:
                path.unlink(missing_ok=True)

    def keep(self, namespace: str, entry_key: str, value: Any) -> None:
        """Keep an entry: bytes as they are, anything else as JSON. Chunks, and bytes of a file's
        size, are written to their file at once, so that they are not held until the entries
        are (a 100,000-page build's packs and records were hundreds of megabytes); the build
        names the file when it saves."""
        if _file_sized(value):
            if self.path is None or self._failure is not None:
                return
            try:
                value = _Named(self._write_file(value))
            except OSError as exc:
                self._failure = exc
                return
        self._pending[namespace, entry_key] = value
        self._pending_bytes += len(value) if isinstance(value, (bytes, str)) else 0
        if len(self._pending) >= FLUSH_EVERY or self._pending_bytes >= FLUSH_BYTES:
            self._flush()

    def used(self, namespace: str, entry_key: str) -> None:
        """Keep a stored entry as it is."""
        self._kept.setdefault(namespace, set()).add(entry_key)

    def retain(self, *namespaces: str) -> None:
        """Keep every stored entry of these namespaces that this build does not replace,
        unread: for a stage that found its inputs unchanged and so never looked them up."""
        self._retained.update(namespaces)

    def save(self, sweep: bool = False) -> None:
        """Make this build's entries, and only them, the cache: one commit. Raises OSError when
        the cache could not be written (the build stands without it). `sweep` drops the unused
        entries now, whatever the cache's size (see _sweep)."""
        if self.path is None:
            return
        self._flush()
        if self._failure is None and self._db is None and self.path.is_file():
            self._connection()
        db = self._db
        try:
            if self._failure is not None:
                raise self._failure
            if db is None:
                return   # nothing stored, nothing to keep
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")
            if self._has_table:
                self._sweep(db, sweep)
            db.execute("COMMIT")
            self._drop_unnamed_files(db)
        except sqlite3.Error as exc:
            raise _unusable(exc) from None
        finally:
            self.close()

    def _sweep(self, db: sqlite3.Connection, now: bool = False) -> None:
        """Drop the entries this build did not use, when that is due (see the module's doc)."""
        db.execute("CREATE TABLE IF NOT EXISTS sweeps (name TEXT PRIMARY KEY, count INTEGER)")
        counts = dict(db.execute("SELECT name, count FROM sweeps").fetchall())
        entries, written = counts.get("entries", 0), counts.get("written", 0) + self._written
        if now or entries <= SWEEP_ALWAYS or written * SWEEP_SHARE >= entries:
            stale = [(namespace, key) for namespace, key in db.execute("SELECT namespace, key FROM entries")
                     if key not in self._kept.get(namespace, ()) and namespace not in self._retained]
            db.executemany("DELETE FROM entries WHERE namespace = ? AND key = ?", stale)
            entries, written = db.execute("SELECT count(*) FROM entries").fetchone()[0], 0
        db.executemany("INSERT OR REPLACE INTO sweeps VALUES (?, ?)",
                       [("entries", entries), ("written", written)])

    def close(self) -> None:
        """Forget what was not saved (a failed build's entries are rolled back)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._pending.clear()
        self._pending_bytes = 0

    def _flush(self) -> None:
        if not self._pending or self.path is None or self._failure is not None:
            self._pending.clear()
            self._pending_bytes = 0
            return
        db = self._connection(create=True)
        try:
            if db is None:
                return
            if not db.in_transaction:
                db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE IF NOT EXISTS entries (namespace TEXT, key TEXT, "
                       "value TEXT, PRIMARY KEY (namespace, key))")
            # Which files entries name is asked at every save (_drop_unnamed_files): without
            # an index that read every value (1.5 GB at 100,000 pages; 0.6 s).
            db.execute(f"CREATE INDEX IF NOT EXISTS named ON entries ({_MARKED})")
            self._has_table = True
            db.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", [
                (namespace, entry_key,
                 value if isinstance(value, (_Named, bytes)) else orjson.dumps(value).decode("utf-8"))
                for (namespace, entry_key), value in sorted(self._pending.items())])
            for namespace, entry_key in self._pending:
                self._kept.setdefault(namespace, set()).add(entry_key)
            self._written += len(self._pending)
        except sqlite3.Error as exc:
            self._failure = _unusable(exc)
        finally:
            self._pending.clear()
            self._pending_bytes = 0

    def _connection(self, create: bool = False) -> sqlite3.Connection | None:
        """The build's one connection (a transaction starts with its first write). A file that
        is not a database, or a broken one, is replaced, never trusted."""
        if self._db is not None:
            return self._db
        assert self.path is not None
        if self._failure is not None or (not create and not self.path.is_file()):
            return None
        for attempt in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_SECONDS)
                db.execute("PRAGMA synchronous = OFF")
                self._has_table = bool(db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchall())
                if self._has_table:
                    db.execute("SELECT value FROM entries LIMIT 1").fetchall()
                self._db = db
                return db
            except sqlite3.OperationalError as exc:   # locked, read-only, no such folder
                self._failure = _unusable(exc)
                return None
            except sqlite3.DatabaseError as exc:
                if attempt:
                    self._failure = _unusable(exc)
                    return None
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                self._failure = exc
                return None
        return None

    def _replace(self) -> None:
        """An entry that cannot be read means a broken file: start a new one."""
        if self._db is not None:
            self._db.close()
            self._db = None
        assert self.path is not None
        self.path.unlink(missing_ok=True)
        self._kept.clear()


LOG_BATCH = 4_096   # noted entries written to the spill file together (ForkedCache)


class ForkedCache(Cache):
    """The cache as a forked process uses it while its parent holds the build's connection
    (a connection does not survive a fork): it reads through one of its own, read-only, what
    earlier builds saved, and notes what it keeps and uses for the parent to do (replay()).
    A large value is written to its file here, so that only its name travels; with `spill`
    (a file's descriptor, the parent's file too) so is every other value of bytes, into that
    file: a cold build's search stage keeps 100,000 documents' counts, 275 MB that the log
    would otherwise hold here and then in the parent. So are the notes themselves, LOG_BATCH
    at a time: the 200,000 of that stage (a count kept and used per document) were 54 MB in
    the parent, read back whole before it replayed them, at the end of a build where its
    memory peaks."""

    def __init__(self, folder: Path | None, spill: int | None = None, reads: bool = True):
        super().__init__(folder)
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self._spill = spill
        self._spilled = 0   # bytes written to it
        self._noted = 0     # entries of `log` not in the spill file
        # Without `reads`, it finds nothing: a process that did not fork when its parent began
        # writing the cache would wait for the parent's lock (SQLite's, until the save).
        self._reads = reads

    def keep(self, namespace: str, entry_key: str, value: Any) -> None:
        if _file_sized(value):
            if self.path is None:
                return
            try:
                value = _Named(self._write_file(value))
            except OSError:   # the cache only ever saves time: the entry is left out
                return
        elif isinstance(value, bytes) and self._spill is not None:
            value = self._spilled_value(value)
        self._note("keep", (namespace, entry_key, value))

    def used(self, namespace: str, entry_key: str) -> None:
        self._note("used", (namespace, entry_key))

    def retain(self, *namespaces: str) -> None:
        self._note("retain", namespaces)

    def _note(self, method: str, args: tuple[Any, ...]) -> None:
        self.log.append((method, args))
        self._noted += 1
        if self._noted >= LOG_BATCH and self._spill is not None:
            batch = self.log[-self._noted:]
            del self.log[-self._noted:]
            self.log.append(("batch", (self._spilled_value(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)),)))
            self._noted = 0

    def carried(self) -> tuple[list[tuple[str, tuple[Any, ...]]], int, int]:
        """What this cache has noted, for the process it was forked from to resume()."""
        return self.log, self._spilled, self._noted

    def resume(self, carried: tuple[list[tuple[str, tuple[Any, ...]]], int, int]) -> None:
        """Take on what a copy of this cache in a process forked from this one noted since
        (carried()): the same spill file, written further there."""
        self.log, self._spilled, self._noted = carried

    def _spilled_value(self, value: bytes) -> _Spilled:
        assert self._spill is not None
        write_at(self._spill, value, self._spilled)
        self._spilled += len(value)
        return _Spilled(self._spilled - len(value), len(value))

    def save(self, sweep: bool = False) -> None:
        raise TypeError("a forked process's cache is saved by its parent (Cache.replay)")

    def _connection(self, create: bool = False) -> sqlite3.Connection | None:
        if self._db is None and self._failure is None and self._reads and self.path is not None \
                and self.path.is_file():
            try:
                db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                     isolation_level=None, timeout=BUSY_SECONDS)
                self._has_table = bool(db.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").fetchall())
                self._db = db
            except sqlite3.Error as exc:
                self._failure = _unusable(exc)
        return self._db

    def _replace(self) -> None:   # never the parent's file: read as empty
        self._failure = OSError("the cache could not be read")


class _Spilled(NamedTuple):
    """Where a ForkedCache put a value in its spill file."""

    at: int
    size: int


def replay(cache: Cache, log: list[tuple[str, tuple[Any, ...]]], spill: int | None = None) -> None:
    """Do in `cache` what a ForkedCache noted (`spill`: the descriptor of its spill file)."""
    def read(where: _Spilled) -> bytes:
        assert spill is not None, "a spilled value without its file"
        return os.pread(spill, where.size, where.at)

    for method, args in log:
        if method == "batch":   # noted entries, spilled together: read back a batch at a time
            replay(cache, pickle.loads(read(args[0])), spill)
            continue
        if method == "keep" and isinstance(args[2], _Spilled):
            args = (*args[:2], read(args[2]))
        getattr(cache, method)(*args)
