"""The profitability guard that learns (docs/plan-format.md, appendix K).

A plan may point its profitability test at measured evidence: a JSON file in the plan's
``evidence/`` folder, written by ``treatment measure --write-evidence``, that holds per
rule (and per segment x stage x tier cell) the measured incremental value of treating a
customer against the control group, with its standard error. The file is part of the
plan: its text is in the plan version, so a decision made with it is reproduced with it.

What it decides, for a delight rule (the rule's own ``then``; a challenger keeps the
ratio test): where the customer's cell, or else the rule as a whole, was measured on at
least ``min_customers`` customers, the rule applies only if the one-sided lower bound of
the incremental value at ``confidence`` covers the rule's action cost. Where neither was,
the ratio test of section 3 decides as before (or nothing, if the plan has none).

The bound is the estimate less Student's t quantile (scipy) times its standard error,
with the degrees of freedom the measurement reported (Welch's), or the normal quantile
when it reported none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from .strict import PlanPart

EVIDENCE_FOLDER = "evidence"
EVIDENCE_SUFFIX = ".json"
FORMAT: Literal["treatment-evidence/1"] = "treatment-evidence/1"
Cell = tuple[str | None, str | None, str | None]  # (segment, lifecycle stage, value tier)


def is_evidence_path(relative: str) -> bool:
    """Whether a plan-relative path names an evidence file (not a YAML plan file)."""
    return relative.startswith(f"{EVIDENCE_FOLDER}/") and relative.endswith(EVIDENCE_SUFFIX)


class EvidenceGuard(PlanPart):
    """``policy.profitability.evidence``: which evidence, and how sure it must be."""

    file: Annotated[str, Field(min_length=1)]
    metric: Annotated[str, Field(min_length=1)]
    confidence: Annotated[float, Field(ge=0.5, le=0.999, allow_inf_nan=False)] = 0.9
    min_customers: Annotated[int, Field(ge=2, le=1_000_000_000)] = 1000


class Profitability(PlanPart):
    evidence: EvidenceGuard


Count = Annotated[int, Field(ge=0)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Estimate(PlanPart):
    """One measured comparison: customers in each arm, the incremental value of the metric
    per treated customer (treated mean less control mean) and its standard error."""

    treated: Count
    control: Count
    uplift: Finite
    std_error: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    df: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class RuleEvidence(PlanPart):
    overall: Estimate | None = None
    # "segment/lifecycle_stage/value_tier"; a part the plan leaves unset is "-".
    cells: dict[str, Estimate] = Field(default_factory=dict)


class EvidenceFile(PlanPart):
    format: Literal["treatment-evidence/1"]
    metric: Annotated[str, Field(min_length=1)]
    as_of: str | None = None
    plan_version: str | None = None
    rules: dict[str, RuleEvidence] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether the evidence says a rule pays back where it was measured."""

    pays: bool
    lower: float  # the one-sided lower bound of the incremental value per treated customer
    uplift: float
    customers: int  # treated and control
    scope: str  # "overall" or the cell's key
    metric: str
    confidence: float

    def reason(self, cost: float) -> str:
        relation = ">=" if self.pays else "<"
        return (f"evidence ({self.metric}, {self.scope}, {self.customers:,} customers): incremental value "
                f"{self.uplift:g}, lower bound {self.lower:g} at {self.confidence:g} {relation} cost {cost:g}")


@dataclass(frozen=True, slots=True)
class RuleVerdicts:
    """A rule's verdicts: by cell where a cell had enough customers, else overall."""

    cells: Mapping[Cell, Verdict]
    overall: Verdict | None

    def for_cell(self, cell: Cell) -> Verdict | None:
        return self.cells.get(cell, self.overall)


def cell_key(cell: Cell) -> str:
    return "/".join(part if part is not None else "-" for part in cell)


def parse_cell_key(key: str) -> Cell | None:
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return (None if parts[0] == "-" else parts[0], None if parts[1] == "-" else parts[1],
            None if parts[2] == "-" else parts[2])


def lower_bound(estimate: Estimate, confidence: float) -> float:
    """The one-sided lower confidence bound of the uplift (scipy's t or normal quantile)."""
    from scipy import stats

    quantile = stats.t.ppf(confidence, estimate.df) if estimate.df is not None else stats.norm.ppf(confidence)
    return float(estimate.uplift - quantile * estimate.std_error)


def rule_verdicts(guard: EvidenceGuard, evidence: RuleEvidence | None, cost: float) -> RuleVerdicts | None:
    """What the evidence says of one delight rule costing ``cost``; None without enough."""
    if evidence is None:
        return None

    def verdict(estimate: Estimate | None, scope: str) -> Verdict | None:
        customers = 0 if estimate is None else estimate.treated + estimate.control
        if estimate is None or customers < guard.min_customers or not estimate.treated or not estimate.control:
            return None
        lower = lower_bound(estimate, guard.confidence)
        if not math.isfinite(lower):
            return None
        return Verdict(lower >= cost, lower, estimate.uplift, customers, scope, guard.metric, guard.confidence)

    cells: dict[Cell, Verdict] = {}
    for key, estimate in evidence.cells.items():
        cell = parse_cell_key(key)
        found = verdict(estimate, key) if cell is not None else None
        if cell is not None and found is not None:
            cells[cell] = found
    overall = verdict(evidence.overall, "overall")
    return RuleVerdicts(cells, overall) if cells or overall is not None else None


def evidence_document(metric: str, rules: Mapping[str, RuleEvidence], *, as_of: str | None = None,
                      plan_version: str | None = None) -> dict[str, Any]:
    """An evidence file's content, as ``treatment measure --write-evidence`` writes it."""
    return EvidenceFile(format=FORMAT, metric=metric, as_of=as_of, plan_version=plan_version,
                        rules=dict(rules)).model_dump(mode="json", exclude_none=True)
