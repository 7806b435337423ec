"""A warning when the data does not have the shape the plan reads.

The plan reads ``consent.email``; a CSV exporter wrote ``consent`` as the text
``"{'email': true}"``. By the spec that customer has no ``consent.email`` (a missing field,
so no consent), which is right for one odd row and silently wrong for a whole file. So
every engine counts the rows where an object the plan reads into holds something else,
and the run warns once (on standard error) when that is more than a few rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

FEW = 5  # up to this many odd rows are an odd export, not a wrong shape


def object_paths(paths: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The paths the plan reads into (``consent`` for ``consent.email``)."""
    return sorted({path[:end] for path in paths for end in range(1, len(path))})


class ShapeCheck:
    """Counts, per object path, the rows whose value there is neither an object nor null."""

    def __init__(self, paths: Iterable[tuple[str, ...]]) -> None:
        self.objects = object_paths(paths)
        self.wrong: Counter[tuple[str, ...]] = Counter()
        self.kinds: dict[tuple[str, ...], str] = {}

    def observe(self, profile: Any) -> None:
        if type(profile) is not dict:
            return
        for path in self.objects:
            value: Any = profile
            for part in path:
                value = value.get(part) if type(value) is dict else None
                if value is None:
                    break
            if value is not None and type(value) is not dict:
                self.wrong[path] += 1
                self.kinds.setdefault(path, _kind(value))

    def add(self, path: tuple[str, ...], rows: int, kind: str) -> None:
        """Rows a SQL engine counted (a text column where the plan reads an object)."""
        if rows:
            self.wrong[path] += rows
            self.kinds.setdefault(path, kind)

    def warnings(self, read: Sequence[tuple[str, ...]] = ()) -> list[str]:
        messages = []
        for path, rows in sorted(self.wrong.items()):
            if rows <= FEW:
                continue
            name = ".".join(path)
            inner = [".".join(p) for p in read if p[:len(path)] == path and len(p) > len(path)]
            reads = f" (the plan reads {', '.join(inner[:3])})" if inner else ""
            messages.append(f"{name} is {self.kinds[path]}, not an object, in {rows:,} rows{reads}: "
                            f"those rows are decided as if the fields inside it were missing")
        return messages


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (int, float)):
        return "a number"
    return "a list" if isinstance(value, list) else "another kind of value"
