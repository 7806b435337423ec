"""A journey's report from its runs: counts, the funnel, times, touchpoints against their
targets, and the watermelon flag (appendix J). One function for every back end, so that
equal runs give equal reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

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
    def of(cls, values: Sequence[float] | np.ndarray) -> Times:
        ordered = np.sort(values)
        ranks = [float(ordered[(p * len(ordered) + 99) // 100 - 1]) if len(ordered) else None
                 for p in PERCENTILES]
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


STATUS_CODES = {"completed": 0, "abandoned": 1, "in_progress": 2}
COMPLETED, ABANDONED, IN_PROGRESS = 0, 1, 2


@dataclass(frozen=True)
class RunColumns:
    """A journey's runs as columns, what the report reads of them: when each step was
    reached (runs x steps, NaN: not reached), each run's status (:data:`STATUS_CODES`),
    its success (1, 0, -1: undecided) and how many customers they belong to. The SQL back
    ends hand their runs over this way, without a Python object per run."""

    reached: np.ndarray  # float64, (runs, steps)
    status: np.ndarray  # int8
    success: np.ndarray  # int8
    customers: int

    @classmethod
    def of(cls, journey: CompiledJourney, runs: Sequence[Run]) -> RunColumns:
        width = len(journey.steps)
        reached = np.array([[np.nan if t is None else t for t in r.reached] for r in runs],
                           dtype=np.float64).reshape(len(runs), width)
        status = np.array([STATUS_CODES[r.status] for r in runs], dtype=np.int8)
        success = np.array([-1 if r.success is None else int(r.success) for r in runs], dtype=np.int8)
        return cls(reached, status, success, len({r.customer_id for r in runs}))


def summarize(journey: CompiledJourney, runs: Sequence[Run], as_of: float) -> JourneyReport:
    """The report of ``journey`` over its ``runs`` at ``as_of``."""
    return summarize_columns(journey, RunColumns.of(journey, runs), as_of)


def summarize_columns(journey: CompiledJourney, runs: RunColumns, as_of: float) -> JourneyReport:
    """The report of ``journey`` over its runs, as columns, at ``as_of``."""
    count = {name: int(np.count_nonzero(runs.status == code)) for name, code in STATUS_CODES.items()}
    succeeded = int(np.count_nonzero(runs.success == 1))
    failed = int(np.count_nonzero(runs.success == 0))
    previous = _previous(runs.reached)
    steps = tuple(_step(journey, index, runs, previous, as_of) for index in range(len(journey.steps)))
    done = runs.status == COMPLETED
    total = Times.of(runs.reached[done, -1] - runs.reached[done, 0])
    report = JourneyReport(
        journey.id, journey.owner, runs.customers, len(runs.status), count["completed"],
        count["abandoned"], count["in_progress"], succeeded, failed,
        _rate(count["completed"], count["completed"] + count["abandoned"]), _rate(succeeded, succeeded + failed),
        journey.target, journey.margin, total, steps, None)
    return _with_flag(report)


def _previous(reached: np.ndarray) -> np.ndarray:
    """Per run and step, when the run reached the step before it it came from (the latest
    step reached before it; NaN before the first); the last column: its latest step's time."""
    # Column by column, so in column order (each column's values side by side): every
    # column is written, the first with NaN, none filled first.
    previous = np.empty((reached.shape[0], reached.shape[1] + 1), order="F")
    previous[:, 0] = np.nan
    for index in range(1, reached.shape[1] + 1):
        before = reached[:, index - 1]
        previous[:, index] = np.where(np.isnan(before), previous[:, index - 1], before)
    return previous


def _step(journey: CompiledJourney, index: int, runs: RunColumns, previous: np.ndarray,
          as_of: float) -> StepReport:
    step = journey.steps[index]
    arrived = runs.reached[:, index]
    reached = ~np.isnan(arrived)
    times = Times.of(arrived[reached] - previous[reached, index]) if index else Times.of(np.empty(0))
    gate = max((i for i in range(index) if not journey.steps[i].optional), default=None)
    dropped = waiting = conversion = None
    if gate is not None and not step.optional:
        between = ~np.isnan(runs.reached[:, gate]) & ~reached
        dropped = int(np.count_nonzero(between & (runs.status == ABANDONED)))
        waiting = int(np.count_nonzero(between & (runs.status == IN_PROGRESS)))
        conversion = _rate(int(np.count_nonzero(reached)), int(np.count_nonzero(reached)) + dropped)
    rate, decided = _touchpoint(journey, index, gate, runs, previous, as_of)
    return StepReport(step.name, step.optional, int(np.count_nonzero(reached)), dropped, waiting, conversion,
                      times, step.target_rate, rate, decided)


def _touchpoint(journey: CompiledJourney, index: int, gate: int | None, runs: RunColumns, previous: np.ndarray,
                as_of: float) -> tuple[float | None, int]:
    """A step's own rate: of the runs past the required step before it, the share that
    reached it within its target's window; a run that may still do so is left out."""
    window = journey.steps[index].target_within
    if window is None or gate is None:
        return None, 0
    past = ~np.isnan(runs.reached[:, gate])
    arrived, before = runs.reached[:, index], previous[:, index]
    with np.errstate(invalid="ignore"):  # NaN compares false: not arrived, so not a hit
        hits = past & (arrived - before <= window)
        latest = previous[:, -1]  # the last step reached; every run reached the first
        position = runs.reached.shape[1] - 1 - np.argmax(~np.isnan(runs.reached[:, ::-1]), axis=1)
        pending = (past & np.isnan(arrived) & (runs.status == IN_PROGRESS) & (position < index)
                   & (as_of - latest < window))
    count_hits = int(np.count_nonzero(hits))
    decided = int(np.count_nonzero(past)) - int(np.count_nonzero(pending))
    return _rate(count_hits, decided), decided


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
