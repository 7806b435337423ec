"""Contact caps and the delight cooldown under concurrency, with real replicas on one log.

Every customer gets 14 requests at once, split across two `treatment serve` processes.
Decided one after another, the plan below gives each customer exactly one delight (by
call), then seven email nudges, then decisions with no channel (the `any` cap of 8 is
reached): any interleaving must end the same way, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

import sqlalchemy  # noqa: E402

from .bursts import Post, post_at_once  # noqa: E402
from .conftest import write_plan  # noqa: E402
from .replicas import database_kinds, fleet, fresh_database  # noqa: E402

AS_OF = "2026-11-01"
CUSTOMERS = 20
REQUESTS_EACH = 14
PLAN = {
    "rules/catalog.yaml": yaml.safe_dump({
        "channels": {"call": {"cost": 4.0}, "email": {"cost": 0.02}},
        "actions": {"gift": {"kind": "delight", "cost": 5}, "nudge": {"kind": "contain"}},
        "policy": {"contact_caps": {"call": {"max": 1, "per_days": 14}, "any": {"max": 8, "per_days": 30}},
                   "delight_cooldown_days": 30},
        "default": {"treatment": "contain", "actions": ["nudge"], "channels": ["email"]},
    }),
    "rules/rules.yaml": yaml.safe_dump({"rules": [
        # Once the call cap holds this back, only the cooldown stops the next one.
        {"id": "gift-by-call", "priority": 10, "when": {"if": "vip"},
         "then": {"treatment": "delight", "actions": ["gift"], "channels": ["call"]}},
        {"id": "gift-by-email", "priority": 9, "when": {"if": "vip"},
         "then": {"treatment": "delight", "actions": ["gift"], "channels": ["email"]}},
        {"id": "nudge", "priority": 5, "then": {"treatment": "contain", "actions": ["nudge"], "channels": ["email"]}},
    ]}),
    "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]}),
}
# What one customer's 14 decisions hold, whatever the order they were made in.
EXPECTED = {"delight": 1, "call": 1, "contacts": 8}


def _profile(customer_id: str) -> dict[str, Any]:
    return {"customer_id": customer_id, "vip": True}


def _burst(bases: list[str], customers: list[str], with_batch: bool) -> list[int]:
    """Every customer's requests at once, alternating replicas; the status codes back.
    ``with_batch``: one batch per replica, each holding every customer, joins the burst
    (so a customer's batch decisions race its single ones)."""
    posts = [Post(bases[(c + n) % len(bases)], "/v1/decisions", {"profile": _profile(cid), "as_of": AS_OF})
             for n in range(REQUESTS_EACH) for c, cid in enumerate(customers)]
    if with_batch:
        batch = {"profiles": [_profile(cid) for cid in customers], "as_of": AS_OF}
        posts += [Post(base, "/v1/decisions:batch", batch) for base in bases]
    return [status for status, _ in post_at_once(posts)]


def _logged(db_url: str, prefix: str) -> dict[str, Counter[str]]:
    """Per customer: delights, calls and contacts (decisions with a channel) in the log."""
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT customer_id, treatment, channel FROM decisions WHERE customer_id LIKE "
                + ("?" if db_url.startswith("sqlite") else "%s"), (f"{prefix}%",)).all()
    finally:
        engine.dispose()
    counts: dict[str, Counter[str]] = {}
    for customer_id, treatment, channel in rows:
        tally = counts.setdefault(customer_id, Counter())
        tally["decisions"] += 1
        tally["delight"] += treatment == "delight"
        tally["call"] += channel == "call"
        tally["contacts"] += channel is not None
    return counts


@pytest.mark.slow
@pytest.mark.parametrize("kind", database_kinds())
def test_caps_and_cooldown_hold_for_concurrent_requests_across_replicas(kind: str, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan", PLAN)
    with fresh_database(kind, tmp_path) as db_url, fleet(plan, db_url, 2, "--no-watch") as servers:
        bases = [server.base for server in servers]
        for trial in range(7):  # five bursts of single requests, then two with batches among them
            with_batch = trial >= 5
            prefix = f"t{trial}-"
            customers = [f"{prefix}c{index}" for index in range(CUSTOMERS)]
            statuses = _burst(bases, customers, with_batch)
            assert Counter(statuses) == {200: len(statuses)}, f"trial {trial}"
            counts = _logged(db_url, prefix)
            over = {cid: dict(c) for cid, c in counts.items()
                    if any(c[key] > most for key, most in EXPECTED.items())}
            assert over == {}, f"trial {trial}: customers over a cap or with an extra delight"
            # Serialized, the decisions are exactly the sequential ones: no limit undercounted either.
            assert all({key: c[key] for key in EXPECTED} == EXPECTED for c in counts.values()), f"trial {trial}"
            per_customer = REQUESTS_EACH + (len(bases) if with_batch else 0)
            assert sorted(c["decisions"] for c in counts.values()) == [per_customer] * CUSTOMERS
