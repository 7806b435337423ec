"""``treatment serve``: the HTTP decision service."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import PlanError
from .options import choose_plan, db_option, plan_option
from .support import announce, create_log, fail, open_log

if TYPE_CHECKING:
    from ..store import KeyRepository


@click.command()
@plan_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="The TCP port to listen on.")
@db_option("The decision log (any SQLAlchemy URL; also $TREATMENT_DB_URL). 'none' keeps no log.")
@click.option("--store-inputs", type=click.Choice(["fields", "none"]), default="fields", show_default=True,
              help="fields: keep the profile fields the plan reads (enough to reproduce a decision); none: keep none.")
@click.option("--max-stored-input", type=click.IntRange(min=1024), default=64 * 1024, show_default=True,
              metavar="CHARS", help="The most JSON a decision's kept profile fields may take in the log; "
                                    "larger ones keep only their size (and cannot be reproduced).")
@click.option("--watch/--no-watch", default=True, show_default=True,
              help="Reload when a plan file changes (a broken plan is refused and reported).")
@click.option("--protect-decisions", is_flag=True,
              help="Require an API key on the decision endpoints too, not only on reload and history.")
@click.option("--moment-clock", type=click.Choice(["wall", "events"]), default="wall", show_default=True,
              help="wall: time passes for moments' absence windows as it does outside; events: only "
                   "events' timestamps move the clock (as replay does).")
@click.option("--moment-lease", type=click.FloatRange(min=1.0), default=10.0, show_default=True, metavar="SECONDS",
              help="How long a replica's hold on its moments partitions lasts without a heartbeat: when a "
                   "replica dies, the others take its partitions over within about this long.")
@click.option("--plan-poll", type=click.FloatRange(0, 3600), default=2.0, show_default=True, metavar="SECONDS",
              help="How often to look for a plan another replica released (0: never); with a --db.")
@click.option("--max-rule-drop", type=click.FloatRange(0, 1), default=0.05, show_default=True, metavar="SHARE",
              help="Hold a reload that drops more than this share of the live plan's rules until it is "
                   "forced (POST /v1/plan:reload?force=true).")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="SECONDS",
              help="Answer 408 and close the connection when the next part of a request's body takes longer "
                   "(a client that stalls or trickles bytes to hold a connection).")
def serve(plan_dir: Path | None, host: str, port: int, db_url: str, store_inputs: str, max_stored_input: int,
          watch: bool,
          protect_decisions: bool, moment_clock: str, moment_lease: float, plan_poll: float,
          max_rule_drop: float, body_timeout: float) -> None:
    """Serve decisions over HTTP (FastAPI; OpenAPI at /openapi.json, docs at /docs, offline).

    \b
    POST /v1/decisions          {"profile": {...}, "as_of": "2026-11-01"}
    POST /v1/decisions:batch    {"profiles": [...]}   up to 10,000, errors inline
    POST /v1/explain            {"profile": {...}}    the decision and why
    GET  /v1/plan               live version, load time, counts, last reload error
    POST /v1/plan:reload        load the plan again; a broken plan never
                                replaces the live one
    GET  /v1/customers/{id}/decisions   the decision log, newest first
    POST /v1/decisions/{id}:reproduce   decide a logged decision again; does
                                        it reproduce?
    POST /v1/events[?wait=S]    {"event": {...}} or {"events": [...]}: stored,
                                202; moments fire in the partition owners
                                (?wait: 200 with what fired)
    GET  /v1/events/{id}        a stored event: processed yet, what it fired
    GET  /v1/moments            the moments' partitions: owners, leases, lag
    GET  /v1/outbox?after=ID    fired moments and their decisions, for
                                downstream services
    GET  /v1/results[?metric=&by=]      each experiment's arms compared, as
                                        `treatment measure` does
    GET  /v1/journeys[/{id}]    the journeys measured from the stored events
    GET  /v1/customers/{id}/journeys    one customer's runs, where each stands
    GET  /healthz, /readyz, /metrics (Prometheus)

    \b
    API keys, once any is set in $TREATMENT_API_KEYS (comma-separated) or
    created with `treatment keys create NAME --db URL` (stored hashed); sent as
    `Authorization: Bearer KEY` or `X-API-Key: KEY`:
      need a key   POST /v1/plan:reload, POST /v1/decisions/{id}:reproduce,
                   GET /v1/customers/{id}/decisions, GET /v1/events/{id},
                   GET /v1/outbox, GET /v1/moments, GET /v1/results,
                   GET /v1/journeys, GET /v1/journeys/{id},
                   GET /v1/customers/{id}/journeys
      open         /v1/decisions, :batch, /v1/explain, POST /v1/events (these
                   need a key too with --protect-decisions), GET /v1/plan (its
                   plan directory shown only with a key), /healthz, /readyz,
                   /metrics, /docs, /openapi.json
    Every refusal is RFC 9457 problem details (application/problem+json).

    A plan with policy.contact_caps or delight_cooldown_days counts each customer's
    contacts from the decision log (--db), one decision per customer at a time, so caps
    hold under concurrent requests and across replicas (docs/deploying.md).

    Replicas on one --db serve the newest plan any of them released (a start, a reload or
    a watched edit), each within --plan-poll seconds.

    \b
    Example:
      treatment serve --plan my-plan --port 8080
    """
    try:
        import uvicorn

        from ..service import create_app
    except ImportError:
        fail("the service needs its extra: pip install 'treatment-engine[service]'")
    from ..service.app import api_keys_from_env

    log = None if db_url == "none" else create_log(db_url, inputs=store_inputs, background_checkpoints=True,
                                                   max_input_chars=max_stored_input)
    env_keys = api_keys_from_env()
    if not env_keys and (log is None or not log.keys.api_keys()):
        click.echo("note: no API key is set (TREATMENT_API_KEYS or treatment keys create), "
                   "so reload, reproduce and history need none", err=True)
    choice = choose_plan(plan_dir)
    try:
        app = create_app(choice.path, log=log, api_keys=env_keys,
                         protect_decisions=protect_decisions, watch=watch, moment_clock=moment_clock,
                         moment_lease=moment_lease, plan_poll=plan_poll, max_rule_drop=max_rule_drop,
                         body_timeout=body_timeout)
    except PlanError:
        announce(choice, None)
        raise
    announce(choice, app.state.plans.current.engine.version)
    # Collections of the young generation every 700 allocations show up as the slowest
    # requests; everything loaded so far (plan, libraries) is long-lived: freeze it out of
    # the collector's scans and collect less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    _log_to_stderr()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    listening = config.bind_socket()  # bound before it is announced: the URL printed is the one that answers
    bound_port = listening.getsockname()[1]
    click.echo(f"listening on http://{f'[{host}]' if ':' in host else host}:{bound_port} "
               f"(API docs at /docs)", err=True)
    server = uvicorn.Server(config)
    server.run(sockets=[listening])
    if not server.started:
        sys.exit(3)  # uvicorn's own exit status for a service that did not start


def _log_to_stderr() -> None:
    """The service's own log on standard error: each plan reload and each refused one with
    its errors, replicas' releases, moments' owners. uvicorn's access log stays off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("treatment")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@click.command()
