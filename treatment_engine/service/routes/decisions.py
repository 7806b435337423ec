"""Deciding: one profile, a batch, or one with the reasons (``/v1/decisions``, ``/v1/explain``).

With a decision log, each decision is committed before it is answered and each profile's
logged contacts count against the plan's caps and cooldown: under such a plan the group
committer reads the limits, decides and logs, per customer in turn (service/serialize.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ...contacts import NO_LIMITS, ContactState
from ...decision import DecisionError
from ...engine import Engine
from ...errors import ProfileError
from ...semantics import customer_id_of
from ...store import DecisionRepository
from .. import schemas
from ..batch import UNLOGGABLE, batch_of_results, decide_batch, unloggable
from ..bodies import json_body
from ..dependencies import current_service
from ..errors import profile_problem
from ..openapi import operation
from ..schemas import BatchRequest, DecideRequest
from ..serialize import Job, serialized
from ..state import Service
from .resource import ResourceRouter

router = ResourceRouter()


Body = TypeVar("Body", DecideRequest, BatchRequest)


@dataclass(frozen=True, slots=True)
class Deciding(Generic[Body]):
    """What a decision route works with, resolved in one dependency (FastAPI's cost is
    per dependency, and these routes are the hot ones): the body, read with orjson and
    validated by its model (see bodies.py); the service; the live engine, read once, so
    a reload never changes a decision in flight; the day (the body's as_of, else the
    engine's today); and the decision log's repository (None without a log)."""

    body: Body
    service: Service
    engine: Engine
    day: date
    log: DecisionRepository | None


def decision_dependency(model: type[Body]) -> Callable[[Request], Awaitable[Deciding[Body]]]:
    read = json_body(model)

    async def resolve(request: Request) -> Deciding[Body]:
        body = await read(request)
        service = current_service(request)
        engine = service.plans.current.engine
        return Deciding(body, service, engine, body.as_of or engine.today(), service.decisions)
    return resolve


Single = Annotated[Deciding[DecideRequest], Depends(decision_dependency(DecideRequest))]
Batch = Annotated[Deciding[BatchRequest], Depends(decision_dependency(BatchRequest))]


async def limits_of(deciding: Deciding[Any], profiles: list[Any]) -> dict[str, ContactState]:
    """What the logged contacts rule out for these customers under the plan's caps and
    cooldown (only customers held back by one are named).

    For explain, which logs nothing: read without the customers' locks (decisions that
    are logged read their limits under them, serialize.py)."""
    rules, log, day = deciding.engine.plan.contact_rules, deciding.log, deciding.day
    if rules is None or log is None:
        return {}
    ids = [cid for p in profiles if (cid := customer_id_of(p)) is not None]
    if not ids:
        return {}
    if log.local:  # an indexed read of a local file: cheaper than a thread hand-off
        return log.limits(ids, day, rules)
    return await run_in_threadpool(log.limits, ids, day, rules)


async def limits_for(deciding: Deciding[DecideRequest]) -> ContactState:
    profile = deciding.body.profile
    return (await limits_of(deciding, [profile])).get(customer_id_of(profile) or "", NO_LIMITS)


@router.post("/v1/decisions", summary="Decide one profile", **operation(
    {200: (schemas.Decision, "The decision (with its log id when the service keeps a log)")},
    {422: "The request is not valid, or the profile cannot be decided (customer_id and error)",
     503: None}, body=DecideRequest))
async def decide(deciding: Single) -> Response:
    engine, day, log, profile = deciding.engine, deciding.day, deciding.log, deciding.body.profile
    service, metrics = deciding.service, deciding.service.metrics
    if log is not None and (why := unloggable(customer_id_of(profile))) is not None:
        metrics.invalid.inc()
        raise ProfileError(why)
    if service.writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under a lock
        job = Job(engine, [profile], day)
        await service.writer.record(job)
        decided = batch_of_results(job.results, job.ids, job.profiles)
        metrics.tally(decided.tally)
        refused = job.results[0]
        if refused is None:  # an id the log cannot key
            return profile_problem(UNLOGGABLE, None)
        if type(refused) is DecisionError:
            return profile_problem(refused.error, refused.customer_id)
        return Response(decided.records, media_type="application/json")
    try:  # no log, or a plan without contact limits: nothing to read first
        decision = engine.decide(profile, day)  # microseconds: fine on the loop
    except ProfileError:
        metrics.invalid.inc()
        raise
    record = decision.to_record()
    if log is not None and service.writer is not None:  # answered only once committed, with others' decisions
        rows = log.row_maker(engine.plan).rows([(profile, decision)])
        await service.writer.record(rows)
        record["id"] = rows[0][0]
    metrics.tally({(decision.treatment, decision.rule): 1})
    return JSONResponse(record)


@router.post("/v1/decisions:batch", summary="Decide up to 10,000 profiles; errors inline", **operation(
    {200: (schemas.BatchResult, "A decision or an error per profile, in order")}, {503: None}, body=BatchRequest))
async def batch(deciding: Batch) -> Response:
    engine, day, log, profiles, service = (deciding.engine, deciding.day, deciding.log,
                                           deciding.body.profiles, deciding.service)
    if service.writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under locks
        job = Job(engine, profiles, day)
        await service.writer.record(job)
        decided = batch_of_results(job.results, job.ids, job.profiles)
    else:  # no log, or a plan without contact limits: nothing to read first
        decided = decide_batch(engine, profiles, day, {}, log.row_maker(engine.plan) if log is not None else None)
    if service.writer is not None and decided.rows:  # committed (in one transaction) before answering
        await service.writer.record(decided.rows)
    service.metrics.tally(decided.tally)
    return Response(decided.answer(engine.version), media_type="application/json")


@router.post("/v1/explain", summary="Decide one profile and say why", **operation(
    {200: (schemas.Explanation, "The decision and its trace")},
    {422: "The request is not valid, or the profile cannot be decided (customer_id and error)"}, body=DecideRequest))
async def explain(deciding: Single) -> JSONResponse:
    limits = await limits_for(deciding)
    return JSONResponse(deciding.engine.explain(deciding.body.profile, deciding.day, limits=limits).to_record())
