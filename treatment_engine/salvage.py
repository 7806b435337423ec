"""What is still usable of a plan file that failed its shape check.

A rule with a wrong priority type may also name an unknown segment, an unknown action
and an unclosed parenthesis; an author should hear about all of them in one run, not
two now and three after fixing those. So when a file does not fit
:class:`model.PlanFile`, the parts pydantic objected to are cut out (a bad key, or the
entry a required key is missing from) and the rest is validated again, until it fits.
What remains goes on to the later stages (combine, refer, parse) like any valid file.
A value that is not one of its key's few words (``treatment: bogus``) is not cut but
stood in for by one of them, so that a rule whose required key is wrong still has its
references and expressions checked in the same run.

Two things keep the later stages honest about what was cut:

* entries of the top-level lists keep their original index (``rules[3]`` stays
  ``rules[3]`` when ``rules[2]`` is cut), so every later issue points at the right line;
* every id found in a cut part is kept in ``cut_words``: an id defined by a cut entry
  (a channel whose cost is "free", a segment without an id ...) must not come back as
  "unknown" in the rules that name it.

The pydantic errors of the re-validations are not reported: they follow from the cuts
(a required key cut out is "missing"), and the first validation already reported every
problem pydantic can see.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .load import Path_
from .model import PlanFile

# Each pass cuts at least one part; a file needing more passes than this is one the author
# must fix first (it is not salvaged, and the reference stage is skipped for the plan).
MAX_PASSES = 20
TOP_LEVEL_LISTS = ("segments", "lifecycle", "rules", "moments", "journeys")
KEYED_DEFINITIONS = ("channels", "actions", "fields")
DEFINING_KEYS = ("segments", "lifecycle", "value_tiers", "channels", "actions")  # what rules refer to


@dataclass
class Salvaged:
    """The valid remainder of a file, and how to read it against the original file."""

    plan: PlanFile
    # Per top-level list: the original index of each entry that was kept, in order.
    kept: dict[str, list[int]]
    cut_words: set[str] = field(default_factory=set)
    # False when a whole top-level key that defines ids was cut (or one misspelling such a
    # key, `segmnets:`): then every id it defined is unknown, and
    # checking references against what is left would report each of them.
    definitions_whole: bool = True

    def original_index(self, key: str, index: int) -> int:
        indices = self.kept.get(key)
        return index if indices is None else indices[index]


_CUT = object()  # a top-level list entry cut out (kept in place so indices do not move)


def salvage(data: Any, real_path: Callable[[Any, tuple[Any, ...], str], Path_]) -> Salvaged | None:
    """The largest part of ``data`` that fits :class:`PlanFile` by cutting what pydantic
    objects to; None when nothing can be said (not a mapping, or too broken).

    ``real_path`` turns a pydantic error's ``loc`` into a path of ``data`` (validate's
    ``shape_errors.real_path``), so cuts land on the values the author wrote.
    """
    if not isinstance(data, dict):
        return None
    work = copy.deepcopy(data)
    cut_words: set[str] = set()
    whole = True
    for _ in range(MAX_PASSES):
        view, kept = _without_cut_entries(work)
        try:
            return Salvaged(PlanFile.model_validate(view), kept, cut_words, whole)
        except ValidationError as error:
            found: dict[Path_, str | None] = {}  # each part to mend, and its stand-in (None: cut it)
            for detail in error.errors():
                real = real_path(view, detail["loc"], detail["type"])
                path = _to_original(real, detail["type"], kept)
                stand_in = _stand_in(detail) if len(path) == len(real) else None  # not a list cut whole
                found[path] = stand_in if path not in found else None
        if () in found:
            return None
        whole = whole and not any(len(path) == 1 and _defines_ids(path[0]) for path in found)
        for path in sorted(found, key=len, reverse=True):  # deepest first: parents stay in place
            if not _replace(work, path, found[path]):
                cut_words |= set(_words(path, _cut(work, path)))
    return None


def _stand_in(detail: Any) -> str | None:
    """For a value that is not one of its key's few words (``treatment: bogus``), the first
    of them: the key is often required, and cutting it would take its whole entry (the
    rule) out of the later stages, whose problems the author would then hear of only after
    fixing this one. Any word does: the later stages check references and expressions,
    which no such word changes. None for any other kind of problem."""
    if detail["type"] != "literal_error":
        return None
    first = re.match(r"'([^'\\]*)'", str(detail.get("ctx", {}).get("expected", "")))
    return first.group(1) if first else None


def _replace(data: dict[str, Any], path: Path_, stand_in: str | None) -> bool:
    """Put ``stand_in`` in place of the value at ``path`` (False: none, or no such value)."""
    parent = _parent(data, path) if stand_in is not None and path else None
    if isinstance(parent, dict) and path[-1] in parent:
        parent[path[-1]] = stand_in
        return True
    return False


def _defines_ids(key: str | int) -> bool:
    return isinstance(key, str) and bool(difflib.get_close_matches(key, DEFINING_KEYS, n=1, cutoff=0.75))


def _without_cut_entries(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    view = dict(data)
    kept: dict[str, list[int]] = {}
    for key in TOP_LEVEL_LISTS:
        entries = data.get(key)
        if isinstance(entries, list) and any(entry is _CUT for entry in entries):
            kept[key] = [index for index, entry in enumerate(entries) if entry is not _CUT]
            view[key] = [entries[index] for index in kept[key]]
    return view, kept


def _to_original(path: Path_, kind: str, kept: dict[str, list[int]]) -> Path_:
    """The part to cut, as a path of the uncut data: the offending value itself, or for a
    missing key the entry that lacks it. A bad item of a nested list cuts the whole list
    (its siblings' positions must not move under later issues)."""
    if kind == "missing":
        path = path[:-1]
    while len(path) > 2 and isinstance(path[-1], int):
        path = path[:-1]
    if len(path) >= 2 and isinstance(path[0], str) and path[0] in kept and isinstance(path[1], int):
        path = (path[0], kept[path[0]][path[1]], *path[2:])
    return path


def _parent(data: dict[str, Any], path: Path_) -> Any:
    """The mapping or list that holds the value at ``path``."""
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    return parent


def _cut(data: dict[str, Any], path: Path_) -> Any:
    """Remove the value at ``path`` (a top-level list entry is replaced by a marker)."""
    parent = _parent(data, path)
    last = path[-1]
    if isinstance(parent, list):
        removed, parent[last] = parent[last], _CUT
        return removed
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    return None  # cut already, with an ancestor or a sibling's error


def _words(path: Path_, value: Any) -> Iterator[str]:
    """The ids a cut part may have defined: a channel's or an action's name, and every
    ``id`` inside it (a segment's, a rule's, a value tier's)."""
    if len(path) == 2 and path[0] in KEYED_DEFINITIONS and isinstance(path[1], str):
        yield path[1]
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("id"), str):
                yield item["id"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
