"""The only stage that touches the output folder: stage every file, then swap atomically.

Everything is written into a staging folder beside `build/`. Only when the whole build succeeded
is it exchanged with `build/` in one rename, so CI never pushes half a site and a failed build
leaves the previous output exactly as it was. A manifest lists every file with its site and
digest, which lets `--site` keep other sites' files and later stages know what changed.

The tree a build replaces is kept beside `build/` as a spare (`.build.spare`), and the next build
stages into it: a file it already holds with the right bytes stays where it is, so a rebuild
costs a system call per changed file, not one per file of the cluster (linking and deleting
150,000 files took seconds). The build that makes a tree the spare leaves a note in it: which of
its files differ from the build beside it, and that build's manifest's length and checksum.
With it the next build knows what the spare holds from the manifest it reads anyway, without
parsing the spare's own (a tenth of a second per process at 100,000 pages). What govsite reads of
a manifest is each file's digest: beside the JSON it writes them in a form quicker to read back
(DIGESTS, Python's marshal format), and reads the JSON where that is missing.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import marshal
import os
import shutil
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import orjson

from govsite.diagnostics import Report
from govsite.parallel import Started

MANIFEST = ".govsite/manifest.json"
CHANGES = ".govsite/changes.json"   # URLs added, changed and removed since the previous build
SPARE_NOTE = ".govsite/spare.json"  # in a spare only: how it differs from the build beside it
DIGESTS = ".govsite/digests.marshal"  # the manifest's paths and digests, for govsite itself
DIGESTS_FORMAT = 1


class Claimed(NamedTuple):
    """What claim() found, for a noting() copy to know what the staging folder holds."""

    gone: frozenset[str]    # files the spare should hold but does not
    # The spare's files that differ from the previous build's (None: its manifest says),
    # by path → the spare's digest, or None for a file the spare does not have.
    differs: dict[str, str | None] | None
CLUSTER = ""  # owner of files shared by every site on a host (robots.txt, theme assets)


class UnsafeOutput(Exception):
    """The output folder is somewhere govsite must not replace."""


class Staging:
    def __init__(self, out: Path, project: Path, report: Report, claim: bool = True):
        """`claim`: take the staging folder now; else claim() does, when the caller says."""
        self.out = out.absolute()
        self.report = report
        _check_destination(self.out, project.absolute())
        self.dir = self.out.parent / f".{self.out.name}.staging-{os.getpid()}"
        self.spare = self.out.parent / f".{self.out.name}.spare"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.files: dict[str, tuple[str, str, str]] = {}  # rel → (site, origin, sha256)
        self._folders: set[str] = set()
        self._dir, self._out = str(self.dir), str(self.out)
        # Files the staging folder starts with (the spare's), by path → sha256: kept where
        # their bytes are wanted again, deleted by commit() where they are not.
        self.held: Mapping[str, str] = {}
        # A noting() copy's wait for its parent's claim(), before it touches the folder.
        self._claimed: Callable[[], Claimed | None] | None = None
        self._previous_mark: list[int] = []   # the previous build's digests' length and CRC-32
        # The spare's files, listed from now on beside the build's work: claim() needs them.
        self._spare_files = _listing(str(self.spare)) if self.spare.is_dir() else None
        if claim:
            self.claim()

    def claim(self) -> Claimed | None:
        """Take the spare tree as the staging folder, if there is one: what it holds by its
        note or its manifest, and still holds. Anything else in it (a file someone put into
        the build folder by hand) is deleted, so that a rebuild holds exactly what a clean
        build would. Returns what a noting() copy needs to know of it (None: no spare, an
        empty folder)."""
        listing, self._spare_files = self._spare_files, None
        files = listing() if listing else None   # before the rename: find(1) lists by path
        try:
            os.rename(self.spare, self.dir)   # atomic: of two builds, one gets it
        except OSError:
            self.dir.mkdir(parents=True)
            return None
        differs = self._spare_note()
        held = self._spare_held(differs)
        present = set(files if files is not None else _files_under(self._dir))
        for rel in present - held.keys():   # set operations: a loop over 150,000 took 0.1 s
            if not rel.startswith(".govsite/"):
                _unlink(f"{self._dir}/{rel}")
        gone = frozenset(held.keys() - present)
        for rel in gone:
            del held[rel]
        self.held = held
        return Claimed(gone, differs)

    def _spare_note(self) -> dict[str, str | None] | None:
        """The spare's note (taken out of it: it is no output), if it was written beside the
        digests the previous build left."""
        path = f"{self._dir}/{SPARE_NOTE}"
        try:
            with open(path, "rb") as handle:
                note = orjson.loads(handle.read())
            _unlink(path)
        except (OSError, ValueError):
            return None
        _ = self.previous
        if not isinstance(note, dict) or note.get("beside") != self._previous_mark:
            return None
        return note.get("differs")

    def _spare_held(self, differs: dict[str, str | None] | None) -> dict[str, str]:
        """What the spare holds, path → sha256: the previous build's files where the note
        says the spare's differ, else what the spare's manifest lists."""
        if differs is None:
            return _read_digests(self.dir)[0]
        held = dict(self.previous)
        for rel, sha in differs.items():
            if sha is None:
                held.pop(rel, None)
            else:
                held[rel] = sha
        return held

    def settle(self) -> None:
        """In a noting() copy made before the claim: wait for it, then know what is held as
        it does, on this process's time (by the note, a view: a copy asks after a few of the
        files, and a map of all 150,000 took a tenth of a second). Writing does it when it
        first needs to; a copy that forks writers of its own does it before, once."""
        wait, self._claimed = self._claimed, None
        if wait is None:
            return
        claimed = wait()
        if claimed is None:
            self.held = {}
        elif claimed.differs is not None:
            self.held = _NotedHoldings(self.previous, claimed.differs, claimed.gone)
        else:
            self.held = {rel: sha for rel, sha in self._spare_held(None).items()
                         if rel not in claimed.gone}

    def _taken(self, rel: str, origin: str) -> bool:
        if rel in self.files:
            other = self.files[rel][1]
            self.report.error(origin, 0, f"output file {rel} is also written by {other}",
                              "rename one of them: two things cannot share a URL")
            return True
        return False

    def _path(self, rel: str, origin: str, report: Report) -> str | None:
        """The staging path of an output file, its folder made. Strings, not Path objects:
        a large cluster writes 150,000 files."""
        if self._claimed is not None:
            self.settle()
        parts = rel.split("/")
        if rel.startswith("/") or ".." in parts or not rel or "" in parts[:-1]:
            report.error(origin, 0, f"output path `{rel}` would leave the output folder",
                         "rename the file or column so its URL stays inside the site")
            return None
        folder = f"{self._dir}/{rel.rpartition('/')[0]}" if "/" in rel else self._dir
        if folder not in self._folders:   # one mkdir per folder, not one per file
            try:
                os.makedirs(folder, exist_ok=True)
            except (FileExistsError, NotADirectoryError):   # the spare has a file on the way
                _clear_files_above(self._dir, rel)
                os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        return f"{self._dir}/{rel}"

    def write(self, rel: str, data: str | bytes, site: str, origin: str) -> None:
        digest = self.put(rel, data, origin)
        if digest:
            self.record(rel, site, origin, digest)

    def put(self, rel: str, data: str | bytes, origin: str, report: Report | None = None) -> str:
        """Write one file and return its digest, without recording it: render workers write
        their files themselves and the parent records them (see record)."""
        path = self._path(rel, origin, report or self.report)
        if path is None:
            return ""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        # Never write through a hard link into the previous build, which a failed build keeps.
        _unlink(path)
        with open(path, "wb") as handle:
            handle.write(raw)
        return hashlib.sha256(raw).hexdigest()

    def link_previous(self, rel: str, digest: str, origin: str, report: Report | None = None) -> str:
        """Link the previous build's copy of a file known to be unchanged (its digest is the
        manifest's): no bytes written. Returns the digest, or "" when that copy is gone."""
        if self._claimed is not None:
            self.settle()
        # The staging folder holds these bytes already, where a build before put them (a
        # path it checked then): nothing to do, for most of the files of a rebuild.
        if self.held.get(rel) == digest:
            return digest
        path = self._path(rel, origin, report or self.report)
        if path is None:
            return ""
        try:
            _unlink(path)
            os.link(f"{self._out}/{rel}", path)
        except OSError:
            return ""
        return digest

    def noting(self, claimed: Callable[[], Claimed | None] | None = None) -> Staging:
        """A copy for a forked process: it writes files as this one does, and notes what it
        would record in `noted`, for this one to record (a process's records are its own).
        Made before claim(), it is given `claimed`, which waits for what claim() returned:
        the forked process works meanwhile and touches the folder only once it is claimed."""
        copy = object.__new__(Staging)
        copy.__dict__.update(self.__dict__)
        copy.noted = []
        copy._claimed = claimed
        return copy

    def __getstate__(self) -> dict:
        """Pickled for a process this one did not fork (shipped()): without the previous build's
        digests, which it reads from the output folder itself. Pickled into the stream that
        starts an edit's search, 150,000 of them held this process up for a third of a second
        at 100,000 pages, and were the top of its memory."""
        state = dict(self.__dict__)
        state.pop("previous", None)   # (the cached property's value)
        state["_spare_files"] = None   # (the listing of the spare, for claim() here)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if isinstance(self.held, _NotedHoldings):
            self.held.previous_is(self.previous)

    def shipped(self) -> Staging:
        """A noting() copy for a process this one did not fork (pickled, and sent): with a
        report of its own, and without the files recorded so far, which it would only check
        its own against; record() here checks them all when it records what it noted."""
        self.settle()
        copy = self.noting()
        copy.files, copy._folders, copy.report = {}, set(), Report(self.report.root)
        if type(copy.held) is dict and copy.held:
            # As it differs from the previous build's files, which go without it (see
            # __getstate__): whole, the 145,000 paths of a claimed spare were 18 MB to pickle,
            # send and read back before an edit's search could start.
            previous, held = self.previous, copy.held
            copy.held = _NotedHoldings(previous, {rel: sha for rel, sha in held.items()
                                                  if previous.get(rel) != sha},
                                       frozenset(previous.keys() - held.keys()))
        return copy

    noted: list[tuple[str, str, str, str]] | None = None

    def record(self, rel: str, site: str, origin: str, digest: str) -> None:
        if self.noted is not None:
            self.noted.append((rel, site, origin, digest))
            return
        if rel in self.files:
            other = self.files[rel][1]
            self.report.error(origin, 0, f"output file {rel} is also written by {other}",
                              "rename one of them: two things cannot share a URL")
            return
        self.files[rel] = (site, origin, digest)

    def record_all(self, site: str, files: list[tuple[str, str, str]]) -> None:
        """record() each of (rel, origin, digest), at once."""
        if self.noted is not None or not self.files.keys().isdisjoint(rel for rel, _, _ in files):
            for rel, origin, digest in files:
                self.record(rel, site, origin, digest)
            return
        self.files.update((rel, (site, origin, digest)) for rel, origin, digest in files)

    def copy(self, rel: str, source: Path | str, site: str, origin: str, digest: str = "") -> None:
        """Copy a file in, or link the previous build's copy when it holds the same bytes: by
        `digest` when known (discover reads attachments on every core), else read here."""
        if self._taken(rel, origin):
            return
        # An attachment the previous build already holds, byte for byte, is linked: reading a
        # file is cheaper than copying it, and a cluster has thousands.
        if rel in self.previous:
            digest = digest or _digest(source)
            if self.previous[rel] == digest and self.link_previous(rel, digest, origin):
                self.files[rel] = (site, origin, digest)
                return
        path = self._path(rel, origin, self.report)
        if path is None:
            return
        self.files[rel] = (site, origin, _copied(source, path))

    @functools.cached_property
    def previous(self) -> dict[str, str]:
        """The previous build's files: path → sha256."""
        read = _PREREAD.pop(self.out) if self.out in _PREREAD else _read_digests(self.out)
        digests, self._previous_mark = read
        return digests

    def keep_previous(self, sites: set[str]) -> None:
        """Carry over the previous build's files of `sites` (for `--site` builds)."""
        for rel, entry in sorted(_read_manifest(self.out).items()):
            if entry["site"] not in sites:
                continue
            source = self.out / rel
            if not source.is_file():
                continue
            if self.link_previous(rel, entry["sha256"], "previous build"):
                self.files[rel] = (entry["site"], "previous build", entry["sha256"])

    def commit(self, url_of: Callable[[str], str] | None = None) -> None:
        self._drop_unwanted()
        # The files' paths in order, and their digests read from self.files where needed: a
        # list of every (path, record) and a dictionary of path → digest were 20 MB more at
        # the end of a 100,000-page build, the parent's peak.
        ordered = sorted(self.files)
        files = self.files
        path = self.dir / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        for name in (MANIFEST, DIGESTS, CHANGES):
            _unlink(str(self.dir / name))   # never written through: the spare's own copies
        with open(path, "wb") as manifest:
            manifest.writelines(_manifest_lines(ordered, self.files))
        # Format version 2: the later ones write a repeated string as a reference to its first
        # copy when it is the same object, so equal digests could give different bytes.
        data = marshal.dumps((DIGESTS_FORMAT, ordered, [files[rel][2] for rel in ordered]), 2)
        (self.dir / DIGESTS).write_bytes(data)
        mark = _mark(data)
        del data   # (21 MB at 100,000 pages, at the build's peak while changes.json is made)
        changes = changed_files(self.previous, files)
        if url_of is not None:
            with open(self.dir / CHANGES, "w", encoding="utf-8") as listed:
                # Written as it is made (json.dump): a cold build's 145,000 URLs as one string,
                # and then its bytes, were at the build's peak of memory (100,000 pages).
                json.dump({"version": 1, "previous_build": (self.out / MANIFEST).is_file(),
                           **{kind: sorted({url for rel in rels for url in _urls(url_of(rel))})
                              for kind, rels in changes.items()}},
                          listed, ensure_ascii=False, indent=1, sort_keys=True)
                listed.write("\n")
        if self.out.exists():
            _exchange(self.dir, self.out)
            if self.previous:   # (the note: see the module's doc)
                previous = self.previous
                (self.dir / SPARE_NOTE).write_bytes(orjson.dumps({"beside": mark, "differs": {
                    rel: previous.get(rel) for rels in changes.values() for rel in rels}}))
            try:   # the build just replaced: the next build's staging folder
                os.rename(self.dir, self.spare)
            except OSError:   # another build left a spare meanwhile: one is enough
                shutil.rmtree(self.dir)
        else:
            os.rename(self.dir, self.out)

    def _drop_unwanted(self) -> None:
        """Delete what the spare held that this build did not write, and folders left empty."""
        folders = set()
        for rel in self.held.keys() - self.files.keys():
            try:
                os.unlink(f"{self._dir}/{rel}")
            # Gone, or this build put a folder where it was, or a file where its folder was.
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
                continue
            folders.add(rel.rpartition("/")[0])
        for folder in sorted(folders, key=len, reverse=True):
            while folder:
                try:
                    os.rmdir(f"{self._dir}/{folder}")
                except OSError:   # not empty (or gone): so are the folders above it
                    break
                folder = folder.rpartition("/")[0]

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


