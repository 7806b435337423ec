"""The service's one middleware, as plain ASGI: body-size limit and request metrics.

Plain ASGI rather than Starlette's ``@app.middleware("http")``: that wraps every request
in a task group and a streamed response, which cost more than deciding the request.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .metrics import Metrics

Scope = dict[str, Any]
Receive = Any
Send = Any


class GuardAndMeasure:
    def __init__(self, app: Any, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await _too_large(send, self.max_body_bytes)
                return
        started = time.perf_counter()
        status = 500  # if the app fails before it starts a response

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"detail": f"request body over {limit // (1024 * 1024)} MiB"})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
