"""What a running service holds, built once by :func:`~.app.create_app` and handed to the
routes through :mod:`.dependencies`: the live plan, the decision log's repositories (each
part gets the one it needs), the group committer, the moments, the API keys, the metrics."""

from __future__ import annotations

from ..store import DecisionLog
from .group_commit import GroupCommitter, LoopCommitter
from .keys import KeyChecker
from .metrics import Metrics
from .moments import MomentHub
from .plan_sync import DEFAULT_MAX_RULE_DROP, DEFAULT_POLL_SECONDS, PlanSync
from .plans import PlanHolder


class Service:
    def __init__(self, plans: PlanHolder, log: DecisionLog | None, api_keys: frozenset[str] = frozenset(),
                 *, wall_clock: bool = True, plan_poll: float = DEFAULT_POLL_SECONDS,
                 max_rule_drop: float = DEFAULT_MAX_RULE_DROP) -> None:
        """``wall_clock``: the moments' clock moves with the wall clock, not only with events;
        ``plan_poll`` and ``max_rule_drop``: how plans are kept in step (:class:`PlanSync`)."""
        self.plans = plans
        self.log = log
        self.wall_clock = wall_clock
        self.metrics = Metrics()
        self.decisions = log.decisions if log is not None else None
        self.events = log.events if log is not None else None
        self.writer: GroupCommitter | LoopCommitter | None = None
        if self.decisions is not None:
            self.writer = LoopCommitter(self.decisions) if self.decisions.local else GroupCommitter(self.decisions)
        self.sync = PlanSync(plans, self.decisions, poll_seconds=plan_poll, max_rule_drop=max_rule_drop,
                             counted=lambda outcome: self.metrics.reloads.labels(outcome).inc())
        self.sync.start()  # the directory's plan stored and released
        self.moments = MomentHub(lambda: self.plans.current.engine.plan, self.events, wall_clock=wall_clock)
        self.keys = KeyChecker(api_keys, log.keys if log is not None else None)

    def close(self) -> None:
        """Stop the moments, commit what is pending, close the log: the end of the lifespan."""
        self.moments.close()
        if self.writer is not None:
            self.writer.close()
        if self.log is not None:
            self.log.close()
