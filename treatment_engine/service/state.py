"""What a running service holds, built once by :func:`~.app.create_app` and handed to the
routes through :mod:`.dependencies`: the live plan, the decision log's repositories (each
part gets the one it needs), the group committer, the moments, the API keys, the metrics."""

from __future__ import annotations

from ..compile import CompiledPlan
from ..moments.correlator import Fired
from ..moments.owner import PartitionOwner
from ..store import DecisionLog
from .arm_sizes import ArmSizes
from .group_commit import GroupCommitter, LoopCommitter
from .keys import KeyChecker
from .metrics import Metrics
from .moments import EventIntake
from .plan_sync import DEFAULT_MAX_RULE_DROP, DEFAULT_POLL_SECONDS, PlanSync
from .plans import PlanHolder
from .readiness import DatabaseProbe


class Service:
    def __init__(self, plans: PlanHolder, log: DecisionLog | None, api_keys: frozenset[str] = frozenset(),
                 *, wall_clock: bool = True, moment_lease: float = 10.0, plan_poll: float = DEFAULT_POLL_SECONDS,
                 max_rule_drop: float = DEFAULT_MAX_RULE_DROP) -> None:
        """``wall_clock``: the moments' clock moves with the wall clock, not only with events;
        ``moment_lease``: how long this process's hold on its moments partitions lasts
        without a heartbeat (docs/design.md, "Replicas"); ``plan_poll`` and
        ``max_rule_drop``: how plans are kept in step (:class:`PlanSync`)."""
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
        # Moments: this process stores events and owns its share of the partitions (all of
        # them when it runs alone); they need the database.
        self.owner = None if log is None else PartitionOwner(log, self.plan, wall_clock=wall_clock,
                                                             lease=moment_lease, on_fired=self._fired)
        self.intake = None if self.owner is None else EventIntake(self.plan, self.owner)
        self.keys = KeyChecker(api_keys, log.keys if log is not None else None)
        self.arm_sizes = None if self.decisions is None else ArmSizes(self.decisions)
        # Readiness asks a database reached over the network (see .readiness); a SQLite file
        # is the replica's own disk, and a new connection to it may wait out another
        # replica's write lock, which is no reason to take this one out of the rotation.
        self.readiness = (DatabaseProbe(log.database.engine)
                          if log is not None and log.database.engine.dialect.name == "postgresql" else None)

    def plan(self) -> CompiledPlan:
        return self.plans.current.engine.plan

    def _fired(self, items: list[Fired]) -> None:  # called by the owner's thread
        for item in items:
            self.metrics.moments.labels(item.moment).inc()

    def close(self) -> None:
        """Stop the moments, commit what is pending, close the log: the end of the lifespan."""
        if self.owner is not None:
            self.owner.stop()  # its partitions go to the other replicas at once
        if self.writer is not None:
            self.writer.close()
        if self.readiness is not None:
            self.readiness.close()
        if self.log is not None:
            self.log.close()
