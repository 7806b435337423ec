"""GET /v1/results (#15 item 6): the comparisons `treatment measure` gives over the same
decision log and stored events, split by cell on request; refusals are 4xx with a reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")

import httpx
from click.testing import CliRunner

from treatment_engine.cli import cli
from treatment_engine.moments.events import iso

from ..conftest import write_plan
from ..test_measure import METRICS
from .server import Server

PLAN = {"rules/plan.yaml": "segments: [{id: young, if: 'age < 30'}, {id: rest}]\n"
                           "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n",
        "rules/metrics.yaml": METRICS}


def test_results_are_what_measure_gives_over_the_same_log(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan", PLAN)
    server = Server(plan, "--no-watch").start()
    try:
        people = [{"customer_id": f"c{i}", "age": 20 + i} for i in range(60)]
        decided = httpx.post(f"{server.base}/v1/decisions:batch", json={"profiles": people}).json()["decisions"]
        assert len(decided) == 60
        later = time.time() + 5
        events = [{"customer_id": f"c{i}", "type": "payment", "timestamp": iso(later), "amount": i}
                  for i in range(0, 60, 3)]
        assert httpx.post(f"{server.base}/v1/events", json={"events": events}).json()["accepted"] == len(events)
        as_of = iso(later + 11 * 86_400)
        answered = httpx.get(f"{server.base}/v1/results", params={"as_of": as_of, "by": "segment"}, timeout=60)
        assert answered.status_code == 200, answered.text
        only = httpx.get(f"{server.base}/v1/results", params={"as_of": as_of, "metric": "revenue"}, timeout=60).json()
        refusals = [httpx.get(f"{server.base}/v1/results", params=query) for query in
                    ({"metric": "nope"}, {"by": "region"}, {"as_of": "soon"})]
    finally:
        server.stop()
    measured = CliRunner().invoke(cli, ["measure", "--plan", str(plan), "--decisions", server.db_url, "--db",
                                        server.db_url, "--as-of", as_of, "--by", "segment", "--format", "json"])
    assert measured.exit_code == 0, measured.output
    assert answered.json()["comparisons"] == json.loads(measured.stdout)["comparisons"]
    cells = {c["cell"] for c in answered.json()["comparisons"]}
    assert cells == {"segment=young", "segment=rest"}
    revenue = [c for c in only["comparisons"]]
    assert revenue and {c["metric"] for c in revenue} == {"revenue"} and revenue[0]["customers"] == 60
    assert [r.status_code for r in refusals] == [422, 422, 422]
    assert "no metric 'nope'" in refusals[0].json()["detail"] and "not region" in refusals[1].json()["detail"]
