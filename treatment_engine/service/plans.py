"""The live plan of a service, replaced atomically and never by a broken one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from ..engine import Engine, utc_today
from ..load import read_plan_dir


@dataclass(frozen=True)
class LiveVersion:
    engine: Engine
    loaded_at: datetime
    files: dict[str, str]  # the plan's text, kept so the decision log can store every version


class PlanHolder:
    """Holds the engine requests use. A request reads ``current`` once and keeps that
    engine to the end, so a reload never changes a decision in flight; a plan that does
    not load leaves the live one serving and is reported by ``last_error``. Reloads are
    made by :class:`~treatment_engine.service.plan_sync.PlanSync`, one at a time."""

    def __init__(self, plan_dir: Path, clock: Callable[[], date] = utc_today) -> None:
        self.plan_dir = plan_dir
        self.clock = clock
        self.last_error: list[str] | None = None
        self.last_reload_at: datetime | None = None
        self.reloads = 0
        self.current = self._load()

    def _load(self) -> LiveVersion:
        files = read_plan_dir(self.plan_dir)
        return LiveVersion(Engine.from_texts(files, clock=self.clock), _now(), files)


def _now() -> datetime:
    return datetime.now(UTC)
