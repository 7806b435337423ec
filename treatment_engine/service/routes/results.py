"""Results measured from the decision log and its stored events (docs/plan-format.md,
appendix I): ``treatment measure --decisions URL --db URL``, as a service call.

    GET /v1/results[?metric=&by=&as_of=]          every comparison of the live plan's metrics (a key)

Reading the log is the CLI's: every decision and every outcome event of the plan's types,
measured by DuckDB; so this is an analyst's call, behind an API key, not a hot path.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from ...measure.attribution import BY_DIMENSIONS
from ...measure.inputs import log_decision_reader, parse_instant, stored_events_file
from .. import schemas
from ..dependencies import ADMIN, KeptEvents, LiveEngine, kept
from ..errors import answer
from ..openapi import operation
from .resource import ResourceRouter

router = ResourceRouter()
PROBLEMS: dict[int, str | None] = {404: "No decision log", 409: "The live plan has no metrics",
                                   422: "An unknown metric or dimension, or a bad as_of"}


@router.get("/v1/results", dependencies=ADMIN, summary="Results: each experiment's arms compared on the plan's metrics",
            **operation({200: (schemas.Results, "Every comparison, as `treatment measure --format json` gives it")},
                        PROBLEMS))
def results(engine: LiveEngine, log: KeptEvents,
            metric: str | None = Query(None, description="Only this metric (default: every metric of the plan)."),
            by: str | None = Query(None, description="Split by segment, lifecycle_stage and/or value_tier, "
                                                     "comma-separated: the cell of each customer's first decision."),
            as_of: str | None = Query(None, description="Measure as of this time (ISO 8601 date or date-time); "
                                                        "windows not closed by then are left out. Default: now.")) -> Response:
    plan = engine.plan
    stored = kept(log)
    if not plan.metrics:
        return answer(409, "the live plan defines no metrics (a 'metrics:' list, appendix I)",
                      title="Results are not available")
    known = [m.id for m in plan.metrics]
    if metric is not None and metric not in known:
        return answer(422, f"no metric {metric!r} in the live plan (it has: {', '.join(known)})", title="Unknown metric")
    dimensions = tuple(part.strip() for part in (by or "").split(",") if part.strip())
    if unknown := [d for d in dimensions if d not in BY_DIMENSIONS]:
        return answer(422, f"by takes {', '.join(BY_DIMENSIONS)}; not {', '.join(unknown)}", title="Unknown dimension")
    instant = time.time() if as_of is None else parse_instant(as_of)
    if instant is None:
        return answer(422, f"as_of {as_of!r} is not an ISO 8601 date or date-time", title="Bad as_of")
    return JSONResponse({"as_of": as_of, "comparisons": _compared(plan, stored.engine, instant, dimensions, metric)})


def _compared(plan: Any, database: Any, instant: float, dimensions: tuple[str, ...],
              metric: str | None) -> list[dict[str, Any]]:
    from ...measure.duckdb_stats import measure_duckdb
    from ...measure.output import record
    from ...measure.results import compare

    events = stored_events_file(database, plan.event_types)
    try:
        measured = measure_duckdb(plan, log_decision_reader(database), events, instant, by=dimensions)
    finally:
        os.unlink(events)
    return [record(c) for c in compare(plan, measured) if metric is None or c.metric == metric]
