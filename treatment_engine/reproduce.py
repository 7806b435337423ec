"""Decide a logged decision again, from its stored plan version, inputs and history.

Used by ``treatment reproduce`` and the service's ``:reproduce`` endpoint: both report whether
the decision reproduces, field by field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .contacts import NO_LIMITS
from .engine import Engine
from .store import DecisionRepository, row_record, unflatten
from .store.rows import OVERSIZED

COMPARED = ("rule", "treatment", "actions", "channels", "cost", "plan_version", "arm")


class ReproduceError(Exception):
    """The decision cannot be decided again; the message says why."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_found = not_found


@dataclass(frozen=True)
class Reproduction:
    logged: dict[str, Any]
    again: dict[str, Any]
    differences: dict[str, tuple[Any, Any]]  # field -> (logged, decided again)

    @property
    def reproduces(self) -> bool:
        return not self.differences

    def to_record(self) -> dict[str, Any]:
        return {"id": self.logged["id"], "reproduces": self.reproduces, "logged": self.logged,
                "again": {k: self.again[k] for k in ("customer_id", *COMPARED)},
                "differences": {k: {"logged": a, "again": b} for k, (a, b) in self.differences.items()}}


def reproduce_decision(log: DecisionRepository, decision_id: str) -> Reproduction:
    row = log.decision(decision_id)
    if row is None:
        raise ReproduceError(f"no decision {decision_id!r} in the log", not_found=True)
    files = log.plan_files(row.plan_version)
    if files is None:
        raise ReproduceError(f"plan version {row.plan_version} is not stored in the log")
    if row.inputs is None:
        raise ReproduceError("this decision was logged without inputs (--store-inputs none), "
                          "so it cannot be decided again")
    stored = json.loads(row.inputs)
    if OVERSIZED in stored:
        raise ReproduceError(f"this decision's inputs ({stored[OVERSIZED]:,} characters of JSON) were over the "
                             f"log's limit and not kept (--max-stored-input), so it cannot be decided again")
    engine = Engine.from_texts(files)
    profile = {**unflatten(stored), "customer_id": row.customer_id}
    limits = NO_LIMITS
    rules = engine.plan.contact_rules
    if rules is not None:  # the history as it stood when the decision was made
        limits = log.limits([row.customer_id], row.as_of, rules, before=row.created_at).get(row.customer_id, NO_LIMITS)
    again = engine.decide(profile, row.as_of, limits=limits).to_record()
    logged = row_record(row)
    differences = {k: (logged[k], again[k]) for k in COMPARED if logged[k] != again[k]}
    return Reproduction(logged, again, differences)
