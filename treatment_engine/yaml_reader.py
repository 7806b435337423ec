"""One YAML file's parse events into plain values, and where each was written (for
:mod:`.sourcefile`).

The values are built from libyaml's parse events (PyYAML's C parser), not from a node
graph, for three reasons:

- **Time and memory.** ``yaml.compose`` builds a node with two marks for every scalar
  and resolves each scalar's type in Python; most of a large plan's load went there.
  Events are dropped as soon as they are read, and a plain scalar's value is worked
  out once per file (:mod:`.yaml_scalars`).
- **No recursion.** Containers are built on an explicit stack, so no nesting can
  overflow Python's stack; nesting deeper than a stated limit is a located error.
- **Aliases are counted, not expanded.** An alias reuses the value its anchor built
  (as ``yaml.load`` does) and adds the number of values it stands for to the file's
  count: a "billion laughs" file is refused at the alias that passes the limit, at
  once, and an alias inside its own anchor (a cycle) is an error at the alias.

Positions (line and column of each key and value, by path) are kept down to
``record_depth`` levels: :data:`EVERYTHING` keeps all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from .errors import Location, PlanIssue
from .yaml_scalars import MAP, SEQ, UNREADABLE, Scalars

Path_ = tuple[Any, ...]  # keys and list indexes from the root of a file

_CParser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C speed if built; events carry marks
_KEY_TYPES = (str, int, float, bool, type(None))
EVERYTHING = 1 << 30  # a record depth that keeps every position


@dataclass(frozen=True)
class FileLimits:
    """What one file may hold (see :class:`treatment_engine.load.LoadBudget`)."""

    nodes: int  # values (keys included) this file may still hold, an alias counting as what it stands for
    alias_nodes: int  # values that this file's aliases stand for, together
    depth: int  # lists and mappings inside each other
    plan_nodes: int  # the whole plan's budget of values, which ``nodes`` is what is left of


class _Stop(Exception):
    """Reading cannot go on: a budget, a cycle, or (on the quick pass) any problem."""


class _Skip:
    """The key of a value to drop: a bad or repeated key (already reported)."""


_SKIP = _Skip()
NOTHING = object()  # the root of a file that holds no value (empty, or comments only)


class _Open:
    """A list or mapping being read."""

    __slots__ = ("anchor", "expect_key", "is_map", "key", "nodes_before", "path", "skip", "value")

    def __init__(self, value: Any, is_map: bool, path: Path_ | None, skip: bool, anchor: str | None,
                 nodes_before: int) -> None:
        self.value = value
        self.is_map = is_map
        self.path = path  # None: positions below here are not kept
        self.skip = skip  # a mapping used as a key, or under a dropped value: built, not kept
        self.anchor = anchor
        self.nodes_before = nodes_before
        self.expect_key = True
        self.key: Any = _SKIP


@dataclass
class _Anchor:
    value: Any = None
    size: int = 0
    path: Path_ | None = None
    records: tuple[int, int] = (0, 0)  # its span in EventReader.log
    open: bool = True


class EventReader:
    """Reads one file's events into values; see the module's docstring."""

    def __init__(self, relative: str, text: str, limits: FileLimits, record_depth: int,
                 stop_at_first: bool = False) -> None:
        self.relative = relative
        self.text = text
        self.limits = limits
        self.record_depth = record_depth
        self.stop_at_first = stop_at_first
        self.issues: list[PlanIssue] = []
        self.fatal = False
        self.nodes = 0
        self.aliased = 0
        self.value_at: dict[Path_, tuple[int, int]] = {}
        self.key_at: dict[Path_, tuple[int, int]] = {}
        self.text_at: dict[Path_, tuple[int, int, bool]] = {}
        self.log: list[tuple[dict[Path_, Any], Path_, Any]] = []  # every position kept, in order
        self.anchors: dict[str, _Anchor] = {}
        self.stack: list[_Open] = []
        self.root: Any = NOTHING
        self.documents = 0
        self.scalars = Scalars()  # one per file: its caches die with it

    # -- the event loop -------------------------------------------------------------

    def read(self) -> Any:
        parser = _CParser(self.text)
        try:
            next_event = parser.get_event
            while (event := next_event()) is not None:
                kind = event.__class__
                if kind is ScalarEvent:
                    self._scalar(event)
                elif kind is MappingStartEvent or kind is SequenceStartEvent:
                    self._start(event, kind is MappingStartEvent)
                elif kind is MappingEndEvent or kind is SequenceEndEvent:
                    self._end()
                elif kind is AliasEvent:
                    self._alias(event)
                elif kind is DocumentStartEvent:
                    self.documents += 1
                    if self.documents > 1:
                        raise self._fail(event, "yaml-syntax", "invalid YAML: a plan file holds one "
                                         "document, and another one starts here", "remove the '---' line")
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.issues.append(PlanIssue(Location(self.relative, line, column), "yaml-syntax",
                                         f"invalid YAML: {error.problem or 'cannot read it'}"))
            self.fatal = True
        except yaml.YAMLError as error:
            # A reader's error ends in a line naming "<unicode string>" and an offset: not the file's words.
            said = str(error).splitlines()[0] if str(error) else "cannot read it"
            self.issues.append(PlanIssue(Location(self.relative, 1, 1), "yaml-syntax", f"invalid YAML: {said}"))
            self.fatal = True
        except _Stop:
            pass
        finally:
            parser.dispose()
        return self.root

    # -- nodes ----------------------------------------------------------------------

    def _count(self, event: Any, size: int) -> None:
        self.nodes += size
        if self.nodes > self.limits.nodes:
            raise self._fail(event, "too-many-values", f"the plan holds more than {self.limits.plan_nodes:,} "
                             "values by here (keys, items and what aliases stand for)", "make the plan smaller")

    def _slot(self) -> tuple[Path_ | None, bool]:
        """Where the next value goes: its path (None: not kept) and whether it is dropped."""
        if not self.stack:
            return (), False
        top = self.stack[-1]
        if top.skip:
            return None, True
        if top.is_map:
            key = top.key
            if key is _SKIP:
                return None, True
            path = top.path
            return (None if path is None or len(path) >= self.record_depth else path + (key,)), False
        path = top.path
        return (None if path is None or len(path) >= self.record_depth else path + (len(top.value),)), False

    def _scalar(self, event: ScalarEvent) -> None:
        self._count(event, 1)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.is_map and top.expect_key:
            self._key(top, event)
            return
        path, skip = self._slot()
        value = self._scalar_value(event)
        if event.anchor is not None:
            self._finished(self._anchor(event, event.anchor, path), None if value is _SKIP else value, 1)
        if value is _SKIP:
            return self._place(_SKIP, skip)
        if path is not None and not skip:
            where = _at(event)
            self._keep(self.value_at, path, where)
            if type(value) is str:
                style = event.style
                one_line = _at(event)[0] == _at(event, end=True)[0] and style in ("", None, "'", '"')
                self._keep(self.text_at, path, (where[0], where[1] + (style in ("'", '"')), one_line))
        self._place(value, skip)

    def _start(self, event: Any, is_map: bool) -> None:
        self._count(event, 1)
        if len(self.stack) >= self.limits.depth:
            raise self._fail(event, "too-deep", f"lists and mappings are nested more than {self.limits.depth} "
                             "levels deep here", "a plan needs a handful of levels")
        top = self.stack[-1] if self.stack else None
        as_key = top is not None and top.is_map and top.expect_key
        path, skip = (None, True) if as_key else self._slot()
        if as_key:
            self._problem(event, "bad-key", "a key must be a plain word")
        tag = event.tag
        if tag is not None and tag != "!" and tag != (MAP if is_map else SEQ):
            self._problem(event, "yaml-tag", f"the tag {tag} on a {'mapping' if is_map else 'list'} is not "
                          "read by the engine", "remove it: a plan's lists and mappings take no tags")
        if path is not None and not skip:
            self._keep(self.value_at, path, _at(event))
        opened = _Open({} if is_map else [], is_map, path, skip, event.anchor, self.nodes)
        if event.anchor is not None:
            self._anchor(event, event.anchor, path)
        self.stack.append(opened)

    def _end(self) -> None:
        done = self.stack.pop()
        if done.anchor is not None:
            self._finished(self.anchors[done.anchor], done.value, self.nodes - done.nodes_before + 1)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.is_map and top.expect_key:  # a list or mapping used as a key
            top.key, top.expect_key = _SKIP, False
            return
        self._place(done.value, done.skip)

    def _alias(self, event: AliasEvent) -> None:
        anchor = self.anchors.get(event.anchor or "")
        if anchor is None:
            raise self._fail(event, "yaml-syntax", f"invalid YAML: the alias *{event.anchor} names no anchor "
                             "defined before it")
        if anchor.open:
            raise self._fail(event, "alias-cycle", f"the alias *{event.anchor} is inside the value its anchor "
                             "names, so it would never end", "an alias can only repeat a finished value")
        self.aliased += anchor.size
        if self.aliased > self.limits.alias_nodes:
            raise self._fail(event, "too-many-aliases", f"aliases in this file stand for more than "
                             f"{self.limits.alias_nodes:,} values", "write the values out, or use fewer aliases")
        self._count(event, anchor.size)
        top = self.stack[-1] if self.stack else None
        if top is not None and top.is_map and top.expect_key:
            self._key_value(top, event, anchor.value)
            return
        path, skip = self._slot()
        if path is not None and not skip:
            self._keep(self.value_at, path, _at(event))
            if anchor.path is not None:  # the positions inside, as written at the anchor
                start, end = anchor.records
                cut, room = len(anchor.path), self.record_depth - len(path)
                for table, inner, where in self.log[start:end]:
                    if 0 < len(inner) - cut <= room:
                        self._keep(table, path + inner[cut:], where)
        self._place(anchor.value, skip)

    def _anchor(self, event: Any, name: str, path: Path_ | None) -> _Anchor:
        if name in self.anchors:
            raise self._fail(event, "yaml-syntax", f"invalid YAML: the anchor &{name} is defined twice")
        anchor = self.anchors[name] = _Anchor(path=path, records=(len(self.log), len(self.log)))
        return anchor

    def _finished(self, anchor: _Anchor, value: Any, size: int) -> None:
        """An anchored value is complete: aliases may repeat it from here on."""
        anchor.value, anchor.size, anchor.open = value, size, False
        anchor.records = (anchor.records[0], len(self.log))

    def _place(self, value: Any, skip: bool) -> None:
        """Put a finished value where it belongs: the root, a list, or under its key."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if top.is_map:
            if not skip and top.key is not _SKIP and value is not _SKIP:
                top.value[top.key] = value
            top.key, top.expect_key = _SKIP, True
        elif not skip and value is not _SKIP:
            top.value.append(value)
        elif not skip:  # an unreadable item still takes its place, so later indexes stay true
            top.value.append(None)

    # -- keys and scalars -------------------------------------------------------------

    def _key(self, top: _Open, event: ScalarEvent) -> None:
        try:
            key = self.scalars.value(event)
        except UNREADABLE:
            key = _SKIP
        if event.anchor is not None:  # an anchored key: its alias repeats the key
            self._finished(self._anchor(event, event.anchor, None), key, 1)
        self._key_value(top, event, key)

    def _key_value(self, top: _Open, event: Any, key: Any) -> None:
        top.expect_key = False
        top.key = _SKIP
        if top.skip:
            return
        if type(key) not in _KEY_TYPES:
            merge = isinstance(event, ScalarEvent) and event.value == "<<" and event.implicit[0]
            self._problem(event, "bad-key", "YAML merge keys ('<<') are not read" if merge
                          else "a key must be a plain word", "write the keys out" if merge else None)
            return
        if key in top.value:
            first = self.key_at.get((top.path or ()) + (key,)) if top.path is not None else None
            self._problem(event, "duplicate-key", f"the key '{key}' is repeated in one mapping"
                          + (f" (first at line {first[0]})" if first else ""),
                          "YAML would silently keep only the last one; remove one")
            return
        top.key = key
        if top.path is not None and len(top.path) < self.record_depth:
            self._keep(self.key_at, top.path + (key,), _at(event))

    def _scalar_value(self, event: ScalarEvent) -> Any:
        try:
            return self.scalars.value(event)
        except UNREADABLE as error:
            # e.g. an unquoted `2026-13-01` (an impossible timestamp) or YAML's `=` tag
            problem = getattr(error, "problem", None) or str(error)
            self._problem(event, "yaml-value", f"cannot read this value: {problem}", "quote it to make it text")
            return _SKIP

    # -- positions and problems -------------------------------------------------------

    def _keep(self, table: dict[Path_, Any], path: Path_, where: Any) -> None:
        table[path] = where
        self.log.append((table, path, where))

    def _problem(self, event: Any, code: str, message: str, hint: str | None = None) -> None:
        self.issues.append(PlanIssue(Location(self.relative, *_at(event)), code, message, hint))
        if self.stop_at_first:
            raise _Stop

    def _fail(self, event: Any, code: str, message: str, hint: str | None = None) -> _Stop:
        """Report a problem reading cannot go past; ``raise self._fail(...)``."""
        self.fatal = True
        self.issues.append(PlanIssue(Location(self.relative, *_at(event)), code, message, hint))
        return _Stop()


def _at(event: Any, end: bool = False) -> tuple[int, int]:
    """An event's 1-based line and column (of its start, or its end)."""
    mark = event.end_mark if end else event.start_mark
    return mark.line + 1, mark.column + 1
