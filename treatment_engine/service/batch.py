"""A batch request decided in one pass: the answer's records and the log's rows.

Each profile is decided once, its record and log row made from the same decision, and
the records encoded once by orjson (FastAPI's generic encoder costs more than deciding).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from ..contacts import ContactState
from ..day import Day
from ..decision import Decision, DecisionError
from ..engine import Engine
from ..semantics import customer_id_of
from ..store import CUSTOMER_ID_MAX, RowMaker, unkeyable

UNLOGGABLE = f"the customer_id is longer than {CUSTOMER_ID_MAX} characters, the decision log's limit"
NUL_ID = "the customer_id holds a NUL character, which the decision log cannot keep"
INVALID = ("", "")  # the tally's key for a profile that could not be decided


def unloggable(customer_id: str | None) -> str | None:
    """Why the decision log cannot key ``customer_id`` (too long; a NUL, which PostgreSQL's
    text refuses), or None."""
    if customer_id is None:
        return None
    if len(customer_id) > CUSTOMER_ID_MAX:
        return UNLOGGABLE
    return NUL_ID if unkeyable(customer_id) else None


@dataclass(frozen=True)
class DecidedBatch:
    rows: list[tuple[Any, ...]]  # for the decision log, in order (none without a log)
    records: bytes  # the answers: JSON objects joined by commas, in order
    tally: dict[tuple[str, str], int]  # (treatment, rule) -> decisions; INVALID -> errors

    def answer(self, plan_version: str) -> bytes:
        """The batch response body, with the records already encoded."""
        return b'{"plan_version":' + orjson.dumps(plan_version) + b',"decisions":[' + self.records + b"]}"


def decide_batch(engine: Engine, profiles: list[Any], as_of: Day | date,
                 limits: Mapping[str, ContactState], rows: RowMaker | None) -> DecidedBatch:
    """Decide ``profiles``; with ``rows`` (a decision log), each decision gets its log id
    and row, and a customer id the log cannot keep is refused inline with the reason."""
    records: list[dict[str, Any]] = []
    logged: list[tuple[Any, Decision]] = []
    logged_records: list[dict[str, Any]] = []
    tally: Counter[tuple[str, str]] = Counter()
    for profile, result in zip(profiles, engine.decide_many(profiles, as_of, limits=limits or None), strict=True):
        if type(result) is not Decision:
            records.append(result.to_record())
            tally[INVALID] += 1
            continue
        if rows is not None and (why := unloggable(result.customer_id)) is not None:
            records.append({"customer_id": None, "error": why})
            tally[INVALID] += 1
            continue
        record = result.to_record()
        records.append(record)
        tally[(result.treatment, result.rule)] += 1
        if rows is not None:
            logged.append((profile, result))
            logged_records.append(record)
    made = rows.rows(logged) if rows is not None else []
    for record, row in zip(logged_records, made, strict=True):
        record["id"] = row[0]
    return DecidedBatch(made, orjson.dumps(records)[1:-1], dict(tally))


def batch_of_results(results: Sequence[Decision | DecisionError | None], ids: Sequence[str | None],
                     profiles: Sequence[Any]) -> DecidedBatch:
    """The answer to a batch decided and logged already (under its customers' locks:
    serialize.py); ``None`` stands for a customer id the log cannot keep."""
    records: list[dict[str, Any]] = []
    tally: Counter[tuple[str, str]] = Counter()
    for result, row_id, profile in zip(results, ids, profiles, strict=True):
        if result is None:
            records.append({"customer_id": None, "error": unloggable(customer_id_of(profile)) or UNLOGGABLE})
            tally[INVALID] += 1
        elif type(result) is not Decision:
            records.append(result.to_record())
            tally[INVALID] += 1
        else:
            records.append({**result.to_record(), "id": row_id})
            tally[(result.treatment, result.rule)] += 1
    return DecidedBatch([], orjson.dumps(records)[1:-1], dict(tally))
