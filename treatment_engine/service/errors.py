"""One exception handler per error a route can raise, each answering a 4xx (or a 503 to
try again) with the reason; FastAPI's own handle HTTPException and invalid requests."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from ..errors import ProfileError
from ..reproduce import ReproduceError
from .dependencies import NoDecisionLog
from .group_commit import CommitFailed
from .moments import MomentsUnavailable

NO_LOG = "this service keeps no decision log (start it with --db)"


async def profile_refused(_: Request, error: ProfileError) -> JSONResponse:
    """A profile that cannot be decided: the same record as an inline error in a batch."""
    return JSONResponse({"customer_id": error.customer_id, "error": error.message}, status_code=422)


async def no_decision_log(_: Request, error: NoDecisionLog) -> JSONResponse:
    return JSONResponse({"detail": NO_LOG}, status_code=404)


async def not_reproducible(_: Request, error: ReproduceError) -> JSONResponse:
    return JSONResponse({"detail": error.message}, status_code=404 if error.not_found else 409)


async def not_committed(_: Request, error: CommitFailed) -> JSONResponse:
    """The decision log could not commit (the database is unreachable, say)."""
    logging.getLogger("treatment.service").error("%s", error)
    return JSONResponse({"detail": f"{error}; nothing was acknowledged, send the request again"},
                        status_code=503, headers={"Retry-After": "1"})


async def moments_unavailable(_: Request, error: MomentsUnavailable) -> JSONResponse:
    return JSONResponse({"detail": f"events cannot be taken right now, send them again: {error}"},
                        status_code=503, headers={"Retry-After": "1"})


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    ProfileError: profile_refused,
    NoDecisionLog: no_decision_log,
    ReproduceError: not_reproducible,
    MomentsUnavailable: moments_unavailable,
    CommitFailed: not_committed,
}
