"""Moments of truth: sustained events per second, through replay and through the HTTP endpoint.

    python benchmarks/bench_events.py [--events 200000] [--customers 50000] [--http-events 20000]

Generated events for the default plan's moments (complaints, surveys, orders and
installs, failed payments) over 60 days for --customers customers, seeded.
- replay: `treatment_engine.moments.correlator.replay` end to end: parse and check every
  event, correlate in the durable-rules worker, decide every fired moment.
- peer, same run: the same events posted straight to durable-rules in one process with
  the same rulesets and nothing else (no checks, no clock, no decisions), so the ratio
  shows what the engine adds around durable-rules.
- http: `POST /v1/events` with batches of 1,000 to `treatment serve` on loopback
  (SQLite decision log), each acknowledged once stored, timed until the partition owner
  (the same process) has processed the last one: moments fired, decided and logged.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START = datetime(2026, 9, 1, tzinfo=UTC)


def generate(count: int, customers: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    kinds = ["complaint"] * 3 + ["survey_response"] * 3 + ["order_placed", "installed"] + ["payment_failed"] * 2
    events = []
    for _ in range(count):
        kind = rng.choice(kinds)
        moment = START + timedelta(seconds=rng.randrange(60 * 86400))
        item = {"customer_id": f"c{rng.randrange(customers):06d}", "type": kind,
                "timestamp": moment.isoformat().replace("+00:00", "Z")}
        if kind == "survey_response":
            item["score"] = rng.randrange(11)
        events.append(item)
    events.sort(key=lambda e: e["timestamp"])
    return events


def peer_rate(plan: object, events: list[dict]) -> float:
    """durable-rules alone: the same rulesets, every event posted as it is."""
    import durable.engine as durable

    from treatment_engine.moments.events import parse_timestamp
    from treatment_engine.moments.rulesets import deadline_fields, definition, spec_of

    class QuietHost(durable.Host):  # type: ignore[misc]
        def _run(self) -> None:
            pass

    moments = plan.moments  # type: ignore[attr-defined]
    names = [f"peer{i}" for i in range(len(moments))]
    host = QuietHost({n: definition(spec_of(m), lambda c: None) for n, m in zip(names, moments, strict=True)})
    kinds = [{s.event for s in m.steps} for m in moments]
    specs = [spec_of(m) for m in moments]
    started = time.perf_counter()
    for seq, item in enumerate(events):
        when = parse_timestamp(item["timestamp"])
        message = {"sid": "0", "id": seq, "cid": item["customer_id"], "t": item["type"], "seq": seq,
                   "ts": when, "i0": True}
        for name, wanted, spec in zip(names, kinds, specs, strict=True):
            if item["type"] in wanted:
                with contextlib.suppress(durable.MessageNotHandledException):
                    host.post(name, {**message, **deadline_fields(spec, when or 0.0)})
    return len(events) / (time.perf_counter() - started)


def http_rate(events: list[dict]) -> float:
    import httpx
    import orjson
    from served import served_default_plan

    with served_default_plan() as (base, _):
        bodies = [orjson.dumps({"events": events[i:i + 1000]}) for i in range(0, len(events), 1000)]
        with httpx.Client(base_url=base, timeout=120, headers={"Content-Type": "application/json"}) as client:
            started = time.perf_counter()
            for body in bodies:
                client.post("/v1/events", content=body).raise_for_status()
            while sum(p["lag"] for p in client.get("/v1/moments").json()["partitions"]):
                time.sleep(0.05)
            return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--http-events", type=int, default=20_000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from treatment_engine import Engine
    from treatment_engine.moments.correlator import replay

    plan = Engine.load(REPO).plan
    events = generate(args.events, args.customers)
    started = time.perf_counter()
    fired, errors, _ = replay(plan, events)
    replay_rate = len(events) / (time.perf_counter() - started)
    print(f"  replay: {len(events):,} events, {len(fired):,} moments fired, {len(errors)} refused, "
          f"{replay_rate:,.0f} events/s", file=sys.stderr)
    peer = peer_rate(plan, events)
    print(f"  peer (durable-rules alone): {peer:,.0f} events/s", file=sys.stderr)
    http = http_rate(generate(args.http_events, args.customers, seed=6)) if args.http_events else 0.0
    if http:
        print(f"  http: {http:,.0f} events/s", file=sys.stderr)
    print(f"""
| measured ({date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores) | events/s | ratio |
|---|---|---|
| replay, {len(events):,} events, {args.customers:,} customers, {len(fired):,} moments fired and decided | {replay_rate:,.0f} | {replay_rate / peer:.2f}x the peer |
| peer: the same rulesets in durable-rules alone, events posted in one process | {peer:,.0f} | 1.00 |
| HTTP `POST /v1/events`, batches of 1,000, SQLite log | {http:,.0f} | {http / peer:.2f}x the peer |
""")


if __name__ == "__main__":
    main()
