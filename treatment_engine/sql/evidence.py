"""semantics.profitable's evidence in SQL (appendix K): a rule's verdict for the row's
segment x stage x tier cell, else its verdict overall, else the ratio test.

The verdicts are worked out when the plan is compiled (treatment_engine.evidence), so
here they are constants: a CASE over the cells whose verdict differs from the fallback.
"""

from __future__ import annotations

from sqlglot import exp

from ..compile import CompiledRule
from ..expressions.ast import RESOLVED_NAMES
from .fragments import and_, boolean, case, string


def profitable(rule: CompiledRule, ratio_test: exp.Expr | None) -> exp.Expr:
    """Whether ``rule`` passes the profitability test on a row; ``ratio_test`` is the
    policy's ratio test (None: the plan has none, so without evidence it passes)."""
    fallback = ratio_test if ratio_test is not None else exp.true()
    evidence = rule.evidence
    if evidence is None:
        return fallback
    overall = None if evidence.overall is None else evidence.overall.pays
    if overall is not None:
        fallback = boolean(overall)
    branches = [(_in_cell(cell), boolean(verdict.pays)) for cell, verdict in sorted(
        evidence.cells.items(), key=lambda item: tuple(part or "" for part in item[0]))
        if verdict.pays is not overall]
    return case(branches, fallback) if branches else fallback


def _in_cell(cell: tuple[str | None, str | None, str | None]) -> exp.Expr:
    """The row's resolved segment, stage and tier are the cell's (None: not resolved)."""
    return and_(*(exp.Is(this=exp.column(name), expression=exp.Null()) if part is None
                  else exp.EQ(this=exp.column(name), expression=string(part))
                  for name, part in zip(RESOLVED_NAMES, cell, strict=True)))
