"""One YAML plan file to plain values that remember where each one was written.

:mod:`.yaml_reader` reads the file's parse events into values and positions. Positions:
the line and column of each key and value are kept by path (``("rules", 3, "then")``).
A first pass keeps those of the top two levels only (every entry's own position: what
validation and the compiled plan need); when a deeper position is asked for (an error to
report) the text is read again and every position kept. The same code builds both, so
they agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Location, PlanError, PlanIssue
from .yaml_reader import EVERYTHING, NOTHING, EventReader, FileLimits, Path_

__all__ = ["DEFAULT_FILE_LIMITS", "FileLimits", "Path_", "SourceFile", "parse_yaml_file"]

_ENTRY_DEPTH = 2  # what the first pass keeps: ("rules", 3), ("channels", "sms") and above

DEFAULT_FILE_LIMITS = FileLimits(nodes=5_000_000, alias_nodes=100_000, depth=64, plan_nodes=5_000_000)


@dataclass
class SourceFile:
    """One plan file's values, and where its keys and values were written."""

    path: str
    data: dict[str, Any]
    text: str = ""
    nodes: int = 0  # values read, aliases counted as what they stand for
    limits: FileLimits = DEFAULT_FILE_LIMITS
    value_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_at: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    # For string values: where the text itself starts, and whether it sits on one line
    # (only then can a column inside the text be turned into a column in the file).
    text_at: dict[Path_, tuple[int, int, bool]] = field(default_factory=dict)
    complete: bool = False  # every position is known (not only the top two levels)

    def locate(self, path: Path_, *, prefer_key: bool = True) -> Location:
        """The most precise known position of ``path``, walking up to its nearest ancestor."""
        probe = tuple(path)
        if len(probe) > _ENTRY_DEPTH:
            self._know_everything()
        while True:
            table_order = (self.key_at, self.value_at) if prefer_key else (self.value_at, self.key_at)
            for table in table_order:
                if probe in table:
                    line, column = table[probe]
                    return Location(self.path, line, column)
            if not probe:
                return Location(self.path, 1, 1)
            probe = probe[:-1]

    def text_position(self, path: Path_) -> tuple[int, int, bool] | None:
        """Where the string at ``path`` starts (line, column of its first character) and
        whether it is written on one line; None if it is not a string of this file."""
        self._know_everything()
        return self.text_at.get(tuple(path))

    def _know_everything(self) -> None:
        if self.complete or not self.text:
            return
        again = EventReader(self.path, self.text, self.limits, EVERYTHING)
        again.read()
        self.value_at, self.key_at, self.text_at = again.value_at, again.key_at, again.text_at
        self.complete = True


def parse_yaml_file(relative: str, text: str, limits: FileLimits = DEFAULT_FILE_LIMITS) -> SourceFile:
    """One YAML file into values with positions; PlanError on bad YAML, a non-mapping, or
    a file past ``limits``."""
    reader = EventReader(relative, text, limits, _ENTRY_DEPTH, stop_at_first=True)
    data = reader.read()
    if reader.issues and not reader.fatal:
        # The quick pass stops at the first problem; read it all to report every one,
        # with the positions a message may need ("first at line 3").
        reader = EventReader(relative, text, limits, EVERYTHING)
        data = reader.read()
    if reader.issues:
        raise PlanError(reader.issues)
    source = SourceFile(relative, {}, text, reader.nodes, limits, reader.value_at, reader.key_at,
                        reader.text_at, complete=reader.record_depth == EVERYTHING)
    if data is NOTHING:  # an empty file (or only comments) is an empty mapping
        return source
    if not isinstance(data, dict):
        raise PlanError([PlanIssue(source.locate(()), "not-a-mapping",
                                   f"a plan file must be a mapping of keys, not {_yaml_kind(data)}",
                                   "start the file with keys such as 'rules:' or 'segments:'")])
    source.data = data
    return source


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
