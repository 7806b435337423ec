"""The service over a plan directory: its state, its lifespan, and its routers.

Routes live in :mod:`.routes` (one router per resource), what they share in
:mod:`.dependencies`, and the answers to their errors in :mod:`.errors`. Request bodies
are pydantic models, so a request the service cannot take gets a 4xx with the reason
(FastAPI's 422 detail, or 413 for an oversized body).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ..store import DecisionLog
from . import routes
from .dependencies import ADMIN
from .errors import EXCEPTION_HANDLERS
from .middleware import GuardAndMeasure
from .moments import MomentHub
from .plans import PlanHolder
from .state import Service

KEYS_ENV = "TREATMENT_API_KEYS"
MAX_BODY_BYTES = 32 * 1024 * 1024


def api_keys_from_env() -> frozenset[str]:
    """Comma-separated keys in $TREATMENT_API_KEYS; none configured means none required."""
    return frozenset(k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())


def create_app(plan_dir: Path, holder: PlanHolder | None = None, log: DecisionLog | None = None, *,
               api_keys: frozenset[str] = frozenset(), protect_decisions: bool = False,
               watch: bool = False, moment_clock: str = "wall") -> FastAPI:
    """The service over a plan directory.

    With ``log``, every acknowledged decision is committed to it before the response is
    sent, and every loaded plan version is kept. With ``api_keys`` (or keys created in the
    log's database), reload, replay and history need one (``Authorization: Bearer KEY`` or
    ``X-API-Key``), and so do the decision endpoints with ``protect_decisions``. With ``watch``, a change under the plan
    directory triggers a reload (a broken plan is refused, as with the endpoint).
    """
    service = Service(holder or PlanHolder(plan_dir), log, api_keys, wall_clock=moment_clock == "wall")
    app = FastAPI(title="Treatment decision service", version="0.1.0", lifespan=_lifespan(service, watch),
                  description="Decides how to treat each customer from the loaded treatment plan.",
                  exception_handlers=EXCEPTION_HANDLERS)
    app.state.service = service
    app.state.plans = service.plans
    deciding = ADMIN if protect_decisions else []  # the decision and event endpoints
    routes.add_routes(app, routes.decisions.router, deciding)
    routes.add_routes(app, routes.plan.router)
    routes.add_routes(app, routes.log.router, ADMIN)
    routes.add_routes(app, routes.events.router, deciding)
    routes.add_routes(app, routes.ops.router)
    app.add_middleware(GuardAndMeasure, metrics=service.metrics, max_body_bytes=MAX_BODY_BYTES)
    return app


def _lifespan(service: Service, watch: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The plan watcher and the moments' wall clock run while the app does; at its end
    pending decisions are committed and the log is closed."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        watcher = None
        if watch:
            watcher = threading.Thread(target=_watch, args=(service.plans.plan_dir, stop, service.reload),
                                       daemon=True)
            watcher.start()
        clock = asyncio.create_task(_run_clock(service.moments)) if service.wall_clock else None
        yield
        if clock is not None:
            clock.cancel()
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)
        service.close()
    return lifespan


async def _run_clock(moments: MomentHub, every: float = 1.0) -> None:
    """Time passes for absences even when no event comes: the wall clock moves the moments'."""
    while True:
        await asyncio.sleep(every)
        try:
            await moments.tick()
        except Exception:  # logged, and the next tick tries again; the service stays up
            logging.getLogger("treatment.moments").exception("the moments clock failed")


def _watch(plan_dir: Path, stop: threading.Event, reload: Any) -> None:
    """Reload when files under the plan change; watchfiles debounces bursts of writes."""
    from watchfiles import watch

    for _changes in watch(plan_dir, stop_event=stop, debounce=300, yield_on_timeout=False):
        reload()
