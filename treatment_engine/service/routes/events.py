"""Moments of truth: customer events in, what their moments fired out.

    POST /v1/events[?wait=SECONDS]   202 once stored (ids back); with wait, 200 and what fired
    GET  /v1/events/{id}             the stored event, processed yet, what it fired
    GET  /v1/moments                 the partitions: owners, leases, how far each is processed
    GET  /v1/outbox?after=ID         fired moments and their decisions, in order

Firing is asynchronous: any replica stores the events, the owner of each customer's
partition fires the moments (docs/design.md, "Replicas").
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..bodies import MAX_BATCH, body_schema, json_body
from ..dependencies import ADMIN, KeptEvents, LiveEngine, ServiceDep, kept
from ..moments import EventIntake
from ..state import Service
from .resource import ResourceRouter

router = ResourceRouter()
EVENT_ID = re.compile(r"[0-9a-f-]{36}")  # a UUID: anything else is not one of ours
MAX_WAIT = 60.0
NO_DATABASE = "moments need the database (start the service with --db): events are stored and correlated through it"


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | None = Field(default=None, description="One customer event.")
    events: list[Any] | None = Field(default=None, max_length=MAX_BATCH,
                                     description=f"Up to {MAX_BATCH:,} events; each is accepted or refused inline.")

    @model_validator(mode="after")
    def _one_shape(self) -> EventsRequest:
        if (self.event is None) == (self.events is None):
            raise ValueError("give either 'event' (one) or 'events' (a list)")
        return self


EventsBody = Annotated[EventsRequest, Depends(json_body(EventsRequest))]


def intake_of(service: Service) -> EventIntake:
    if service.intake is None:
        raise HTTPException(status_code=409, detail=NO_DATABASE)
    return service.intake


@router.post("/v1/events", status_code=202, openapi_extra=body_schema(EventsRequest),
             summary="Customer events: stored at once; their moments fire in the partitions' owners")
async def post_events(body: EventsBody, engine: LiveEngine, service: ServiceDep,
                      wait: float = Query(0, ge=0, le=MAX_WAIT, description=(
                          "Wait up to this many seconds for the events to be processed; then answer 200 "
                          "with the moments they completed (202 if the time ran out)."))) -> JSONResponse:
    intake = intake_of(service)
    if not engine.plan.moments:
        raise HTTPException(status_code=409,
                            detail="the live plan defines no moments (a 'moments:' list in rules/)")
    raws = [body.event] if body.event is not None else list(body.events or [])
    accepted = await intake.accept(raws)  # MomentsUnavailable: a 503
    service.metrics.events.labels("accepted").inc(len(accepted.stored))
    service.metrics.events.labels("refused").inc(len(accepted.refused))
    if body.event is not None and accepted.refused:
        refused = accepted.refused[0]
        return JSONResponse({"customer_id": refused.customer_id, "error": refused.error}, status_code=422)
    answer: dict[str, Any] = {"accepted": len(accepted.stored), "event_ids": accepted.ids,
                              "refused": [r.to_record() for r in accepted.refused]}
    if wait > 0:
        answer["processed"] = await intake.wait(accepted.stored, wait)
        if answer["processed"]:
            answer["fired"] = await intake.fired_by(accepted.stored)
            return JSONResponse(answer, status_code=200)
    return JSONResponse(answer, status_code=202)


@router.get("/v1/events/{event_id}",
            summary="A stored event: whether its partition's owner has processed it, and what it fired")
async def get_event(event_id: str, service: ServiceDep) -> JSONResponse:
    intake = intake_of(service)
    found = await intake.lookup(event_id) if EVENT_ID.fullmatch(event_id) else None
    if found is None:
        return JSONResponse({"detail": f"no event {event_id!r}"}, status_code=404)
    return JSONResponse(found)


@router.get("/v1/moments", dependencies=ADMIN,
            summary="The moments' partitions: who owns each, its lease, how far it is processed")
def partitions(service: ServiceDep) -> JSONResponse:
    owner = intake_of(service).owner
    return JSONResponse({"owner": owner.id, "held": sorted(owner.held), "last_error": owner.last_error,
                         "lease_seconds": owner.leases.lease, "partitions": owner.store.status()})


@router.get("/v1/outbox", summary="Fired moments and their decisions, oldest first, after an id",
            dependencies=ADMIN)
def outbox(log: KeptEvents,
           after: int = Query(0, ge=0, le=2**63 - 1, description="Items after this id (the last one you read)."),
           limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse({"items": kept(log).outbox(after, limit)})
