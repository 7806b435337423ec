"""The soak's memory bounds (benchmarks/soak_service.py, docs/benchmarks.md "Soak"): the
growth it measures over the second half of a run, and the runs it fails."""

from __future__ import annotations

import argparse
import importlib.util

from .conftest import REPO

_spec = importlib.util.spec_from_file_location("soak_service", REPO / "benchmarks" / "soak_service.py")
assert _spec is not None and _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)
BOUNDS = argparse.Namespace(max_growth=soak.MAX_GROWTH_MIB, max_file_growth=soak.MAX_FILE_GROWTH_MIB)


def run(*figures: tuple[float, float, float]) -> list[object]:
    """Samples of (seconds, server RSS, of which mapped files) in MiB."""
    return [soak.Sample(seconds, rss, 189.0, rss - files, files, 0.0, 0) for seconds, rss, files in figures]


def test_a_run_that_levels_off_passes() -> None:
    """The 25-minute run of 2026-12-02: +5.6 MiB over its second half, files flat."""
    measured = run((0, 94, 20), (60, 116, 21), (722, 128, 21), (782, 128, 21), (1443, 133, 21), (1501, 133, 21))
    assert soak.last_half_growth(measured) == 133 - 128
    assert soak.over_bounds(measured, BOUNDS) == []


def test_a_growing_wal_index_fails_even_while_the_heap_hides_it() -> None:
    """Before the WAL bound: mapped files about 1 MiB a minute, the total under its bound."""
    measured = run((0, 94, 20), (300, 124, 24), (600, 128, 29))
    assert soak.over_bounds(measured, BOUNDS) == [
        "the server's mapped files (RssFile) grew more than 1 MiB over the second half"]


def test_a_heap_that_keeps_growing_fails() -> None:
    measured = run((0, 94, 20), (300, 124, 21), (450, 129, 21), (600, 134, 21))
    assert soak.over_bounds(measured, BOUNDS) == ["the server's RSS grew more than 8 MiB over the second half"]
