"""Events for journeys: a JSON lines file (as ``treatment events replay`` reads) or the
service's stored events, each event's flags worked out once per journey.

Events of a type no journey names are passed over (an events feed holds many kinds); a
bad event (not JSON, no customer_id, no valid timestamp) is refused with its reason and
the others go on. ``as_of`` is the time the report is made at: events after it are left
out, and by default it is the latest event's time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..moments.events import Event, EventError, parse_event
from ..profiles import read_jsonl
from .compiled import CompiledJourney
from .reference import JourneyEvent

if TYPE_CHECKING:
    from .duckdb_file import Measured


@dataclass
class JourneyEvents:
    """Each journey's events, and what was read."""

    by_journey: dict[str, list[JourneyEvent]]
    as_of: float
    read: int = 0
    passed_over: int = 0  # of a type no journey names
    refused: list[EventError] = field(default_factory=list)


def from_lines(journeys: Sequence[CompiledJourney], stream: IO[bytes], as_of: float | None) -> JourneyEvents:
    """The events of a JSON lines stream."""
    return _flagged(journeys, read_jsonl(stream), as_of)


def from_store(journeys: Sequence[CompiledJourney], engine: Any, as_of: float | None,
               customer_id: str | None = None) -> JourneyEvents:
    """The events the service stored (``POST /v1/events``; of one customer, if given)
    through a SQLAlchemy ``engine`` (the log's), in the order the service accepted them (a
    customer's events are in one partition, numbered in turn). One customer's are measured
    at the time everyone's are: by default the latest stored event a journey reads,
    whoever's it is (at their own latest, a run long abandoned would still be in progress)."""
    from sqlalchemy import bindparam, text

    from ..store.tables import unkeyable

    types = sorted({kind for journey in journeys for kind in journey.event_types})
    one = " AND customer_id = :customer" if customer_id is not None else ""
    query = text(f"SELECT customer_id, type, occurred_at, body FROM events WHERE type IN :types{one} "
                 "ORDER BY occurred_at, partition_no, seq").bindparams(bindparam("types", expanding=True))
    latest = text("SELECT MAX(occurred_at) FROM events WHERE type IN :types").bindparams(
        bindparam("types", expanding=True))
    with engine.connect() as connection:
        if one and as_of is None:
            as_of = connection.execute(latest, {"types": types}).scalar()
            as_of = None if as_of is None else float(as_of)
        # A customer id the database cannot key (a NUL) has no stored events to ask for.
        rows = [] if customer_id is not None and unkeyable(customer_id) else connection.execute(
            query, {"types": types, **({"customer": customer_id} if one else {})}).all()
    return _flagged(journeys, (_stored(*row) for row in rows), as_of, stored=True)


def measure_stored(journeys: Sequence[CompiledJourney], engine: Any, as_of: float | None) -> Measured | None:
    """Every journey's report from the events the service stored, measured by DuckDB as
    from a file (:func:`.duckdb_file.measure_file`): the events of the journeys' types are
    written out in the store's order, as ``treatment measure`` reads them
    (:func:`..measure.inputs.stored_events_file`), so that memory does not grow with the
    store, where :func:`from_store` holds every event in Python. None where the events must
    be read the Python way (see :mod:`.duckdb_file`)."""
    import os

    from ..measure.inputs import stored_events_file
    from .duckdb_file import measure_file

    path = stored_events_file(engine, frozenset(kind for journey in journeys for kind in journey.event_types))
    try:
        return measure_file(journeys, path, as_of)
    finally:
        os.unlink(path)


def _stored(customer_id: str, kind: str, moment: float, body: Any) -> dict[str, Any]:
    import json

    fields = json.loads(body) if isinstance(body, str) else dict(body or {})
    return {**fields, "customer_id": customer_id, "type": kind, "timestamp": float(moment)}


def _flagged(journeys: Sequence[CompiledJourney], raw: Iterable[Any], as_of: float | None,
             stored: bool = False) -> JourneyEvents:
    known = frozenset(kind for journey in journeys for kind in journey.event_types)
    kept: list[Event] = []
    made = JourneyEvents({journey.id: [] for journey in journeys}, 0.0)
    for index, item in enumerate(raw):
        made.read += 1
        if isinstance(item, dict) and isinstance(item.get("type"), str) and item["type"] not in known:
            made.passed_over += 1
            continue
        event = _parse(item, index, known, stored)
        if isinstance(event, EventError):
            made.refused.append(event)
        elif as_of is None or event.timestamp <= as_of:
            kept.append(event)
    made.as_of = as_of if as_of is not None else max((e.timestamp for e in kept), default=0.0)
    for journey in journeys:
        made.by_journey[journey.id] = [
            JourneyEvent(e.customer_id, e.timestamp, e.index, journey.flags(e.type, e.fields, e.timestamp))
            for e in kept if e.type in journey.event_types]
    return made


def _parse(item: Any, index: int, known: frozenset[str], stored: bool) -> Event | EventError:
    # Only the store's rows carry seconds: a number in a file is no timestamp (parse_event
    # says so), where it used to be taken as seconds, or to fail without a customer_id.
    if stored:
        return Event(item["customer_id"], item["type"], item["timestamp"], item, index)
    return parse_event(item, index, known)