MANIFEST_BATCH = 5_000   # manifest entries made into JSON at a time


def _manifest_lines(ordered: list[str], files: Mapping[str, tuple[str, str, str]]) -> Iterator[bytes]:
    """The manifest, {"files": {path: {"sha256", "site"}}, "version": 1}, as orjson writes it
    indented by two (the bytes every earlier build wrote), made a batch of files at a time:
    made whole (145,000 dictionaries, then their JSON), it and changes.json took the parent at
    the end of a 100,000-page build from 717 to 801 MB, the build's peak; now to 758 MB."""
    if not ordered:
        yield orjson.dumps({"files": {}, "version": 1}, option=orjson.OPT_INDENT_2) + b"\n"
        return
    yield b'{\n  "files": {\n'
    for start in range(0, len(ordered), MANIFEST_BATCH):
        rels = ordered[start:start + MANIFEST_BATCH]
        batch = {rel: {"sha256": digest, "site": site}
                 for rel, (site, _, digest) in zip(rels, map(files.__getitem__, rels), strict=True)}
        # The batch as an object of its own, indented as the whole one's are, without its braces.
        inner = orjson.dumps({"files": batch}, option=orjson.OPT_INDENT_2)
        yield (b",\n" if start else b"") + inner[len(b'{\n  "files": {\n'):-len(b"\n  }\n}")]
    yield b'\n  },\n  "version": 1\n}\n'


