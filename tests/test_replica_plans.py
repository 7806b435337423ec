"""Plan changes across real replicas: watched edits under load, releases polled from the
database, failed and held reloads shown in GET /v1/plan, an emptied file not taken live."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

import sqlalchemy  # noqa: E402

from treatment_engine import Engine  # noqa: E402

from .bursts import Post, post_at_once  # noqa: E402
from .conftest import REPO  # noqa: E402
from .replicas import database_kinds, fleet, fresh_database  # noqa: E402

PROFILE = {"customer_id": "load", "annual_value": 2400, "nps": 4, "open_complaints": 1,
           "first_purchase_date": "2024-01-10", "consent": {"phone": True, "email": True}}


def _plan_copy(root: Path) -> Path:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _info(base: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/v1/plan", timeout=10).json())


def _wait_for(condition: Callable[[], bool], seconds: float = 30) -> float:
    """Seconds until ``condition`` holds (polled every 0.1 s); fails past ``seconds``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


class Load:
    """Decisions posted without pause to every replica in turn, on a thread, until stopped."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.statuses: Counter[int] = Counter()
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            turn = 0
            while not self._stop.is_set():
                turn += 1
                profile = {**PROFILE, "customer_id": f"load-{turn % 500}"}
                try:
                    response = client.post(f"{self.bases[turn % len(self.bases)]}/v1/decisions",
                                           json={"profile": profile, "as_of": "2026-11-01"})
                except httpx.TransportError:
                    self.statuses[0] += 1
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code == 200:
                    self.versions[response.json()["plan_version"]] += 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", database_kinds())
def test_watched_edits_under_load_reach_every_replica_and_failures_show(kind: str, tmp_path: Path) -> None:
    plan = _plan_copy(tmp_path / "plan")
    policy = plan / "rules" / "policy.yaml"
    original = policy.read_text()
    with fresh_database(kind, tmp_path) as db_url, \
            fleet(plan, db_url, 2, "--watch") as servers:
        bases = [server.base for server in servers]
        first = _info(bases[0])["plan_version"]
        with Load(bases) as load:
            policy.write_text(original.replace("ratio: 0.03", "ratio: 0.02"))
            second = Engine.load(plan).version
            _wait_for(lambda: all(_info(base)["plan_version"] == second for base in bases))
            policy.write_text(original.replace("ratio: 0.03", "ratio: nonsense"))
            _wait_for(lambda: all(_info(base)["last_reload_error"] for base in bases))
            assert {_info(base)["plan_version"] for base in bases} == {second}
            policy.write_text(original.replace("ratio: 0.03", "ratio: 0.025"))
            third = Engine.load(plan).version
            _wait_for(lambda: all(_info(base)["plan_version"] == third for base in bases))
            assert all(_info(base)["last_reload_error"] is None for base in bases)
            time.sleep(0.5)  # decisions on the last version too
        assert load.statuses[200] > 0 and set(load.statuses) == {200}, load.statuses
        assert set(load.versions) <= {first, second, third} and load.versions[third] > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", database_kinds())
def test_a_release_reaches_replicas_that_do_not_watch(kind: str, tmp_path: Path) -> None:
    plan = _plan_copy(tmp_path / "plan")
    policy = plan / "rules" / "policy.yaml"
    with fresh_database(kind, tmp_path) as db_url, \
            fleet(plan, db_url, 3, "--no-watch", "--plan-poll", "0.5") as servers:
        bases = [server.base for server in servers]
        assert len({_info(base)["fleet"]["release"] for base in bases}) == 1  # released once at start
        policy.write_text(policy.read_text().replace("ratio: 0.03", "ratio: 0.02"))
        # Two replicas reloaded at the same instant (once 500 on a duplicate plan version).
        answers = post_at_once([Post(base, "/v1/plan:reload", None) for base in bases[:2]])
        assert [status for status, _ in answers] == [200, 200], answers
        version = answers[0][1]["plan_version"]
        assert answers[1][1]["plan_version"] == version
        _wait_for(lambda: _info(bases[2])["plan_version"] == version, 10)  # the third by polling
        assert _info(bases[2])["fleet"]["source"] == "database" and _info(bases[2])["fleet"]["error"] is None
        assert len({_info(base)["fleet"]["release"] for base in bases}) == 1


def _stored_versions(db_url: str) -> set[str]:
    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.exec_driver_sql("SELECT version FROM plan_versions")}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_an_emptied_file_is_not_a_new_plan(tmp_path: Path) -> None:
    plan = _plan_copy(tmp_path / "plan")
    retention = plan / "rules" / "retention.yaml"
    text = retention.read_text()
    emptied = Engine.from_texts({**_texts(plan), "rules/retention.yaml": ""}).version
    with fleet(plan, f"sqlite:///{tmp_path / 'log.db'}", 1, "--watch") as [server]:
        # An editor's save: the file truncated, then written a moment later.
        with open(retention, "w") as stream:
            stream.flush()
            time.sleep(0.15)
            stream.write(text + "\n# saved\n")
        saved = Engine.load(plan).version
        _wait_for(lambda: _info(server.base)["plan_version"] == saved)
        assert emptied not in _stored_versions(server.db_url)  # never loaded, never served

        retention.write_text("")  # emptied for good: 3 of 29 rules gone, held
        _wait_for(lambda: _info(server.base)["held_reload"] is not None)
        held = _info(server.base)
        assert held["plan_version"] == saved and held["held_reload"]["plan_version"] == emptied
        assert set(held["held_reload"]["dropped_rules"]) == {rule["id"] for rule in yaml.safe_load(text)["rules"]}
        refused = httpx.post(f"{server.base}/v1/plan:reload", timeout=30)
        assert refused.status_code == 409 and refused.json()["held"] is True
        assert "force=true" in refused.json()["errors"][0]
        forced = httpx.post(f"{server.base}/v1/plan:reload", params={"force": "true"}, timeout=30)
        assert forced.status_code == 200 and forced.json()["plan_version"] == emptied
        assert _info(server.base)["held_reload"] is None


def _texts(plan: Path) -> dict[str, str]:
    from treatment_engine.load import read_plan_dir

    return read_plan_dir(plan)
