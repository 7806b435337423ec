"""A journey's report from its runs: counts, the funnel, times, touchpoints against their
targets, and the watermelon flag (appendix J). One function for every back end, so that
equal runs give equal reports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .compiled import CompiledJourney
from .reference import Run

PERCENTILES = (50, 75, 90)


@dataclass(frozen=True)
class Times:
    """Seconds at the 50th, 75th and 90th percentile (nearest rank), over ``count`` runs."""

    count: int
    median: float | None
    p75: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Times:
        ordered = sorted(values)
        ranks = [ordered[(p * len(ordered) + 99) // 100 - 1] if ordered else None for p in PERCENTILES]
        return cls(len(ordered), *ranks)


@dataclass(frozen=True)
class StepReport:
    name: str
    optional: bool
    reached: int  # runs that reached the step
    dropped: int | None  # abandoned after the required step before it, without it (required steps)
    waiting: int | None  # in progress between the required step before it and it
    conversion: float | None  # reached / (reached + dropped): from the required step before it
    times: Times  # from the step reached before it
    target: float | None  # the touchpoint's own target rate
    touchpoint_rate: float | None  # the share of decided runs that reached it within its target's window
    touchpoint_runs: int  # runs decided for the touchpoint

    @property
    def met(self) -> bool | None:
        if self.target is None or self.touchpoint_rate is None:
            return None
        return self.touchpoint_rate >= self.target


@dataclass(frozen=True)
class JourneyReport:
    id: str
    owner: str
    customers: int  # who entered at least once
    entered: int  # runs
    completed: int
    abandoned: int
    in_progress: int
    succeeded: int
    failed: int
    conversion: float | None  # completed / (completed + abandoned)
    success_rate: float | None  # succeeded / (succeeded + failed): in-progress runs left out
    success_target: float | None
    margin: float | None
    total: Times  # first step to last, completed runs
    steps: tuple[StepReport, ...]
    watermelon: str | None  # why the journey is a watermelon, in words; None when it is not


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(journey: CompiledJourney, runs: Sequence[Run], as_of: float) -> JourneyReport:
    """The report of ``journey`` over its ``runs`` at ``as_of``."""
    count = {status: sum(r.status == status for r in runs) for status in ("completed", "abandoned", "in_progress")}
    succeeded = sum(r.success is True for r in runs)
    failed = sum(r.success is False for r in runs)
    steps = tuple(_step(journey, index, runs, as_of) for index in range(len(journey.steps)))
    last = len(journey.steps) - 1
    total = Times.of((r.reached[last] or 0.0) - (r.reached[0] or 0.0) for r in runs if r.status == "completed")
    report = JourneyReport(
        journey.id, journey.owner, len({r.customer_id for r in runs}), len(runs), count["completed"],
        count["abandoned"], count["in_progress"], succeeded, failed,
        _rate(count["completed"], count["completed"] + count["abandoned"]), _rate(succeeded, succeeded + failed),
        journey.target, journey.margin, total, steps, None)
    return _with_flag(report)


def _previous(run: Run, step: int) -> float | None:
    """When the run reached the step before ``step`` it came from (the latest reached)."""
    return next((t for t in reversed(run.reached[:step]) if t is not None), None)


def _step(journey: CompiledJourney, index: int, runs: Sequence[Run], as_of: float) -> StepReport:
    step = journey.steps[index]
    reached = [r for r in runs if r.reached[index] is not None]
    times = Times.of((r.reached[index] or 0.0) - (_previous(r, index) or 0.0) for r in reached) if index \
        else Times.of(())
    gate = max((i for i in range(index) if not journey.steps[i].optional), default=None)
    dropped = waiting = conversion = None
    if gate is not None and not step.optional:
        between = [r for r in runs if r.reached[gate] is not None and r.reached[index] is None]
        dropped = sum(r.status == "abandoned" for r in between)
        waiting = sum(r.status == "in_progress" for r in between)
        conversion = _rate(len(reached), len(reached) + dropped)
    rate, decided = _touchpoint(journey, index, gate, runs, as_of)
    return StepReport(step.name, step.optional, len(reached), dropped, waiting, conversion, times,
                      step.target_rate, rate, decided)


def _touchpoint(journey: CompiledJourney, index: int, gate: int | None, runs: Sequence[Run],
                as_of: float) -> tuple[float | None, int]:
    """A step's own rate: of the runs past the required step before it, the share that
    reached it within its target's window; a run that may still do so is left out."""
    window = journey.steps[index].target_within
    if window is None or gate is None:
        return None, 0
    hits = misses = 0
    for run in runs:
        if run.reached[gate] is None:
            continue
        arrived, before = run.reached[index], _previous(run, index)
        if arrived is not None and before is not None and arrived - before <= window:
            hits += 1
        elif arrived is None and run.status == "in_progress" and run.position < index \
                and as_of - (run.reached[run.position] or 0.0) < window:
            continue  # it may still arrive in time
        else:
            misses += 1
    return _rate(hits, hits + misses), hits + misses


def _with_flag(report: JourneyReport) -> JourneyReport:
    """The watermelon: every touchpoint meets its target, the journey as a whole does not
    (below its own target, or below its weakest touchpoint by more than its margin)."""
    touchpoints = [s for s in report.steps if s.target is not None]
    rate = report.success_rate
    if not touchpoints or rate is None or not all(s.met for s in touchpoints):
        return report
    green = ", ".join(f"{s.name} {_percent(s.touchpoint_rate)} (target {_percent(s.target)})" for s in touchpoints)
    weakest = min(s.touchpoint_rate or 0.0 for s in touchpoints)
    reasons = []
    if report.success_target is not None and rate < report.success_target:
        reasons.append(f"below its target of {_percent(report.success_target)}")
    if report.margin is not None and rate < weakest - report.margin:
        reasons.append(f"more than {_percent(report.margin)} below its weakest touchpoint")
    if not reasons:
        return report
    flag = (f"every touchpoint meets its target ({green}), but only {_percent(rate)} of runs succeed as a "
            f"whole: {' and '.join(reasons)}")
    return replace(report, watermelon=flag)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
