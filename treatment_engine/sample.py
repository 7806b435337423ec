"""Synthetic telecom customers for the bundled plan, from a seed.

The same (count, seed, as_of) always gives the same customers. Dates are drawn
around ``as_of`` so every lifecycle stage occurs, and a small share of values is
messy the way real exports are (nulls, numbers as text, other date spellings), so
that demos and tests exercise the spec's null and type rules.
"""

from __future__ import annotations

import csv
import heapq
import random
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

REGIONS = ("capital", "north", "east", "south", "west")
CSV_COLUMNS = (
    "customer_id", "plan_type", "age", "region", "household_size", "lines", "status",
    "first_purchase_date", "last_purchase_date", "contract_end_date", "annual_value",
    "monthly_spend", "usage_share", "usage_trend_pct", "churn_risk", "nps", "open_complaints",
    "outage_minutes_30d", "days_overdue", "do_not_contact", "app_installed",
    "has_account_manager", "consent.email", "consent.sms", "consent.push", "consent.phone",
)


def generate(count: int, *, seed: int = 7, as_of: date, typed: bool = False,
             progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """``count`` customers. ``typed`` keeps every field one type (for Parquet, whose columns
    hold one): a number is then never written as text; all else is the same customers.
    ``progress`` is told how many are made, every 10,000."""
    rng = random.Random(seed)
    customers = []
    for index in range(count):
        customers.append(_customer(rng, index, as_of, typed))
        if progress is not None and (index + 1) % 10_000 == 0:
            progress(index + 1)
    return customers


def write_file(path: Path, count: int, seed: int, as_of: date,
               progress: Callable[[int], None] | None = None) -> None:
    """Sample customers in the format ``path``'s suffix names (.jsonl, .csv or .parquet)."""
    from .outputs import output_format
    from .profiles import dumps

    kind = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    customers = generate(count, seed=seed, as_of=as_of, typed=kind == "parquet", progress=progress)
    if kind == "csv":
        with open(path, "w", encoding="utf-8", newline="") as stream:
            write_csv(customers, stream)
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = list(dict.fromkeys(name for customer in customers for name in customer))
        pq.write_table(pa.table({name: [c.get(name) for c in customers] for name in names}), path)
    else:
        with open(path, "wb") as out:
            for customer in customers:
                out.write(dumps(customer))


def _pick(rng: random.Random, weighted: Iterable[tuple[Any, float]]) -> Any:
    choices, weights = zip(*weighted, strict=True)
    return rng.choices(choices, weights=weights)[0]


def _day(as_of: date, days_ago: int) -> str:
    return (as_of - timedelta(days=days_ago)).isoformat()


def _customer(rng: random.Random, index: int, as_of: date, typed: bool = False) -> dict[str, Any]:
    plan_type = _pick(rng, (("postpaid", 58), ("prepaid", 25), ("business", 10), ("student", 7)))
    age = rng.randint(18, 26) if plan_type == "student" else rng.randint(18, 90)
    household = _pick(rng, ((1, 30), (2, 30), (3, 18), (4, 14), (5, 5), (6, 3)))
    tier = _pick(rng, (("platinum", 6), ("gold", 20), ("silver", 40), ("bronze", 34)))
    annual_value = {
        "platinum": rng.uniform(5000, 15000), "gold": rng.uniform(1500, 5000),
        "silver": rng.uniform(300, 1500), "bronze": rng.uniform(0, 300),
    }[tier]
    tenure = _pick(rng, (("new", 12), ("recent", 25), ("long", 57), ("prospect", 6)))
    customer: dict[str, Any] = {
        "customer_id": f"c{index:06d}",
        "plan_type": plan_type,
        "age": age,
        "region": rng.choice(REGIONS),
        "household_size": household,
        "lines": rng.randint(1, household),
        "status": _pick(rng, (("active", 90), ("closed", 5), ("porting_out", 3), ("suspended", 2))),
        "annual_value": round(annual_value, 2),
        "monthly_spend": round(annual_value / 12 * rng.uniform(0.6, 1.4), 2),
        "usage_share": round(rng.uniform(0.1, 1.0), 2),
        "usage_trend_pct": rng.randint(-60, 40),
        "churn_risk": round(min(1.0, rng.betavariate(2, 5) * 1.4), 2),
        "open_complaints": _pick(rng, ((0, 74), (1, 16), (2, 7), (3, 2), (4, 1))),
        "outage_minutes_30d": _pick(rng, ((0, 85), (rng.randint(10, 239), 8), (rng.randint(240, 900), 7))),
        "days_overdue": _pick(rng, ((0, 84), (rng.randint(7, 29), 10), (rng.randint(30, 90), 6))),
        "do_not_contact": rng.random() < 0.02,
        "app_installed": rng.random() < 0.6,
        "consent": {
            "email": rng.random() < 0.8, "sms": rng.random() < 0.6,
            "push": rng.random() < 0.5, "phone": rng.random() < 0.45,
        },
    }
    if rng.random() < 0.85:
        customer["nps"] = rng.randint(0, 10)
    if plan_type == "business" and tier in ("platinum", "gold"):
        customer["has_account_manager"] = rng.random() < 0.7
    if tenure != "prospect":
        days = {"new": rng.randint(0, 30), "recent": rng.randint(31, 365),
                "long": rng.randint(366, 4000)}[tenure]
        customer["first_purchase_date"] = _day(as_of, days)
        customer["last_purchase_date"] = _day(as_of, min(days, _pick(rng, ((rng.randint(0, 60), 80),
                                                                          (rng.randint(61, 200), 20)))))
        customer["contract_end_date"] = _day(as_of, rng.randint(-400, 60))
    _mess_up(rng, customer, typed)
    return customer


def _mess_up(rng: random.Random, customer: dict[str, Any], typed: bool = False) -> None:
    """A little of what real exports contain; the engine must treat it by the spec."""
    roll = rng.random()
    if roll < 0.02:
        customer[rng.choice(("nps", "age", "annual_value", "churn_risk"))] = None
    elif roll < 0.03 and "nps" in customer:
        if not typed:
            customer["nps"] = str(customer["nps"])  # a number as text is not a number
    elif roll < 0.04 and "last_purchase_date" in customer:
        year, month, day = customer["last_purchase_date"].split("-")
        customer["last_purchase_date"] = f"{day}/{month}/{year}"  # not ISO 8601: no date
    elif roll < 0.05 and "first_purchase_date" in customer:
        customer["first_purchase_date"] += "T09:30:00+02:00"  # a date-time: its date counts


def write_csv(customers: Iterable[dict[str, Any]], stream: IO[str]) -> None:
    """CSV with dotted columns for nested fields; a missing or null field is an empty cell."""
    writer = csv.writer(stream)
    writer.writerow(CSV_COLUMNS)
    for customer in customers:
        row = []
        for column in CSV_COLUMNS:
            value: Any = customer
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            row.append("" if value is None else ("true" if value is True else
                                                 "false" if value is False else str(value)))
        writer.writerow(row)


# Event types of the bundled plan's moments, with how often each happens.
EVENT_MIX = (("complaint", 3.0), ("survey_response", 3.0), ("order_placed", 1.0), ("installed", 0.8),
             ("payment_failed", 1.5))


def generate_events(count: int, customers: int, *, seed: int = 7, days: int = 60,
                    until: date) -> list[dict[str, Any]]:
    """:func:`iter_events` as a list."""
    return list(iter_events(count, customers, seed=seed, days=days, until=until))


def iter_events(count: int, customers: int, *, seed: int = 7, days: int = 60,
                until: date) -> Iterator[dict[str, Any]]:
    """``count`` events for the first ``customers`` sample customers (ids as :func:`generate`
    names them) over the ``days`` days before ``until``, in time order (events of one second
    in the order they were drawn); seeded.

    Drawn in the seed's order and put in time order a run of EVENT_RUN events at a time,
    each run sorted and kept in a temporary file, the runs then merged: memory stays that
    of one run whatever ``count`` is (a list of all of them took about 400 MB a million,
    and ``--n 100000000`` was killed)."""
    rng = random.Random(seed)
    start = until - timedelta(days=days)
    kinds = [kind for kind, _ in EVENT_MIX]
    with ExitStack() as stack:
        runs: list[Iterator[tuple[int, ...]]] = []
        run: list[tuple[int, ...]] = []
        for seq in range(count):
            kind = kinds.index(_pick(rng, EVENT_MIX))
            moment = rng.randrange(days * 86400)
            customer = rng.randrange(customers)
            score = rng.randrange(11) if kinds[kind] == "survey_response" else -1
            run.append((moment, seq, kind, customer, score))
            if len(run) == EVENT_RUN:
                runs.append(_kept(stack, sorted(run)))
                run = []
        merged = heapq.merge(*runs, sorted(run)) if runs else iter(sorted(run))
        for moment, _, kind, customer, score in merged:
            stamp = (f"{(start + timedelta(seconds=moment)).isoformat()}T"
                     f"{moment % 86400 // 3600:02d}:{moment % 3600 // 60:02d}:{moment % 60:02d}Z")
            event: dict[str, Any] = {"customer_id": f"c{customer:06d}", "type": kinds[kind], "timestamp": stamp}
            if score >= 0:
                event["score"] = score
            yield event


EVENT_RUN = 500_000  # events sorted in memory at a time (about 60 MB)
_RECORD = struct.Struct("<qqBqb")  # moment, draw, kind, customer, score (-1: none)


def _kept(stack: ExitStack, run: list[tuple[int, ...]]) -> Iterator[tuple[int, ...]]:
    """A sorted run written to a temporary file (closed with ``stack``), read back in order."""
    spill = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the caller's stack
    spill.write(b"".join(_RECORD.pack(*record) for record in run))
    spill.seek(0)
    return _read_back(spill)


def _read_back(spill: IO[bytes]) -> Iterator[tuple[int, ...]]:
    while chunk := spill.read(_RECORD.size * 4096):  # whole records: the file holds nothing else
        yield from _RECORD.iter_unpack(chunk)
