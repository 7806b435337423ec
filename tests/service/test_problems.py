"""One error shape: every refusal of every route is RFC 9457 problem details."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, plan_copy  # noqa: E402

JSON = {"content-type": "application/json"}


def assert_problem(response: httpx.Response, status: int, kind: str = "about:blank") -> dict[str, Any]:
    """``response`` is a problem of ``kind`` with ``status``; its body."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == kind and body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


# (method, path, request options, status, problem type, field pointer or None)
REFUSALS: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    ("POST", "/v1/decisions", {"content": b"{not json", "headers": JSON}, 422, "urn:treatment:invalid-request", "#"),
    ("POST", "/v1/decisions", {"json": {"profile": 5}}, 422, "urn:treatment:invalid-request", "#/profile"),
    ("POST", "/v1/decisions", {"json": {"profile": {}, "colour": "red"}}, 422, "urn:treatment:invalid-request",
     "#/colour"),
    ("POST", "/v1/decisions:batch", {"json": {"profiles": "all"}}, 422, "urn:treatment:invalid-request",
     "#/profiles"),
    ("POST", "/v1/explain", {"json": {"profile": {}, "as_of": "yesterday"}}, 422, "urn:treatment:invalid-request",
     "#/as_of"),
    ("POST", "/v1/decisions", {"content": b"profile=x", "headers": {"content-type": "application/x-www-form-urlencoded"}},
     415, "urn:treatment:not-json", None),
    ("POST", "/v1/decisions:batch", {"content": b'{"profiles": []}', "headers": {"content-type": "text/plain"}},
     415, "urn:treatment:not-json", None),
    ("POST", "/v1/explain", {"content": b'{"profile": {}}'}, 415, "urn:treatment:not-json", None),
    # a compressed body, which the service does not undo: was read as text, 422 "not UTF-8"
    ("POST", "/v1/decisions", {"content": gzip.compress(b'{"profile": {}}'),
                               "headers": {**JSON, "content-encoding": "gzip"}}, 415, "urn:treatment:content-encoding", None),
    ("POST", "/v1/events", {"json": {}}, 422, "urn:treatment:invalid-request", "#"),
    ("POST", "/v1/events", {"content": b"event=1", "headers": {"content-type": "multipart/form-data"}}, 415,
     "urn:treatment:not-json", None),
    ("GET", "/v1/events/not-an-id", {}, 404, "about:blank", None),
    ("GET", "/v1/outbox", {"params": {"after": -1}}, 422, "urn:treatment:invalid-request", "?after"),
    ("GET", "/v1/customers/c1/decisions", {"params": {"limit": 0}}, 422, "urn:treatment:invalid-request", "?limit"),
    ("POST", "/v1/decisions/nope:reproduce", {}, 404, "urn:treatment:not-reproducible", None),
    ("POST", "/v1/decisions/nope:replay", {}, 404, "urn:treatment:not-reproducible", None),
    ("POST", "/v1/plan:reload", {"params": {"force": "maybe"}}, 422, "urn:treatment:invalid-request", "?force"),
    ("GET", "/v1/nowhere", {}, 404, "about:blank", None),
    ("DELETE", "/v1/plan", {}, 405, "about:blank", None),
    ("GET", "/v1/decisions:batch", {}, 405, "about:blank", None),
]


@pytest.mark.parametrize(("method", "path", "options", "status", "kind", "field"), REFUSALS)
def test_every_refusal_is_a_problem(served: tuple[str, Path], method: str, path: str, options: dict[str, Any],
                                    status: int, kind: str, field: str | None) -> None:
    base, _ = served
    body = assert_problem(httpx.request(method, f"{base}{path}", timeout=30, **options), status, kind)
    if field is not None:
        assert body["errors"][0]["pointer"] == field, body
        assert all(set(e) == {"pointer", "detail", "type"} for e in body["errors"]), body
    if status == 405:
        assert "Allow" in httpx.request(method, f"{base}{path}").headers


def test_an_invalid_profile_is_a_problem_that_names_the_customer(served: tuple[str, Path]) -> None:
    """What clients read today (customer_id and error, as a batch answers inline) is kept."""
    base, _ = served
    for path in ("/v1/decisions", "/v1/explain"):
        body = assert_problem(httpx.post(f"{base}{path}", json={"profile": {"customer_id": "x", "segment": "nope"}}),
                              422, "urn:treatment:invalid-profile")
        assert body["customer_id"] == "x" and body["error"] == body["detail"] and "does not define" in body["detail"]
    batch = httpx.post(f"{base}/v1/decisions:batch", json={"profiles": [{"customer_id": "x", "segment": "nope"}]})
    assert batch.status_code == 200 and "does not define" in batch.json()["decisions"][0]["error"]


def test_a_too_large_batch_is_refused_without_echoing_it(served: tuple[str, Path]) -> None:
    base, _ = served
    profiles = [{**PROFILE, "customer_id": f"echo-{i}"} for i in range(10_001)]
    response = httpx.post(f"{base}/v1/decisions:batch", json={"profiles": profiles}, timeout=60)
    body = assert_problem(response, 422, "urn:treatment:invalid-request")
    assert len(response.content) < 1000 and "echo-" not in response.text
    assert body["errors"][0]["pointer"] == "#/profiles" and "10000" in body["detail"]


def test_many_invalid_fields_are_named_in_a_bounded_answer(served: tuple[str, Path]) -> None:
    base, _ = served
    response = httpx.post(f"{base}/v1/events", json={"events": ["x" * 100_000], "event": 5, "more": "y" * 100_000})
    body = assert_problem(response, 422, "urn:treatment:invalid-request")
    assert len(response.content) < 2000, len(response.content)
    assert {e["pointer"] for e in body["errors"]} >= {"#/event", "#/more"}


def test_a_missing_and_a_wrong_key_are_told_apart(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch", "--db", "none", env={"TREATMENT_API_KEYS": "k1"}).start()
    try:
        missing = httpx.post(f"{server.base}/v1/plan:reload")
        wrong_bearer = httpx.post(f"{server.base}/v1/plan:reload", headers={"Authorization": "Bearer nope"})
        wrong_header = httpx.get(f"{server.base}/v1/outbox", headers={"X-API-Key": "nope"})
        for response in (missing, wrong_bearer, wrong_header):
            assert_problem(response, 401, "urn:treatment:api-key")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "needs an API key" in missing.json()["detail"] and "X-API-Key" in missing.json()["detail"]
        assert "not valid" in wrong_bearer.json()["detail"] and wrong_header.json() == wrong_bearer.json()
        assert 'error="invalid_token"' in wrong_bearer.headers["WWW-Authenticate"]
        assert "invalid_token" not in missing.headers["WWW-Authenticate"]
    finally:
        server.stop()


def test_refusals_without_a_log_are_problems(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch", "--db", "none").start()
    try:
        for response in (httpx.get(f"{server.base}/v1/customers/c1/decisions"), httpx.get(f"{server.base}/v1/outbox")):
            assert_problem(response, 404, "urn:treatment:no-decision-log")
        events = httpx.post(f"{server.base}/v1/events", json={"events": []})
        assert_problem(events, 409, "urn:treatment:no-moments")
    finally:
        server.stop()
