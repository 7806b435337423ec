from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from treatment_engine import Engine

REPO = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "conformance" / "cases"
SAMPLE_AS_OF = date(2026, 11, 1)  # the day examples/customers.* were generated for


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs the suite on several workers) each worker
    gets a PostgreSQL database of its own, made empty at its start: tests that use the
    shared $TREATMENT_TEST_PG_URL (moments' partitions, leases, API keys) then see only
    their own worker's rows, as they would in a serial run."""
    worker, url = os.environ.get("PYTEST_XDIST_WORKER"), os.environ.get("TREATMENT_TEST_PG_URL")
    if worker and url:
        os.environ["TREATMENT_TEST_PG_URL"] = _worker_database(url, worker)


def _worker_database(url: str, worker: str) -> str:
    from .scratch_databases import create_database

    return create_database(url, f"{url.rpartition('/')[2]}_{worker}")


# The files that take longest, first: with a file to a worker (make test), xdist hands out
# files in collection order, and a long file collected last (test_spark.py) ran alone at
# the end while the other workers sat idle (a third of the CPU went unused, 2026-12-02).
LONGEST_FIRST = ("test_spark.py", "test_replica_start.py", "test_sql_backends.py", "test_moments.py",
                 "test_ops.py", "test_moments_durable.py", "test_semantics.py", "test_engine.py",
                 "test_replica_moments.py", "test_simulation.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: order within a file kept


@pytest.fixture(scope="session")
def default_engine() -> Engine:
    return Engine.load(REPO, clock=lambda: SAMPLE_AS_OF)


@pytest.fixture(scope="session")
def sample_profiles() -> list[dict]:
    import json

    with open(REPO / "examples" / "customers.jsonl", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]


def write_plan(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: YAML text} under root and return root."""
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


MUST = ("customer_id", "segment", "lifecycle_stage", "value_tier", "treatment", "rule",
        "actions", "channels")


def assert_matches_expected(got: list[dict], want: list[dict]) -> None:
    """Decision records against a conformance case's expected.jsonl, as check.py compares."""
    assert len(got) == len(want)
    for line, (g, w) in enumerate(zip(got, want, strict=True), 1):
        if w.get("error"):
            assert "error" in g, f"line {line}: expected an error record, got {g}"
            if isinstance(w.get("customer_id"), str) and w["customer_id"]:
                assert g["customer_id"] == w["customer_id"]
            continue
        assert "error" not in g, f"line {line}: {g}"
        assert {k: g.get(k) for k in MUST} == {k: w[k] for k in MUST}, f"line {line}"
