"""HTTP routes. Request bodies are pydantic models, so a request the service cannot take
gets a 4xx with the reason (FastAPI's 422 detail, or 413 for an oversized body)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ProfileError
from ..evaluate import customer_id_of
from .plans import PlanHolder

MAX_BATCH = 10_000
MAX_BODY_BYTES = 32 * 1024 * 1024


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: dict[str, Any] = Field(description="One customer profile (a JSON object).")
    as_of: date | None = Field(default=None, description="The decision day; today (UTC) if absent.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profiles: list[Any] = Field(max_length=MAX_BATCH, description=f"Up to {MAX_BATCH:,} profiles; "
                                "each is decided or answered with an inline error.")
    as_of: date | None = None


def create_app(plan_dir: Path, holder: PlanHolder | None = None) -> FastAPI:
    plans = holder or PlanHolder(plan_dir)
    app = FastAPI(title="Treatment decision service", version="0.1.0",
                  description="Decides how to treat each customer from the loaded treatment plan.")
    app.state.plans = plans

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB"},
                                status_code=413)
        return await call_next(request)

    @app.post("/v1/decisions", summary="Decide one profile")
    def decide(body: DecideRequest) -> JSONResponse:
        engine = plans.current.engine
        try:
            return JSONResponse(engine.decide(body.profile, body.as_of).to_record())
        except ProfileError as error:
            return JSONResponse({"customer_id": customer_id_of(body.profile), "error": error.message},
                                status_code=422)

    @app.post("/v1/decisions:batch", summary="Decide up to 10,000 profiles; errors inline")
    def decide_batch(body: BatchRequest) -> dict[str, Any]:
        engine = plans.current.engine
        return {"plan_version": engine.version,
                "decisions": [r.to_record() for r in engine.decide_many(body.profiles, body.as_of)]}

    @app.post("/v1/explain", summary="Decide one profile and say why")
    def explain(body: DecideRequest) -> JSONResponse:
        engine = plans.current.engine
        try:
            return JSONResponse(engine.explain(body.profile, body.as_of).to_record())
        except ProfileError as error:
            return JSONResponse({"customer_id": customer_id_of(body.profile), "error": error.message},
                                status_code=422)

    @app.get("/v1/plan", summary="The live plan: version, load time, counts, last reload error")
    def plan_info() -> dict[str, Any]:
        live = plans.current
        return {"plan_version": live.engine.version, "loaded_at": live.loaded_at.isoformat(),
                "root": str(plans.plan_dir), "counts": live.engine.plan.counts(),
                "reloads": plans.reloads, "last_reload_error": plans.last_error}

    @app.post("/v1/plan:reload", summary="Load the plan directory again; a broken plan is refused")
    def reload() -> JSONResponse:
        loaded, problems = plans.reload()
        version = plans.current.engine.version
        if loaded:
            return JSONResponse({"reloaded": True, "plan_version": version})
        return JSONResponse({"reloaded": False, "plan_version": version, "errors": problems},
                            status_code=409)

    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A plan is loaded and decisions can be served")
    def readyz() -> dict[str, str]:
        return {"status": "ready", "plan_version": plans.current.engine.version}

    return app
