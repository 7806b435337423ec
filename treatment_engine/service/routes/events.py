"""Moments of truth: customer events in (``/v1/events``), fired moments out (``/v1/outbox``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..bodies import MAX_BATCH, body_schema, json_body
from ..dependencies import ADMIN, KeptEvents, LiveEngine, ServiceDep, kept
from .resource import ResourceRouter

router = ResourceRouter()


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


@router.post("/v1/events", summary="Customer events: the moments they complete are decided and logged",
             openapi_extra=body_schema(EventsRequest))
async def post_events(body: EventsBody, engine: LiveEngine, service: ServiceDep) -> JSONResponse:
    if not engine.plan.moments:
        raise HTTPException(status_code=409,
                            detail="the live plan defines no moments (a 'moments:' list in rules/)")
    raws = [body.event] if body.event is not None else list(body.events or [])
    fired, refused, accepted = await service.moments.ingest(raws)  # MomentsUnavailable: a 503
    metrics = service.metrics
    metrics.events.labels("accepted").inc(accepted)
    metrics.events.labels("refused").inc(len(refused))
    for item in fired:
        metrics.moments.labels(item.moment).inc()
    if body.event is not None and refused:
        return JSONResponse({"customer_id": refused[0].customer_id, "error": refused[0].error}, status_code=422)
    return JSONResponse({"accepted": accepted, "refused": [r.to_record() for r in refused],
                         "fired": [f.to_record() for f in fired]})


@router.get("/v1/outbox", summary="Fired moments and their decisions, oldest first, after an id",
            dependencies=ADMIN)
def outbox(log: KeptEvents,
           after: int = Query(0, ge=0, le=2**63 - 1, description="Items after this id (the last one you read)."),
           limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse({"items": kept(log).outbox(after, limit)})
