"""The live plan: what is serving, and loading the plan directory again (``/v1/plan``);
how the replicas keep one plan is :mod:`..plan_sync`'s."""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse, Response

from .. import problems, schemas
from ..dependencies import ADMIN, ServiceDep, may_see_server_paths
from ..errors import answer
from ..openapi import operation, reload_refused
from .resource import ResourceRouter

router = ResourceRouter()


@router.get("/v1/plan", summary="The live plan: version, load time, counts, last reload error",
            **operation({200: (schemas.PlanInfo, "The live plan")}))
def plan_info(service: ServiceDep, request: Request) -> JSONResponse:
    plans = service.plans
    live = plans.current
    limits = None
    if live.engine.plan.contact_rules is not None:
        limits = ("applied from the decision log" if service.log is not None
                  else "not applied: this service keeps no decision log (start it with --db)")
    info: dict[str, Any] = {
        "plan_version": live.engine.version, "loaded_at": live.loaded_at.isoformat(),
        "counts": live.engine.plan.counts(), "reloads": plans.reloads, "last_reload_error": plans.last_error,
        "contact_limits": limits, **service.sync.status()}
    if service.arm_sizes is not None and (live.engine.plan.holdout is not None or any(
            rule.experiment is not None for rule in live.engine.plan.rules)):
        info["experiments"] = service.arm_sizes.view(live.engine.plan)
    if may_see_server_paths(request):  # the server's directory is not for anyone who asks
        info["root"] = str(plans.plan_dir)
    return JSONResponse(info)


@router.post("/v1/plan:reload", summary="Load the plan directory again; a broken plan is refused",
             dependencies=ADMIN, **operation(
                 {200: (schemas.Reloaded, "Loaded (or unchanged): the version now live")}, {422: None},
                 extra={**reload_refused(409, "A broken plan, or a reload held for dropping rules: not loaded"),
                        **reload_refused(503, "The plan could not be read: not loaded")}))
def reload(service: ServiceDep, force: bool = Query(False, description="Load even a plan that drops more "
                                                   "rules than the service's --max-rule-drop share.")) -> Response:
    done = service.sync.reload(force=force)  # stored and released to the other replicas when loaded
    if done.loaded:
        return JSONResponse({"reloaded": True, "plan_version": done.plan_version})
    held = done.outcome == "held"
    detail = (done.errors[0] if done.errors else "the plan was not loaded") if not held else (
        "the reload is held: it drops more rules than --max-rule-drop allows (force=true loads it)")
    return answer(503 if done.outcome == "failed" else 409, detail, problems.RELOAD_REFUSED,
                  "The plan was not reloaded", reloaded=False, plan_version=done.plan_version,
                  errors=done.errors or [], held=held)
