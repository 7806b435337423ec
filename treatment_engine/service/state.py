"""What a running service holds, built once by :func:`~.app.create_app` and handed to the
routes through :mod:`.dependencies`: the live plan, the decision log's repositories (each
part gets the one it needs), the group committer, the moments, the API keys, the metrics."""

from __future__ import annotations

from ..store import DecisionLog
from .group_commit import GroupCommitter, LoopCommitter
from .keys import KeyChecker
from .metrics import Metrics
from .moments import MomentHub
from .plans import PlanHolder


class Service:
    def __init__(self, plans: PlanHolder, log: DecisionLog | None, api_keys: frozenset[str] = frozenset(),
                 *, wall_clock: bool = True) -> None:
        """``wall_clock``: the moments' clock moves with the wall clock, not only with events."""
        self.plans = plans
        self.log = log
        self.wall_clock = wall_clock
        self.metrics = Metrics()
        self.decisions = log.decisions if log is not None else None
        self.events = log.events if log is not None else None
        self.writer: GroupCommitter | LoopCommitter | None = None
        if self.decisions is not None:
            self.writer = LoopCommitter(self.decisions) if self.decisions.local else GroupCommitter(self.decisions)
            self.decisions.remember_plan(plans.current.engine.plan, plans.current.files)
        self.moments = MomentHub(lambda: self.plans.current.engine.plan, self.events, wall_clock=wall_clock)
        self.keys = KeyChecker(api_keys, log.keys if log is not None else None)

    def reload(self) -> tuple[bool, list[str] | None]:
        """Load the plan directory again (a broken plan is refused); a new version is logged."""
        loaded, problems = self.plans.reload()
        self.metrics.reloads.labels("loaded" if loaded else "refused").inc()
        if loaded and self.decisions is not None:
            self.decisions.remember_plan(self.plans.current.engine.plan, self.plans.current.files)
        return loaded, problems

    def close(self) -> None:
        """Stop the moments, commit what is pending, close the log: the end of the lifespan."""
        self.moments.close()
        if self.writer is not None:
            self.writer.close()
        if self.log is not None:
            self.log.close()
