"""One customer event, checked: the JSON shape the events API and replay files take.

    {"customer_id": "c1", "type": "complaint", "timestamp": "2026-11-01T09:30:00Z", ...}

Every other key is the event's own field, readable by a pattern step's `if`. A bad
event is an :class:`EventError` naming the reason; it never stops the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ..errors import one_line

RESERVED = ("customer_id", "type", "timestamp")
# The one grammar of an event's time (appendix D), for every engine: a date, or a date and
# a time to the minute, second or microsecond, with Z, an offset or no zone (UTC). Python's
# fromisoformat, DuckDB's and Spark's casts each take more (week dates, compact forms, a
# one-digit day, seven decimals), each a different more; the measure SQL tests this same
# pattern first, so every engine reads the same events as times.
# The year 0000 is no date to Python (its years start at 1) while DuckDB's and Spark's
# casts take it: the grammar leaves it out, so that no engine reads it (written without a
# look-ahead, which RE2, DuckDB's regular expressions, does not have).
TIMESTAMP_SHAPE = (r"([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-[0-9]{2}-[0-9]{2}"
                   r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_SHAPE = re.compile(TIMESTAMP_SHAPE)
# What str.strip() takes off either end (every character Python calls whitespace), spelt out
# so the SQL engines strip the same: DuckDB's trim() alone leaves a tab, Spark's every
# character but the space.
WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
# The instants Python's datetime can show in UTC, seconds since the epoch: from 0001-01-01
# to before 10000-01-01. A time in the grammar with an offset may fall outside (the first
# day ahead of UTC, the last behind it): no engine reads it, and only a text whose year
# is 0001 or 9999 can.
FIRST_INSTANT, END_OF_TIME = -62135596800, 253402300800
EDGE_YEARS = ("0001", "9999")


@dataclass(frozen=True, slots=True)
class Event:
    customer_id: str
    type: str
    timestamp: float  # seconds since the epoch, UTC
    fields: dict[str, Any]  # the whole event object, for `if`
    index: int  # position in its input, for error reports and ordering


@dataclass(frozen=True, slots=True)
class EventError:
    index: int
    customer_id: str | None
    error: str

    def to_record(self) -> dict[str, Any]:
        return {"index": self.index, "customer_id": self.customer_id, "error": self.error}

    def said(self) -> str:
        """What follows :meth:`where` in a line of the refusals every command prints: the
        event's own text, control characters escaped (a newline in a customer id split the line)."""
        return one_line(f"({self.customer_id or 'no customer'}): {self.error}")

    def where(self, source: str, lines: Mapping[int, int]) -> str:
        """Where the event was: ``source:line`` where its line in the file is known
        (``lines``, by index: see :func:`...profiles.record_lines`), else "event N", its
        position among the input's events from 0 (standard input, the service's log)."""
        line = lines.get(self.index)
        return one_line(f"{source}:{line}") if line is not None else f"event {self.index}"


def parse_event(raw: Any, index: int, known_types: frozenset[str],
                max_customer_id: int | None = None, not_after: float | None = None) -> Event | EventError:
    """``not_after``: the latest timestamp taken (the service's wall clock and its
    tolerance); a later one is refused, since the moments' clock follows the latest event
    stored and an event from the future would let every customer's absences pass early."""
    reason = getattr(raw, "reason", None)  # a line the reader could not parse at all
    if isinstance(reason, str):
        return EventError(index, None, reason)
    if type(raw) is not dict:
        return EventError(index, None, "an event must be a JSON object")
    cid = raw.get("customer_id")
    if type(cid) is not str or not cid:
        return EventError(index, None, "the event has no customer_id (a non-empty string)")
    if max_customer_id is not None and len(cid) > max_customer_id:
        return EventError(index, cid[:max_customer_id], f"the customer_id is longer than {max_customer_id} "
                                                        f"characters, the decision log's limit")
    if max_customer_id is not None and "\x00" in cid:  # PostgreSQL's text cannot hold it
        return EventError(index, None, "the customer_id holds a NUL character, which the database cannot keep")
    kind = raw.get("type")
    if type(kind) is not str or not kind:
        return EventError(index, cid, "the event has no type (a non-empty string)")
    if kind not in known_types:
        shown = ", ".join(sorted(known_types)) or "none"
        return EventError(index, cid, f"unknown event type {kind!r} "
                                      f"(the plan's moments, metrics and journeys read: {shown})")
    stamp = parse_timestamp(raw.get("timestamp"))
    if stamp is None:
        return EventError(index, cid, "the event has no valid timestamp (ISO 8601, e.g. "
                                      "2026-11-01T09:30:00Z; without a zone, UTC)")
    if not_after is not None and stamp > not_after:
        return EventError(index, cid, f"the event's timestamp {iso(stamp)} is in the future (this service's clock "
                                      f"takes none after {iso(not_after)}): the moments' clock would move there "
                                      f"for every customer")
    return Event(cid, kind, stamp, raw, index)


def parse_timestamp(value: Any) -> float | None:
    if type(value) is not str:
        return None
    text = value.strip()
    if _SHAPE.fullmatch(text) is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = moment.timestamp()  # an instant Python cannot show in UTC (iso), nor give its day: no time
    return seconds if in_calendar(seconds) else None


def in_calendar(seconds: float) -> bool:
    """Whether an instant (seconds since the epoch) has a day in UTC that Python can show
    (FIRST_INSTANT to before END_OF_TIME): every time an event may hold."""
    return FIRST_INSTANT <= seconds < END_OF_TIME


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
