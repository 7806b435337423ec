"""Requests to the service's app in-process, its lifespan run as a server runs it.

Starlette's TestClient now warns unless the httpx2 package is installed; httpx's own
ASGI transport needs nothing more, and running the app's lifespan around the requests
starts and stops what the server would (the commit writer, the moments clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

Request = tuple[str, str, Any]  # (method, path, JSON body or None)


def exchange(app: Any, requests: Sequence[Request]) -> list[httpx.Response]:
    """Send ``requests`` in order to ``app`` (a FastAPI app) and return its answers."""

    async def run() -> list[httpx.Response]:
        answers = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
                for method, path, body in requests:
                    answers.append(await client.request(method, path, json=body))
        return answers

    return asyncio.run(run())
