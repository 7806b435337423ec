"""The events routes: customer events in, and what their moments fired.

    POST /v1/events[?wait=SECONDS]   202 once stored (ids back); with wait, 200 and what fired
    GET  /v1/events/{id}             the stored event, processed yet, what it fired
    GET  /v1/moments                 the partitions: owners, leases, how far each is processed
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..compile import CompiledPlan
from .bodies import body_schema, json_body
from .metrics import Metrics
from .moments import EventIntake, MomentsUnavailable

EVENT_ID = re.compile(r"[0-9a-f-]{36}")
MAX_EVENTS = 10_000
MAX_WAIT = 60.0


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: dict[str, Any] | None = Field(default=None, description="One customer event.")
    events: list[Any] | None = Field(default=None, max_length=MAX_EVENTS,
                                     description=f"Up to {MAX_EVENTS:,} events; each is accepted or refused inline.")

    @model_validator(mode="after")
    def _one_shape(self) -> EventsRequest:
        if (self.event is None) == (self.events is None):
            raise ValueError("give either 'event' (one) or 'events' (a list)")
        return self


EventsBody = Annotated[EventsRequest, Depends(json_body(EventsRequest))]
NO_LOG = "moments need the database (start the service with --db): events are stored and correlated through it"


def events_router(intake: EventIntake | None, plan_of: Callable[[], CompiledPlan], metrics: Metrics,
                  deciding: Sequence[Any], admin: Sequence[Any]) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/events", dependencies=list(deciding), openapi_extra=body_schema(EventsRequest),
                 status_code=202, summary="Customer events: stored at once; their moments fire in the partition owners")
    async def post_events(body: EventsBody,
                          wait: float = Query(0, ge=0, le=MAX_WAIT, description=(
                              "Wait up to this many seconds for the events to be processed; then answer 200 "
                              "with the moments they completed (202 if the time ran out)."))) -> JSONResponse:
        if intake is None:
            return JSONResponse({"detail": NO_LOG}, status_code=409)
        if not plan_of().moments:
            return JSONResponse({"detail": "the live plan defines no moments (a 'moments:' list in rules/)"},
                                status_code=409)
        raws = [body.event] if body.event is not None else list(body.events or [])
        try:
            accepted = await intake.accept(raws)
        except MomentsUnavailable as error:
            return JSONResponse({"detail": f"events cannot be taken right now, send them again: {error}"},
                                status_code=503, headers={"Retry-After": "1"})
        metrics.events.labels("accepted").inc(len(accepted.stored))
        metrics.events.labels("refused").inc(len(accepted.refused))
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

    @router.get("/v1/events/{event_id}", dependencies=list(deciding),
                summary="A stored event: whether its partition's owner has processed it, and what it fired")
    async def get_event(event_id: str) -> JSONResponse:
        if intake is None:
            return JSONResponse({"detail": NO_LOG}, status_code=409)
        # Ids are UUIDs: anything else is not one of ours (and never reaches the database).
        found = await intake.lookup(event_id) if EVENT_ID.fullmatch(event_id) else None
        if found is None:
            return JSONResponse({"detail": f"no event {event_id!r}"}, status_code=404)
        return JSONResponse(found)

    @router.get("/v1/moments", dependencies=list(admin),
                summary="The moments' partitions: who owns each, its lease, how far it is processed")
    def partitions() -> JSONResponse:
        if intake is None:
            return JSONResponse({"detail": NO_LOG}, status_code=409)
        owner = intake.owner
        return JSONResponse({"owner": owner.id, "held": sorted(owner.held), "last_error": owner.last_error,
                             "lease_seconds": owner.leases.lease, "partitions": owner.store.status()})

    return router
