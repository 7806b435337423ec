"""For operators and orchestrators: health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import schemas
from ..dependencies import LiveEngine, ServiceDep
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
            **operation({200: (schemas.Ready, "Ready, and the live plan's version")}))
def readyz(engine: LiveEngine) -> dict[str, str]:
    return {"status": "ready", "plan_version": engine.version}
