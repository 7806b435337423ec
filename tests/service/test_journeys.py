"""Journeys over the service's stored events: the service takes the types journeys name,
`treatment journeys --db` measures what it stored as the file would be measured, and the
journey routes answer the same figures and one customer's runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from treatment_engine.cli import cli  # noqa: E402

from .server import Server, customer_event, plan_copy, post_events  # noqa: E402


def test_the_service_stores_journey_events_and_answers_journeys_from_them(tmp_path: Path) -> None:
    plan = plan_copy(tmp_path / "plan")
    path = tmp_path / "events.jsonl"
    made = CliRunner().invoke(cli, ["events", "sample", "--journeys", "--customers", "200", "--until", "2026-11-01",
                                    "-o", str(path)])
    assert made.exit_code == 0, made.output
    events = [json.loads(line) for line in path.read_text().splitlines()]
    events.append(customer_event("zz-mover", "move_notice", "2026-10-30T08:00:00Z"))
    server = Server(plan, "--no-watch", "--moment-clock", "events").start()
    try:
        base = server.base
        taken = post_events(base, {"events": events})
        assert taken.status_code == 202 and taken.json()["refused"] == [], taken.text[:500]
        served = httpx.get(f"{base}/v1/journeys", timeout=30).json()
        one = httpx.get(f"{base}/v1/journeys/house-move", timeout=30).json()
        mover = httpx.get(f"{base}/v1/customers/zz-mover/journeys", timeout=30).json()
        missing = httpx.get(f"{base}/v1/journeys/no-such", timeout=30)
        bad = httpx.get(f"{base}/v1/journeys", params={"as_of": "soon"}, timeout=30)
        earlier = httpx.get(f"{base}/v1/customers/zz-mover/journeys", params={"as_of": "2026-10-29"}, timeout=30)
    finally:
        server.stop()
    measured = {source: CliRunner().invoke(cli, ["journeys", "--plan", str(plan), *source, "--format", "json"])
                for source in (("--db", server.db_url), ("--events", str(path)))}
    from_db, from_file = (json.loads(result.stdout) for result in measured.values())
    assert from_db["journeys"][0]["entered"] > 50
    assert served == from_db  # the routes answer what `treatment journeys --db` prints
    assert one == {"as_of": served["as_of"], "journey": served["journeys"][1]}
    # the file lacks the one event posted on top: only the house move differs
    assert from_file["journeys"][0] == from_db["journeys"][0]
    assert from_file["journeys"][1]["entered"] + 1 == from_db["journeys"][1]["entered"]
    assert mover["runs"] == [{"journey": "house-move", "run": 1, "status": "in_progress", "success": None,
                              "at": "move_notice", "next": ["final_reading"],
                              "steps": [{"step": "move_notice", "reached_at": "2026-10-30T08:00:00Z"},
                                        {"step": "final_reading", "reached_at": None},
                                        {"step": "contract_moved", "reached_at": None},
                                        {"step": "first_bill_new_address", "reached_at": None}]}]
    assert earlier.json()["runs"] == []
    assert missing.status_code == 404 and "no journey 'no-such'" in missing.json()["detail"]
    assert bad.status_code == 422 and "not an ISO 8601" in bad.json()["detail"]


def test_a_customers_runs_are_measured_as_of_the_latest_stored_event_not_the_customers_own(tmp_path: Path) -> None:
    """Without ?as_of, one customer's runs are measured at the time every journey is: the
    latest stored event a journey reads. Measured at the customer's own latest event
    instead, a house move noticed in January and never followed up would stay in progress
    (waiting for a final reading due by the end of January) for ever, while /v1/journeys
    counts the same run abandoned."""
    from treatment_engine.service.app import create_app
    from treatment_engine.store import DecisionLog

    from ..asgi import exchange
    from ..conftest import REPO

    log = DecisionLog(f"sqlite:///{tmp_path / 'events.db'}")
    try:
        posted, alone, everyone = exchange(create_app(REPO, log=log, moment_clock="events"), [
            ("POST", "/v1/events", {"events": [customer_event("early", "move_notice", "2026-01-05T08:00:00Z"),
                                               customer_event("late", "move_notice", "2026-10-30T08:00:00Z")]}),
            ("GET", "/v1/customers/early/journeys", None),
            ("GET", "/v1/journeys/house-move", None)])
    finally:
        log.close()
    assert posted.status_code == 202, posted.text
    assert everyone.json()["as_of"] == "2026-10-30T08:00:00Z"
    assert (everyone.json()["journey"]["abandoned"], everyone.json()["journey"]["in_progress"]) == (1, 1)
    assert alone.json()["as_of"] == "2026-10-30T08:00:00Z"
    assert [(run["status"], run["success"], run["next"]) for run in alone.json()["runs"]] == [("abandoned", False, [])]


def test_with_no_stored_journey_event_the_journeys_are_measured_as_of_the_request(tmp_path: Path) -> None:
    """Nothing stored a journey reads: every journey is empty as of the request's time,
    where the answers said as of 1970-01-01 (the time of no event). A given as_of stays."""
    from datetime import UTC, datetime

    from treatment_engine.service.app import create_app
    from treatment_engine.store import DecisionLog

    from ..asgi import exchange
    from ..conftest import REPO

    log = DecisionLog(f"sqlite:///{tmp_path / 'events.db'}")
    before = datetime.now(UTC).replace(microsecond=0)
    try:
        everyone, alone, dated = exchange(create_app(REPO, log=log, moment_clock="events"), [
            ("GET", "/v1/journeys", None), ("GET", "/v1/customers/c1/journeys", None),
            ("GET", "/v1/journeys?as_of=2026-10-01", None)])
    finally:
        log.close()
    after = datetime.now(UTC)
    for answer in (everyone, alone):
        assert answer.status_code == 200, answer.text
        as_of = datetime.fromisoformat(answer.json()["as_of"].replace("Z", "+00:00"))
        assert before <= as_of <= after, answer.json()["as_of"]
    assert all(journey["entered"] == 0 for journey in everyone.json()["journeys"]) and alone.json()["runs"] == []
    assert dated.json()["as_of"] == "2026-10-01T00:00:00Z"


def test_every_journey_is_measured_from_the_store_without_holding_its_events(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """GET /v1/journeys and /v1/journeys/{id}, and `treatment journeys --db`, read the
    stored events as DuckDB reads a file (written out in the store's order): they held every
    stored event in Python, so a replica's memory grew with its store. The Python reading
    (from_store) is kept for one customer's runs: here it is made to fail for everyone
    else, and the answers are those of the events file itself."""
    from treatment_engine.journeys import source
    from treatment_engine.service.app import create_app
    from treatment_engine.store import DecisionLog

    from ..asgi import exchange
    from ..conftest import REPO

    path = tmp_path / "events.jsonl"
    made = CliRunner().invoke(cli, ["events", "sample", "--journeys", "--customers", "60", "--until", "2026-11-01",
                                    "-o", str(path)])
    assert made.exit_code == 0, made.output
    events = [json.loads(line) for line in path.read_text().splitlines()]
    real = source.from_store

    def one_customer_only(journeys: object, engine: object, as_of: object, customer_id: str | None = None) -> object:
        assert customer_id is not None, "every customer's events were read into Python"
        return real(journeys, engine, as_of, customer_id)  # type: ignore[arg-type]

    monkeypatch.setattr(source, "from_store", one_customer_only)
    monkeypatch.setattr("treatment_engine.service.routes.journeys.from_store", one_customer_only)
    db = tmp_path / "events.db"
    log = DecisionLog(f"sqlite:///{db}")
    try:
        posted, everyone, one, customer = exchange(create_app(REPO, log=log, moment_clock="events"), [
            ("POST", "/v1/events", {"events": events}), ("GET", "/v1/journeys", None),
            ("GET", "/v1/journeys/house-move", None), ("GET", f"/v1/customers/{events[0]['customer_id']}/journeys", None)])
    finally:
        log.close()
    assert posted.status_code == 202 and everyone.status_code == 200, everyone.text
    from_file = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--format", "json"])
    from_db = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--db", f"sqlite:///{db}", "--format", "json"])
    assert everyone.json() == json.loads(from_file.stdout) == json.loads(from_db.stdout)
    assert everyone.json()["journeys"][0]["entered"] > 10
    assert one.json()["journey"] == everyone.json()["journeys"][1]
    assert customer.status_code == 200 and customer.json()["runs"], customer.text
