"""Customer journeys measured from the stored events (docs/plan-format.md, appendix J).

    GET /v1/journeys[?as_of=]                     every journey of the live plan (a key)
    GET /v1/journeys/{id}[?as_of=]                one journey (a key)
    GET /v1/customers/{id}/journeys[?as_of=]      one customer's runs and where each stands (a key)

The figures are `treatment journeys --db`'s: the same runs (DuckDB for all customers, the
reference for one) and the same report. ``as_of`` defaults to the latest stored event a
journey reads (the time of the request when none is stored).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from ...journeys.compiled import CompiledJourney
from ...journeys.reference import Run, runs
from ...journeys.source import JourneyEvents, from_store, measure_stored
from ...moments.events import iso, parse_timestamp
from .. import schemas
from ..dependencies import ADMIN, KeptEvents, LiveEngine, kept
from ..errors import answer
from ..openapi import operation
from .resource import ResourceRouter

router = ResourceRouter()
NO_JOURNEYS = "the live plan defines no journeys (a 'journeys:' list in rules/)"
AS_OF = Query(None, description="Measure as of this time (ISO 8601 date or date-time): later events are left "
                                "out, windows still open are in progress. Default: the latest stored event "
                                "a journey reads (the time of the request when none is stored).")
PROBLEMS: dict[int, str | None] = {404: "No decision log, or no such journey", 409: "The live plan has no journeys",
                                   422: "as_of is not an ISO 8601 date or date-time"}


def _parsed(engine: Any, as_of_text: str | None) -> tuple[tuple[CompiledJourney, ...], float | None] | Response:
    """The live plan's journeys and the asked as-of (None: the default), or the problem."""
    journeys = engine.plan.journeys
    if not journeys:
        return answer(409, NO_JOURNEYS, title="Journeys are not available")
    as_of = None
    if as_of_text is not None:
        as_of = parse_timestamp(as_of_text)
        if as_of is None:
            return answer(422, f"as_of {as_of_text!r} is not an ISO 8601 date or date-time", title="Bad as_of")
    return journeys, as_of


def _found(journeys: tuple[CompiledJourney, ...], log: Any, as_of: float | None,
           customer_id: str | None = None) -> JourneyEvents:
    """The stored events (of one customer, if given) read into Python, for the reference's runs."""
    found = from_store(journeys, kept(log).engine, as_of, customer_id)
    if _nothing_stored(as_of, found) and not found.as_of:  # (not even another customer's)
        found.as_of = time.time()
    return found


def _nothing_stored(as_of: float | None, found: JourneyEvents) -> bool:
    """The default as-of with no stored event a journey reads: measured as of the request,
    not as of no event's time (which said 1970-01-01)."""
    return as_of is None and not found.read


def _report(journey: CompiledJourney, found: JourneyEvents) -> dict[str, Any]:
    # Imported here, like duckdb_runs: the summary's numpy costs every `treatment serve`
    # start about 0.4 s of CPU, and most services never answer a journeys request.
    from ...journeys.sql import duckdb_runs
    from ...journeys.summary import summarize

    made = duckdb_runs(journey, found.by_journey[journey.id], found.as_of)
    return dataclasses.asdict(summarize(journey, made, found.as_of))


def _reports(engine: Any, log: Any, as_of_text: str | None) -> tuple[float, dict[str, dict[str, Any]]] | Response:
    """Every journey's report and the as-of it was made at. Measured by DuckDB from the
    stored events written out as a file (``measure_stored``: memory does not grow with the
    store), else from the events read into Python (a store whose events DuckDB's reader
    would read otherwise)."""
    parsed = _parsed(engine, as_of_text)
    if isinstance(parsed, Response):
        return parsed
    journeys, as_of = parsed
    database = kept(log).engine
    measured = measure_stored(journeys, database, as_of)
    if measured is not None and _nothing_stored(as_of, measured.events):  # an empty file: cheap to measure again
        measured = measure_stored(journeys, database, time.time())
    if measured is not None:
        return measured.events.as_of, {report.id: dataclasses.asdict(report) for report in measured.reports}
    found = _found(journeys, log, as_of)
    return found.as_of, {journey.id: _report(journey, found) for journey in journeys}


@router.get("/v1/journeys", dependencies=ADMIN, summary="Every journey of the live plan, measured from the stored events",
            **operation({200: (schemas.Journeys, "Per journey: runs, funnel, times, touchpoints, the watermelon flag")},
                        PROBLEMS))
def all_journeys(engine: LiveEngine, log: KeptEvents, as_of: str | None = AS_OF) -> Response:
    reported = _reports(engine, log, as_of)
    if isinstance(reported, Response):
        return reported
    moment, reports = reported
    return JSONResponse({"as_of": iso(moment), "journeys": list(reports.values())})


@router.get("/v1/journeys/{journey_id}", dependencies=ADMIN, summary="One journey, measured from the stored events",
            **operation({200: (schemas.OneJourney, "Its runs, funnel, times, touchpoints and the watermelon flag")},
                        PROBLEMS))
def one_journey(journey_id: str, engine: LiveEngine, log: KeptEvents, as_of: str | None = AS_OF) -> Response:
    journeys = engine.plan.journeys
    if journeys and journey_id not in {j.id for j in journeys}:
        return answer(404, f"no journey {journey_id!r} in the live plan (it has: {', '.join(j.id for j in journeys)})",
                      title="No such journey")
    reported = _reports(engine, log, as_of)
    if isinstance(reported, Response):
        return reported
    moment, reports = reported
    return JSONResponse({"as_of": iso(moment), "journey": reports[journey_id]})


@router.get("/v1/customers/{customer_id:path}/journeys", dependencies=ADMIN,
            summary="One customer's journey runs and where each stands",
            **operation({200: (schemas.CustomerJourneys, "Every run, oldest first per journey")}, PROBLEMS))
def customer_journeys(customer_id: str, engine: LiveEngine, log: KeptEvents, as_of: str | None = AS_OF) -> Response:
    parsed = _parsed(engine, as_of)
    if isinstance(parsed, Response):
        return parsed
    journeys, moment = parsed
    found = _found(journeys, log, moment, customer_id)
    shown = [_stands(j, run) for j in journeys for run in runs(j, found.by_journey[j.id], found.as_of)]
    return JSONResponse({"customer_id": customer_id, "as_of": iso(found.as_of), "runs": shown})


def _stands(journey: CompiledJourney, run: Run) -> dict[str, Any]:
    ahead = journey.candidates(run.position) if run.status == "in_progress" else ()
    return {"journey": journey.id, "run": run.number, "status": run.status, "success": run.success,
            "at": journey.steps[run.position].name, "next": [journey.steps[i].name for i in ahead],
            "steps": [{"step": step.name, "reached_at": iso(t) if t is not None else None}
                      for step, t in zip(journey.steps, run.reached, strict=True)]}
