"""For operators and orchestrators: health, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import problems, schemas
from ..dependencies import LiveEngine, ServiceDep
from ..errors import answer
from ..openapi import operation
from .resource import ResourceRouter

router = ResourceRouter()


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", summary="The process is up", **operation({200: (schemas.Health, "Up")}))
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="A plan is loaded and decisions can be served",
            **operation({200: (schemas.Ready, "Ready, and the live plan's version")},
                        {503: "The decision log's database does not answer (see .readiness)"}))
def readyz(engine: LiveEngine, service: ServiceDep) -> Any:
    problem = service.readiness.problem() if service.readiness is not None else None
    if problem is not None:  # a stalled or cut database: send the traffic to another replica
        return answer(503, problem, problems.TRY_AGAIN, "Not ready", {"Retry-After": "1"})
    return {"status": "ready", "plan_version": engine.version}


# Load balancers and uptime checks often probe with HEAD, and RFC 9110 has a server that
# takes GET take HEAD: the same answer without its body (the server drops it). Kept out of
# the OpenAPI document, which would otherwise list each probe twice.
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)
