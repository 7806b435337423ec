"""Soak: `treatment serve` under mixed decisions, events and hostile requests for minutes.

    python benchmarks/soak_service.py [--minutes 10] [--sample-every 30] [--rounds-per-day 10]

Not in CI. One server on loopback with a fresh SQLite decision log and an API key,
driven by one client in turn with: single decisions and 100-profile batches of generated
customers (fresh and returning ids), explanations, customer events (complaints and survey
answers over new customers, so many moments' patterns start and never complete), and one
request of the hostile corpus (tests/hostile/requests/cases.yaml, its huge bodies
included) every few rounds. The events' time moves a day every --rounds-per-day rounds,
so that it passes the plan's two horizons (60 days, what the moments keep: appendix D)
several times over and the state of customers who never come back is forgotten.
Prints the resident memory (RSS) of the server and of its moments worker process at the
start (cold, and warm after --warmup seconds), every --sample-every seconds, and at the
end, the requests sent by kind, and every 5xx (there must be none). Exits 1 on a 5xx or
a dead server.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import itertools
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

REPO = Path(__file__).resolve().parent.parent
KEY = "soak-key"
MIB = 1024 * 1024


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the moments worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def start_server(scratch: Path) -> tuple[subprocess.Popen[bytes], str]:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, scratch / folder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "treatment_engine", "serve", "--plan", str(scratch), "--port",
                               str(port), "--db", f"sqlite:///{scratch / 'log.db'}", "--no-watch"],
                              stdout=subprocess.DEVNULL, stderr=open(scratch / "server.log", "wb"),  # noqa: SIM115
                              env={**os.environ, "TREATMENT_API_KEYS": KEY})
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("the server did not start")
        time.sleep(0.2)


def hostile_requests() -> Iterator[tuple[str, str, bytes | None, dict[str, str]]]:
    """The corpus's HTTP cases (not the raw-socket ones), endlessly, as (method, path, body, headers)."""
    listed = yaml.safe_load((REPO / "tests" / "hostile" / "requests" / "cases.yaml").read_text(encoding="utf-8"))
    prepared = []
    for case in listed:
        if "raw" in case:
            continue
        headers = {"content-type": "application/json", **case.get("headers", {})}
        if case.get("key") == "valid":
            headers["x-api-key"] = KEY
        body: bytes | None = None
        if "json" in case:
            body = orjson.dumps(case["json"])
        elif "hex" in case:
            body = bytes.fromhex(case["hex"])
        elif "chunked" in case:
            body = b'{"profiles": ["' + b"x" * (case["chunked"] * MIB)
        elif "text" in case:
            body = case["text"].replace("{fill}", case.get("fill", "") * case.get("times", 0)).encode(
                "utf-8", "surrogatepass")
        path = case["path"].replace("{fill}", case.get("fill", "") * case.get("times", 0))
        prepared.append((case["method"], path, body, {k: v for k, v in headers.items() if v}))
    return itertools.cycle(prepared)


def events_for(rng: random.Random, customers: int, day: datetime.date) -> list[dict[str, Any]]:
    kinds = ["complaint", "survey_response", "order_placed", "payment_failed"]
    stamp = f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"
    return [{"customer_id": f"soak-ev-{rng.randrange(customers)}", "type": rng.choice(kinds), "timestamp": stamp,
             "score": rng.randrange(11)} for _ in range(50)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-every", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="Seconds before the 'start' figures: the worker starts on the first events.")
    parser.add_argument("--rounds-per-day", type=int, default=10,
                        help="Rounds of requests per day of the events' time.")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from treatment_engine.sample import generate

    rng = random.Random(7)
    as_of = datetime.date(2026, 11, 1)
    profiles = generate(5_000, seed=11, as_of=as_of)
    hostile = hostile_requests()
    scratch = Path(tempfile.mkdtemp(prefix="soak-serve-"))
    server, base = start_server(scratch)
    sent: collections.Counter[str] = collections.Counter()
    fives: list[str] = []
    samples: list[tuple[float, float | None, float | None]] = []
    client = httpx.Client(base_url=base, timeout=120, headers={"content-type": "application/json"})
    started = time.monotonic()
    try:
        for round_no in itertools.count():
            elapsed = time.monotonic() - started
            if elapsed > args.minutes * 60:
                break
            if not samples or elapsed - samples[-1][0] >= args.sample_every:
                worker = next(iter(children(server.pid)), None)
                samples.append((elapsed, rss_mib(server.pid), rss_mib(worker)))
                print(f"{elapsed:7.0f} s  server {samples[-1][1]} MiB  worker {samples[-1][2]} MiB  sent {dict(sent)}",
                      flush=True)
            profile = dict(rng.choice(profiles))
            profile["customer_id"] = f"soak-{rng.randrange(20_000)}"
            calls: list[tuple[str, str, str, bytes | None, dict[str, str]]] = [
                ("decision", "POST", "/v1/decisions", orjson.dumps({"profile": profile, "as_of": as_of}), {}),
                ("explain", "POST", "/v1/explain", orjson.dumps({"profile": profile, "as_of": as_of}), {}),
                ("batch", "POST", "/v1/decisions:batch", orjson.dumps({"profiles": rng.sample(profiles, 100),
                                                                       "as_of": as_of}), {}),
                ("events", "POST", "/v1/events", orjson.dumps({"events": events_for(
                    rng, 1_000_000, as_of + datetime.timedelta(days=round_no // args.rounds_per_day))}), {}),
            ]
            if round_no % 5 == 0:
                method, path, body, headers = next(hostile)
                calls.append(("hostile", method, path, body, headers))
            for kind, method, path, body, headers in calls:
                url = httpx.URL(base + "/").copy_with(raw_path=path.encode())
                try:
                    response = client.request(method, url, content=body, headers=headers)
                    status = response.status_code
                except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
                    status = 0  # a huge body refused while it was still being sent
                    client.close()
                    client = httpx.Client(base_url=base, timeout=120, headers={"content-type": "application/json"})
                sent[kind] += 1
                if status >= 500:
                    fives.append(f"{kind} {method} {path[:80]}: {status}")
            if server.poll() is not None:
                sys.exit("the server died")
        worker = next(iter(children(server.pid)), None)
        samples.append((time.monotonic() - started, rss_mib(server.pid), rss_mib(worker)))
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)
    first = next((sample for sample in samples if sample[0] >= args.warmup), samples[0])
    last = samples[-1]
    print(f"\n### {datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, {args.minutes:g} minutes\n")
    print(f"| measured | cold (0 s) | warm ({first[0]:.0f} s) | at the end ({last[0]:.0f} s) |\n|---|---|---|---|")
    print(f"| server RSS | {samples[0][1]:.0f} MiB | {first[1]:.0f} MiB | {last[1]:.0f} MiB |")
    print(f"| moments worker RSS | - | {first[2] or 0:.0f} MiB | {last[2] or 0:.0f} MiB |")
    print(f"\nevents' time: {as_of} to {as_of + datetime.timedelta(days=round_no // args.rounds_per_day)}")
    print("\n| seconds | server RSS MiB | moments worker RSS MiB |\n|---|---|---|")
    for elapsed, server_mib, worker_mib in samples:
        print(f"| {elapsed:.0f} | {server_mib or 0:.0f} | {worker_mib or 0:.0f} |")
    print(f"\nrequests: {dict(sent)}; 5xx: {len(fives)}")
    for line in fives[:20]:
        print("  ", line)
    shutil.rmtree(scratch, ignore_errors=True)
    if fives:
        sys.exit(1)


if __name__ == "__main__":
    main()
