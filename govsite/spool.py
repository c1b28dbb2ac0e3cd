"""Texts waiting in files between the processes of a build (Spool)."""

from __future__ import annotations

import os
import tempfile
from typing import Any


class Spool:
    """Texts in files that the processes making them write and the ones using them read: a
    converted body's HTML and text (markup), a parsed page's Markdown (frontmatter). A build's
    parent then holds a place for each, not a gigabyte of text at 100,000 pages, and no text
    travels between processes as a string. A file per slice of the work, each written by the
    one process that does the slice; made before the processes fork and unlinked at once
    (TemporaryFile), so they go when the last place that reads them does, whatever happens to
    the build. Read with pread, not mapped: the page cache holds them, not the resident memory
    of each process that reads."""

    def __init__(self, slices: int, prefix: str = "govsite-"):
        # (no context manager: the files live as long as the places, not a block)
        self._files = [tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115
                       for _ in range(slices)]
        self._ends = [0] * slices

    def put(self, n: int, html: str, text: str) -> Spooled:
        """Writes a body (or a text alone, after an empty `html`) into slice n's file, in the
        process doing that slice."""
        data = html.encode("utf-8")
        split = len(data)
        data += text.encode("utf-8")
        at = self._ends[n]
        write_at(self._files[n].fileno(), data, at)
        self._ends[n] = at + len(data)
        return Spooled(self._files[n], at, split, len(data))

    def spooled(self, n: int, at: int, split: int, size: int) -> Spooled:
        """A place in slice n's file, as the process that wrote it reported it."""
        return Spooled(self._files[n], at, split, size)


class Spooled:
    """Where one body waits in a Spool: its HTML's bytes, then its text's."""

    __slots__ = ("file", "at", "split", "size")

    def __init__(self, file: Any, at: int, split: int, size: int):
        self.file, self.at, self.split, self.size = file, at, split, size

    def read(self) -> tuple[bytes, bytes]:
        data = os.pread(self.file.fileno(), self.size, self.at)
        if len(data) != self.size:   # a spool is never truncated while a body reads it
            raise OSError(f"a spooled body came back short: {len(data)} of {self.size} bytes")
        return data[:self.split], data[self.split:]

    def lead(self, characters: int) -> str:
        """The first `characters` of its text, reading only as many bytes as they can take."""
        data = os.pread(self.file.fileno(), min(self.size - self.split, 4 * characters),
                        self.at + self.split)
        # (a character cut at the end of what was read is beyond the ones asked for)
        return data.decode("utf-8", "ignore")[:characters]

    def where(self) -> tuple[int, int, int]:
        return self.at, self.split, self.size


def write_at(fd: int, data: bytes, at: int) -> None:
    """All of `data` into the file at offset `at` (pwrite may write less than asked)."""
    written = 0
    while written < len(data):
        written += os.pwrite(fd, data[written:], at + written)
