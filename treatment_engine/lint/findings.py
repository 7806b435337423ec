"""What lint reports: a finding with a severity, a place, a stable code and a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import Location, one_line

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Check:
    """A lint check: stable code, short name, and what it means (for SARIF and docs)."""

    code: str
    name: str
    summary: str


CHECKS = {check.code: check for check in (
    Check("TP000", "plan-error", "The plan does not load; the engine would refuse it."),
    Check("TP001", "coverage-gap", "Customers in these segment x stage x tier cells are only ever "
                                   "decided by the default: no rule can match them."),
    Check("TP002", "shadowed-rule", "A rule that can never decide, because an earlier rule matches "
                                    "every customer it matches and always applies."),
    Check("TP003", "priority-tie", "Rules of equal priority that can match the same customer with "
                                   "different outcomes: only file order decides between them."),
    Check("TP004", "never-profitable", "A delight rule that fails the profitability policy for every "
                                       "customer its value tiers allow."),
    Check("TP005", "no-reachable-channel", "A rule whose every channel needs a consent field that no "
                                           "profile is known to carry."),
    Check("TP006", "action-kind-mismatch", "A rule lists actions of the other kind than its treatment."),
    Check("TP007", "unused-definition", "A segment, stage, tier, channel or action nothing refers to."),
    Check("TP008", "unreachable-definition", "A segment or stage listed after one that matches everyone."),
    Check("TP009", "unknown-field", "A reference to a profile field the plan's `fields:` does not declare."),
    Check("TP010", "type-mismatch", "A comparison whose literal can never match the type of its other "
                                     "side: a field's declared type, or the number days_since() or arithmetic gives."),
    Check("TP011", "underpowered-experiment", "A holdout whose arms, out of the expected customers, are too "
                                              "small to detect the uplift it states (`detect`)."),
    Check("TP012", "empty-arm", "An experiment arm whose share rounds to none of the 10,000 buckets: a "
                                "challenger never chosen, a holdout that holds nobody."),
    Check("TP013", "evidence-does-not-pay-back", "A delight rule whose measured evidence (appendix K) says "
                                                 "it does not pay back: the guard keeps it from deciding."),
)}


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    location: Location
    message: str
    hint: str | None = None

    @property
    def name(self) -> str:
        return CHECKS[self.code].name

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}[{self.code} {self.name}]: {one_line(self.message)}"
        return f"{text} ({one_line(self.hint)})" if self.hint else text
