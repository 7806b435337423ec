"""Each experiment's arms so far, for ``GET /v1/plan`` (appendix H): the customers the
log holds in every arm of the live plan version, beside the share the plan declares.

Counting reads every decision of the version, so a count is kept for ``TTL_SECONDS``:
a dashboard polling every second costs one count per half minute per replica.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..arms import declared_arms
from ..compile import CompiledPlan
from ..experiments.buckets import UNIVERSAL
from ..experiments.compiled import CHAMPION
from ..store.decisions import DecisionRepository

TTL_SECONDS = 30.0


class ArmSizes:
    def __init__(self, decisions: DecisionRepository, clock: Callable[[], float] = time.monotonic,
                 ttl: float = TTL_SECONDS) -> None:
        self.decisions = decisions
        self.clock = clock
        self.ttl = ttl
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def view(self, plan: CompiledPlan) -> list[dict[str, Any]]:
        """Per experiment of ``plan``, its arms: declared share, customers so far, and
        their share of the experiment's customers (None before any)."""
        with self._lock:
            kept = self._kept.get(plan.version)
            if kept is not None and self.clock() - kept[0] < self.ttl:
                return kept[1]
        counted = self._count(plan)
        with self._lock:
            self._kept = {plan.version: (self.clock(), counted)}  # only the live version is asked for
        return counted

    def _count(self, plan: CompiledPlan) -> list[dict[str, Any]]:
        total, customers = self.decisions.arm_customers(plan.version)
        by_experiment: dict[str, list[dict[str, Any]]] = {}
        for declared in declared_arms(plan):
            if declared.experiment == UNIVERSAL and declared.arm == CHAMPION:
                count = total - customers.get((UNIVERSAL, UNIVERSAL), 0)  # everyone not held out
            else:
                count = customers.get((declared.experiment, declared.arm), 0)
            by_experiment.setdefault(declared.experiment, []).append(
                {"arm": declared.arm, "declared_share": declared.share, "customers": count})
        views = []
        for experiment, arms in by_experiment.items():
            seen = sum(arm["customers"] for arm in arms)
            for arm in arms:
                arm["share"] = arm["customers"] / seen if seen else None
            views.append({"experiment": experiment, "customers": seen, "arms": arms})
        return views
