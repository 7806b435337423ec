"""Soak: `treatment serve` under mixed decisions, events and hostile requests for minutes.

    python benchmarks/soak_service.py [--minutes 10] [--sample-every 30] [--rounds-per-day 10]
                                      [--max-growth MIB] [--trace-memory DIR --trace-at MINUTES]

Not in CI. One server on loopback with a fresh SQLite decision log and an API key,
driven by one client in turn with: single decisions and 100-profile batches of generated
customers (fresh and returning ids), explanations, customer events (complaints and survey
answers over new customers, so many moments' patterns start and never complete), and one
request of the hostile corpus (tests/hostile/requests/cases.yaml, its huge bodies
included) every few rounds. The events' time moves a day every --rounds-per-day rounds,
so that it passes the plan's two horizons (60 days, what the moments keep: appendix D)
several times over and the state of customers who never come back is forgotten.
Prints the resident memory (RSS) of the server (and its parts: heap, RssAnon, and mapped
files, RssFile) and of its moments worker process at the start (cold, and warm after
--warmup seconds), every --sample-every seconds, and at the end, with the size of the
log's WAL, the requests sent by kind, and every 5xx (there must be none). Exits 1 on a
5xx or a dead server, or if over the second half of the run the server's RSS grew more
than --max-growth MiB or its mapped files more than --max-file-growth MiB (the bounds
docs/benchmarks.md states). --trace-memory runs the
server under traced_serve.py (tracemalloc snapshots and allocator figures at --trace-at).
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
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import orjson
import yaml

REPO = Path(__file__).resolve().parent.parent
KEY = "soak-key"
MIB = 1024 * 1024
MAX_GROWTH_MIB = 8.0  # docs/benchmarks.md, "Soak": what the second half of a run may add
MAX_FILE_GROWTH_MIB = 1.0  # of which in mapped files (the WAL's index grew about 1 MiB a minute)


def status_mib(pid: int | None, field: str = "VmRSS") -> float | None:
    """A memory figure of /proc/PID/status in MiB: VmRSS, or its parts RssAnon (the heap)
    and RssFile (mapped files: libraries, and SQLite's WAL index, the -shm file)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Sample(NamedTuple):
    seconds: float
    server: float | None  # RSS, MiB
    worker: float | None
    server_anon: float | None
    server_file: float | None
    wal: float  # the decision log's -wal file, MiB
    rounds: int


def sample(started: float, server: subprocess.Popen[bytes], scratch: Path, rounds: int) -> Sample:
    worker = next(iter(children(server.pid)), None)
    try:
        wal = (scratch / "log.db-wal").stat().st_size / MIB
    except OSError:
        wal = 0.0
    return Sample(time.monotonic() - started, status_mib(server.pid), status_mib(worker),
                  status_mib(server.pid, "RssAnon"), status_mib(server.pid, "RssFile"), wal, rounds)


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


def start_server(scratch: Path, traced: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, scratch / folder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    launcher = ["-m", "treatment_engine"] if traced is None else [str(REPO / "benchmarks" / "traced_serve.py"),
                                                                  str(traced)]
    server = subprocess.Popen([sys.executable, *launcher, "serve", "--plan", str(scratch), "--port",
                               str(port), "--db", f"sqlite:///{scratch / 'log.db'}", "--no-watch"],
                              stdout=subprocess.DEVNULL, stderr=open(scratch / "server.log", "wb"),  # noqa: SIM115
                              env={**os.environ, "TREATMENT_API_KEYS": KEY})
    deadline = time.monotonic() + (60 if traced is None else 600)  # tracing slows the imports tenfold
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
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


class Soak:
    """The client's side: the requests of each round, what was sent, every 5xx."""

    def __init__(self, base: str, rounds_per_day: int) -> None:
        from treatment_engine.sample import generate

        self.base = base
        self.rounds_per_day = rounds_per_day
        self.rng = random.Random(7)
        self.as_of = datetime.date(2026, 11, 1)
        self.profiles = generate(5_000, seed=11, as_of=self.as_of)
        self.hostile = hostile_requests()
        self.sent: collections.Counter[str] = collections.Counter()
        self.fives: list[str] = []
        self.client = self._client()

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=120, headers={"content-type": "application/json"})

    def day(self, round_no: int) -> datetime.date:
        """The events' day in round ``round_no``."""
        return self.as_of + datetime.timedelta(days=round_no // self.rounds_per_day)

    def round(self, round_no: int) -> None:
        rng, as_of = self.rng, self.as_of
        profile = dict(rng.choice(self.profiles))
        profile["customer_id"] = f"soak-{rng.randrange(20_000)}"
        calls: list[tuple[str, str, str, bytes | None, dict[str, str]]] = [
            ("decision", "POST", "/v1/decisions", orjson.dumps({"profile": profile, "as_of": as_of}), {}),
            ("explain", "POST", "/v1/explain", orjson.dumps({"profile": profile, "as_of": as_of}), {}),
            ("batch", "POST", "/v1/decisions:batch", orjson.dumps({"profiles": rng.sample(self.profiles, 100),
                                                                   "as_of": as_of}), {}),
            ("events", "POST", "/v1/events", orjson.dumps({"events": events_for(
                rng, 1_000_000, self.day(round_no))}), {}),
        ]
        if round_no % 5 == 0:
            method, path, body, headers = next(self.hostile)
            calls.append(("hostile", method, path, body, headers))
        for kind, method, path, body, headers in calls:
            url = httpx.URL(self.base + "/").copy_with(raw_path=path.encode())
            try:
                status = self.client.request(method, url, content=body, headers=headers).status_code
            except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
                status = 0  # a huge body refused while it was still being sent
                self.client.close()
                self.client = self._client()
            self.sent[kind] += 1
            if status >= 500:
                self.fives.append(f"{kind} {method} {path[:80]}: {status}")


def last_half_growth(samples: list[Sample], part: str = "server") -> float:
    """How much the server's RSS (or a ``part`` of it: server_anon, server_file) grew over
    the second half of the run (MiB): the last sample against the one nearest the middle."""
    middle = samples[-1].seconds / 2
    at_middle = min(samples, key=lambda each: abs(each.seconds - middle))
    return float(getattr(samples[-1], part) or 0) - float(getattr(at_middle, part) or 0)


def over_bounds(samples: list[Sample], args: argparse.Namespace) -> list[str]:
    """The bounds of docs/benchmarks.md ("Soak") that the run broke."""
    broken = []
    if last_half_growth(samples) > args.max_growth:
        broken.append(f"the server's RSS grew more than {args.max_growth:g} MiB over the second half")
    if last_half_growth(samples, "server_file") > args.max_file_growth:
        broken.append(f"the server's mapped files (RssFile) grew more than {args.max_file_growth:g} MiB "
                      "over the second half")
    return broken


def report(samples: list[Sample], soak: Soak, args: argparse.Namespace, rounds: int) -> None:
    first = next((each for each in samples if each.seconds >= args.warmup), samples[0])
    last = samples[-1]
    print(f"\n### {datetime.date.today()}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores, {args.minutes:g} minutes\n")
    print(f"| measured | cold (0 s) | warm ({first.seconds:.0f} s) | at the end ({last.seconds:.0f} s) |\n"
          "|---|---|---|---|")
    print(f"| server RSS | {samples[0].server:.0f} MiB | {first.server:.0f} MiB | {last.server:.0f} MiB |")
    print(f"| moments worker RSS | - | {first.worker or 0:.0f} MiB | {last.worker or 0:.0f} MiB |")
    print(f"\nevents' time: {soak.as_of} to {soak.day(rounds)}")
    print("\n| seconds | rounds | server RSS MiB | its heap (RssAnon) | its mapped files (RssFile) "
          "| moments worker RSS MiB | WAL MiB |\n|---|---|---|---|---|---|---|")
    for each in samples:
        print(f"| {each.seconds:.0f} | {each.rounds} | {each.server or 0:.0f} | {each.server_anon or 0:.0f} "
              f"| {each.server_file or 0:.0f} | {each.worker or 0:.0f} | {each.wal:.0f} |")
    print(f"\nrequests: {dict(soak.sent)}; 5xx: {len(soak.fives)}")
    for line in soak.fives[:20]:
        print("  ", line)
    print(f"server RSS over the second half: {last_half_growth(samples):+.1f} MiB (bound {args.max_growth:g} MiB), "
          f"its mapped files {last_half_growth(samples, 'server_file'):+.1f} MiB (bound {args.max_file_growth:g} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-every", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="Seconds before the 'start' figures: the worker starts on the first events.")
    parser.add_argument("--rounds-per-day", type=int, default=10,
                        help="Rounds of requests per day of the events' time.")
    parser.add_argument("--max-growth", type=float, default=MAX_GROWTH_MIB, metavar="MIB",
                        help="Fail if the server's RSS grows more than this over the second half of the run.")
    parser.add_argument("--max-file-growth", type=float, default=MAX_FILE_GROWTH_MIB, metavar="MIB",
                        help="Fail if the server's mapped files (RssFile: libraries, SQLite's WAL index) grow "
                             "more than this over the second half.")
    parser.add_argument("--trace-memory", type=Path, metavar="DIR",
                        help="Run the server under traced_serve.py (tracemalloc; TRACE_FRAMES=0: figures only) "
                             "and write its snapshots to DIR.")
    parser.add_argument("--trace-at", default="1,3,6", metavar="MINUTES",
                        help="With --trace-memory: the minutes at which to take a snapshot.")
    args = parser.parse_args()
    trace_at = sorted(float(m) * 60 for m in args.trace_at.split(",")) if args.trace_memory else []
    sys.path.insert(0, str(REPO))
    scratch = Path(tempfile.mkdtemp(prefix="soak-serve-"))
    server, base = start_server(scratch, args.trace_memory)
    soak = Soak(base, args.rounds_per_day)
    samples: list[Sample] = []
    started = time.monotonic()
    round_no = 0
    try:
        for round_no in itertools.count():
            elapsed = time.monotonic() - started
            if elapsed > args.minutes * 60:
                break
            if trace_at and elapsed >= trace_at[0]:
                trace_at.pop(0)
                server.send_signal(signal.SIGUSR1)  # traced_serve.py writes a snapshot
            if not samples or elapsed - samples[-1].seconds >= args.sample_every:
                samples.append(sample(started, server, scratch, round_no))
                print(f"{elapsed:7.0f} s  {samples[-1]}  sent {dict(soak.sent)}", flush=True)
            soak.round(round_no)
            if server.poll() is not None:
                sys.exit("the server died")
        samples.append(sample(started, server, scratch, round_no))
    finally:
        soak.client.close()
        server.terminate()
        server.wait(timeout=30)
    report(samples, soak, args, round_no)
    shutil.rmtree(scratch, ignore_errors=True)
    if soak.fives:
        sys.exit(1)
    broken = over_bounds(samples, args)
    if broken:
        sys.exit("; ".join(broken))


if __name__ == "__main__":
    main()
