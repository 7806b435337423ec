"""``treatment serve``: the HTTP decision service."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_support import default_plan_dir, fail, plan_option


@click.command()
@plan_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def serve(plan_dir: Path | None, host: str, port: int) -> None:
    """Serve decisions over HTTP (FastAPI; OpenAPI docs at /docs).

    \b
    POST /v1/decisions          {"profile": {...}, "as_of": "2026-11-01"}
    POST /v1/decisions:batch    {"profiles": [...]}   up to 10,000, errors inline
    POST /v1/explain            {"profile": {...}}    the decision and why
    GET  /v1/plan               live version, load time, counts, last reload error
    POST /v1/plan:reload        load the plan again; a broken plan never replaces the live one
    GET  /healthz, /readyz

    \b
    Example:
      treatment serve --plan my-plan --port 8080
    """
    try:
        import uvicorn

        from .service import create_app
    except ImportError:
        fail("the service needs its extra: pip install 'treatment-engine[service]'")
    uvicorn.run(create_app(plan_dir or default_plan_dir()), host=host, port=port, log_level="warning")
