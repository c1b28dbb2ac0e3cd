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
from govsite.diagnostics import Diagnostic, Report, did_you_mean
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


class Vouched(NamedTuple):
    """What a build's discovery leaves the next one (changed_since): the commit git compared
    the files with, and every file whose bytes git did not vouch are that commit's (read,
    staged apart from it, converted, a link, or not published). Every other file's bytes are
    its blob in the commit."""

    commit: str
    unvouched: dict[str, str]   # path under content/ → its digest ("" for a file not published)
    findings: tuple[Diagnostic, ...]   # what discovering reported: of names, not bytes


@dataclass(frozen=True)
class Discovery:
    sources: tuple[Source, ...]
    attachments: tuple[Attachment, ...]
    vouched: Vouched | None = None   # None: not a git checkout with a commit

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
    start = len(report.items)
    unpublished: list[str] = []   # files warned of, by path under content/
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
                    unpublished.append(under + name)
                elif folder == top:
                    report.error(full, 0, "attachments belong beside their page in a column folder",
                                 f"move it into content/{site}/<column>/")
                else:
                    rel = under + name
                    attachments.append((site, rel.split("/", 1)[1], full))
                    found.append(("", rel, full))   # digested with the sources
    sources: list[Source] = []
    digests: dict[str, str] = {}   # an attachment's path → its digest
    git = committed()
    known, apart = git.ids, git.apart
    unvouched = dict.fromkeys(unpublished, "")   # (see Vouched)
    unknown = iter(_digests([path for _, rel, path in found if rel not in known], jobs))
    for (site, rel, path), digest in zip(found, [known.get(rel) or next(unknown)
                                                 for _, rel, path in found], strict=True):
        if isinstance(digest, OSError):
            report.error(path, 0, f"file cannot be read: {digest.strerror or digest}",
                         "check that govsite may read it")
            continue
        if site:
            sources.append(Source(site, rel, path, digest))
        else:
            digests[path] = digest
        if rel not in known or rel in apart:
            unvouched[rel] = digest
    vouched = Vouched(git.commit, unvouched, tuple(report.items[start:])) if git.commit else None
    return Discovery(tuple(sources), tuple(Attachment(site, rel, path, digests[path])
                                           for site, rel, path in attachments if path in digests),
                     vouched)


@dataclass(frozen=True)
class Since:
    """What changed_since() found: every source's digest, and the sources that changed."""

    digests: dict[str, dict[str, str]]   # as Discovery.digests
    sources: tuple[Source, ...]          # those whose bytes changed, read
    vouched: Vouched
    attachments: None = None   # the previous build's: changed_since() knows of none changed


def changed_since(config: ClusterConfig, vouched: Vouched, before: dict[str, dict[str, str]]
                  ) -> Callable[[], Since | None] | None:
    """Every source as a build that found `before` (and left `vouched`) found it, with those git
    says may have changed since read again: the files the commit then and the index now differ
    on, the files not as the index has them, the files git does not track, and the files it did
    not vouch for then. The other 100,000 files of a large cluster are neither walked nor read.

    None, and the caller finds every source (find_sources), when anything but a Markdown
    file's bytes may have changed: a file came or went, an attachment changed, or git cannot
    answer, is set to convert files or not to check them (as in git_ids). git is started now; the
    function returned waits for its answer (None: known at once)."""
    content = config.root / CONTENT
    try:   # (what find_sources reports of content/ itself, rather than of a site's files)
        entries = [entry for entry in content.iterdir() if not entry.name.startswith(".")]
    except OSError:
        return None
    if any(entry.name not in config.ids or entry.is_symlink() or not entry.is_dir()
           for entry in entries):
        return None
    git = _Git(str(content))
    try:
        git.settings()
        git.start("ls-files", "-v", "-z")
        git.attributes()
        git.start("rev-parse", "--verify", "-q", "HEAD")
        for args in (("diff-index", "--cached", "--name-only", "--relative", "-z", vouched.commit),
                     ("diff-index", "--cached", "--name-only", "--relative", "-z", "HEAD"),
                     ("diff-files", "--name-only", "--relative", "-z"),
                     ("ls-files", "--others", "-z")):
            git.start(*args)
    except OSError:   # no git on this machine (or no more processes: those started, waited for)
        git.answers()
        return None

    def answer() -> Since | None:
        answers = git.answers()
        if answers is None or any(code for code, _ in answers[1:]) or not _trusted(answers[0]):
            return None
        flags, attributes, head = answers[1][1], answers[2][1], answers[3][1]
        if _FLAGGED.search(flags):   # assume-unchanged, skip-worktree, a conflict: not checked
            return None
        candidates = set(vouched.unvouched).union(
            *(_paths(output) for _, output in answers[4:]),
            (path.decode("utf-8", "surrogateescape") for path in _converting(attributes)))
        if len(candidates) > PARALLEL_FROM:   # (find_sources reads them on every core)
            return None
        return _read_changed(content, sorted(candidates, key=_walk_order), vouched, before,
                             head.decode().strip())
    return answer


