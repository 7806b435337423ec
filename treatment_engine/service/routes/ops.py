"""For operators and orchestrators: health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..dependencies import LiveEngine, ServiceDep
from .resource import ResourceRouter

router = ResourceRouter()


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def prometheus(service: ServiceDep) -> Response:
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="A plan is loaded and decisions can be served")
def readyz(engine: LiveEngine) -> dict[str, str]:
    return {"status": "ready", "plan_version": engine.version}
