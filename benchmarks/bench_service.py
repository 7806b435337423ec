"""The HTTP service under load from a second process, on loopback, with the SQLite decision log.

    python benchmarks/bench_service.py [--rate 500] [--seconds 10] [--batches 10]
                                       [--event-replicas 1,2] [--events 20000] [--events-pg URL]
    python benchmarks/bench_service.py --replicas 1,2 [--pg URL] [--seconds 10]

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
3. Events through the partition owners, with each of --event-replicas replicas on one fresh
   database (SQLite; also PostgreSQL with --events-pg): generated events posted in batches
   of 500 by two client threads, each a disjoint half of the customers in time order, to
   the replicas in turn; timed from the first post to the last event processed by its
   partition's owner (moments fired, decided, logged, in the outbox). Peer in the same run:
   the same with one replica.

With --replicas (see replica_runs): single decisions on 1, 2, ... replicas sharing one
decision log (SQLite, and PostgreSQL with --pg), with the default plan's contact caps on
(each customer's decisions serialized through the database) and off; one wrk per
replica, as a load balancer would spread them.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
from fleet import fresh_postgresql, served_fleet
from served import served_default_plan, served_replicas

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


CLIENTS = 2  # posting threads, the same for every replica count


def events_run(replicas: int, events: list[dict[str, object]], db_url: str) -> tuple[float, float, int]:
    """(events/s stored, events/s processed by the owners, moments fired) for ``replicas``
    servers on the database at ``db_url``."""
    import zlib

    shares: list[list[dict[str, object]]] = [[] for _ in range(CLIENTS)]
    for item in events:  # a customer's events stay with one client, in time order
        shares[zlib.crc32(str(item["customer_id"]).encode()) % CLIENTS].append(item)
    with served_replicas(replicas, db_url, "--moment-clock", "events") as bases:
        def post(client_index: int) -> None:
            with httpx.Client(base_url=bases[client_index % replicas], timeout=120,
                              headers={"Content-Type": "application/json"}) as client:
                share = shares[client_index]
                for start in range(0, len(share), 500):
                    client.post("/v1/events", content=orjson.dumps({"events": share[start:start + 500]}))\
                        .raise_for_status()

        wait_for_shares(bases)
        started = time.perf_counter()
        threads = [threading.Thread(target=post, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = time.perf_counter() - started
        with httpx.Client(base_url=bases[0], timeout=30) as client:
            while sum(p["lag"] for p in client.get("/v1/moments").json()["partitions"]):
                time.sleep(0.05)
            processed = time.perf_counter() - started
            fired, after = 0, 0  # counted: ids can skip (a PostgreSQL sequence is not rolled back)
            while page := client.get("/v1/outbox", params={"after": after, "limit": 1000}).json()["items"]:
                fired, after = fired + len(page), page[-1]["id"]
    return len(events) / stored, len(events) / processed, fired


def wait_for_shares(bases: list[str]) -> None:
    """Until every partition has an owner and every replica a share (a new replica takes
    its share from the others within a heartbeat or two)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = [httpx.get(f"{base}/v1/moments").json() for base in bases]
        held = [answer["held"] for answer in seen]
        if sum(map(len, held)) == len(seen[0]["partitions"]) and all(held):
            return
        time.sleep(0.2)
    sys.exit("the replicas did not share the partitions")