def _read_changed(content: Path, candidates: list[str], vouched: Vouched,
                  before: dict[str, dict[str, str]], commit: str) -> Since | None:
    root = content.resolve()
    digests = dict(before)
    changed: list[Source] = []
    unvouched: dict[str, str] = {}
    for rel in candidates:
        parts = rel.split("/")
        if any(part.startswith(".") for part in parts) or parts[-1].startswith("~$"):
            continue   # (as _walk: never part of a build)
        site = parts[0]
        then = before.get(site, {}).get(rel) if rel.endswith(".md") else vouched.unvouched.get(rel)
        path = os.path.join(content, *parts)
        try:
            if then is None or (os.path.islink(path)
                                and not Path(path).resolve().is_relative_to(root)):
                return None   # a file that came (or a link out), or a vouched attachment changed
            digest = _file_digest(path) if then else ""
        except OSError:   # it went
            return None
        if then and digest != then:
            if not rel.endswith(".md"):
                return None   # an attachment's new bytes: published anew (find_sources)
            if digests[site] is before[site]:
                digests[site] = dict(before[site])
            digests[site][rel] = digest
            changed.append(Source(site, rel, path, digest))
        elif not then and not os.path.isfile(path):
            return None
        unvouched[rel] = digest
    return Since(digests, tuple(changed), Vouched(commit, unvouched, vouched.findings))


def _walk_order(rel: str) -> str:
    """A key sorting paths as _walk finds them: a folder's files, then its folders."""
    folder, _, name = rel.rpartition("/")
    return folder.replace("/", "\x01") + "\x01\x00" + name


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
_FLAGGED = re.compile(rb"(?:\A|\0)(?!H )[^\0]")   # an entry of `ls-files -v` not plainly cached


class GitAnswer(NamedTuple):
    ids: dict[str, str]      # the blob ids git vouches for, by path under content/
    commit: str              # HEAD, "" when there is none
    apart: frozenset[str]    # paths staged apart from HEAD (their ids are not its blobs)


class _Git:
    """git commands about a content folder, started beside this process: the caller waits
    for their answers once it has done its own work. A command is not started twice."""

    def __init__(self, content: str) -> None:
        self.content = content
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {"LC_ALL": "C"}
        self.started: list[Started] = []
        self.piped: list[subprocess.Popen] = []

    def start(self, *args: str, stdin: Any = None) -> Started:
        started = Started(["git", "-C", self.content, *args], stdin=stdin, env=self.env)
        self.started.append(started)
        return started

    def settings(self) -> Started:
        return self.start("config", "--get-regexp", r"^core\.(autocrlf|trustctime|checkstat)$")

    def attributes(self) -> Started:
        """Every tracked file's attributes (those set)."""
        listed = subprocess.Popen(["git", "-C", self.content, "ls-files", "-z"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, env=self.env)
        self.piped.append(listed)
        try:
            return self.start("check-attr", "--stdin", "-z", "--all", stdin=listed.stdout)
        finally:
            listed.stdout.close()  # type: ignore[union-attr]

    def answers(self) -> list[tuple[int, bytes]] | None:
        """Each command's output, in the order started; None when any failed. Every command is
        waited for, whatever the others said: one not waited for stays a zombie of this process
        until the next one is started (outside a repository, where git fails)."""
        results = [started.result() for started in self.started]
        codes = [process.wait() for process in self.piped]
        return None if any(codes) else results


def _trusted(settings: tuple[int, bytes]) -> bool:
    """git's settings allow its ids and stat checks to stand for the bytes (`git config`: 1, none set)."""
    code, output = settings
    if code > 1:
        return False
    for line in output.decode(errors="replace").splitlines():
        name, _, value = line.partition(" ")
        if value.strip().lower() in _UNTRUSTED_SETTINGS.get(name.lower(), ()):
            return False
    return True


def _converting(attributes: bytes) -> set[bytes]:
    fields = attributes.split(b"\0")
    return {fields[i] for i in range(0, len(fields) - 2, 3)
            if fields[i + 1] in _CONVERTING and fields[i + 2] != b"unset"}


def _paths(output: bytes) -> set[str]:
    return {path.decode("utf-8", "surrogateescape") for path in output.split(b"\0") if path}


def git_ids(content: str) -> Callable[[], GitAnswer]:
    """The blob ids git vouches for, by path under `content`: files committed or staged whose
    working-tree copy git finds unchanged (`git diff-files`, which checks the file's size,
    inode and change time against what git recorded when it hashed the file, and reads the
    file when those cannot tell), not converted on checkout, and not marked assume-unchanged
    or skip-worktree; and HEAD, with the paths staged apart from it. git is started now; the
    function returned waits for its answer. No git, no repository, or any doubt: no ids, and
    every file is read."""
    nothing = GitAnswer({}, "", frozenset())
    git = _Git(content)
    try:
        git.settings()
        git.start("ls-files", "--stage", "-v", "-z")
        git.start("diff-files", "--name-only", "--relative", "-z")
        git.attributes()
        git.start("rev-parse", "--verify", "-q", "HEAD")
        git.start("diff-index", "--cached", "--name-only", "--relative", "-z", "HEAD")
    except OSError:   # no git on this machine (or no more processes: those started, waited for)
        git.answers()
        return lambda: nothing

    def answer() -> GitAnswer:
        answers = git.answers()
        if answers is None:
            return nothing
        settings, staged, dirty, attributes, head, apart = answers
        if not _trusted(settings) or staged[0] or dirty[0] or attributes[0]:
            return nothing   # not a repository, or git failed: nothing vouched for
        excluded = _converting(attributes[1]) | set(dirty[1].split(b"\0"))
        excluded.discard(b"")
        # Decoded once, whole: per path, decoding took longer than git took to answer.
        ids = {path: blob for blob, path in _STAGED.findall(staged[1].decode("utf-8", "surrogateescape"))}
        for path in excluded:
            ids.pop(path.decode("utf-8", "surrogateescape"), None)
        if head[0] or apart[0]:   # a repository with no commit yet
            return GitAnswer(ids, "", frozenset())
        return GitAnswer(ids, head[1].decode().strip(), frozenset(_paths(apart[1])))
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
