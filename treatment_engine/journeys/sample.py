"""Sample events for the bundled plan's journeys (appendix J), seeded: realistic delays and
drop-offs, and a planted watermelon.

*Installation* looks green touchpoint by touchpoint (installed within 5 days for about 95%
of customers, activated within 2 days for 96%, a correct first bill for 95%), yet about
one customer in three churns or complains within two months of that bill, so the journey
succeeds for about 60%, short of its 75% target: the watermelon. *House move* is healthy
on both counts. Runs start over the 240 days before ``until``, so most have closed
their success window and the latest are still in progress.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

DAY = 86_400
SPAN_DAYS = 240


def journey_events(customers: int, *, seed: int = 7, until: date) -> list[dict[str, Any]]:
    """Events of the installation and house-move journeys, in time order."""
    rng = random.Random(seed)
    end = datetime(until.year, until.month, until.day, tzinfo=UTC).timestamp()
    made: list[tuple[float, dict[str, Any]]] = []
    for number in range(customers):
        customer = f"c{number:06d}"
        roll = rng.random()
        if roll < 0.4:
            made.extend(_installation(rng, customer, end - rng.uniform(1, SPAN_DAYS) * DAY))
        elif roll < 0.5:
            for _ in range(1 + (rng.random() < 0.1)):  # a few move twice: two runs
                made.extend(_house_move(rng, customer, end - rng.uniform(1, SPAN_DAYS) * DAY))
    kept = sorted((item for item in made if item[0] < end), key=lambda item: item[0])
    return [{**event, "timestamp": _stamp(moment)} for moment, event in kept]


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(int(moment), UTC).isoformat().replace("+00:00", "Z")


def _event(customer: str, kind: str, moment: float, **fields: Any) -> tuple[float, dict[str, Any]]:
    return moment, {"customer_id": customer, "type": kind, **fields}


def _installation(rng: random.Random, customer: str, at: float) -> list[tuple[float, dict[str, Any]]]:
    made = [_event(customer, "signed_up", at, plan_type=rng.choice(("fibre", "fibre", "mobile")))]
    if rng.random() < 0.6:
        made.append(_event(customer, "installation_booked", at + rng.uniform(0.1, 2) * DAY))
    if rng.random() < 0.02:
        return made  # never installed
    at += (rng.uniform(0.5, 4.8) if rng.random() < 0.97 else rng.uniform(5.5, 13)) * DAY
    made.append(_event(customer, "installed", at, first_time_right=rng.random() < 0.9))
    if rng.random() < 0.015:
        return made
    at += (rng.uniform(0.05, 1.8) if rng.random() < 0.98 else rng.uniform(2.2, 2.9)) * DAY
    made.append(_event(customer, "activated", at))
    at += rng.uniform(25, 34) * DAY
    if rng.random() < 0.05:  # a wrong first bill, corrected ten days later
        made.append(_event(customer, "bill_issued", at, correct=False))
        at += 10 * DAY
    made.append(_event(customer, "bill_issued", at, correct=True))
    # The red inside: churn and complaints after a journey that looked fine.
    if rng.random() < 0.25:
        made.append(_event(customer, "churned", at + rng.uniform(1, 58) * DAY))
    elif rng.random() < 0.15:
        made.append(_event(customer, "complaint", at + rng.uniform(1, 58) * DAY, topic="billing"))
    return made


def _house_move(rng: random.Random, customer: str, at: float) -> list[tuple[float, dict[str, Any]]]:
    made = [_event(customer, "move_notice", at)]
    if rng.random() < 0.02:
        return made
    at += (rng.uniform(0.5, 6.5) if rng.random() < 0.97 else rng.uniform(8, 20)) * DAY
    made.append(_event(customer, "final_reading", at))
    if rng.random() < 0.01:
        return made
    at += (rng.uniform(0.2, 4.5) if rng.random() < 0.97 else rng.uniform(6, 13)) * DAY
    made.append(_event(customer, "contract_moved", at))
    at += rng.uniform(20, 35) * DAY
    made.append(_event(customer, "bill_issued", at, correct=rng.random() < 0.99))
    if rng.random() < 0.03:
        made.append(_event(customer, "complaint", at + rng.uniform(1, 28) * DAY, topic="move"))
    return made
