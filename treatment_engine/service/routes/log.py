"""The decision log: a customer's decisions, and a logged decision decided again.

Both need an API key once any is configured (create_app adds them with the check)."""

from __future__ import annotations

from fastapi import Query
from fastapi.responses import JSONResponse

from ...reproduce import reproduce_decision
from .. import schemas
from ..dependencies import KeptDecisions, kept
from ..openapi import operation
from .resource import ResourceRouter

router = ResourceRouter()


@router.get("/v1/customers/{customer_id:path}/decisions", summary="A customer's logged decisions, newest first",
            **operation({200: (schemas.History, "Up to limit decisions")}, {404: "No decision log", 422: None}))
def history(customer_id: str, log: KeptDecisions, limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse({"customer_id": customer_id, "decisions": kept(log).history(customer_id, limit)})


@router.post("/v1/decisions/{decision_id}:reproduce",
             summary="Decide a logged decision again from its stored plan, inputs and history",
             **operation({200: (schemas.Reproduction, "Decided again: does it reproduce?")},
                         {404: "No such decision, or no decision log", 409: "Its plan or inputs are not stored"}))
def reproduce(decision_id: str, log: KeptDecisions) -> JSONResponse:
    return JSONResponse(reproduce_decision(kept(log), decision_id).to_record())


@router.post("/v1/decisions/{decision_id}:replay", deprecated=True,
             summary="Deprecated name of :reproduce (the same call)",
             **operation({200: (schemas.Reproduction, "Decided again: does it reproduce?")},
                         {404: "No such decision, or no decision log", 409: "Its plan or inputs are not stored"}))
def replay(decision_id: str, log: KeptDecisions) -> JSONResponse:
    return reproduce(decision_id, log)
