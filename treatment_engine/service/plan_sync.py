"""One plan across replicas: reloads that are published, polled, guarded and never silent.

**Releases.** When a replica puts a plan version live from its directory (at start-up,
on ``POST /v1/plan:reload``, or when its watcher sees a change), it stores the version's
files and appends a row to ``plan_releases`` in one transaction. Every replica polls the
newest release every ``poll_seconds`` and, when it names another version, loads that
version's stored files: replicas converge on the newest release within one poll
interval plus a plan compile. A version is stored before it serves a decision, so every
logged decision's plan can be decided again.

**Guarded reloads.** The watcher reads the plan files until two reads ``SETTLE_SECONDS``
apart agree (an editor that truncates a file and then writes it shows an empty file
in between), and a reload that would drop more than ``max_rule_drop`` of the live plan's
rules is held, with a warning in ``GET /v1/plan``, until it is forced
(``POST /v1/plan:reload?force=true``) or the files change again.

**Only plan changes reload.** The watcher looks at what the loader reads (YAML under
``rules/`` and ``segments/``): a plan directory that also holds the decision log, a
virtualenv or an ``out/`` folder must not reload on every decision written. A change
whose content hash equals the directory's last one (a file saved unchanged, an edit
undone) is not a reload either: nothing is loaded, counted or logged.

**Failures are shown, never fatal.** A refused plan, a held reload, a database error while
publishing or polling, a watcher that fails: each is logged, shown in ``GET /v1/plan``,
and the watcher and the poller carry on. Every reload and every refused one is logged
(``treatment.plan``) with its errors; ``treatment serve`` prints that log on standard error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert, text

from ..engine import Engine
from ..errors import PlanError
from ..load import READ_FOLDERS, is_plan_file_name, plan_version, read_plan_dir
from ..store import DecisionRepository, PlanRelease
from ..store.locks import hold_release_lock
from .plans import LiveVersion, PlanHolder

LOG = logging.getLogger("treatment.plan")
SETTLE_SECONDS = 0.25  # between two reads of the plan files that must agree
SETTLE_MAX_READS = 40  # files still changing after this many reads (10 s): not reloaded now
DEFAULT_POLL_SECONDS = 2.0
DEFAULT_MAX_RULE_DROP = 0.05


def replica_name() -> str:
    """Who released a plan version: this host and process, asked when it happens (a name
    taken at import would be the parent's in a process forked after it)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


_NEWEST = text("SELECT id, version FROM plan_releases ORDER BY id DESC LIMIT 1")
Outcome = Literal["loaded", "unchanged", "refused", "held", "failed"]


@dataclass(frozen=True)
class Reload:
    """What a reload did, and why when it did not load."""

    outcome: Outcome
    plan_version: str  # the version serving after it
    errors: list[str] | None = None

    @property
    def loaded(self) -> bool:
        return self.outcome in ("loaded", "unchanged")


@dataclass(frozen=True)
class Held:
    plan_version: str
    dropped: tuple[str, ...]  # rule ids the held plan lacks
    share: float
    since: datetime

    def message(self, max_share: float) -> str:
        return (f"reload held: plan {self.plan_version} drops {len(self.dropped)} of the live plan's rules "
                f"({self.share:.0%}, more than {max_share:.0%}): {', '.join(self.dropped[:10])}"
                f"{' ...' if len(self.dropped) > 10 else ''}; fix the files or "
                f"POST /v1/plan:reload?force=true to load it")


class PlanFilesFilter:
    """The watcher's filter: which changed paths under a plan directory can change the plan.

    What the loader reads: YAML files under rules/ and segments/ and JSON evidence under
    evidence/, at any depth, with no
    hidden name on the way; those folders themselves; and a name without a suffix in
    them (a folder, or a link to one, moved or removed). Not the decision log, .venv/,
    out/, the plan's tests/ (they never change what is served) or editors' swap files.
    """

    def __init__(self, plan_dir: Path) -> None:
        self.root = os.path.abspath(plan_dir)

    def __call__(self, _change: object, path: str) -> bool:
        parts = Path(os.path.relpath(os.path.abspath(path), self.root)).parts
        if not parts or parts[0] not in READ_FOLDERS or any(part.startswith(".") for part in parts):
            return False
        suffix = os.path.splitext(parts[-1])[1]
        return len(parts) == 1 or suffix == "" or is_plan_file_name("/".join(parts))


def dropped_rules(live: Engine, new: Engine) -> tuple[str, ...]:
    """Ids of the live plan's rules the new plan does not have."""
    kept = {rule.id for rule in new.plan.rules}
    return tuple(rule.id for rule in live.plan.rules if rule.id not in kept)


def publish(log: DecisionRepository, engine: Engine, files: dict[str, str]) -> int:
    """Store the version's files and release it, unless it is the newest release already;
    the newest release's id."""
    with log.database.engine.begin() as connection:
        hold_release_lock(connection)  # replicas loading one version at once release it once
        log.remember_plan(engine.plan, files, connection)
        newest = connection.execute(_NEWEST).first()
        if newest is not None and newest.version == engine.version:
            return int(newest.id)
        added = connection.execute(insert(PlanRelease).values(
            version=engine.version, released_at=datetime.now(UTC), released_by=replica_name()))
        return int(added.inserted_primary_key[0])  # type: ignore[index]  # one row inserted: never None


def newest_release(log: DecisionRepository) -> tuple[int, str] | None:
    with log.database.engine.connect() as connection:
        row = connection.execute(_NEWEST).first()
    return None if row is None else (int(row.id), str(row.version))


class PlanSync:
    """Keeps one replica's live plan (a :class:`PlanHolder`) in step with its plan
    directory and with the other replicas on the same decision log."""

    def __init__(self, holder: PlanHolder, log: DecisionRepository | None, *, poll_seconds: float = DEFAULT_POLL_SECONDS,
                 max_rule_drop: float = DEFAULT_MAX_RULE_DROP,
                 counted: Callable[[Outcome], None] = lambda _: None) -> None:
        self.holder = holder
        self.log = log
        self.poll_seconds = poll_seconds
        self.max_rule_drop = max_rule_drop
        self.counted = counted  # told every reload's outcome (the service's metrics)
        self._lock = threading.Lock()  # one change of the live plan at a time
        self.release: int | None = None  # the newest release this replica has acted on
        self.source = "directory"  # where the live version came from: "directory" or "database"
        self.held: Held | None = None
        self.sync_error: str | None = None  # the last poll's failure, cleared by a good one
        self.watch_error: str | None = None
        self.last_poll_at: datetime | None = None
        # The content hash of the directory's files as last read: a change that leaves it
        # as it was is not a reload.
        self.directory_version = plan_version(holder.current.files)

    def start(self) -> None:
        """Release the plan this replica loaded from its directory (start-up)."""
        if self.log is not None:
            live = self.holder.current
            self.release = publish(self.log, live.engine, live.files)

    def reload(self, force: bool = False, files: dict[str, str] | None = None) -> Reload:
        """Load the plan directory (or ``files`` read from it) and put it live if it is
        valid, not held by the rule-drop guard (unless ``force``), and stored."""
        with self._lock:
            outcome = self._reload(force, files)
        if outcome.outcome != "unchanged":  # the same content is not a reload
            self.counted(outcome.outcome)
        return outcome

    def _reload(self, force: bool, files: dict[str, str] | None) -> Reload:
        live = self.holder.current
        try:
            files = files if files is not None else read_plan_dir(self.holder.plan_dir)
            self.directory_version = plan_version(files)
            if self.directory_version == live.engine.version:  # not a reload: nothing to load or log
                if self.holder.last_error or self.held:
                    LOG.info("plan files are back to the live plan %s; the last reload's errors are cleared",
                             live.engine.version)
                self.holder.last_error, self.held = None, None
                return Reload("unchanged", live.engine.version)
            self.holder.last_reload_at = _now()
            engine = Engine.from_texts(files, clock=self.holder.clock)
        except PlanError as error:
            self.holder.last_reload_at = _now()
            self.holder.last_error = error.lines()
            LOG.warning("reload refused: the plan in %s does not load; plan %s keeps serving\n%s",
                        self.holder.plan_dir, live.engine.version, "\n".join(self.holder.last_error))
            return Reload("refused", live.engine.version, self.holder.last_error)
        dropped = dropped_rules(live.engine, engine)
        share = len(dropped) / max(1, len(live.engine.plan.rules))
        if share > self.max_rule_drop and not force:
            self.held = Held(engine.version, dropped, share, _now())
            message = self.held.message(self.max_rule_drop)
            LOG.warning("%s", message)
            return Reload("held", live.engine.version, [message])
        try:
            release = publish(self.log, engine, files) if self.log is not None else None
        except Exception as error:  # the database: not stored, so not served
            self.holder.last_error = [f"the plan could not be stored in the decision log: {error}"]
            LOG.error("%s", self.holder.last_error[0])
            return Reload("failed", live.engine.version, self.holder.last_error)
        self._serve(engine, files, "directory", release)
        LOG.info("reloaded: plan %s serves (was %s), from %s", engine.version, live.engine.version,
                 self.holder.plan_dir)
        return Reload("loaded", engine.version)

    def _serve(self, engine: Engine, files: dict[str, str], source: str, release: int | None) -> None:
        self.holder.current = LiveVersion(engine, _now(), files)  # one reference assignment: atomic
        self.holder.reloads += 1
        self.holder.last_error, self.held = None, None
        self.source = source
        if release is not None:
            self.release = max(release, self.release or 0)

    def poll(self) -> None:
        """Serve the newest release if it is newer than the one acted on and names
        another version; its files come from the database."""
        if self.log is None:
            return
        newest = newest_release(self.log)
        self.last_poll_at = _now()
        self.sync_error = None
        if newest is None or (self.release is not None and newest[0] <= self.release):
            return
        with self._lock:
            release, version = newest
            if self.release is not None and release <= self.release:
                return  # this replica released something newer meanwhile
            if version == self.holder.current.engine.version:
                self.release = release
                return
            files = self.log.plan_files(version)
            try:
                if files is None:  # publish stores the files first: only a hand-edited database
                    raise ValueError("its files are not stored")
                engine = Engine.from_texts(files, clock=self.holder.clock)
            except (PlanError, ValueError) as error:  # skipped, not retried every poll; shown until the next release
                self.release = release
                why = "; ".join(error.lines()) if isinstance(error, PlanError) else str(error)
                self.sync_error = f"release {release} (plan {version}) does not load here: {why}"
                LOG.error("%s", self.sync_error)
                return
            self._serve(engine, files, "database", release)
            LOG.info("serving plan %s, released by another replica (release %d)", version, release)

    def threads(self, stop: threading.Event, watch: bool) -> list[threading.Thread]:
        """The threads that keep the plan in step until ``stop``: the watcher (with
        ``watch``) and the poller (with a log and a poll interval), not started."""
        threads = [threading.Thread(target=self.run_watcher, args=(stop,), name="plan-watcher", daemon=True)
                   ] if watch else []
        if self.log is not None and self.poll_seconds > 0:
            threads.append(threading.Thread(target=self.run_poller, args=(stop,), name="plan-poller", daemon=True))
        return threads

    def run_poller(self, stop: threading.Event) -> None:
        """Poll until ``stop``; a failed poll is logged and shown, and the next one tries again."""
        while not stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception as error:
                self.sync_error = f"polling the plan releases failed: {error}"
                LOG.exception("polling the plan releases failed")

    def run_watcher(self, stop: threading.Event) -> None:
        """Reload when files under the plan directory change, once they settle. Nothing
        ends this loop but ``stop``: a failure is logged, shown, and watching resumes."""
        from watchfiles import watch

        failures = 0
        while not stop.is_set():
            try:
                for _changes in watch(self.holder.plan_dir, watch_filter=PlanFilesFilter(self.holder.plan_dir),
                                      stop_event=stop, debounce=300, yield_on_timeout=False):
                    files = self.settled_files(stop)
                    if files is not None and plan_version(files) != self.directory_version:
                        self.reload(files=files)
                    self.watch_error, failures = None, 0
            except Exception as error:
                failures += 1
                self.watch_error = f"watching {self.holder.plan_dir} failed: {error}"
                LOG.exception("watching the plan directory failed; watching again")
                stop.wait(min(30.0, 2.0 ** failures))  # a directory gone for good is not retried in a loop

    def settled_files(self, stop: threading.Event) -> dict[str, str] | None:
        """The plan files once two reads ``SETTLE_SECONDS`` apart agree; None if they kept
        changing (a later change triggers another try) or cannot be read (shown)."""
        try:
            previous = read_plan_dir(self.holder.plan_dir)
            for _ in range(SETTLE_MAX_READS):
                if stop.wait(SETTLE_SECONDS):
                    return None
                current = read_plan_dir(self.holder.plan_dir)
                if current == previous:
                    return current
                previous = current
        except PlanError as error:
            self.holder.last_error = error.lines()
            return None
        self.watch_error = f"the plan files kept changing for {SETTLE_SECONDS * SETTLE_MAX_READS:g} s; not reloaded"
        return None

    def status(self) -> dict[str, Any]:
        """What ``GET /v1/plan`` shows of the fleet, the watcher and a held reload."""
        return {
            "held_reload": None if self.held is None else {
                "plan_version": self.held.plan_version, "dropped_rules": list(self.held.dropped),
                "share": round(self.held.share, 4), "since": self.held.since.isoformat(),
                "message": self.held.message(self.max_rule_drop)},
            "watch_error": self.watch_error,
            "fleet": None if self.log is None else {
                "release": self.release, "source": self.source, "poll_seconds": self.poll_seconds,
                "last_poll_at": None if self.last_poll_at is None else self.last_poll_at.isoformat(),
                "error": self.sync_error},
        }


def _now() -> datetime:
    return datetime.now(UTC)

