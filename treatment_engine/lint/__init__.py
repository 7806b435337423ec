"""``treatment lint``: findings that catch plan mistakes before customers see them.

A stage over the same validated and compiled plan the engine uses; see
:mod:`.checks` for the checks and :data:`.findings.CHECKS` for their codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ..compile import compile_plan
from ..errors import PlanError, PlanIssue
from ..load import load_plan_source
from ..plantests import load_cases, profile_fields
from ..validate import validate
from .checks import Context, run_checks
from .findings import CHECKS, Finding

__all__ = ["CHECKS", "Finding", "LintReport", "lint_plan"]

_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    plan_version: str | None

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    def exit_code(self, *, strict: bool) -> int:
        """0 clean; 1 warnings with --strict; 2 errors (the plan would not load)."""
        if self.count("error"):
            return 2
        return 1 if strict and self.count("warning") else 0


def lint_plan(plan_dir: str | Path) -> LintReport:
    root = Path(plan_dir)
    issues: list[PlanIssue] = []
    validated = None
    try:
        validated = validate(load_plan_source(root))
    except PlanError as error:
        issues.extend(error.issues)
    try:  # the plan's tests too: one run reports the problems of both
        cases = load_cases(root, date(2000, 1, 1))
    except PlanError as error:
        issues.extend(error.issues)
    if issues or validated is None:
        return LintReport(tuple(Finding("error", "TP000", issue.location, f"{issue.code}: {issue.message}",
                                        issue.hint) for issue in PlanError(issues).issues), None)
    plan = compile_plan(validated)
    context = Context(validated, plan, profile_fields(cases) if cases else None)
    findings = sorted(run_checks(context), key=lambda f: (f.location, _ORDER[f.severity], f.code))
    return LintReport(tuple(findings), plan.version)