class _NotedHoldings(Mapping):
    """What the spare holds by its note (Staging._spare_held), looked up one path at a time."""

    def __init__(self, previous: dict[str, str], differs: dict[str, str | None],
                 gone: frozenset[str]):
        self._previous, self._differs, self._gone = previous, differs, gone

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_previous": {}}   # (the staging's: see Staging.__getstate__)

    def previous_is(self, previous: dict[str, str]) -> None:
        self._previous = previous

    def __getitem__(self, rel: str) -> str:
        if rel in self._gone:
            raise KeyError(rel)
        if rel in self._differs:
            sha = self._differs[rel]
            if sha is None:
                raise KeyError(rel)
            return sha
        return self._previous[rel]

    def __iter__(self) -> Iterator[str]:
        for rel in self._previous.keys() | self._differs.keys():
            if rel in self:
                yield rel

    def __len__(self) -> int:
        return sum(1 for _ in self)


def changed_files(before: Mapping[str, str], after: Mapping[str, tuple[str, str, str]]
                  ) -> dict[str, list[str]]:
    """Output files added, changed (other bytes) and removed between the previous build's
    digests and this one's records (site, origin, digest)."""
    added, changed = [], []
    get = before.get
    for rel, (_, _, digest) in after.items():   # one pass (150,000 files), no set of them all
        known = get(rel)
        if known is None:
            added.append(rel)
        elif known != digest:
            changed.append(rel)
    removed = [rel for rel in before if rel not in after] if len(after) - len(added) < len(before) \
        else []
    return {"added": sorted(added), "changed": sorted(changed), "removed": sorted(removed)}


