"""The ops router (health, readiness, metrics) and the OpenAPI document it all serves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE  # noqa: E402


def test_health_readiness_and_openapi(served: tuple[str, Path]) -> None:
    base, _ = served
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    assert {"/v1/decisions", "/v1/decisions:batch", "/v1/explain", "/v1/plan", "/v1/plan:reload"} <= set(paths)


def test_metrics(served: tuple[str, Path]) -> None:
    base, _ = served
    httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE})
    text = httpx.get(f"{base}/metrics").text
    assert 'treatment_decisions_total{rule="' in text
    assert 'treatment_http_requests_total{route="/v1/decisions",status="200"}' in text


def test_no_generated_request_gets_a_5xx(served: tuple[str, Path]) -> None:
    """schemathesis against the live OpenAPI schema: every operation, generated bodies."""
    runner = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(runner).exists():
        pytest.skip("schemathesis is not installed")
    base, _ = served
    run = subprocess.run([runner, "run", f"{base}/openapi.json", "--checks", "not_a_server_error",
                          "--max-examples", "20", "--exclude-checks", "positive_data_acceptance"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "generated" in run.stdout and " failed" not in run.stdout.split("SUMMARY")[-1]


OPERATIONS = [  # (method, path, operationId): what clients generated from the schema call
    ("POST", "/v1/decisions", "decide_v1_decisions_post"),
    ("POST", "/v1/decisions:batch", "batch_v1_decisions_batch_post"),
    ("POST", "/v1/explain", "explain_v1_explain_post"),
    ("GET", "/v1/plan", "plan_info_v1_plan_get"),
    ("POST", "/v1/plan:reload", "reload_v1_plan_reload_post"),
    ("GET", "/v1/customers/{customer_id}/decisions", "history_v1_customers__customer_id__decisions_get"),
    ("POST", "/v1/decisions/{decision_id}:reproduce", "reproduce_v1_decisions__decision_id__reproduce_post"),
    ("POST", "/v1/decisions/{decision_id}:replay", "replay_v1_decisions__decision_id__replay_post"),
    ("POST", "/v1/events", "post_events_v1_events_post"),
    ("GET", "/v1/events/{event_id}", "get_event_v1_events__event_id__get"),
    ("GET", "/v1/moments", "partitions_v1_moments_get"),
    ("GET", "/v1/outbox", "outbox_v1_outbox_get"),
    ("GET", "/v1/journeys", "all_journeys_v1_journeys_get"),
    ("GET", "/v1/journeys/{journey_id}", "one_journey_v1_journeys__journey_id__get"),
    ("GET", "/v1/customers/{customer_id}/journeys", "customer_journeys_v1_customers__customer_id__journeys_get"),
    ("GET", "/v1/results", "results_v1_results_get"),
    ("GET", "/healthz", "healthz_healthz_get"),
    ("GET", "/readyz", "readyz_readyz_get"),
]


def test_the_openapi_operations_stay_the_same(served: tuple[str, Path]) -> None:
    """The routers split by resource keep every operation's path, method and id, in order."""
    base, _ = served
    paths = httpx.get(f"{base}/openapi.json").json()["paths"]
    assert [(method.upper(), path, operation["operationId"])
            for path, operations in paths.items() for method, operation in operations.items()] == OPERATIONS


def test_health_and_readiness_answer_head_as_monitors_probe_with_it() -> None:
    """RFC 9110: a server that takes GET takes HEAD; load balancers and uptime checks often
    probe with HEAD, and got 405. Not a second operation in the OpenAPI document."""
    from treatment_engine.service.app import create_app

    from ..asgi import exchange
    from ..conftest import REPO

    head_health, head_ready, document = exchange(create_app(REPO), [
        ("HEAD", "/healthz", None), ("HEAD", "/readyz", None), ("GET", "/openapi.json", None)])
    assert (head_health.status_code, head_ready.status_code) == (200, 200)
    assert head_health.content == b"" and head_ready.content == b""
    assert set(document.json()["paths"]["/healthz"]) == {"get"}
