"""Errors the engine reports, and where they point.

The hierarchy, all rooted in :class:`TreatmentError` so that callers can catch
everything the engine raises on purpose with one clause::

    TreatmentError
    ├── PlanError            a plan that must not load; carries every PlanIssue found
    ├── ExpressionError      text that is not a valid expression; carries a column
    └── ProfileError         one profile the engine cannot decide (spec section 5)

Plan problems are collected rather than raised one at a time, so an author sees
every mistake in one run, sorted by file and line (as OPA's compiler does).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Control characters (C0, DEL, C1, the line and paragraph separators) as escapes.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """``text`` with its control characters escaped, so that a problem prints as one line
    whatever a file's name or a key holds: a newline there printed a line of its own, which
    read as another finding (or faked one), and an escape sequence would drive the terminal."""
    return text.translate(_ESCAPES)


@dataclass(frozen=True, order=True)
class Location:
    """A place in a plan file: path relative to the plan root, 1-based line and column."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        path = one_line(self.path)
        if self.line <= 0:
            return path
        if self.column <= 0:
            return f"{path}:{self.line}"
        return f"{path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class PlanIssue:
    """One problem found in a plan: where, a stable code, what, and how to fix it."""

    location: Location
    code: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.code}: {one_line(self.message)}"
        if self.hint:
            text += f" ({one_line(self.hint)})"
        return text


class TreatmentError(Exception):
    """Base class of every error the engine raises on purpose."""


class ExpressionError(TreatmentError):
    """An expression that does not parse or uses something the language lacks.

    ``column`` is 1-based within the expression text; the plan loader adds it to
    the column where the expression starts in its YAML file.
    """

    def __init__(self, message: str, column: int = 1, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.hint = hint


class PlanError(TreatmentError):
    """A plan that must not load. ``issues`` holds every problem found, sorted."""

    def __init__(self, issues: Iterable[PlanIssue]) -> None:
        self.issues: tuple[PlanIssue, ...] = tuple(sorted(issues, key=lambda i: i.location))
        if not self.issues:
            raise ValueError("a PlanError needs at least one issue")
        count = len(self.issues)
        summary = str(self.issues[0]) if count == 1 else f"{count} problems, first: {self.issues[0]}"
        super().__init__(summary)

    def lines(self) -> list[str]:
        """One ``path:line:col: code: message`` line per issue, in file order."""
        return [str(issue) for issue in self.issues]


class ProfileError(TreatmentError):
    """A profile the engine cannot decide: not an object, no id, or an unknown given id."""

    def __init__(self, message: str, customer_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.customer_id = customer_id


def did_you_mean(word: str, choices: Sequence[str] | Iterable[str]) -> str | None:
    """A hint naming the closest known word, as rule-engine's suggestions do."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def defined_hint(names: Sequence[str]) -> str:
    """A hint listing what is defined, for a name with no close match."""
    if not names:
        return "none are defined"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"defined: {shown}"