@contextmanager
def fresh_database(kind: str, pg_url: str | None) -> Iterator[str]:
    """An empty SQLite file, or a new database on the PostgreSQL server of ``pg_url``."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as scratch:
            yield f"sqlite:///{scratch}/events.db"
        return
    assert pg_url is not None
    with fresh_postgresql(pg_url) as url:
        yield url


def events_rows(replica_counts: list[int], count: int, pg_url: str | None) -> str:
    from treatment_engine.sample import generate_events

    events = generate_events(count, max(1, count // 4), seed=13, days=60, until=AS_OF)
    rows = []
    for kind in ["sqlite"] + (["postgresql"] if pg_url else []):
        peer = None
        for replicas in replica_counts:
            with fresh_database(kind, pg_url) as url:
                stored, processed, fired = events_run(replicas, events, url)
            peer = peer or processed
            print(f"  events, {kind}, {replicas} replica(s): stored {stored:,.0f}/s, processed {processed:,.0f}/s, "
                  f"{fired:,} fired", file=sys.stderr)
            rows.append(f"| events through the partition owners, {replicas} replica(s), {kind}, {count:,} events, "
                        f"{fired:,} moments fired | {processed:,.0f} events/s processed ({stored:,.0f}/s stored) "
                        f"| {processed / peer:.2f}x one replica |")
    return "\n".join(rows)


def plan_without_limits(scratch: Path) -> Path:
    """The bundled plan with its contact caps and delight cooldown taken out."""
    import yaml

    plan = scratch / "caps-off"
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, plan / folder)
    policy_file = plan / "rules" / "policy.yaml"
    policy = yaml.safe_load(policy_file.read_text())
    for key in ("contact_caps", "delight_cooldown_days"):
        policy["policy"].pop(key)
    policy_file.write_text(yaml.safe_dump(policy))
    return plan


def wrk_spread(bases: list[str], scratch: Path, connections: int, seconds: float,
               customers: int) -> tuple[float, float, float, bool]:
    """One unpaced wrk per replica, ``connections`` in all, started together: (requests/s
    summed, worst p50 ms, worst p99 ms, any errors). Each request is for a random one of
    ``customers`` customers."""
    body = ('{"profile": {"customer_id": "c%d", "annual_value": 2400, "nps": 4, "open_complaints": 1, '
            '"first_purchase_date": "2024-01-10", "consent": {"phone": true, "email": true}}, "as_of": "2026-11-01"}')
    script = scratch / f"wrk-spread-{customers}.lua"
    script.write_text(f"wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\n"
                      f"request = function() return wrk.format(nil, nil, nil, "
                      f"string.format('{body}', math.random(1, {customers}))) end\n")
    each = max(1, connections // len(bases))
    runs = [subprocess.Popen(["wrk", "-t1", f"-c{each}", f"-d{seconds:g}s", "--latency", "-s", str(script),
                              f"{base}/v1/decisions"], stdout=subprocess.PIPE, text=True) for base in bases]
    rate, p50, p99, errors = 0.0, 0.0, 0.0, False
    for run in runs:
        out, _ = run.communicate()
        found = {line.split()[0]: line.split()[1] for line in out.splitlines()
                 if line.strip().startswith(("50%", "99%", "Requests/sec:"))}
        rate += float(found["Requests/sec:"])
        p50, p99 = max(p50, _ms(found["50%"])), max(p99, _ms(found["99%"]))
        errors = errors or "Non-2xx" in out or "Socket errors" in out
    return rate, p50, p99, errors


def _ms(text: str) -> float:
    """wrk's latency (``812.00us``, ``3.41ms``, ``1.02s``) in milliseconds."""
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)


Run = tuple[float, float, float, bool]  # requests/s, p50 ms, p99 ms, any errors
Config = tuple[str, str, int, str]  # log kind, caps "on"/"off", replicas, code "this"/"before"


def replica_runs(replicas: list[int], pg_url: str | None, seconds: float, connections: int,
                 customers: int, repeats: int, baseline: Path | None) -> str:
    """Single decisions, caps on and off, on each count of replicas sharing one fresh log
    per run, every configuration run ``repeats`` times in turn (the machine's speed drifts:
    interleaving spreads the drift over all of them); a markdown table of medians with
    ratios against the first replica count and against caps off. With ``baseline`` (a
    checkout of the code before), its caps-on single replica is measured too."""
    import statistics
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    plans = {"on": REPO, "off": plan_without_limits(scratch)}
    configs: list[Config] = [(kind, caps, count, "this") for kind in ["sqlite"] + (["postgresql"] if pg_url else [])
                             for caps in plans for count in replicas]
    if baseline is not None:
        configs += [(kind, "on", replicas[0], "before") for kind in ("sqlite", "postgresql") if kind == "sqlite" or pg_url]
    measured: dict[Config, list[Run]] = {config: [] for config in configs}
    for repeat in range(repeats):
        for config in configs:
            measured[config].append(_measure(config, plans, scratch / f"run-{repeat}", pg_url, baseline,
                                             (connections, seconds, customers)))
            print(f"  {config}: {measured[config][-1]}", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)

    def median(config: Config, field: int = 0) -> float:
        return statistics.median(run[field] for run in measured[config])

    rows = []
    for config in configs:
        kind, caps, count, code = config
        rates = [run[0] for run in measured[config]]
        one, off = median((kind, caps, replicas[0], "this")), median((kind, "off", count, "this"))
        rows.append(f"| {kind} | {caps}{'' if code == 'this' else ' (code before)'} | {count} | "
                    f"{median(config):,.0f} req/s ({min(rates):,.0f}-{max(rates):,.0f}) | {median(config, 1):.2f} ms | "
                    f"{median(config, 2):.2f} ms | {median(config) / one:.2f}x | {median(config) / off:.2f}x | "
                    f"{'errors' if any(run[3] for run in measured[config]) else 'none'} |")
    return (f"| log | caps | replicas | single decisions, median of {repeats} (range), {connections} connections "
            f"in all | p50 | p99 | vs {replicas[0]} replica(s) | vs caps off | errors |\n"
            f"|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def _measure(config: Config, plans: dict[str, Path], scratch: Path, pg_url: str | None, baseline: Path | None,
             load: tuple[int, float, int]) -> Run:
    """One run of one configuration on a fresh log (a new SQLite file, or a new database)."""
    from contextlib import nullcontext

    kind, caps, count, code = config
    scratch.mkdir(parents=True, exist_ok=True)
    sqlite_url = f"sqlite:///{scratch / f'log-{kind}-{caps}-{count}-{code}.db'}"
    database = fresh_postgresql(pg_url) if kind == "postgresql" and pg_url else nullcontext(sqlite_url)
    # The code before: its package first on the path, from a directory that is not this checkout.
    env = {"PYTHONPATH": str(baseline)} if code == "before" and baseline else None
    with database as db_url, served_fleet(plans[caps], db_url, count, env=env, cwd=scratch if env else None) as bases:
        for base in bases:  # warm up
            with httpx.Client(base_url=base) as client:
                for n in range(100):
                    client.post("/v1/decisions", json={"profile": {"customer_id": f"w{n}"}})
        connections, seconds, customers = load
        return wrk_spread(bases, scratch, connections, seconds, customers)


