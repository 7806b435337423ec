"""What the routes share, as FastAPI dependencies: the service, the engine a request uses,
the decision log's repositories, and the API key check.

Dependencies are resolved once per request (FastAPI caches them), so a request reads the
live engine once and keeps it to the end: a reload never changes a decision in flight.
The cheap ones are ``async`` so that they run on the event loop, not in a thread. FastAPI
spends some microseconds on every dependency of every request, cached or not, so the
decision routes take theirs in one (:class:`~.routes.decisions.Deciding`).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Request

from ..engine import Engine
from ..store import DecisionRepository, EventRepository
from . import problems
from .problems import Problem
from .state import Service


class NoDecisionLog(Exception):
    """The route reads the decision log and this service keeps none (answered 404)."""


def current_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def service_of(request: Request) -> Service:
    return current_service(request)


ServiceDep = Annotated[Service, Depends(service_of)]


async def live_engine(request: Request) -> Engine:
    return current_service(request).plans.current.engine


LiveEngine = Annotated[Engine, Depends(live_engine)]


async def decisions_if_kept(request: Request) -> DecisionRepository | None:
    return current_service(request).decisions


async def events_if_kept(request: Request) -> EventRepository | None:
    return current_service(request).events


KeptDecisions = Annotated[DecisionRepository | None, Depends(decisions_if_kept)]  # None without a log
KeptEvents = Annotated[EventRepository | None, Depends(events_if_kept)]

Repository = TypeVar("Repository")


def kept(repository: Repository | None) -> Repository:
    """The log's repository, or :class:`NoDecisionLog` (a 404) for a service without one.
    Called in the route, after FastAPI has checked the query: a bad query stays a 422."""
    if repository is None:
        raise NoDecisionLog
    return repository


MISSING_KEY = ("this endpoint needs an API key: send it as Authorization: Bearer KEY "
               "or as X-API-Key: KEY")
WRONG_KEY = "the API key is not valid (unknown or revoked)"


def given_key(request: Request) -> str | None:
    """The key a request carries (Authorization: Bearer first, then X-API-Key), or None."""
    header = request.headers.get("authorization")
    if header is not None and header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("x-api-key")


def may_see_server_paths(request: Request) -> bool:
    """Whether an answer may name the server's files: a request with a valid key, or any
    request to a service that requires none (its operator chose so). A plain function,
    for routes that run in a thread: the check may read the database."""
    keys = current_service(request).keys
    if not keys.required():
        return True
    given = given_key(request)
    return given is not None and given != "" and keys.valid(given)


def require_key(request: Request) -> None:
    """401 unless the request carries a valid key, once any key is configured; a missing
    and a wrong key are told apart (RFC 6750's ``invalid_token`` for the wrong one). A
    plain function: FastAPI runs it in a thread, as the check may read the database."""
    keys = current_service(request).keys
    if not keys.required():
        return
    given = given_key(request)
    if not given:
        raise Problem(401, MISSING_KEY, problems.API_KEY, "An API key is required",
                      {"WWW-Authenticate": 'Bearer realm="treatment"'})
    if not keys.valid(given):
        raise Problem(401, WRONG_KEY, problems.API_KEY, "An API key is required",
                      {"WWW-Authenticate": 'Bearer realm="treatment", error="invalid_token"'})


ADMIN = [Depends(require_key)]  # reload, history, reproduce, outbox, moments (and decisions with --protect-decisions)
