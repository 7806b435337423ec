"""The live plan: what is serving, and loading the plan directory again (``/v1/plan``);
how the replicas keep one plan is :mod:`..plan_sync`'s."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from ..dependencies import ADMIN, ServiceDep

router = APIRouter()


@router.get("/v1/plan", summary="The live plan: version, load time, counts, last reload error")
def plan_info(service: ServiceDep) -> dict[str, Any]:
    plans = service.plans
    live = plans.current
    limits = None
    if live.engine.plan.contact_rules is not None:
        limits = ("applied from the decision log" if service.log is not None
                  else "not applied: this service keeps no decision log (start it with --db)")
    return {"plan_version": live.engine.version, "loaded_at": live.loaded_at.isoformat(),
            "root": str(plans.plan_dir), "counts": live.engine.plan.counts(),
            "reloads": plans.reloads, "last_reload_error": plans.last_error,
            "contact_limits": limits, **service.sync.status()}


@router.post("/v1/plan:reload", summary="Load the plan directory again; a broken plan is refused",
             dependencies=ADMIN)
def reload(service: ServiceDep, force: bool = Query(False, description="Load even a plan that drops more "
                                                   "rules than the service's --max-rule-drop share.")) -> JSONResponse:
    done = service.sync.reload(force=force)  # stored and released to the other replicas when loaded
    if done.loaded:
        return JSONResponse({"reloaded": True, "plan_version": done.plan_version})
    return JSONResponse({"reloaded": False, "plan_version": done.plan_version, "errors": done.errors,
                         "held": done.outcome == "held"}, status_code=503 if done.outcome == "failed" else 409)
