"""One exception handler per error a route can raise, each answering a 4xx (or a 503 to
try again) as RFC 9457 problem details (problems.py): FastAPI's invalid requests and
HTTP exceptions (404, 405) included, so a client reads one shape for every refusal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from ..errors import ProfileError
from ..reproduce import ReproduceError
from . import problems
from .dependencies import NoDecisionLog
from .group_commit import CommitFailed
from .middleware import BodyTimedOut, BodyTooLarge
from .moments import MomentsUnavailable
from .problems import Problem, problem_body

NO_LOG = "this service keeps no decision log (start it with --db)"
_log = logging.getLogger("treatment.service")


def answer(status: int, detail: str, kind: str = problems.BLANK, title: str | None = None,
           headers: Mapping[str, str] | None = None, **extensions: Any) -> Response:
    return Response(problem_body(status, detail, kind, title, **extensions), status_code=status,
                    headers=dict(headers or {}), media_type=problems.MEDIA_TYPE)


def profile_problem(message: str, customer_id: str | None) -> Response:
    """A profile that cannot be decided: ``customer_id`` and ``error`` as a batch answers
    it inline, in a problem."""
    return answer(422, message, problems.INVALID_PROFILE, "The profile cannot be decided",
                  customer_id=customer_id, error=message)


async def refused(_: Request, error: Problem) -> Response:
    return answer(error.status, error.detail, error.kind, error.title, error.headers, **error.extensions)


async def invalid_request(_: Request, error: RequestValidationError) -> Response:
    errors = list(error.errors())
    return answer(422, problems.validation_detail(errors), problems.INVALID_REQUEST, "The request is not valid",
                  errors=problems.field_errors(errors))


async def http_error(request: Request, error: HTTPException) -> Response:
    """Starlette's own (no route: 404; wrong method: 405, with its Allow header)."""
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    where = f"{request.method} {request.url.path}"
    if error.status_code == 404:
        detail = f"there is nothing at {where} (the routes are listed at /openapi.json)"
    elif error.status_code == 405:
        detail = f"{request.url.path} does not take {request.method}; it takes {(error.headers or {}).get('Allow')}"
    return answer(error.status_code, detail, headers=error.headers)


async def profile_refused(_: Request, error: ProfileError) -> Response:
    return profile_problem(error.message, error.customer_id)


async def no_decision_log(_: Request, error: NoDecisionLog) -> Response:
    return answer(404, NO_LOG, problems.NO_DECISION_LOG, "No decision log")


async def not_reproducible(_: Request, error: ReproduceError) -> Response:
    return answer(404 if error.not_found else 409, error.message, problems.NOT_REPRODUCIBLE,
                  "The decision cannot be decided again")


async def not_committed(_: Request, error: CommitFailed) -> Response:
    """The decision log could not commit (the database is unreachable, say)."""
    _log.error("%s", error)
    return answer(503, f"{error}; nothing was acknowledged, send the request again", problems.TRY_AGAIN,
                  "Try again", {"Retry-After": "1"})


async def database_unavailable(_: Request, error: OperationalError | InterfaceError | PoolTimeout) -> Response:
    """A read (history, the outbox, the key check, explain's limits...) whose database could
    not be reached or dropped the connection, or that found no free connection while the
    database stalls: like a commit that failed, a request to send again, not a bug in the service."""
    cause = getattr(error, "orig", None) or error
    _log.error("the database could not be reached: %s", str(cause).splitlines()[0])
    return answer(503, "the database could not be reached; send the request again", problems.TRY_AGAIN,
                  "Try again", {"Retry-After": "1"})


async def moments_unavailable(_: Request, error: MomentsUnavailable) -> Response:
    return answer(503, f"events cannot be taken right now, send them again: {error}", problems.TRY_AGAIN,
                  "Try again", {"Retry-After": "1"})


async def too_large(_: Request, error: BodyTooLarge) -> Response:
    """A body without a Content-Length that passed the limit as it streamed in."""
    return answer(413, str(error), problems.BODY_TOO_LARGE, headers={"Connection": "close"})


async def timed_out(_: Request, error: BodyTimedOut) -> Response:
    """A body whose next part did not arrive within the body timeout, read in a route."""
    return answer(408, str(error), problems.BODY_TIMED_OUT, headers={"Connection": "close"})


async def internal_error(_: Request, error: Exception) -> Response:
    """A bug: the same shape, without the traceback (logged by the server)."""
    return answer(500, "the service failed on this request; the error is in its log")


Handler = Callable[[Request, Any], Coroutine[Any, Any, Response]]
EXCEPTION_HANDLERS: dict[int | type[Exception], Handler] = {
    Problem: refused,
    RequestValidationError: invalid_request,
    HTTPException: http_error,
    ProfileError: profile_refused,
    NoDecisionLog: no_decision_log,
    ReproduceError: not_reproducible,
    MomentsUnavailable: moments_unavailable,
    CommitFailed: not_committed,
    OperationalError: database_unavailable,
    InterfaceError: database_unavailable,
    PoolTimeout: database_unavailable,
    BodyTooLarge: too_large,
    BodyTimedOut: timed_out,
    Exception: internal_error,
}