@click.argument("decision_id")
@db_option("The decision log the service wrote.")
def reproduce(decision_id: str, db_url: str) -> None:
    """Decide a logged decision again, from its stored plan version and inputs.

    Exit status 0 when it reproduces, 1 when it does not (or cannot be found).

    \b
    Example:
      treatment reproduce 6f0c2f2e-... --db sqlite:///treatment.db
    """
    from ..reproduce import ReproduceError, reproduce_decision

    log = open_log(db_url)
    try:
        result = reproduce_decision(log.decisions, decision_id)
    except ReproduceError as error:
        fail(error.message)
    finally:
        log.close()
    logged = result.logged
    click.echo(f"decision {decision_id} for {logged['customer_id']} (plan {logged['plan_version']}, "
               f"as of {logged['as_of']})")
    if not result.reproduces:
        for key, (was, now) in result.differences.items():
            click.echo(f"  {key}: logged {was!r}, now {now!r}")
        fail("does not reproduce")
    again = result.again
    click.echo(f"  reproduces: {again['treatment']} by rule '{again['rule']}' via {', '.join(again['channels']) or '-'}")


# The command's name before "replay" came to mean only feeding events through the
# moments (``treatment events replay``): still taken, hidden, and it says so.
replay_alias = click.Command("replay", callback=reproduce.callback, params=reproduce.params, hidden=True,
                             deprecated="use 'treatment reproduce'", help='''
    Decide a logged decision again: the old name of `treatment reproduce`.

    \b
    Example:
      treatment reproduce 6f0c2f2e-... --db sqlite:///treatment.db

    Kept so that scripts written before `treatment events replay` still run.
    ''')


@click.group()
def keys() -> None:
    """Manage the service's API keys, kept hashed in the decision log's database.

    A key is shown once, when it is created; only its SHA-256 digest is stored. The
    service accepts these keys and those in $TREATMENT_API_KEYS, and once any key
    has been created it requires one for reload, reproduce and history (revoking the
    last key leaves them closed).

    \b
    Examples:
      treatment keys create ops-team --db sqlite:///treatment.db
      treatment keys list
      treatment keys revoke ops-team
    """


_db_option = db_option("The service's database.")


@contextmanager
def _opened(db_url: str, *, create: bool = False) -> Iterator[KeyRepository]:
    """The keys of the log at ``db_url``: an existing log, unless ``create`` (``keys create``
    may run before the service first starts, so that it never runs without a key)."""
    log = create_log(db_url) if create else open_log(db_url)
    try:
        yield log.keys
    finally:
        log.close()


@keys.command("create")
@click.argument("name")
@_db_option
def create_key(name: str, db_url: str) -> None:
    """Create a key named NAME and print it (the only time it is shown).

    \b
    Example:
      treatment keys create ops-team --db sqlite:///treatment.db
    """
    with _opened(db_url, create=True) as stored_keys:
        try:
            key = stored_keys.create_key(name)
        except ValueError as error:
            fail(str(error))
    click.echo(key)
    click.echo(f"created API key {name!r}; store it now, it cannot be shown again", err=True)


@keys.command("list")
@_db_option
def list_keys(db_url: str) -> None:
    """List key names, when each was created, and whether it is revoked.

    \b
    Example:
      treatment keys list --db sqlite:///treatment.db
    """
    with _opened(db_url) as stored_keys:
        stored = stored_keys.api_keys()
    if not stored:
        click.echo("no API keys in this database")
    for key in stored:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(f"{key.name}\tcreated {key.created_at:%Y-%m-%d %H:%M}\t{state}")


@keys.command("revoke")
@click.argument("name")
@_db_option
def revoke_key(name: str, db_url: str) -> None:
    """Revoke the key named NAME (the service stops taking it within 10 seconds).

    \b
    Example:
      treatment keys revoke ops-team --db sqlite:///treatment.db
    """
    with _opened(db_url) as stored_keys:
        revoked = stored_keys.revoke_key(name)
    if not revoked:
        fail(f"no active API key named {name!r}")
    click.echo(f"revoked API key {name!r}")
