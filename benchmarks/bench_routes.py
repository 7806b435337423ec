"""What the HTTP framework adds around a decision: the service app called in-process.

    python benchmarks/bench_routes.py [--requests 2000] [--rounds 7]

The app that `treatment serve` runs (routing, dependencies, body parsing, middleware,
the answer's JSON; no decision log, so no commit) is called as an ASGI application
directly, with no network and no server, for POST /v1/decisions, /v1/explain and a
1,000-profile /v1/decisions:batch. Peers in the same run: the engine's own calls on the
same profiles (`Engine.decide`, `Engine.explain`, `Engine.decide_many`). Times are CPU
time of this process, the best of --rounds, so that other processes on the machine
disturb them less than wall-clock times; the ratio is what the framework costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 1)
BATCH = 1_000


async def post(app: Any, path: str, body: bytes) -> None:
    """One request through the ASGI app; fails unless it is answered 200."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "state": {}}
    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        sys.exit(f"{path} answered {sent[0]['status']}: {sent[1:]}")


def best_cpu_us(work: Callable[[], Any], per: int, rounds: int) -> float:
    """The fewest CPU microseconds ``work`` took over ``rounds``, divided by ``per``."""
    times = []
    for _ in range(rounds):
        started = time.process_time()
        work()
        times.append((time.process_time() - started) / per * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from treatment_engine import Engine
    from treatment_engine.sample import generate
    from treatment_engine.service import create_app

    app = create_app(REPO)
    engine = Engine.load(REPO)
    profiles = generate(max(args.requests, BATCH), seed=5, as_of=AS_OF)
    singles = [json.dumps({"profile": p, "as_of": AS_OF.isoformat()}).encode() for p in profiles[:args.requests]]
    batch = json.dumps({"profiles": profiles[:BATCH], "as_of": AS_OF.isoformat()}).encode()
    explained = max(1, args.requests // 4)
    loop = asyncio.new_event_loop()

    def each(path: str, bodies: list[bytes]) -> Callable[[], None]:
        async def run() -> None:
            for body in bodies:
                await post(app, path, body)
        return lambda: loop.run_until_complete(run())

    def engine_calls(call: Callable[..., Any], chosen: list[dict[str, Any]]) -> Callable[[], None]:
        def run() -> None:
            for profile in chosen:
                call(profile, AS_OF)
        return run

    rows: list[tuple[str, float, float]] = []
    measured: list[tuple[str, Callable[[], None], int, Callable[[], Any], int]] = [
        ("POST /v1/decisions, one profile", each("/v1/decisions", singles), len(singles),
         engine_calls(engine.decide, profiles[:args.requests]), len(singles)),
        ("POST /v1/explain, one profile", each("/v1/explain", singles[:explained]), explained,
         engine_calls(engine.explain, profiles[:explained]), explained),
        (f"POST /v1/decisions:batch, {BATCH:,} profiles (per profile)", each("/v1/decisions:batch", [batch]), BATCH,
         lambda: list(engine.decide_many(profiles[:BATCH], AS_OF)), BATCH),
    ]
    for label, through_app, app_per, peer, peer_per in measured:
        through_app()  # warm up: first requests build FastAPI's caches
        rows.append((label, best_cpu_us(through_app, app_per, args.rounds), best_cpu_us(peer, peer_per, args.rounds)))
    loop.close()
    print(f"\n| measured ({date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores) | through the app | peer: the engine's own call | ratio |\n|---|---|---|---|")
    for label, through, own in rows:
        print(f"| {label} | {through:,.1f} µs | {own:,.1f} µs | {through / own:.2f}x |")


if __name__ == "__main__":
    main()
