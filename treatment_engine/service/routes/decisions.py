"""Deciding: one profile, a batch, or one with the reasons (``/v1/decisions``, ``/v1/explain``).

With a decision log, each decision is committed before it is answered and each profile's
logged contacts count against the plan's caps and cooldown: under such a plan the group
committer reads the limits, decides and logs, per customer in turn (serialize.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ...contacts import NO_LIMITS, ContactState
from ...engine import Engine
from ...errors import ProfileError
from ...semantics import customer_id_of
from ...serialize import Job, serialized
from ...store import DecisionRepository
from ..batch import INVALID, UNLOGGABLE, batch_of_results, decide_batch, unloggable
from ..bodies import MAX_BATCH, body_schema, json_body
from ..dependencies import KeptDecisions, LiveEngine, ServiceDep

router = APIRouter()


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: dict[str, Any] = Field(description="One customer profile (a JSON object).")
    as_of: date | None = Field(default=None, description="The decision day; today (UTC) if absent.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: list[Any] = Field(max_length=MAX_BATCH, description=f"Up to {MAX_BATCH:,} profiles; "
                                "each is decided or answered with an inline error.")
    as_of: date | None = None


# Bodies read with orjson, validated by the models (see bodies.py).
SingleBody = Annotated[DecideRequest, Depends(json_body(DecideRequest))]
BatchBody = Annotated[BatchRequest, Depends(json_body(BatchRequest))]


async def single_day(body: SingleBody, engine: LiveEngine) -> date:
    return body.as_of or engine.today()


async def batch_day(body: BatchBody, engine: LiveEngine) -> date:
    return body.as_of or engine.today()


SingleDay = Annotated[date, Depends(single_day)]  # the request's as_of, else the engine's today
BatchDay = Annotated[date, Depends(batch_day)]


async def limits_of(log: DecisionRepository | None, engine: Engine, profiles: list[Any],
                    day: date) -> dict[str, ContactState]:
    """What the logged contacts rule out for these customers under the plan's caps and
    cooldown (only customers held back by one are named).

    For explain, which logs nothing: read without the customers' locks (decisions that
    are logged read their limits under them, serialize.py)."""
    rules = engine.plan.contact_rules
    if rules is None or log is None:
        return {}
    ids = [cid for p in profiles if (cid := customer_id_of(p)) is not None]
    if not ids:
        return {}
    if log.local:  # an indexed read of a local file: cheaper than a thread hand-off
        return log.limits(ids, day, rules)
    return await run_in_threadpool(log.limits, ids, day, rules)


async def limits_for(log: DecisionRepository | None, engine: Engine, profile: Any, day: date) -> ContactState:
    return (await limits_of(log, engine, [profile], day)).get(customer_id_of(profile) or "", NO_LIMITS)


@router.post("/v1/decisions", summary="Decide one profile", openapi_extra=body_schema(DecideRequest))
async def decide(body: SingleBody, engine: LiveEngine, day: SingleDay, log: KeptDecisions,
                 service: ServiceDep) -> Response:
    if log is not None and unloggable(customer_id_of(body.profile)):
        service.metrics.invalid.inc()
        raise ProfileError(UNLOGGABLE)
    if service.writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under a lock
        job = Job(engine, [body.profile], day)
        await service.writer.record(job)
        decided = batch_of_results(job.results, job.ids)
        service.metrics.tally(decided.tally)
        return Response(decided.records, status_code=422 if INVALID in decided.tally else 200,
                        media_type="application/json")
    try:  # no log, or a plan without contact limits: nothing to read first
        decision = engine.decide(body.profile, day)  # microseconds: fine on the loop
    except ProfileError:
        service.metrics.invalid.inc()
        raise
    record = decision.to_record()
    if log is not None and service.writer is not None:  # answered only once committed, with others' decisions
        rows = log.row_maker(engine.plan).rows([(body.profile, decision)])
        await service.writer.record(rows)
        record["id"] = rows[0][0]
    service.metrics.tally({(decision.treatment, decision.rule): 1})
    return JSONResponse(record)


@router.post("/v1/decisions:batch", summary="Decide up to 10,000 profiles; errors inline",
             response_class=Response, openapi_extra=body_schema(BatchRequest))
async def batch(body: BatchBody, engine: LiveEngine, day: BatchDay, log: KeptDecisions,
                service: ServiceDep) -> Response:
    if service.writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under locks
        job = Job(engine, body.profiles, day)
        await service.writer.record(job)
        decided = batch_of_results(job.results, job.ids)
    else:  # no log, or a plan without contact limits: nothing to read first
        decided = decide_batch(engine, body.profiles, day, {}, log.row_maker(engine.plan) if log is not None else None)
    if service.writer is not None and decided.rows:  # committed (in one transaction) before answering
        await service.writer.record(decided.rows)
    service.metrics.tally(decided.tally)
    return Response(decided.answer(engine.version), media_type="application/json")


@router.post("/v1/explain", summary="Decide one profile and say why", openapi_extra=body_schema(DecideRequest))
async def explain(body: SingleBody, engine: LiveEngine, day: SingleDay, log: KeptDecisions) -> JSONResponse:
    limits = await limits_for(log, engine, body.profile, day)
    return JSONResponse(engine.explain(body.profile, day, limits=limits).to_record())
