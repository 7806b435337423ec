"""The events repository: customer events, the decisions the moments they complete
caused, and the outbox downstream services poll."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..compile import CompiledPlan
from .connection import now
from .decisions import DecisionRepository
from .rows import new_ids, to_json

# An event as stored: (customer id, type, time in seconds since the epoch, body).
StoredEvent = tuple[str, str, float, Mapping[str, Any]]
# A fired moment as stored: (profile, its decision or None, when it fired, the outbox payload).
StoredMoment = tuple[Mapping[str, Any], Any, float, dict[str, Any]]


class EventRepository:
    def __init__(self, decisions: DecisionRepository) -> None:
        """Over the decisions' database: a fired moment's decision is logged with its event."""
        self.decisions = decisions
        self.database = decisions.database

    def record_events(self, plan: CompiledPlan, events: Sequence[StoredEvent],
                      fired: Sequence[StoredMoment]) -> list[str | None]:
        """Events, and the moments they fired with their decisions, in one transaction: an
        acknowledged event and everything it caused are stored together or not at all.
        The decision ids come back, in the order of ``fired``."""
        received = self.database.bind("created_at", now())
        event_rows = [(row_id, cid, kind, when, to_json(dict(body)), received)
                      for row_id, (cid, kind, when, body) in zip(new_ids(len(events)), events, strict=True)]
        decided = [(profile, decision) for profile, decision, _, _ in fired if decision is not None]
        decision_rows = self.decisions.row_maker(plan).rows(decided) if decided else []
        decision_ids = iter(row[0] for row in decision_rows)
        outbox_rows = []
        ids: list[str | None] = []
        for _, decision, fired_at, payload in fired:
            decision_id = next(decision_ids) if decision is not None else None
            ids.append(decision_id)
            outbox_rows.append((payload["moment"], payload["customer_id"], fired_at, decision_id,
                                to_json({**payload, "decision_id": decision_id}), received))
        six = self.database.placeholders(6)
        with self.database.engine.begin() as connection:
            if event_rows:
                connection.exec_driver_sql(
                    f"INSERT INTO events (id, customer_id, type, occurred_at, body, received_at) "
                    f"VALUES ({six})", event_rows)
            if decision_rows:
                connection.exec_driver_sql(self.decisions.insert_sql, decision_rows)
            if outbox_rows:
                connection.exec_driver_sql(
                    f"INSERT INTO outbox (moment, customer_id, fired_at, decision_id, payload, created_at) "
                    f"VALUES ({six})", outbox_rows)
        self.database.committed()
        return ids

    def events_since(self, since: float) -> list[dict[str, Any]]:
        """Stored events from ``since`` on, in time order (arrival order among equal times)."""
        with self.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT body FROM events WHERE occurred_at >= {self.database.mark} ORDER BY occurred_at, id",
                (since,))
            return [json.loads(body) for (body,) in rows]

    def latest_event_time(self) -> float | None:
        with self.database.engine.connect() as connection:
            value = connection.exec_driver_sql("SELECT max(occurred_at) FROM events").scalar()
            return None if value is None else float(value)

    def outbox(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT id, payload FROM outbox WHERE id > {self.database.mark} ORDER BY id LIMIT {int(limit)}",
                (after,))
            return [{"id": int(row_id), **json.loads(payload)} for row_id, payload in rows]