def plan_convergence(db_url: str, replicas: int, poll: float, edits: int) -> list[float]:
    """Seconds from a reload answered on one replica until every other replica serves the
    new version (polling the plan releases every ``poll`` seconds), for ``edits`` edits."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="bench-converge-"))
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, scratch / folder)
    policy = scratch / "rules" / "policy.yaml"
    original = policy.read_text()
    delays = []
    with served_fleet(scratch, db_url, replicas, "--plan-poll", str(poll)) as bases, httpx.Client(timeout=30) as client:
        for edit in range(edits):
            policy.write_text(original.replace("ratio: 0.03", f"ratio: 0.0{edit + 1}5"))
            version = client.post(f"{bases[0]}/v1/plan:reload").json()["plan_version"]
            started = time.perf_counter()
            while any(client.get(f"{base}/v1/plan").json()["plan_version"] != version for base in bases[1:]):
                time.sleep(0.02)
            delays.append(time.perf_counter() - started)
            time.sleep(random.uniform(0, poll))  # the next edit lands at a random point of the poll cycle
    shutil.rmtree(scratch, ignore_errors=True)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--event-replicas", default="1,2", help="Replica counts for the events part, comma-separated.")
    parser.add_argument("--events", type=int, default=20_000, help="Events for the events part (0: skip it).")
    parser.add_argument("--events-pg", metavar="URL", help="Also run the events part on this PostgreSQL server "
                        "(a database per run is created there and dropped).")
    parser.add_argument("--replicas", help="e.g. 1,2: compare replica counts (caps on and off) instead")
    parser.add_argument("--pg", metavar="URL", help="with --replicas: also on this PostgreSQL server "
                        "(its role needs CREATEDB; a fresh database per run)")
    parser.add_argument("--connections", type=int, default=8, help="with --replicas: wrk connections in all")
    parser.add_argument("--customers", type=int, default=100_000,
                        help="with --replicas: requests pick one of this many customers at random")
    parser.add_argument("--repeats", type=int, default=3, help="with --replicas: runs of each configuration")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="with --replicas: also the caps-on single replica of the code in DIR (a checkout)")
    args = parser.parse_args()
    if args.replicas:
        counts = [int(n) for n in args.replicas.split(",")]
        table = replica_runs(counts, args.pg, args.seconds, args.connections, args.customers, args.repeats,
                             args.baseline)
        print(f"\nmeasured {date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, "
              f"{os.cpu_count()} cores, {args.seconds:g} s per run\n\n{table}")
        if args.pg:
            with fresh_postgresql(args.pg) as db_url:
                delays = sorted(plan_convergence(db_url, max(counts), 2.0, 10))
            print(f"\nplan convergence, {max(counts)} replicas polling every 2 s on PostgreSQL, 10 edits: "
                  f"median {delays[len(delays) // 2]:.2f} s, max {delays[-1]:.2f} s")
        return

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
    replica_counts = [int(n) for n in args.event_replicas.split(",")]
    events = events_rows(replica_counts, args.events, args.events_pg) if args.events else ""
    print(f"""
| measured ({date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores) | result | ratio |
|---|---|---|
{single}
| batch endpoint, {args.batches} x 10,000 profiles, SQLite log | {batch_rate:,.0f} decisions/s | {batch_rate / in_process:.2f}x in-process, {batch_rate / logged:.2f}x in-process with the log |
| peer: in-process `decide_many`, same profiles | {in_process:,.0f} decisions/s | 1.00 |
| peer: in-process, the endpoint's work without HTTP (limits read, decided, rows committed to a SQLite log) | {logged:,.0f} decisions/s | {logged / in_process:.2f}x in-process |
{events}
""")


if __name__ == "__main__":
    main()