def _urls(url: str) -> list[str]:
    """A folder's index.html is served at the folder's URL too: a CDN purges both."""
    return [url, url.removesuffix("index.html")] if url.endswith("/index.html") else [url]


def previous_sites(out: Path) -> set[str]:
    return {entry["site"] for entry in _read_manifest(out.absolute()).values()}


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    return _read_manifest(out.absolute())


def _read_manifest(out: Path) -> dict[str, dict[str, str]]:
    try:
        return dict(orjson.loads((out / MANIFEST).read_bytes())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# What preread() read, by output folder: taken by the first Staging.previous that asks.
_PREREAD: dict[Path, tuple[dict[str, str], list[int]]] = {}


def preread(out: Path) -> None:
    """Read the previous build's digests now, for a Staging this process is sent later (a lean
    process reads them while it waits for its job: 150,000 of them took an edit's search a
    fifth of a second once it had started). The output folder does not change before then."""
    _PREREAD[out.absolute()] = _read_digests(out.absolute())


def _read_digests(out: Path) -> tuple[dict[str, str], list[int]]:
    """A build's files, path → sha256, and the _mark() of what they were read from: its
    DIGESTS, or where that is missing or unreadable, its manifest ([] when neither is)."""
    try:
        raw = (out / DIGESTS).read_bytes()
        version, paths, digests = marshal.loads(raw)
        if version == DIGESTS_FORMAT and len(paths) == len(digests):
            return dict(zip(paths, digests, strict=True)), _mark(raw)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    try:
        raw = (out / MANIFEST).read_bytes()
        return {rel: entry["sha256"] for rel, entry in orjson.loads(raw)["files"].items()}, _mark(raw)
    except (OSError, ValueError, KeyError, TypeError):
        return {}, []


def _mark(manifest: bytes) -> list[int]:
    """What tells one build's digests from another's, cheaply: their length and CRC-32 (a
    spare's note is checked against them; a mismatch only costs reading the spare's own)."""
    return [len(manifest), zlib.crc32(manifest)]


def _check_destination(out: Path, project: Path) -> None:
    resolved, root = out.resolve(), project.resolve()
    if resolved == root or root.is_relative_to(resolved):
        raise UnsafeOutput(f"--out {out} would replace the project folder itself")
    if resolved.is_relative_to(root / "content") or resolved.is_relative_to(root / "themes"):
        raise UnsafeOutput(f"--out {out} lies inside the project's sources")
    if resolved.exists() and (not resolved.is_dir() or (
            any(resolved.iterdir()) and not (resolved / MANIFEST).is_file())):
        raise UnsafeOutput(f"{out} exists and was not written by govsite; "
                           "remove it or choose another --out")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except (IsADirectoryError, PermissionError):   # the spare has a folder by that name
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            raise


def _clear_files_above(root: str, rel: str) -> None:
    """Delete any file that stands where one of rel's folders must be."""
    at = root
    for part in rel.split("/")[:-1]:
        at = f"{at}/{part}"
        if os.path.lexists(at) and not os.path.isdir(at):
            os.unlink(at)


def _listing(root: str) -> Callable[[], list[str] | None]:
    """Every file under `root` by relative path, listed by GNU find, started now: a pass over
    every file of a build (150,000 at 100,000 pages) made beside the stages before claim()
    rather than on its way. The function returned waits for it; None where find is missing or
    failed (the caller walks the folder itself)."""
    try:
        find = Started(["find", root, "-mindepth", "1", "!", "-type", "d", "-printf", "%P\\0"])
    except OSError:
        return lambda: None

    def answer() -> list[str] | None:
        code, found = find.result()
        return None if code else found.decode("utf-8", "surrogateescape").split("\0")[:-1]
    return answer


def _files_under(root: str) -> list[str]:
    """Every file under a folder, by relative path (os.scandir: a fifth of os.walk's time)."""
    found, stack = [], [""]
    while stack:
        folder = stack.pop()
        with os.scandir(f"{root}/{folder}" if folder else root) as entries:
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                else:
                    found.append(rel)
    return found


def _copied(source: Path | str, path: str) -> str:
    """Copy a file, never through a link into the previous build, and give the SHA-256 of the
    bytes written: read once. Read to hash it, copied, and read again to hash the copy, the
    33,000 attachments of a 100,000-page cluster took 14 to 20 s of a cold build's end."""
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        try:
            copy = open(path, "xb")  # noqa: SIM115 (closed below)
        except FileExistsError:   # (a file of the spare's, or a link to the previous build)
            _unlink(path)
            copy = open(path, "xb")  # noqa: SIM115 (closed below)
        with copy:
            while block := handle.read(1 << 20):
                digest.update(block)
                copy.write(block)
    return digest.hexdigest()


def _digest(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders in one step (Linux renameat2); elsewhere, two renames back to back."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
    except (AttributeError, OSError):
        pass
    aside = b.with_name(b.name + ".previous")
    if aside.exists():
        shutil.rmtree(aside)
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
