"""Hostile requests the service must bound: chunked bodies, odd dates, ids with slashes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from treatment_engine.expressions import values  # noqa: E402

from .server import PROFILE, Server, plan_copy  # noqa: E402

MIB = 1024 * 1024


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(tmp_path: Path) -> None:
    """200 MB sent chunked (no Content-Length): 413 once 32 MiB have passed, the server's
    memory does not grow by the body, and the client is not made to send it all."""
    if not Path("/proc/self/status").exists():
        pytest.skip("reads RSS from /proc")
    server = Server(plan_copy(tmp_path), "--no-watch", "--db", "none").start()
    try:
        assert server.process is not None
        before = rss_mib(server.process.pid)
        sent = 0

        def chunks() -> Iterator[bytes]:
            nonlocal sent
            yield b'{"profile": {"customer_id": "big", "pad": "'
            for _ in range(200):
                sent += MIB
                yield b"x" * MIB

        started = time.monotonic()
        try:
            response = httpx.post(f"{server.base}/v1/decisions", content=chunks(),
                                  headers={"content-type": "application/json"}, timeout=60)
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
        except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server answered and closed while the client was still sending: also a refusal
        assert time.monotonic() - started < 30
        assert sent < 200 * MIB, "the whole body was read"
        assert rss_mib(server.process.pid) - before < 100, (before, rss_mib(server.process.pid))
        assert httpx.get(f"{server.base}/healthz").status_code == 200
    finally:
        server.stop()


def test_a_body_that_stops_arriving_is_answered_408_and_its_connection_closed(tmp_path: Path) -> None:
    """A client that sends its headers and part of the body, then nothing (or a byte a
    minute: "slow loris"), held the connection for good; now 408 once the next part is
    --body-timeout late, and the connection is closed. Also for a chunked body."""
    import socket

    server = Server(plan_copy(tmp_path), "--no-watch", "--db", "none", "--body-timeout", "1").start()
    try:
        heads = [b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"profile\": ",
                 b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n4\r\n{\"pr\r\n"]
        for head in heads:
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
                started = time.monotonic()
                client.sendall(head)
                answer = b""
                while chunk := client.recv(65536):  # until the server closes the connection
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
                assert b"application/problem+json" in answer and b"body-timed-out" in answer
                assert 0.9 < time.monotonic() - started < 15
        # a body that arrives in time, in parts slower than nothing but faster than the timeout
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as client:
            body = json.dumps({"profile": PROFILE}).encode()
            client.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            for part in (body[:10], body[10:]):
                time.sleep(0.5)
                client.sendall(part)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert httpx.get(f"{server.base}/healthz").status_code == 200
    finally:
        server.stop()


ODD_DAYS = [(date(1, 1, 1) + timedelta(days=n)).isoformat() for n in range(0, 31, 3)] + [
    "0001-01-30", "9999-12-31", "0000-12-31", "10000-01-01", "2026-02-30", "2026-13-01"]


def test_every_date_is_decided_or_refused_and_the_connection_lives_on(served: tuple[str, Path]) -> None:
    """With a decision log and the plan's 30-day caps, a day near 0001-01-01 once made the
    window start before the calendar does: 503 or 500, and the next request failed too."""
    base, _ = served
    with httpx.Client(base_url=base, limits=httpx.Limits(max_connections=1), timeout=30) as client:
        for day in ODD_DAYS:
            for path, body in (("/v1/decisions", {"profile": {**PROFILE, "customer_id": f"odd-{day}"}, "as_of": day}),
                               ("/v1/decisions:batch", {"profiles": [PROFILE], "as_of": day}),
                               ("/v1/explain", {"profile": PROFILE, "as_of": day})):
                response = client.post(path, json=body)
                assert response.status_code in (200, 422), (path, day, response.status_code, response.text[:300])
                assert client.get("/readyz").status_code == 200, (path, day)


def test_refusals_keep_the_connection_usable(served: tuple[str, Path]) -> None:
    base, _ = served
    with httpx.Client(base_url=base, limits=httpx.Limits(max_connections=1), timeout=30) as client:
        for method, path, options in (("POST", "/v1/decisions", {"content": b"{", "headers": {"content-type": "application/json"}}),
                                      ("POST", "/v1/decisions", {"content": b"a=1"}),
                                      ("GET", "/nowhere", {}), ("DELETE", "/v1/plan", {}),
                                      ("POST", "/v1/decisions", {"json": {"profile": {"customer_id": "x", "segment": "?"}}})):
            assert 400 <= client.request(method, path, **options).status_code < 500
            assert client.post("/v1/decisions", json={"profile": PROFILE}).status_code == 200


@pytest.mark.parametrize("customer_id", ["a/b", "/leading", "trailing/", "x/../y", "dots/decisions", "per%2Fcent",
                                         "sp ace?&#", "ünï/cödé"])
def test_customer_ids_with_slashes_are_reachable(served: tuple[str, Path], customer_id: str) -> None:
    base, _ = served
    decided = httpx.post(f"{base}/v1/decisions", json={"profile": {**PROFILE, "customer_id": customer_id}})
    assert decided.status_code == 200, decided.text
    quoted = httpx.URL(f"{base}/v1/customers/").copy_with(
        raw_path=b"/v1/customers/" + _quote(customer_id).encode() + b"/decisions")
    history = httpx.get(quoted)
    assert history.status_code == 200, history.text
    assert history.json()["customer_id"] == customer_id
    assert decided.json()["id"] in [d["id"] for d in history.json()["decisions"]]


def _quote(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="")


def test_the_date_cache_keeps_only_valid_short_dates() -> None:
    kept = len(values._ORDINALS)
    for n in range(200):
        assert values.date_ordinal(f"{n:04d}-99-99" + "x" * 10_000) is None
        assert values.date_ordinal("2026-01-01T00:00:00." + "0" * 10_000 + str(n)) == date(2026, 1, 1).toordinal()
    assert len(values._ORDINALS) == kept
    assert values.date_ordinal("1999-12-31") == date(1999, 12, 31).toordinal()
    assert values._ORDINALS.get("1999-12-31") == date(1999, 12, 31).toordinal()


def test_a_stored_input_is_bounded(tmp_path: Path) -> None:
    """A profile whose read fields are 300 kB decides, and the log keeps only their size
    (--max-stored-input); reproducing it says why it cannot."""
    import sqlite3

    server = Server(plan_copy(tmp_path), "--no-watch", "--max-stored-input", "4096").start()
    try:
        huge = {**PROFILE, "customer_id": "huge-1", "consent": {"email": "x" * 300_000, "phone": True}}
        small = {**PROFILE, "customer_id": "small-1"}
        decided = [httpx.post(f"{server.base}/v1/decisions", json={"profile": p}).json() for p in (huge, small)]
        batch = httpx.post(f"{server.base}/v1/decisions:batch", json={"profiles": [{**huge, "customer_id": "huge-2"}]})
        assert batch.status_code == 200 and batch.json()["decisions"][0]["id"]
        with sqlite3.connect(server.plan / "decisions.db") as db:
            stored = dict(db.execute("SELECT customer_id, inputs FROM decisions").fetchall())
        assert max(len(text) for text in stored.values()) < 4096
        assert "_oversized_chars" in stored["huge-1"] and "_oversized_chars" in stored["huge-2"]
        assert "_oversized_chars" not in stored["small-1"]
        again = httpx.post(f"{server.base}/v1/decisions/{decided[0]['id']}:reproduce")
        assert again.status_code == 409 and "over the log's limit" in again.json()["detail"]
        assert httpx.post(f"{server.base}/v1/decisions/{decided[1]['id']}:reproduce").json()["reproduces"] is True
    finally:
        server.stop()


def test_a_nul_in_a_customer_id_is_refused_with_the_reason(served: tuple[str, Path]) -> None:
    """PostgreSQL's text cannot hold a NUL: with a log, such an id is refused at the door
    (it once reached the database and failed there)."""
    base, _ = served
    single = httpx.post(f"{base}/v1/decisions", json={"profile": {**PROFILE, "customer_id": "a\x00b"}})
    assert single.status_code == 422 and "NUL character" in single.json()["error"]
    batch = httpx.post(f"{base}/v1/decisions:batch", json={"profiles": [{**PROFILE, "customer_id": "n\x00l"},
                                                                       {**PROFILE, "customer_id": "nul-ok"}]})
    first, second = batch.json()["decisions"]
    assert "NUL character" in first["error"] and second["id"]


def _local_port(response: httpx.Response) -> int:
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("socket").getsockname()[1])


def test_a_500_is_a_problem_and_the_connection_stays_open(tmp_path: Path) -> None:
    """A bug in a route (a route added here that fails) answers a 500 problem without a
    traceback, and the client's next request goes over the same connection."""
    import socket
    import threading

    import uvicorn

    from treatment_engine.service import create_app

    from ..conftest import REPO

    app = create_app(REPO)

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=1)) as client:
            failed = client.get("/broken")
            ports = [_local_port(failed)]
            assert failed.status_code == 500 and failed.headers["content-type"] == "application/problem+json"
            assert "a bug" not in failed.text and "Traceback" not in failed.text
            refused = client.post("/v1/decisions", content=b"x=1")
            ports.append(_local_port(refused))
            after = client.post("/v1/decisions", json={"profile": PROFILE})
            ports.append(_local_port(after))
            assert refused.status_code == 415 and after.status_code == 200
            assert len(set(ports)) == 1, ports
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_content_length_of_thousands_of_digits_is_read_not_a_500(served: tuple[str, Path]) -> None:
    """Content-Length allows leading zeros (RFC 9110: 1*DIGIT), and the server's parser
    passes 4,400 of them on; the body limit's int() of them raised (Python reads at most
    4,300 digits): a 500. The length is its value, and 5,000 nines are over the limit."""
    import socket

    base, _ = served
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"profile": PROFILE, "as_of": "2026-11-01"}).encode()

    def send(length: bytes, payload: bytes) -> bytes:
        with socket.create_connection((host, int(port)), timeout=20) as client:
            client.sendall(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Connection: close\r\nContent-Length: " + length + b"\r\n\r\n" + payload)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
            return answer

    padded = send(b"0" * 4400 + str(len(body)).encode(), body)
    assert padded.startswith(b"HTTP/1.1 200"), padded[:300]
    huge = send(b"9" * 4400, b"")
    assert huge.split(b" ", 2)[1] in (b"400", b"413") and b" 500 " not in huge[:20], huge[:300]
