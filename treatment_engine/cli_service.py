"""``treatment serve``: the HTTP decision service."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_support import default_plan_dir, fail, plan_option


@click.command()
@plan_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--db", "db_url", envvar="TREATMENT_DB_URL", default="sqlite:///treatment.db", show_default=True,
              metavar="URL", help="The decision log (any SQLAlchemy URL; also $TREATMENT_DB_URL). "
                                  "'none' keeps no log.")
@click.option("--store-inputs", type=click.Choice(["fields", "none"]), default="fields", show_default=True,
              help="fields: keep the profile fields the plan reads (enough to replay); none: keep none.")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Reload when a plan file changes (a broken plan is refused and reported).")
@click.option("--protect-decisions", is_flag=True,
              help="Require an API key on the decision endpoints too, not only on reload and history.")
def serve(plan_dir: Path | None, host: str, port: int, db_url: str, store_inputs: str, watch: bool,
          protect_decisions: bool) -> None:
    """Serve decisions over HTTP (FastAPI; OpenAPI docs at /docs).

    \b
    POST /v1/decisions          {"profile": {...}, "as_of": "2026-11-01"}
    POST /v1/decisions:batch    {"profiles": [...]}   up to 10,000, errors inline
    POST /v1/explain            {"profile": {...}}    the decision and why
    GET  /v1/plan               live version, load time, counts, last reload error
    POST /v1/plan:reload        load the plan again; a broken plan never replaces the live one
    GET  /v1/customers/{id}/decisions   the decision log, newest first
    GET  /healthz, /readyz, /metrics (Prometheus)

    Reload, history (and, with --protect-decisions, the decision endpoints) need an
    API key from $TREATMENT_API_KEYS (comma-separated) when any is set.

    \b
    Example:
      treatment serve --plan my-plan --port 8080
    """
    try:
        import uvicorn

        from .service import create_app
    except ImportError:
        fail("the service needs its extra: pip install 'treatment-engine[service]'")
    from .service.app import api_keys_from_env
    from .store import DecisionLog

    log = None if db_url == "none" else DecisionLog(db_url, inputs=store_inputs)  # type: ignore[arg-type]
    keys = api_keys_from_env()
    if not keys:
        click.echo("note: no TREATMENT_API_KEYS set, so reload and history need no key", err=True)
    app = create_app(plan_dir or default_plan_dir(), log=log, api_keys=keys,
                     protect_decisions=protect_decisions, watch=watch)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@click.command()
@click.argument("decision_id")
@click.option("--db", "db_url", envvar="TREATMENT_DB_URL", default="sqlite:///treatment.db", show_default=True,
              metavar="URL", help="The decision log the service wrote.")
def replay(decision_id: str, db_url: str) -> None:
    """Decide a logged decision again, from its stored plan version and inputs.

    Exit status 0 when it reproduces, 1 when it does not (or cannot be found).

    \b
    Example:
      treatment replay 6f0c2f2e-... --db sqlite:///treatment.db
    """
    import json

    from .engine import Engine
    from .store import DecisionLog, row_record, unflatten

    log = DecisionLog(db_url)
    row = log.decision(decision_id)
    files = log.plan_files(row.plan_version) if row is not None else None
    log.close()
    if row is None:
        fail(f"no decision {decision_id!r} in {db_url}")
    if files is None:
        fail(f"plan version {row.plan_version} is not stored in {db_url}")
    if row.inputs is None:
        fail("this decision was logged without inputs (--store-inputs none), so it cannot be replayed")
    profile = {**unflatten(json.loads(row.inputs)), "customer_id": row.customer_id}
    again = Engine.from_texts(files).decide(profile, row.as_of).to_record()
    logged = row_record(row)
    keys = ("rule", "treatment", "actions", "channels", "cost", "plan_version")
    differences = {k: (logged[k], again[k]) for k in keys if logged[k] != again[k]}
    click.echo(f"decision {decision_id} for {row.customer_id} (plan {row.plan_version}, as of {row.as_of})")
    if differences:
        for key, (was, now) in differences.items():
            click.echo(f"  {key}: logged {was!r}, replayed {now!r}")
        fail("does not reproduce")
    click.echo(f"  reproduces: {again['treatment']} by rule '{again['rule']}' via {', '.join(again['channels']) or '-'}")
