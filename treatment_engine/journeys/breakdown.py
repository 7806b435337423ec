"""A journey's report broken down by who its customers are: segment, lifecycle stage,
value tier and experiment arm (appendix J), each customer placed by their decision."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..decision import Decision, DecisionError
from .compiled import CompiledJourney
from .reference import Run
from .summary import JourneyReport, summarize

DIMENSIONS = ("segment", "lifecycle_stage", "value_tier", "arm")
Group = tuple[str | None, ...]


@dataclass(frozen=True)
class Breakdown:
    """One group's report: its values of the dimensions asked for (None: not known)."""

    group: dict[str, str | None]
    report: JourneyReport


def groups_of(decisions: Iterable[Decision | DecisionError], by: Sequence[str]) -> dict[str, Group]:
    """Each decided customer's values of ``by``; a profile that could not be decided is
    left out (its customer's runs fall in the group of unknowns)."""
    return {d.customer_id: tuple(getattr(d, name) for name in by) for d in decisions if isinstance(d, Decision)}


def summarize_by(journey: CompiledJourney, runs: Sequence[Run], as_of: float, groups: Mapping[str, Group],
                 by: Sequence[str]) -> list[Breakdown]:
    """A report per group of customers, groups in order of their values (unknowns first)."""
    unknown: Group = (None,) * len(by)
    buckets: dict[Group, list[Run]] = {}
    for run in runs:
        buckets.setdefault(groups.get(run.customer_id, unknown), []).append(run)
    ordered = sorted(buckets, key=lambda key: tuple((value is not None, value or "") for value in key))
    return [Breakdown(dict(zip(by, key, strict=True)), summarize(journey, buckets[key], as_of)) for key in ordered]
