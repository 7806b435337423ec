"""Durations as plans write them (``30d``, ``12h``, ``15m``, ``90s``): a moment's step
window, a metric's window, a journey's limits. One pattern, one reading, and a bound per
use, refused as out of range with the same words wherever it is written."""

from __future__ import annotations

from collections.abc import Callable

from pydantic_core import PydanticCustomError

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PATTERN = r"^[1-9][0-9]*[smhd]$"


def seconds(duration: str) -> int:
    return int(duration[:-1]) * UNIT_SECONDS[duration[-1]]


def written(total: int) -> str:
    """Seconds as a plan would write them, in the largest unit that divides them."""
    for unit in "dhm":
        if total % UNIT_SECONDS[unit] == 0:
            return f"{total // UNIT_SECONDS[unit]}{unit}"
    return f"{total}s"


def at_most(limit: int, key: str = "within") -> Callable[[str], str]:
    """A validator refusing a duration longer than ``limit`` seconds (out of range), named
    ``key`` in its message."""
    def bounded(duration: str) -> str:
        # The length first: int() of thousands of digits would fail (or take long) on its own.
        if len(duration) > 12 or seconds(duration) > limit:
            raise PydanticCustomError("out_of_range", f"'{key}' must be at most {limit // 86_400}d (in any unit), "
                                      f"got {duration if len(duration) <= 24 else duration[:20] + '...'}")
        return duration
    return bounded

