"""content/ → the Markdown sources and attachments of every site, in a stable order.

Walks are sorted so two machines see the same files in the same order. Nothing is parsed here;
the only judgement is which files belong to the build at all. A source is found by its digest,
not its text: a rebuild reads most pages back from the cache by digest, and decoding and
holding every file's text cost two seconds and half a gigabyte at 100,000 pages. The text is
read when a stage needs it (Source.read), and checked against the digest then.

A digest is the file's git blob id (the SHA-1 of "blob <size>\0" and its bytes). In a git
checkout, which is how CI builds a cluster, git already holds that id for every committed file
it vouches is unchanged (git_ids): those files are not read at all, and at 100,000 pages that
was most of a rebuild's time. Every other file is read and digested here, the same way, so a
file has one digest whoever worked it out.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from govsite.config import ClusterConfig
from govsite.diagnostics import Report, did_you_mean
from govsite.model import Attachment
from govsite.parallel import Started, default_jobs, ordered_map

CONTENT = "content"
ATTACHMENT_TYPES = frozenset(
    ["pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et", "ofd", "csv", "txt", "zip", "rar", "7z", "png", "jpg", "jpeg", "gif", "svg", "webp", "mp4", "mp3", "json", "xml"])


class Source(NamedTuple):
    """(A named tuple: made 100,000 times a build at 100,000 pages, in a fifth of a frozen
    dataclass's time.)"""

    site: str
    rel: str          # path under content/, posix: "www/news/2024-05-08.md"
    path: str         # as found on disk, for diagnostics
    digest: str       # git blob id of the file's bytes (blob_id)
    loaded: str | None = None   # its text, when read already (read_source)

    def read(self, report: Report) -> str | None:
        """The file's text, newlines as \n; None (reported) when it is not UTF-8 text or no
        longer the file that was found."""
        if self.loaded is not None:
            return self.loaded
        return read_text(self.path, self.digest, report)


@dataclass(frozen=True)
class Discovery:
    sources: tuple[Source, ...]
    attachments: tuple[Attachment, ...]

    @functools.cached_property
    def digests(self) -> dict[str, dict[str, str]]:
        """Each site's sources' digests, by rel, in the sources' order: what a model keeps to
        tell, one dictionary comparison per site, which sources changed since it was made."""
        by_site: dict[str, dict[str, str]] = {}
        for source in self.sources:
            by_site.setdefault(source.site, {})[source.rel] = source.digest
        return by_site


def find_sources(config: ClusterConfig, report: Report, jobs: int | None = None
                 ) -> Discovery:
    """Every site's Markdown sources, digested on `jobs` cores (by default all of them for a
    large cluster; one job, one process), and its attachments."""
    content = config.root / CONTENT
    found: list[tuple[str, str, str]] = []   # site, rel, path of each Markdown file
    attachments: list[tuple[str, str, str]] = []   # site, rel under it, path
    if not content.is_dir():
        report.error(content, 0, "no content/ folder", "create content/<site id>/ for each site")
        return Discovery((), ())
    ids = set(config.ids)
    root = content.resolve()
    committed = git_ids(str(content))   # git answers while the folders are walked
    for entry in sorted(content.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            report.error(entry, 0, "content/ holds one folder per site, not files",
                         "move this file into content/<site id>/<column>/")
            continue
        if entry.name not in ids:
            report.error(entry, 0, f"content folder `{entry.name}` is not a site in sites.yaml",
                         did_you_mean(entry.name, ids) + " (or add the site to sites.yaml)")
            continue
        # Plain strings, not Path objects, and the work per folder where it can be: a large
        # cluster has 100,000 files, and a few steps more per file are a tenth of a second.
        site, top, prefix = entry.name, str(entry), len(str(content)) + 1
        for folder, names, links in _walk(top):
            under = folder[prefix:].replace(os.sep, "/") + "/"
            for name in links:
                full = f"{folder}{os.sep}{name}"
                if not Path(full).resolve().is_relative_to(root):
                    report.error(full, 0, "symbolic link points outside content/",
                                 "copy the file into the project instead")
                    names.remove(name)
            pages = [name for name in names if name.endswith(".md")]
            found += [(site, under + name, f"{folder}{os.sep}{name}") for name in pages]
            if len(pages) == len(names):
                continue
            for name in names:
                dot = name.rfind(".")   # os.path.splitext's answer for these names, in a tenth
                suffix = name[dot:] if dot > 0 else ""
                full = f"{folder}{os.sep}{name}"
                if suffix == ".md":
                    continue
                if suffix.lower().lstrip(".") not in ATTACHMENT_TYPES:
                    report.warning(full, 0, f"file type `{suffix or name}` is not published",
                                   "attachments can be " + ", ".join(sorted(ATTACHMENT_TYPES)))
                elif folder == top:
                    report.error(full, 0, "attachments belong beside their page in a column folder",
                                 f"move it into content/{site}/<column>/")
                else:
                    rel = under + name
                    attachments.append((site, rel.split("/", 1)[1], full))
                    found.append(("", rel, full))   # digested with the sources
    sources: list[Source] = []
    digests: dict[str, str] = {}   # an attachment's path → its digest
    known = committed()
    unknown = iter(_digests([path for _, rel, path in found if rel not in known], jobs))
    for (site, rel, path), digest in zip(found, [known.get(rel) or next(unknown)
                                                 for _, rel, path in found], strict=True):
        if isinstance(digest, OSError):
            report.error(path, 0, f"file cannot be read: {digest.strerror or digest}",
                         "check that govsite may read it")
        elif site:
            sources.append(Source(site, rel, path, digest))
        else:
            digests[path] = digest
    return Discovery(tuple(sources), tuple(Attachment(site, rel, path, digests[path])
                                           for site, rel, path in attachments if path in digests))


PARALLEL_FROM = 1_000       # files from which they are read on several processes
READERS_PER_CORE = 4        # reading a file is mostly waiting for the disk
SLICE = 500                 # files one reader digests at a time


def _digests(paths: list[str], jobs: int | None) -> list[str | OSError]:
    """Each file's SHA-256, in order. A large cluster's files are read by several processes
    per core: when they are not in memory (a fresh CI runner, a cluster larger than the page
    cache), a process spends most of its time waiting for the disk, and more reads in flight
    cut that wait (100,000 files: 10.6 s on one process, 2.9 s on eight, on two cores)."""
    def digest_slice(n: int) -> list[str | OSError]:
        out: list[str | OSError] = []
        for path in paths[n * SLICE:(n + 1) * SLICE]:
            try:
                out.append(_file_digest(path))
            except OSError as exc:
                out.append(exc)
        return out

    cores = jobs or default_jobs()
    readers = cores * READERS_PER_CORE if cores > 1 and len(paths) >= PARALLEL_FROM else 1
    return [d for part in ordered_map(digest_slice, -(-len(paths) // SLICE), readers) for d in part]


def read_source(site: str, rel: str, path: str, report: Report) -> Source | None:
    """One Markdown file as a source, its text read, or None (reported) when it is not UTF-8."""
    raw = _read(path)
    text = _decode(raw, path, report)
    return None if text is None else Source(site, rel, path, blob_id(raw), text)


def read_text(path: str, digest: str, report: Report) -> str | None:
    """The text of a source found with this digest; None (reported) when it is not UTF-8 text
    or changed since (what was read before it, in this build, was another version)."""
    try:
        raw = _read(path)
    except OSError:
        raw = b""
    if blob_id(raw) != digest:
        report.error(path, 0, "file changed or went away while govsite was building",
                     "build again once the files are saved")
        return None
    return _decode(raw, path, report)


def _decode(raw: bytes, path: str, report: Report) -> str | None:
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:   # pointed at the line of the first byte that is not
        report.error(path, raw[:exc.start].count(b"\n") + 1, "file is not UTF-8 text",
                     "save it as UTF-8 (an editor set to GBK or GB 18030 writes other bytes)")
        return None


def _read(path: str) -> bytes:
    # os.read on a descriptor: a third quicker than open().read() for 100,000 small files.
    handle = os.open(path, os.O_RDONLY)
    try:
        return _read_open(handle)
    finally:
        os.close(handle)


def _read_open(handle: int) -> bytes:
    size = os.fstat(handle).st_size
    data = os.read(handle, size + 1)
    if len(data) == size:
        return data
    chunks = [data]   # it grew since fstat, or the system gave less: read to the end
    while chunks[-1]:
        chunks.append(os.read(handle, 1 << 20))
    return b"".join(chunks)


def blob_id(data: bytes) -> str:
    """The id git gives a file of these bytes: a digest of the content alone, which git keeps
    for every committed file. (SHA-1, as git's: collisions have been made, by design and at
    great cost, for files nobody would publish; git itself detects such pairs.)"""
    digest = _blob_hash(len(data))
    digest.update(data)
    return digest.hexdigest()


def _blob_hash(size: int) -> hashlib._Hash:
    return hashlib.sha1(b"blob %d\0" % size)


def _file_digest(path: str) -> str:
    handle = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(handle).st_size
        if size <= LARGE_FILE:
            return blob_id(_read_open(handle))
        digest = _blob_hash(size)   # a large attachment is never held whole
        read = 0
        while block := os.read(handle, LARGE_FILE):
            digest.update(block)
            read += len(block)
        if read != size:   # it changed as it was read: a digest no file has
            raise OSError(f"{path} changed while it was read")
        return digest.hexdigest()
    finally:
        os.close(handle)


LARGE_FILE = 1 << 20

# git's settings under which a committed file's id may not be its bytes' in the working tree
# (line endings converted), or its stat check is loosened: then every file is read.
_UNTRUSTED_SETTINGS = {"core.autocrlf": ("true", "input"), "core.trustctime": ("false",),
                       "core.checkstat": ("minimal",)}
# Attributes that make a file's working-tree bytes differ from what git stored.
_CONVERTING = frozenset([b"text", b"eol", b"crlf", b"filter", b"ident", b"working-tree-encoding"])
_STAGED = re.compile(r"H 100(?:644|755) ([0-9a-f]{40}) 0\t([^\0]*)\0")


def git_ids(content: str) -> Callable[[], dict[str, str]]:
    """The blob ids git vouches for, by path under `content`: files committed or staged whose
    working-tree copy git finds unchanged (`git diff-files`, which checks the file's size,
    inode and change time against what git recorded when it hashed the file, and reads the
    file when those cannot tell), not converted on checkout, and not marked assume-unchanged
    or skip-worktree. git is started now; the function returned waits for its answer. No git,
    no repository, or any doubt: an empty answer, and every file is read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"LC_ALL": "C"}

    def git(*args: str, stdin: Any = None) -> Started:
        return Started(["git", "-C", content, *args], stdin=stdin, env=env)
    try:
        settings = git("config", "--get-regexp", r"^core\.(autocrlf|trustctime|checkstat)$")
        staged = git("ls-files", "--stage", "-v", "-z")
        dirty = git("diff-files", "--name-only", "--relative", "-z")
        listed = subprocess.Popen(["git", "-C", content, "ls-files", "-z"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=env)
        attributes = git("check-attr", "--stdin", "-z", "--all", stdin=listed.stdout)
        listed.stdout.close()  # type: ignore[union-attr]
    except OSError:   # no git on this machine
        return dict

    def answer() -> dict[str, str]:
        codes, outputs = zip(*(started.result() for started in (settings, staged, dirty, attributes)),
                             strict=True)
        # Waited for whatever the others said: one not waited for stayed a zombie of this
        # process until the next command was started (outside a repository, where git fails).
        listed_code = listed.wait()
        if any(codes[1:]) or listed_code or codes[0] > 1:
            return {}   # not a repository, or git failed: nothing vouched for
        for line in outputs[0].decode(errors="replace").splitlines():
            name, _, value = line.partition(" ")
            if value.strip().lower() in _UNTRUSTED_SETTINGS.get(name.lower(), ()):
                return {}
        fields = outputs[3].split(b"\0")
        excluded = {fields[i] for i in range(0, len(fields) - 2, 3)
                    if fields[i + 1] in _CONVERTING and fields[i + 2] != b"unset"}
        excluded.update(outputs[2].split(b"\0"))
        excluded.discard(b"")
        # Decoded once, whole: per path, decoding took longer than git took to answer.
        ids = {path: blob for blob, path in _STAGED.findall(outputs[1].decode("utf-8", "surrogateescape"))}
        for path in excluded:
            ids.pop(path.decode("utf-8", "surrogateescape"), None)
        return ids
    return answer


def _walk(folder: str) -> list[tuple[str, list[str], list[str]]]:
    """(folder, its files' names, those of them that are symbolic links) for `folder` and every
    folder below it, in a stable order: a folder's files by name, then its subfolders by name;
    hidden files and folders and Office lock files (~$) skipped, links to folders not followed
    (as os.walk). os.scandir tells links from files without a system call per file."""
    names: list[str] = []
    links: list[str] = []
    folders: list[str] = []
    with os.scandir(folder) as scan:
        for entry in scan:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir():
                if not entry.is_symlink():
                    folders.append(entry.path)
            elif not name.startswith("~$"):
                names.append(name)
                if entry.is_symlink():
                    links.append(name)
    names.sort()
    found = [(folder, names, links)]
    for sub in sorted(folders):
        found += _walk(sub)
    return found
