"""The HTTP service under load from a second process, on loopback, with the SQLite decision log.

    python benchmarks/bench_service.py [--rate 500] [--seconds 10] [--batches 10]

1. Single decisions with wrk (Debian's `wrk`; a Python client saturates a core of its own
   and measures itself): unpaced at 1 and 4 connections (capacity, p50/p99), and paced
   at about --rate with random (exponential) think times per connection. Every answer
   is a committed decision-log row; each request is a random one of 100,000 customers.
2. Batches of 10,000 profiles, one after another: decisions per second, each batch
   committed to the log before it is answered.
Peers in the same run: the in-process evaluator (`Engine.decide_many`) on the same
profiles, and the endpoint's own work done in-process without HTTP (contact limits read,
decisions made, rows committed to a SQLite log), so the ratios show what the durable
log costs and what HTTP and JSON add to it.
The server runs in its own process (`treatment serve`); this script is the client.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
from served import served_default_plan

REPO = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 1)


def wrk_runs(base: str, scratch: Path, rate: int, seconds: float) -> str:
    if shutil.which("wrk") is None:
        sys.exit("bench_service needs wrk: apt-get install wrk")
    # A customer id drawn from 100,000 per request: the default plan's contact caps read each
    # customer's history from the log, and a service sees many customers, not one.
    body = ('{"profile": {"customer_id": "c%d", "annual_value": 2400, "nps": 4, "open_complaints": 1, '
            '"first_purchase_date": "2024-01-10", "consent": {"phone": true, "email": true}}, "as_of": "2026-11-01"}')
    rows = []
    # Paced: each connection waits a random, exponentially distributed think time (mean
    # 24 ms) after each answer, so arrivals are Poisson-like at about --rate. A fixed delay
    # keeps the connections in step, and the service then sees bursts of all of them at
    # once: that measures the load generator's rhythm, not the service.
    paced = max(1, round(rate * 0.027))
    for label, connections, delay in (("unpaced, 1 connection", 1, 0), ("unpaced, 4 connections", 4, 0),
                                      (f"paced at about {rate}/s over {paced} connections", paced, 24)):
        script = scratch / f"wrk-{connections}-{delay}.lua"
        script.write_text(f"wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
                          f"request = function() return wrk.format(nil, nil, nil, "
                          f"string.format('{body}', math.random(1, 100000))) end\n"
                          + (f"function delay() return math.floor(-math.log(1 - math.random()) * {delay}) end\n"
                             if delay else ""))
        run = subprocess.run(["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
                              "-s", str(script), f"{base}/v1/decisions"], capture_output=True, text=True, check=True)
        found = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()
                 if line.strip().startswith(("50%", "99%", "Requests/sec:"))}
        errors = "errors" if "Non-2xx" in run.stdout or "Socket errors" in run.stdout else "no errors"
        print(f"  {label}: {found}", file=sys.stderr)
        rows.append(f"| single decisions, {label}, SQLite log | {float(found['Requests/sec:']):,.0f} req/s, "
                    f"p50 {found['50%']}, p99 {found['99%']}, {errors} | |")
    return "\n".join(rows)


def decide_and_log_in_process(engine: Any, profiles: list[dict[str, object]], batches: int) -> float:
    """Decisions/s for what the batch endpoint does, in this process with no HTTP: read the
    customers' contact limits, decide, make the rows, commit them to a fresh SQLite log."""
    import tempfile

    from treatment_engine.semantics import customer_id_of
    from treatment_engine.service.batch import decide_batch
    from treatment_engine.store import DecisionLog

    plan = engine.plan
    with tempfile.TemporaryDirectory() as scratch:
        log = DecisionLog(f"sqlite:///{scratch}/log.db", background_checkpoints=True)
        ids = [cid for p in profiles if (cid := customer_id_of(p)) is not None]
        started = time.perf_counter()
        for _ in range(batches):
            limits = log.decisions.limits(ids, AS_OF, plan.contact_rules) if plan.contact_rules else {}
            log.decisions.insert_rows(decide_batch(engine, profiles, AS_OF, limits, log.decisions.row_maker(plan)).rows)
        rate = len(profiles) * batches / (time.perf_counter() - started)
        log.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from treatment_engine import Engine
    from treatment_engine.sample import generate

    profiles = generate(10_000, seed=3, as_of=AS_OF)
    with served_default_plan() as (base, scratch):
        for profile in profiles[:200]:  # warm up
            httpx.post(f"{base}/v1/decisions", json={"profile": profile})

        single = wrk_runs(base, scratch, args.rate, args.seconds)
        # The body is encoded once and answers are read with orjson: a load generator should
        # not spend more time on JSON than the server it measures.
        payload = orjson.dumps({"profiles": profiles, "as_of": AS_OF.isoformat()})
        with httpx.Client(base_url=base, timeout=120, headers={"Content-Type": "application/json"}) as client:
            started = time.perf_counter()
            decided = 0
            for _ in range(args.batches):
                response = client.post("/v1/decisions:batch", content=payload)
                response.raise_for_status()
                decided += sum(1 for d in orjson.loads(response.content)["decisions"] if "id" in d)
            batch_rate = decided / (time.perf_counter() - started)
        print(f"  batch: {decided:,} decisions at {batch_rate:,.0f}/s", file=sys.stderr)

    engine = Engine.load(REPO)
    started = time.perf_counter()
    for _ in engine.decide_many(profiles * args.batches, AS_OF):
        pass
    in_process = len(profiles) * args.batches / (time.perf_counter() - started)
    logged = decide_and_log_in_process(engine, profiles, args.batches)
    print(f"""
| measured ({date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores) | result | ratio |
|---|---|---|
{single}
| batch endpoint, {args.batches} x 10,000 profiles, SQLite log | {batch_rate:,.0f} decisions/s | {batch_rate / in_process:.2f}x in-process, {batch_rate / logged:.2f}x in-process with the log |
| peer: in-process `decide_many`, same profiles | {in_process:,.0f} decisions/s | 1.00 |
| peer: in-process, the endpoint's work without HTTP (limits read, decided, rows committed to a SQLite log) | {logged:,.0f} decisions/s | {logged / in_process:.2f}x in-process |
""")


if __name__ == "__main__":
    main()
