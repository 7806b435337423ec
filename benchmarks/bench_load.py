"""Plan load time and memory, against PyYAML's C loader on the same files in the same run.

    python benchmarks/bench_load.py [--sizes 1000,10000,100000] [--repeats 3]

For each size, generated plans (`benchmarks/plangen.py`, seed 1, the rules over 5 files)
with and without `when` constraints (segment / stage / tier lists and an `if`):

- the peer: `yaml.load(text, Loader=yaml.CSafeLoader)` on every file of the plan, the
  files read from disk inside the timing, as ours are;
- ours: `Engine.load` (read, parse with positions, validate, compile), also split into
  its stages (read + parse, validate, compile).

Each measurement runs in a fresh process, peer and ours alternating, and the best of
`--repeats` is kept; the peak memory is that process's maximum resident set (VmHWM) less
what it held just before loading (the interpreter and imports); Linux only (/proc). The
issue's targets: time within 3x the peer's, growing linearly with the rules (the us/rule
column), and at most 1 GB for 100,000 rules. Results print as a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plangen import generate_rules, plan_files


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no {field} in /proc/self/status")


def _peak_mb() -> float:
    """This process's own peak resident set. Not getrusage's ru_maxrss: Linux carries that
    over from the parent across fork and exec, so a child started by the parent holding
    100,000 generated rules began at the parent's size and hid most of its load (8 MB)."""
    return _status_mb("VmHWM")


def _resident_mb() -> float:
    return _status_mb("VmRSS")


def child(kind: str, plan: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import yaml

    from treatment_engine.compile import compile_plan
    from treatment_engine.load import load_plan_source
    from treatment_engine.validate import validate

    before = _resident_mb()
    started = time.perf_counter()
    stages: dict[str, float] = {}
    if kind == "peer":  # every file's values kept, as a loaded plan keeps them
        documents = [yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
                     for path in sorted(plan.rglob("*.yaml"))]
        stages["files"] = len(documents)
    else:
        source = load_plan_source(plan)
        stages["read + parse"] = time.perf_counter() - started
        validated = validate(source)
        stages["validate"] = time.perf_counter() - started - stages["read + parse"]
        compile_plan(validated)
        stages["compile"] = time.perf_counter() - started - stages["read + parse"] - stages["validate"]
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb() - before, "stages": stages}


def measure(kind: str, plan: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(plan)], capture_output=True,
                          text=True, check=True)
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PLAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    print(f"Python {platform.python_version()}, {platform.machine()}, best of {args.repeats}", file=sys.stderr)
    print("| rules | `when` | MB of YAML | CSafeLoader s | ours s | ratio | ours us/rule | "
          "read+parse / validate / compile s | peak MB: CSafeLoader / ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in (int(n) for n in args.sizes.split(",")):
        rules = generate_rules(size, seed=1)
        for with_when in (True, False):
            with tempfile.TemporaryDirectory() as folder:
                plan = Path(folder)
                files = plan_files(rules, files=5, when=with_when)
                for relative, text in files.items():
                    (plan / relative).parent.mkdir(parents=True, exist_ok=True)
                    (plan / relative).write_text(text, encoding="utf-8")
                megabytes = sum(len(t.encode()) for t in files.values()) / 1e6
                peers, ours = [], []
                for _ in range(args.repeats):
                    peers.append(measure("peer", plan))
                    ours.append(measure("engine", plan))
                peer = min(peers, key=lambda m: m["seconds"])
                best = min(ours, key=lambda m: m["seconds"])
                stages = " / ".join(f"{seconds:.2f}" for seconds in best["stages"].values())
                print(f"| {size:,} | {'yes' if with_when else 'no'} | {megabytes:.1f} | {peer['seconds']:.2f} | "
                      f"{best['seconds']:.2f} | **{best['seconds'] / peer['seconds']:.2f}x** | "
                      f"{best['seconds'] / size * 1e6:.0f} | {stages} | "
                      f"{max(m['peak_mb'] for m in peers):.0f} / {max(m['peak_mb'] for m in ours):.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
