"""Diagnostics: every user-facing problem as `path:line: level: message — hint`.

Stages never print and never raise for user mistakes; they append to a `Report`, so one run can
tell an editor about every mistake at once. The CLI prints the report and picks the exit code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Level = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    path: str
    line: int
    level: Level
    message: str
    hint: str = ""
    rule: str = ""   # the `govsite check` rule it breaks, when it breaks one

    def __str__(self) -> str:
        return format_problem(self.path, self.line, self.level, self.message, self.hint)


def format_problem(path: str, number: int, level: str, message: str, hint: str = "") -> str:
    """`path:line: level: message — hint`, the one shape every problem is printed in."""
    text = f"{f'{path}:{number}' if number else path}: {level}: {message}"
    return f"{text} — {hint}" if hint else text


@dataclass
class Report:
    """Diagnostics collected across stages; paths are shown relative to the project root."""

    root: Path
    items: list[Diagnostic] = field(default_factory=list)

    def _rel(self, path: Path | str) -> str:
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return p.as_posix()

    def error(self, path: Path | str, line: int, message: str, hint: str = "", rule: str = "") -> None:
        self.items.append(Diagnostic(self._rel(path), line, "error", message, hint, rule))

    def warning(self, path: Path | str, line: int, message: str, hint: str = "",
                rule: str = "") -> None:
        self.items.append(Diagnostic(self._rel(path), line, "warning", message, hint, rule))

    def errors(self, strict: bool = False) -> list[Diagnostic]:
        return [d for d in self.sorted() if d.level == "error" or strict]

    def sorted(self) -> list[Diagnostic]:
        # Sorted by file and line so the output reads like a compiler's and never depends on
        # the order in which stages happened to find things.
        return sorted(set(self.items), key=lambda d: (d.path, d.line, d.level, d.message))


class BuildFailed(Exception):
    """Raised by the pipeline when a stage ends with errors in the report."""

    def __init__(self, report: Report, stage: str):
        super().__init__(stage)
        self.report = report
        self.stage = stage


def did_you_mean(word: str, choices: Iterable[str], otherwise: str = "") -> str:
    """A hint naming the closest valid choice; failing that `otherwise`, or the valid ones."""
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return otherwise or "valid: " + ", ".join(f"`{o}`" for o in options)
