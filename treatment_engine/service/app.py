"""The service over a plan directory: its state, its lifespan, and its routers.

Routes live in :mod:`.routes` (one router per resource), what they share in
:mod:`.dependencies`, and the answers to their errors in :mod:`.errors`. Request bodies
are pydantic models, so a request the service cannot take gets a 4xx with the reason
(FastAPI's 422 detail, or 413 for an oversized body).
"""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from ..store import DecisionLog
from . import routes
from .dependencies import ADMIN, require_key
from .docs import add_docs
from .errors import EXCEPTION_HANDLERS
from .middleware import GuardAndMeasure
from .openapi import document
from .plan_sync import DEFAULT_MAX_RULE_DROP, DEFAULT_POLL_SECONDS
from .plans import PlanHolder
from .state import Service

KEYS_ENV = "TREATMENT_API_KEYS"
MAX_BODY_BYTES = 32 * 1024 * 1024
BODY_TIMEOUT_SECONDS = 30.0  # the longest wait for the next part of a request's body


def api_keys_from_env() -> frozenset[str]:
    """Comma-separated keys in $TREATMENT_API_KEYS; none configured means none required."""
    return frozenset(k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())


def create_app(plan_dir: Path, holder: PlanHolder | None = None, log: DecisionLog | None = None, *,
               api_keys: frozenset[str] = frozenset(), protect_decisions: bool = False,
               watch: bool = False, moment_clock: str = "wall", moment_lease: float = 10.0,
               plan_poll: float = DEFAULT_POLL_SECONDS, max_rule_drop: float = DEFAULT_MAX_RULE_DROP,
               body_timeout: float = BODY_TIMEOUT_SECONDS) -> FastAPI:
    """The service over a plan directory.

    With ``log``, every acknowledged decision is committed to it before the response is
    sent, and every loaded plan version is kept. With ``api_keys`` (or keys created in the
    log's database), reload, reproduce and history need one (``Authorization: Bearer KEY`` or
    ``X-API-Key``), and so do the decision endpoints with ``protect_decisions``. With ``watch``, a change under the plan
    directory triggers a reload (a broken plan is refused, as with the endpoint). With a log,
    the replica serves the newest plan any replica released, polled every ``plan_poll``
    seconds (plan_sync.py); a reload dropping more than ``max_rule_drop`` of the rules is held.
    A request body whose next part takes longer than ``body_timeout`` seconds is answered 408.
    """
    service = Service(holder or PlanHolder(plan_dir), log, api_keys, wall_clock=moment_clock == "wall",
                      moment_lease=moment_lease, plan_poll=plan_poll, max_rule_drop=max_rule_drop)
    app = FastAPI(title="Treatment decision service", version="0.1.0", lifespan=_lifespan(service, watch),
                  description="Decides how to treat each customer from the loaded treatment plan.",
                  exception_handlers=EXCEPTION_HANDLERS, docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.plans = service.plans
    deciding = ADMIN if protect_decisions else []  # the decision and event endpoints
    routes.add_routes(app, routes.decisions.router, deciding)
    routes.add_routes(app, routes.plan.router)
    routes.add_routes(app, routes.log.router, ADMIN)
    routes.add_routes(app, routes.events.router, deciding)
    routes.add_routes(app, routes.journeys.router)
    routes.add_routes(app, routes.results.router)
    routes.add_routes(app, routes.ops.router)
    add_docs(app)
    app.add_middleware(GuardAndMeasure, metrics=service.metrics, max_body_bytes=MAX_BODY_BYTES,
                       body_timeout=body_timeout)
    app.openapi = document(app, _checks_a_key)  # type: ignore[method-assign]
    return app


def _checks_a_key(route: APIRoute) -> bool:
    return any(depends.dependency is require_key for depends in route.dependencies)


def _lifespan(service: Service, watch: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The plan watcher and poller and the moments' partition owner run while the app does;
    at its end the owner gives its partitions back, pending decisions are committed and the
    log is closed."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads = service.sync.threads(stop, watch)
        for thread in threads:
            thread.start()
        if service.owner is not None:
            service.owner.start()
        yield
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        await run_in_threadpool(service.close)  # the owner may finish a pass first
    return lifespan
