"""`treatment serve` with tracemalloc on, for the soak's memory diagnosis (not in CI).

    python benchmarks/traced_serve.py SNAPSHOT_DIR serve --plan ... (the CLI's arguments)
    python benchmarks/traced_serve.py --compare A.snapshot B.snapshot [TOP]

Starts tracing ($TRACE_FRAMES frames, 10 by default; 0 traces nothing and runs at full
speed) before the engine is imported, then runs the CLI. On SIGUSR1 (soak_service.py
--trace-memory DIR --trace-at MINUTES sends it) the server collects garbage, writes
``SNAPSHOT_DIR/<n>.snapshot`` when tracing, and adds a line to ``SNAPSHOT_DIR/memory.tsv``:

    n, traced bytes, traced peak, RSS, glibc in use, glibc free, glibc mmapped,
    Python's allocated blocks, objects the collector tracks, pymalloc arenas,
    RSS after malloc_trim ($TRACE_TRIM set; else the RSS again), SQLite's bytes, threads

glibc's "in use" against its "free" tells memory something still holds from memory the
allocator keeps after it was given back (fragmentation); SQLite's bytes are its page
caches and statements, every connection's. ``--compare`` prints the allocations that
grew most between two snapshots, by traceback.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path
from types import FrameType


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _glibc() -> tuple[int, int, int]:
    """(bytes in use, bytes free in the arenas, bytes mmapped) as glibc counts them; zeros elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return 0, 0, 0
    return info.uordblks, info.fordblks, info.hblkhd


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _sqlite_bytes() -> int:
    """What SQLite holds (page caches, statements, schema), of every connection of the
    process: ``sqlite3_memory_used`` of the library Python's sqlite3 module links to."""
    try:
        library = ctypes.CDLL("libsqlite3.so.0")
    except OSError:
        return 0
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return int(library.sqlite3_memory_used())


def _trim() -> int:
    """RSS after glibc gives its free memory back (``malloc_trim``): what is left of the
    growth then is held, not fragmentation."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss_bytes()


def _pymalloc_arenas() -> int:
    """Python's own allocator's arenas (1 MiB each on 3.11) now allocated, from
    ``sys._debugmallocstats`` (which writes to file descriptor 2)."""
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        for line in caught.read().decode().splitlines():
            if line.startswith("# arenas allocated current"):
                return int(line.split("=")[1].replace(",", ""))
    return 0


def _dumper(folder: Path) -> object:
    taken = 0

    def dump(_signal: int, _frame: FrameType | None) -> None:
        nonlocal taken
        taken += 1
        gc.collect()  # what is only waiting for a collection is not growth
        current, peak = tracemalloc.get_traced_memory()
        rss, (in_use, free, mapped) = _rss_bytes(), _glibc()  # before the snapshot's own allocations
        arenas = _pymalloc_arenas()
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(folder / f"{taken}.snapshot"))
        trimmed = _rss_bytes() if not os.environ.get("TRACE_TRIM") else _trim()
        with (folder / "memory.tsv").open("a") as out:
            out.write(f"{taken}\t{current}\t{peak}\t{rss}\t{in_use}\t{free}\t{mapped}\t{sys.getallocatedblocks()}"
                      f"\t{len(gc.get_objects())}\t{arenas}\t{trimmed}\t{_sqlite_bytes()}\t{threading.active_count()}\n")
    return dump


def compare(before: str, after: str, top: int = 25) -> None:
    """The allocations that grew most between two snapshots, by traceback."""
    old, new = tracemalloc.Snapshot.load(before), tracemalloc.Snapshot.load(after)
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignored), new.filter_traces(ignored)
    grown = new.compare_to(old, "traceback")
    print(f"traced: {sum(s.size for s in old.statistics('filename')) / 2**20:.1f} MiB -> "
          f"{sum(s.size for s in new.statistics('filename')) / 2**20:.1f} MiB")
    for stat in grown[:top]:
        print(f"\n{stat.size_diff / 2**10:+.0f} KiB ({stat.count_diff:+d} blocks), now {stat.size / 2**10:.0f} KiB")
        for line in stat.traceback.format(limit=12, most_recent_first=True):
            print("   ", line)


def main() -> None:
    if sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 25)
        return
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    frames = int(os.environ.get("TRACE_FRAMES", "10"))
    if frames:  # 0: only the figures of memory.tsv, at full speed
        tracemalloc.start(frames)
    signal.signal(signal.SIGUSR1, _dumper(folder))  # type: ignore[arg-type]
    from treatment_engine.cli import cli

    cli(sys.argv[2:], prog_name="treatment")


if __name__ == "__main__":
    main()
