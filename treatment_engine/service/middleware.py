"""The service's one middleware, as plain ASGI: body-size limit, body timeout and request metrics.

Plain ASGI rather than Starlette's ``@app.middleware("http")``: that wraps every request
in a task group and a streamed response, which cost more than deciding the request.

The limit holds for every body: one whose Content-Length is over it is answered 413
before a byte is read; one sent without a length (chunked) is counted as it streams in,
and refused as soon as it passes the limit (:class:`BodyTooLarge`, answered 413 by
errors.py, or here if the app had not read it in a route). A body whose next part does
not arrive within the body timeout (a client that stalls, or sends a byte a minute to hold
a connection: "slow loris") is answered 408 and its connection closed (:class:`BodyTimedOut`).
Request headers that never end cannot be timed out here (the server hands a request over
only once its headers are read): that takes a proxy in front (docs/deploying.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect

from . import problems
from .metrics import Metrics

_log = logging.getLogger("treatment.service")
CLIENT_CLOSED = 499  # in the metrics: the client closed the connection before its answer
Scope = dict[str, Any]
Receive = Any
Send = Any


class BodyTooLarge(Exception):
    """The request's body passed the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over {limit // (1024 * 1024)} MiB")


class BodyTimedOut(Exception):
    """The next part of the request's body did not arrive in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body stopped arriving: no part of it for {seconds:g} s")


class GuardAndMeasure:
    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sized = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                sized = value.isdigit()
                if sized and _over(value, self.max_body_bytes):
                    await _too_large(send, self.max_body_bytes)
                    return
        if not sized:  # chunked (or no body): count it as it comes
            receive = _counted(receive, self.max_body_bytes)
        receive = _timed(receive, self.body_timeout)
        started = time.perf_counter()
        status = 0  # no response started yet

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BodyTooLarge:
            if status:
                raise
            status = 413
            await _too_large(send, self.max_body_bytes)
        except BodyTimedOut as error:
            if status:
                raise
            status = 408
            await _timed_out(send, error)
        except ClientDisconnect:  # gone before its body was read: no one to answer, not a failure
            status = status or CLIENT_CLOSED
        except Exception:
            # A bug. Answered here rather than by Starlette's outermost handler, which sends
            # its 500 and raises again: uvicorn then closes the connection, and a client's
            # next request on it fails too.
            if status:
                raise
            _log.exception("the service failed on %s %s", scope.get("method"), scope.get("path"))
            status = 500
            await _answer(send, 500, problems.problem_body(
                500, "the service failed on this request; the error is in its log"))
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status or 500)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _over(length: bytes, limit: int) -> bool:
    """Whether a Content-Length (ASCII digits) is over ``limit``. Its leading zeros are
    allowed (RFC 9110: 1*DIGIT) and not counted: Python refuses to read a number of more
    than 4,300 digits, and the server's parser passes such a header on."""
    digits = length.lstrip(b"0")
    return len(digits) > len(str(limit)) or int(digits or b"0") > limit


def _counted(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` once the body read passes ``limit``."""
    read = 0

    async def counted() -> dict[str, Any]:
        nonlocal read
        message: dict[str, Any] = await receive()
        if message["type"] == "http.request":
            read += len(message.get("body", b""))
            if read > limit:
                raise BodyTooLarge(limit)
        return message
    return counted


def _timed(receive: Receive, seconds: float) -> Receive:
    """``receive`` that raises :class:`BodyTimedOut` where a part of the body takes longer
    than ``seconds``; once the body is complete, the server's own (a wait for the client's
    disconnect may rightly last as long as the answer takes)."""
    complete = False

    async def timed() -> dict[str, Any]:
        nonlocal complete
        if complete:
            message: dict[str, Any] = await receive()
            return message
        try:
            async with asyncio.timeout(seconds):  # a timer, not a task a part (asyncio.wait_for)
                message = await receive()
        except TimeoutError:
            raise BodyTimedOut(seconds) from None
        complete = message["type"] != "http.request" or not message.get("more_body", False)
        return message
    return timed


async def _timed_out(send: Send, error: BodyTimedOut) -> None:
    body = problems.problem_body(408, str(error), problems.BODY_TIMED_OUT)
    await _answer(send, 408, body, [(b"connection", b"close")])


async def _too_large(send: Send, limit: int) -> None:
    body = problems.problem_body(413, str(BodyTooLarge(limit)), problems.BODY_TOO_LARGE)
    await _answer(send, 413, body, [(b"connection", b"close")])


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", problems.MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
