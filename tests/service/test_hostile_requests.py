"""The hostile requests corpus (tests/hostile/requests/cases.yaml) against a live service:
each case gets the status it lists (never a 5xx), within a bounded time, and the server
keeps serving."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from ..hostile import cases  # noqa: E402
from .server import Server, plan_copy  # noqa: E402

KEY = "hostile-key"
SECONDS = 20.0  # the most any case may take, its upload included
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(plan_copy(tmp_path_factory.mktemp("plan")), "--no-watch", env={"TREATMENT_API_KEYS": KEY})
    yield server.start()
    server.stop()


def body_of(case: dict[str, Any]) -> tuple[bytes | Iterator[bytes] | None, dict[str, str]]:
    """The case's body and the headers it implies."""
    headers = {"content-type": "application/json"}
    if "json" in case:
        return httpx.Request("POST", "http://x", json=case["json"]).content, headers
    if "hex" in case:
        return bytes.fromhex(case["hex"]), headers
    if "chunked" in case:
        def chunks() -> Iterator[bytes]:
            yield b'{"profiles": ["'
            for _ in range(case["chunked"]):
                yield b"x" * MIB
        return chunks(), headers
    if "text" in case:
        text = case["text"].replace("{fill}", case.get("fill", "") * case.get("times", 0))
        return text.encode("utf-8", "surrogatepass"), headers
    return None, {}


def send_raw(server: Server, raw: str) -> int:
    """The status a request sent as raw bytes gets."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=SECONDS) as connection:
        connection.sendall(raw.encode("latin-1"))
        answer = connection.recv(65536).decode("latin-1")
    return int(answer.split(" ", 2)[1])


def send(server: Server, case: dict[str, Any]) -> httpx.Response | None:
    content, headers = body_of(case)
    headers.update(case.get("headers", {}))
    if case.get("key") == "valid":
        headers["x-api-key"] = KEY
    elif case.get("key") == "wrong":
        headers["authorization"] = "Bearer not-the-key"
    headers = {name: value for name, value in headers.items() if value != ""}
    url = httpx.URL(f"{server.base}/").copy_with(raw_path=case["path"].replace(
        "{fill}", case.get("fill", "") * case.get("times", 0)).encode())
    try:
        return httpx.request(case["method"], url, content=content, headers=headers, timeout=SECONDS)
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        if case["status"] == 413:
            return None  # answered and closed while the client was still sending: refused
        raise


@pytest.mark.parametrize("case", cases("requests"))
def test_a_hostile_request_gets_its_answer(hostile_server: Server, case: dict[str, Any]) -> None:
    started = time.monotonic()
    if "raw" in case:
        assert send_raw(hostile_server, case["raw"]) == case["status"]
    else:
        response = send(hostile_server, case)
        if response is not None:
            assert response.status_code == case["status"], (response.status_code, response.text[:300])
            if "type" in case:
                assert response.headers["content-type"] == "application/problem+json", response.headers
                assert response.json()["type"] == case["type"], response.text[:300]
            assert len(response.content) < 64 * 1024, "the answer echoes the request"
    assert time.monotonic() - started < SECONDS
    assert httpx.get(f"{hostile_server.base}/healthz", timeout=5).status_code == 200


def test_the_corpus_left_the_server_without_a_5xx(hostile_server: Server) -> None:
    """After the cases (module order): the server's own count of 5xx answers is nil."""
    metrics = httpx.get(f"{hostile_server.base}/metrics").text
    fives = [line for line in metrics.splitlines() if line.startswith("treatment_http_requests_total")
             and 'status="5' in line and not line.endswith(" 0.0")]
    assert not fives, fives
    assert "Traceback" not in Path(hostile_server.log_path).read_text()
