"""Moments of truth: customer events in, what their moments fired out.

    POST /v1/events[?wait=SECONDS]   202 once stored (ids back); with wait, 200 and what fired
    GET  /v1/events/{id}             the stored event, processed yet, what it fired (a key)
    GET  /v1/moments                 the partitions: owners, leases, how far each is processed (a key)
    GET  /v1/outbox?after=ID         fired moments and their decisions, in order (a key)

Posting events is deciding (open unless the service runs with --protect-decisions, as the
decision endpoints); reading what was stored (an event, the outbox, the partitions) needs
an API key once any is configured, as a customer's decision history does.

Firing is asynchronous: any replica stores the events, the owner of each customer's
partition fires the moments (docs/design.md, "Replicas").
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import JSONResponse, Response

from .. import problems, schemas
from ..bodies import json_body
from ..dependencies import ADMIN, KeptEvents, LiveEngine, ServiceDep, kept
from ..errors import answer
from ..moments import EventIntake
from ..openapi import operation
from ..problems import Problem
from ..schemas import EventsRequest
from ..state import Service
from .resource import ResourceRouter

router = ResourceRouter()
EVENT_ID = re.compile(r"[0-9a-f-]{36}")  # a UUID: anything else is not one of ours
MAX_WAIT = 60.0
NO_EVENTS = ("the live plan reads no events: it defines no moments, metrics or journeys "
             "('moments:', 'metrics:' or 'journeys:' in rules/)")
NO_DATABASE = "moments need the database (start the service with --db): events are stored and correlated through it"


EventsBody = Annotated[EventsRequest, Depends(json_body(EventsRequest))]


def intake_of(service: Service) -> EventIntake:
    if service.intake is None:
        raise Problem(409, NO_DATABASE, problems.NO_MOMENTS, "Moments are not available")
    return service.intake


@router.post("/v1/events", status_code=202,
             summary="Customer events: stored at once; their moments fire in the partitions' owners",
             **operation({202: (schemas.EventResult, "Stored (each event accepted or refused inline)"),
                          200: (schemas.EventResult, "Stored and processed within ?wait: what they fired")},
                         {409: "No database (--db), or the live plan reads no events (no moments, metrics or journeys)",
                          422: "The request is not valid, or its one event was refused (customer_id and error)",
                          503: None}, body=EventsRequest))
async def post_events(body: EventsBody, engine: LiveEngine, service: ServiceDep,
                      wait: float = Query(0, ge=0, le=MAX_WAIT, description=(
                          "Wait up to this many seconds for the events to be processed; then answer 200 "
                          "with the moments they completed (202 if the time ran out)."))) -> Response:
    intake = intake_of(service)
    if not engine.plan.event_types:  # outcomes and journeys are measured from stored events too
        raise Problem(409, NO_EVENTS, problems.NO_MOMENTS, "Events are not taken")
    raws = [body.event] if body.event is not None else list(body.events or [])
    accepted = await intake.accept(raws)  # MomentsUnavailable: a 503
    service.metrics.events.labels("accepted").inc(len(accepted.stored))
    service.metrics.events.labels("refused").inc(len(accepted.refused))
    if body.event is not None and accepted.refused:
        refused = accepted.refused[0]
        return answer(422, refused.error, problems.INVALID_EVENT, "The event cannot be taken",
                      customer_id=refused.customer_id, error=refused.error)
    result: dict[str, Any] = {"accepted": len(accepted.stored), "event_ids": accepted.ids,
                              "refused": [r.to_record() for r in accepted.refused]}
    if wait > 0:
        result["processed"] = await intake.wait(accepted.stored, wait)
        if result["processed"]:
            result["fired"] = await intake.fired_by(accepted.stored)
            return JSONResponse(result, status_code=200)
    return JSONResponse(result, status_code=202)


@router.get("/v1/events/{event_id}", dependencies=ADMIN,
            summary="A stored event: whether its partition's owner has processed it, and what it fired",
            **operation({200: (schemas.StoredEvent, "The event")}, {404: "No such event", 409: "No database (--db)"}))
async def get_event(event_id: str, service: ServiceDep) -> Response:
    intake = intake_of(service)
    found = await intake.lookup(event_id) if EVENT_ID.fullmatch(event_id) else None
    if found is None:
        return answer(404, f"no event {event_id!r}", title="No such event")
    return JSONResponse(found)


@router.get("/v1/moments", dependencies=ADMIN,
            summary="The moments' partitions: who owns each, its lease, how far it is processed",
            **operation({200: (schemas.Partitions, "This replica's owner and every partition")},
                        {409: "No database (--db)"}))
def partitions(service: ServiceDep) -> JSONResponse:
    owner = intake_of(service).owner
    return JSONResponse({"owner": owner.id, "held": sorted(owner.held), "last_error": owner.last_error,
                         "lease_seconds": owner.leases.lease, "partitions": owner.store.status()})


@router.get("/v1/outbox", summary="Fired moments and their decisions, oldest first, after an id",
            dependencies=ADMIN, **operation({200: (schemas.Outbox, "Up to limit items after the given id")},
                                            {404: "No decision log", 422: None}))
def outbox(log: KeptEvents,
           after: int = Query(0, ge=0, le=2**63 - 1, description="Items after this id (the last one you read)."),
           limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse({"items": kept(log).outbox(after, limit)})
