"""HTTP routes. Request bodies are pydantic models, so a request the service cannot take
gets a 4xx with the reason (FastAPI's 422 detail, or 413 for an oversized body)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..contacts import NO_LIMITS, ContactState
from ..engine import Engine
from ..errors import ProfileError
from ..evaluate import customer_id_of
from ..replay import ReplayError, replay_decision
from ..serialize import Job, serialized
from ..store import DecisionLog
from .batch import INVALID, UNLOGGABLE, batch_of_results, decide_batch, unloggable
from .bodies import body_schema, json_body
from .group_commit import CommitFailed, GroupCommitter, LoopCommitter
from .keys import KeyChecker
from .metrics import Metrics
from .middleware import GuardAndMeasure
from .moments import MomentHub, MomentsUnavailable
from .plan_sync import DEFAULT_MAX_RULE_DROP, DEFAULT_POLL_SECONDS, PlanSync
from .plans import PlanHolder

KEYS_ENV = "TREATMENT_API_KEYS"


def api_keys_from_env() -> frozenset[str]:
    """Comma-separated keys in $TREATMENT_API_KEYS; none configured means none required."""
    return frozenset(k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip())

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


# Bodies read with orjson, validated by the models (see bodies.py).
SingleBody = Annotated[DecideRequest, Depends(json_body(DecideRequest))]
BatchBody = Annotated[BatchRequest, Depends(json_body(BatchRequest))]
EventsBody = Annotated[EventsRequest, Depends(json_body(EventsRequest))]


def create_app(plan_dir: Path, holder: PlanHolder | None = None, log: DecisionLog | None = None, *,
               api_keys: frozenset[str] = frozenset(), protect_decisions: bool = False,
               watch: bool = False, moment_clock: str = "wall", plan_poll: float = DEFAULT_POLL_SECONDS,
               max_rule_drop: float = DEFAULT_MAX_RULE_DROP) -> FastAPI:
    """The service over a plan directory.

    With ``log``, every acknowledged decision is committed to it before the response is
    sent, and every loaded plan version is kept. With ``api_keys`` (or keys created in the
    log's database), reload, replay and history need one (``Authorization: Bearer KEY`` or
    ``X-API-Key``), and so do the decision endpoints with ``protect_decisions``. With ``watch``, a change under the plan
    directory triggers a reload (a broken plan is refused, as with the endpoint). With a log,
    the replica serves the newest plan any replica released, polled every ``plan_poll``
    seconds (plan_sync.py); a reload dropping more than ``max_rule_drop`` of the rules is held.
    """
    plans = holder or PlanHolder(plan_dir)
    metrics = Metrics()
    writer: GroupCommitter | LoopCommitter | None = None
    if log is not None:
        writer = LoopCommitter(log) if log.local else GroupCommitter(log)
    sync = PlanSync(plans, log, poll_seconds=plan_poll, max_rule_drop=max_rule_drop,
                    counted=lambda outcome: metrics.reloads.labels(outcome).inc())
    sync.start()  # the directory's plan stored and released

    moments = MomentHub(lambda: plans.current.engine.plan, log, wall_clock=moment_clock == "wall")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads = ([threading.Thread(target=sync.run_watcher, args=(stop,), name="plan-watcher", daemon=True)]
                   if watch else [])
        if log is not None and plan_poll > 0:
            threads.append(threading.Thread(target=sync.run_poller, args=(stop,), name="plan-poller", daemon=True))
        for thread in threads:
            thread.start()
        clock = asyncio.create_task(_run_clock(moments)) if moment_clock == "wall" else None
        yield
        if clock is not None:
            clock.cancel()
        moments.close()
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
        if writer is not None:
            writer.close()
        if log is not None:
            log.close()

    app = FastAPI(title="Treatment decision service", version="0.1.0", lifespan=lifespan,
                  description="Decides how to treat each customer from the loaded treatment plan.")
    app.state.plans = plans

    keys = KeyChecker(api_keys, log)

    def require_key(request: Request) -> None:
        if not keys.required():
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not keys.valid(given):
            raise HTTPException(status_code=401, detail="an API key is required (Authorization: Bearer KEY)")

    admin = [Depends(require_key)]
    deciding = admin if protect_decisions else []

    def tally(counts: Mapping[tuple[str, str], int]) -> None:
        for (treatment, rule), times in counts.items():
            if (treatment, rule) == INVALID:
                metrics.invalid.inc(times)
            else:
                metrics.decisions.labels(treatment, rule).inc(times)

    app.add_middleware(GuardAndMeasure, metrics=metrics, max_body_bytes=MAX_BODY_BYTES)

    @app.exception_handler(CommitFailed)
    async def not_committed(_: Request, error: CommitFailed) -> JSONResponse:
        logging.getLogger("treatment.service").error("%s", error)
        return JSONResponse({"detail": f"{error}; nothing was acknowledged, send the request again"},
                            status_code=503, headers={"Retry-After": "1"})

    async def limits_of(engine: Engine, profiles: list[Any], day: date) -> dict[str, ContactState]:
        """What the logged contacts rule out for these customers under the plan's caps and
        cooldown (only customers held back by one are named).

        For explain, which logs nothing: read without the customers' locks (decisions that
        are logged read their limits under them, serialize.py)."""
        rules = engine.plan.contact_rules
        if rules is None or log is None:
            return {}
        ids = [cid for p in profiles if (cid := customer_id_of(p)) is not None]
        if not ids:
            return {}
        if log.local:  # an indexed read of a local file: cheaper than a thread hand-off
            return log.limits(ids, day, rules)
        return await run_in_threadpool(log.limits, ids, day, rules)

    async def limits_for(engine: Engine, profile: Any, day: date) -> ContactState:
        return (await limits_of(engine, [profile], day)).get(customer_id_of(profile) or "", NO_LIMITS)

    @app.post("/v1/decisions", summary="Decide one profile", dependencies=deciding,
              openapi_extra=body_schema(DecideRequest))
    async def decide(body: SingleBody) -> Response:
        engine = plans.current.engine
        day = body.as_of or engine.today()
        if log is not None and unloggable(customer_id_of(body.profile)):
            metrics.invalid.inc()
            return JSONResponse({"customer_id": None, "error": UNLOGGABLE}, status_code=422)
        if writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under a lock
            job = Job(engine.plan, [body.profile], day)
            await writer.record(job)
            decided = batch_of_results(job.results, job.ids)
            tally(decided.tally)
            return Response(decided.records, status_code=422 if INVALID in decided.tally else 200,
                            media_type="application/json")
        try:  # no log, or a plan without contact limits: nothing to read first
            decision = engine.decide(body.profile, day)  # microseconds: fine on the loop
            record = decision.to_record()
            if log is not None and writer is not None:  # answered only once committed, with others' decisions
                rows = log.row_maker(engine.plan).rows([(body.profile, decision)])
                await writer.record(rows)
                record["id"] = rows[0][0]
            tally({(decision.treatment, decision.rule): 1})
            return JSONResponse(record)
        except ProfileError as error:
            metrics.invalid.inc()
            return JSONResponse({"customer_id": customer_id_of(body.profile), "error": error.message},
                                status_code=422)

    @app.post("/v1/decisions:batch", summary="Decide up to 10,000 profiles; errors inline", dependencies=deciding,
              response_class=Response, openapi_extra=body_schema(BatchRequest))
    async def batch(body: BatchBody) -> Response:
        engine = plans.current.engine
        day = body.as_of or engine.today()
        if writer is not None and serialized(engine.plan, log):  # limits read, decided, logged under locks
            job = Job(engine.plan, body.profiles, day)
            await writer.record(job)
            decided = batch_of_results(job.results, job.ids)
        else:  # no log, or a plan without contact limits: nothing to read first
            decided = decide_batch(engine.plan, body.profiles, day, {},
                                   log.row_maker(engine.plan) if log is not None else None)
        if writer is not None and decided.rows:  # committed (in one transaction) before answering
            await writer.record(decided.rows)
        tally(decided.tally)
        return Response(decided.answer(engine.version), media_type="application/json")

    @app.post("/v1/explain", summary="Decide one profile and say why", dependencies=deciding,
              openapi_extra=body_schema(DecideRequest))
    async def explain(body: SingleBody) -> JSONResponse:
        engine = plans.current.engine
        day = body.as_of or engine.today()
        limits = await limits_for(engine, body.profile, day)
        try:
            return JSONResponse(engine.explain(body.profile, day, limits=limits).to_record())
        except ProfileError as error:
            return JSONResponse({"customer_id": customer_id_of(body.profile), "error": error.message},
                                status_code=422)

    @app.get("/v1/plan", summary="The live plan: version, load time, counts, last reload error")
    def plan_info() -> dict[str, Any]:
        live = plans.current
        limits = None
        if live.engine.plan.contact_rules is not None:
            limits = ("applied from the decision log" if log is not None
                      else "not applied: this service keeps no decision log (start it with --db)")
        return {"plan_version": live.engine.version, "loaded_at": live.loaded_at.isoformat(),
                "root": str(plans.plan_dir), "counts": live.engine.plan.counts(),
                "reloads": plans.reloads, "last_reload_error": plans.last_error,
                "contact_limits": limits, **sync.status()}

    @app.post("/v1/plan:reload", summary="Load the plan directory again; a broken plan is refused",
              dependencies=admin)
    def reload(force: bool = Query(False, description="Load even a plan that drops more rules than "
                                                      "the service's --max-rule-drop share.")) -> JSONResponse:
        done = sync.reload(force=force)
        if done.loaded:
            return JSONResponse({"reloaded": True, "plan_version": done.plan_version})
        return JSONResponse({"reloaded": False, "plan_version": done.plan_version, "errors": done.errors,
                             "held": done.outcome == "held"}, status_code=503 if done.outcome == "failed" else 409)

    @app.get("/v1/customers/{customer_id}/decisions", summary="A customer's logged decisions, newest first",
             dependencies=admin)
    def history(customer_id: str, limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
        if log is None:
            return JSONResponse({"detail": "this service keeps no decision log (start it with --db)"},
                                status_code=404)
        return JSONResponse({"customer_id": customer_id, "decisions": log.history(customer_id, limit)})

    @app.post("/v1/decisions/{decision_id}:replay", dependencies=admin,
              summary="Decide a logged decision again from its stored plan, inputs and history")
    def replay(decision_id: str) -> JSONResponse:
        if log is None:
            return JSONResponse({"detail": "this service keeps no decision log (start it with --db)"},
                                status_code=404)
        try:
            return JSONResponse(replay_decision(log, decision_id).to_record())
        except ReplayError as error:
            return JSONResponse({"detail": error.message}, status_code=404 if error.not_found else 409)

    @app.post("/v1/events", summary="Customer events: the moments they complete are decided and logged",
              dependencies=deciding, openapi_extra=body_schema(EventsRequest))
    async def post_events(body: EventsBody) -> JSONResponse:
        if not plans.current.engine.plan.moments:
            return JSONResponse({"detail": "the live plan defines no moments (a 'moments:' list in rules/)"},
                                status_code=409)
        raws = [body.event] if body.event is not None else list(body.events or [])
        try:
            fired, refused, accepted = await moments.ingest(raws)
        except MomentsUnavailable as error:
            return JSONResponse({"detail": f"events cannot be taken right now, send them again: {error}"},
                                status_code=503, headers={"Retry-After": "1"})
        metrics.events.labels("accepted").inc(accepted)
        metrics.events.labels("refused").inc(len(refused))
        for item in fired:
            metrics.moments.labels(item.moment).inc()
        if body.event is not None and refused:
            return JSONResponse({"customer_id": refused[0].customer_id, "error": refused[0].error}, status_code=422)
        return JSONResponse({"accepted": accepted, "refused": [r.to_record() for r in refused],
                             "fired": [f.to_record() for f in fired]})

    @app.get("/v1/outbox", summary="Fired moments and their decisions, oldest first, after an id",
             dependencies=admin)
    def outbox(after: int = Query(0, ge=0, le=2**63 - 1, description="Items after this id (the last one you read)."),
               limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
        if log is None:
            return JSONResponse({"detail": "this service keeps no decision log (start it with --db)"},
                                status_code=404)
        return JSONResponse({"items": log.outbox(after, limit)})

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A plan is loaded and decisions can be served")
    def readyz() -> dict[str, str]:
        return {"status": "ready", "plan_version": plans.current.engine.version}

    return app


async def _run_clock(moments: MomentHub, every: float = 1.0) -> None:
    """Time passes for absences even when no event comes: the wall clock moves the moments'."""
    while True:
        await asyncio.sleep(every)
        try:
            await moments.tick()
        except Exception:  # logged, and the next tick tries again; the service stays up
            logging.getLogger("treatment.moments").exception("the moments clock failed")

