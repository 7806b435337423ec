"""API keys: which routes need one, from $TREATMENT_API_KEYS or the database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import EVENTS_TIMEOUT, PROFILE, Server, plan_copy  # noqa: E402


def test_api_keys_guard_reload_and_history(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch", env={"TREATMENT_API_KEYS": "k1, k2"}).start()
    try:
        assert httpx.post(f"{server.base}/v1/plan:reload").status_code == 401
        assert httpx.post(f"{server.base}/v1/plan:reload", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert httpx.get(f"{server.base}/v1/customers/c1/decisions", headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(f"{server.base}/v1/customers/c1/decisions", headers={"X-API-Key": "k1"}).status_code == 200
        assert httpx.post(f"{server.base}/v1/decisions", json={"profile": PROFILE}).status_code == 200
    finally:
        server.stop()


def test_protect_decisions_puts_the_decision_and_event_endpoints_behind_a_key(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch", "--protect-decisions",
                    env={"TREATMENT_API_KEYS": "k1"}).start()
    try:
        for path, body in (("/v1/decisions", {"profile": PROFILE}), ("/v1/decisions:batch", {"profiles": [PROFILE]}),
                           ("/v1/explain", {"profile": PROFILE}), ("/v1/events", {"events": []})):
            assert httpx.post(f"{server.base}{path}", json=body).status_code == 401, path
            # The first events start the moments worker: seconds on a busy machine.
            answered = httpx.post(f"{server.base}{path}", json=body, headers={"X-API-Key": "k1"},
                                  timeout=EVENTS_TIMEOUT).status_code
            assert answered == (202 if path == "/v1/events" else 200), path
        assert httpx.get(f"{server.base}/v1/plan").status_code == 200  # reading the plan needs no key
    finally:
        server.stop()


def test_keys_created_in_the_database_are_required_and_revocable(tmp_path: Path) -> None:
    plan = plan_copy(tmp_path)
    db = f"sqlite:///{plan / 'decisions.db'}"
    command = [sys.executable, "-m", "treatment_engine", "keys"]
    created = subprocess.run([*command, "create", "ops", "--db", db], capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    server = Server(plan, "--no-watch").start()
    try:
        assert httpx.post(f"{server.base}/v1/plan:reload").status_code == 401
        assert httpx.post(f"{server.base}/v1/plan:reload", headers={"X-API-Key": key}).status_code == 200
        assert httpx.post(f"{server.base}/v1/decisions", json={"profile": PROFILE}).status_code == 200
    finally:
        server.stop()
    assert subprocess.run([*command, "revoke", "ops", "--db", db], timeout=60).returncode == 0
    server = Server(plan, "--no-watch").start()
    try:
        # Revoked, and the last key: the endpoints stay closed rather than fall open.
        assert httpx.post(f"{server.base}/v1/plan:reload", headers={"X-API-Key": key}).status_code == 401
    finally:
        server.stop()


def test_which_endpoints_need_a_key_is_what_the_help_says(tmp_path: Path) -> None:
    """Reading what was stored (a history, an event, the outbox, the partitions) needs a
    key; deciding and posting events do not (without --protect-decisions); the plan's
    directory on the server is shown only with a key."""
    server = Server(plan_copy(tmp_path), "--no-watch", env={"TREATMENT_API_KEYS": "k1"}).start()
    try:
        base, key = server.base, {"X-API-Key": "k1"}
        locked = [("POST", "/v1/plan:reload"), ("POST", "/v1/decisions/x:reproduce"),
                  ("GET", "/v1/customers/c1/decisions"), ("GET", "/v1/events/00000000-0000-0000-0000-000000000000"),
                  ("GET", "/v1/outbox"), ("GET", "/v1/moments")]
        for method, path in locked:
            assert httpx.request(method, f"{base}{path}").status_code == 401, path
            assert httpx.request(method, f"{base}{path}", headers=key, timeout=EVENTS_TIMEOUT).status_code != 401, path
        assert httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE}).status_code == 200
        assert httpx.post(f"{base}/v1/events", json={"events": []}, timeout=EVENTS_TIMEOUT).status_code == 202
        anonymous = httpx.get(f"{base}/v1/plan")
        assert anonymous.status_code == 200 and "root" not in anonymous.json()
        assert str(tmp_path) not in anonymous.text
        assert httpx.get(f"{base}/v1/plan", headers={"Authorization": "Bearer k1"}).json()["root"] == str(server.plan)
        assert "root" not in httpx.get(f"{base}/v1/plan", headers={"X-API-Key": "wrong"}).json()
        help_text = subprocess.run([sys.executable, "-m", "treatment_engine", "serve", "--help"], capture_output=True,
                                   text=True, timeout=60).stdout
        needs_key = help_text.split("need a key", 1)[1].split("open", 1)[0]
        documented = ["POST /v1/plan:reload", "POST /v1/decisions/{id}:reproduce", "GET /v1/customers/{id}/decisions",
                      "GET /v1/events/{id}", "GET /v1/outbox", "GET /v1/moments"]
        assert all(entry in " ".join(needs_key.split()) for entry in documented), needs_key
    finally:
        server.stop()


def test_every_endpoint_that_needs_a_key_is_listed_so_in_the_help_and_the_readme() -> None:
    """The app's own routes say which need a key; `serve --help` and the README's table
    left out GET /v1/results, /v1/journeys, /v1/journeys/{id} and
    /v1/customers/{id}/journeys, which a user then took for open and got 401."""
    import re

    from click.testing import CliRunner

    from treatment_engine.cli import cli
    from treatment_engine.service.app import create_app
    from treatment_engine.service.dependencies import ADMIN

    from ..conftest import REPO

    locked = {f"{method} {re.sub(r'{[^}]*}', '{id}', route.path)}" for route in create_app(REPO).routes
              if getattr(route, "dependencies", None) == list(ADMIN) and not getattr(route, "deprecated", False)
              for method in route.methods}
    assert {"GET /v1/outbox", "GET /v1/journeys/{id}"} <= locked
    help_text = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).output.split())
    in_help = help_text.split("need a key", 1)[1].split(" open ", 1)[0]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    in_readme = readme.split("| needs a key | open |", 1)[1].split("\n")[2].split("|")[1]
    for entry in sorted(locked):
        assert entry in in_help, (entry, in_help)
        assert f"`{entry}`" in in_readme, (entry, in_readme)
