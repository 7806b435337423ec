"""Experiments (appendix H) in the decision query: the same buckets and arms as
:mod:`treatment_engine.experiments`, computed in SQL.

The bucket is MD5 in SQL too: ``md5`` of the UTF-8 text, as 32 hex digits in both
DuckDB and Spark, whose first 8 digits are read as a number with one call in each
dialect (a cast of ``0x`` and the digits in DuckDB, ``conv`` in Spark). The query gains
stages between choosing the champion rule and listing its channels:

1. bucketed: the buckets (universal holdout, the champion rule's experiment);
2. armed: the arm, the experiment, the bucket and what decides (``__pick``), read from
   constant lists by the champion's position, as the outputs are;
3. assigned: the position of the rule that decides (``__rule``: the champion's, a
   challenger's variant, the next applicable rule, or a holdout's ``none``). Variants
   are appended to the plan's rules, so every output is still read from constant lists
   by ``__rule``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlglot import exp

from ..compile import CompiledPlan, CompiledRule
from ..experiments.buckets import BUCKETS, UNIVERSAL
from ..experiments.compiled import CHAMPION, HOLDOUT
from .fragments import LIST_BASE, Dialect, and_, case, element, select, string

NEXT = -1  # __pick: the next applicable rule decides (a holdout's control: next)
WOULD_HAVE_COLUMNS = ("would_have_rule", "would_have_treatment", "would_have_actions", "would_have_channels",
                      "would_have_cost")
Branch = tuple[exp.Expr, exp.Expr]
BIGINT = exp.DataType.build("BIGINT")


def has_experiments(plan: CompiledPlan) -> bool:
    return plan.holdout is not None or any(rule.experiment is not None for rule in plan.rules)


def _none_rule(rule: CompiledRule, rule_id: str) -> CompiledRule:
    """A rule that decides nothing, under ``rule_id``: a holdout's control ``none``."""
    return dataclasses.replace(rule, id=rule_id, treatment="none", actions=(), channels=(), action_cost=0.0,
                               needs_profit_check=False, static_channels=(), experiment=None)


class ExperimentStages:
    """The extra rules (appended after the plan's and the default) and the stages that
    pick among them. ``applies`` is the query builder's test that a rule decides a row."""

    def __init__(self, plan: CompiledPlan, applies: Callable[[CompiledRule], exp.Expr],
                 dialect: Dialect = "duckdb") -> None:
        self.plan = plan
        self.applies = applies
        self.dialect = dialect
        self.list_base = LIST_BASE[dialect]
        self.extra: list[CompiledRule] = []
        base = len(plan.rules) + 1  # the plan's rules, then the default
        self.positions: dict[tuple[int, str], int] = {}  # (champion position, arm) -> variant position
        self.challenger_positions: set[int] = set()
        for index, rule in enumerate(plan.rules):
            if rule.experiment is None:
                continue
            for arm in rule.experiment.arms:
                variant = arm.variant if arm.variant is not None else (
                    _none_rule(rule, rule.id) if rule.experiment.control == "none" else None)
                if variant is not None:
                    self.positions[(index, arm.id)] = base + len(self.extra)
                    if arm.variant is not None:
                        self.challenger_positions.add(base + len(self.extra))
                    self.extra.append(variant)
        self.universal = None
        if plan.holdout is not None:
            self.universal = base + len(self.extra)
            self.extra.append(_none_rule(plan.default, HOLDOUT))

    def by_champion(self, values: list[exp.Expr]) -> exp.Expr:
        """One value per plan rule, read by the champion's position (NULL for the default's)."""
        return element([*values, exp.Null()], exp.column("__champion"), self.list_base)

    # -- stages ---------------------------------------------------------------------------

    def bucketed(self, chosen: exp.Select) -> exp.Select:
        """The buckets; the experiment's is NULL where the champion has no experiment (its
        salt is NULL, and so is the digest), so only those rows hash twice."""
        cid = exp.column("customer_id")
        salts = [string(r.experiment.salt) if r.experiment else exp.Null() for r in self.plan.rules]
        columns = [exp.alias_(bucket_sql(_md5(self.by_champion(salts), cid), self.dialect), "__xp_bucket",
                              copy=False)]
        if self.plan.holdout is not None:
            columns.append(exp.alias_(bucket_sql(_md5(string(self.plan.holdout.salt), cid), self.dialect),
                                      "__uh_bucket", copy=False))
        return select("*", *columns).from_(_sub(chosen, "chosen"), copy=False)

    def assigned(self, chosen: exp.Select) -> exp.Select:
        """Three stages: ``bucketed``, ``armed`` picks each row's arm and what decides it
        (``__pick``: a position, or NEXT for a holdout's next applicable rule); ``assigned``
        resolves ``__rule``, checking a challenger's own ``then`` and finding the next
        applicable rule with one shared CASE (a copy per holdout grew the query with plans:
        50 holdouts in a 500-rule plan made it 15 times longer, and as slow to build and plan)."""
        armed = self.armed(self.bucketed(chosen))
        pick, champion = exp.column("__pick"), exp.column("__champion")
        branches: list[Branch] = []
        if self.next_needed():
            branches.append((exp.EQ(this=pick.copy(), expression=exp.Literal.number(NEXT)), self.next_applicable()))
        first_variant = len(self.plan.rules) + 1
        for offset, variant in enumerate(self.extra):
            position = first_variant + offset
            if position in self.challenger_positions:
                # A challenger that cannot be given leaves the champion's then (experiments.assign).
                branches.append((exp.EQ(this=pick.copy(), expression=exp.Literal.number(position)),
                                 case([(self.applies(variant), exp.Literal.number(position))], champion.copy())))
        rule = case(branches, pick.copy()) if branches else pick.copy()
        return select("*", exp.alias_(rule, "__rule", copy=False)).from_(_sub(armed, "armed"), copy=False)

    def armed(self, bucketed: exp.Select) -> exp.Select:
        """The arm by bucket ranges: a rule's arms take [0, high1), [high1, high2), ... in
        declaration order (experiments.compiled), so the k-th arm of every rule is one
        constant list of upper bounds, read by the champion's position; a row's arm is the
        first whose bound its bucket is under. A CASE over every rule's arms instead was
        three comparisons per arm per row (50 experiments: 150 WHENs)."""
        champion, number = exp.column("__champion"), exp.column("__xp_bucket")
        picks: list[Branch] = []
        arms: list[Branch] = []
        held = None
        if self.plan.holdout is not None:
            held = exp.LT(this=exp.column("__uh_bucket"), expression=exp.Literal.number(self.plan.holdout.size))
            picks.append((held, exp.Literal.number(self.universal)))
            arms.append((held, string(UNIVERSAL)))
        for slot in range(max((len(r.experiment.arms) for r in self.plan.rules if r.experiment), default=0)):
            highs: list[exp.Expr] = []
            positions: list[exp.Expr] = []
            ids: list[exp.Expr] = []
            for index, rule in enumerate(self.plan.rules):
                arm = rule.experiment.arms[slot] if rule.experiment and slot < len(rule.experiment.arms) else None
                given = arm is not None and arm.high > arm.low  # a share that rounds to no bucket: nobody
                highs.append(exp.Literal.number(arm.high) if given and arm else exp.Null())
                positions.append(exp.Literal.number(self.positions.get((index, arm.id), NEXT)) if arm
                                 else exp.Null())
                ids.append(string(arm.id) if arm else exp.Null())
            inside = exp.LT(this=number.copy(), expression=self.by_champion(highs))
            picks.append((inside, self.by_champion(positions)))
            arms.append((inside.copy(), self.by_champion(ids)))
        decided = exp.Is(this=champion.copy(), expression=exp.Null())
        experiment = self.by_champion([string(r.experiment.id) if r.experiment else exp.Null()
                                       for r in self.plan.rules])
        bucket: exp.Expr = number.copy()  # NULL where the champion has no experiment
        if held is not None:
            experiment = case([(held.copy(), string(UNIVERSAL))], experiment)
            bucket = case([(held.copy(), exp.column("__uh_bucket"))], bucket)
        return select(
            "*",
            exp.alias_(case([(decided, exp.Null()), *picks], champion.copy()), "__pick", copy=False),
            exp.alias_(case([(decided.copy(), exp.Null()), *arms], string(CHAMPION)), "__arm", copy=False),
            exp.alias_(experiment, "__experiment", copy=False),
            exp.alias_(bucket, "__bucket", copy=False),
        ).from_(_sub(bucketed, "bucketed"), copy=False)

    def next_needed(self) -> bool:
        return any(r.experiment is not None and r.experiment.control == "next"
                   and any(a.id == HOLDOUT and a.high > a.low for a in r.experiment.arms) for r in self.plan.rules)

    def next_applicable(self) -> exp.Expr:
        """experiments.assign.next_applicable: the first rule after the champion that
        applies, else the default; only rules after the first such holdout can be it."""
        rules = self.plan.rules
        first = min(i for i, r in enumerate(rules) if r.experiment is not None and r.experiment.control == "next")
        later: list[Branch] = [
            (and_(exp.GT(this=exp.Literal.number(i), expression=exp.column("__champion")), self.applies(r)),
             exp.Literal.number(i)) for i, r in enumerate(rules) if i > first]
        return case(later, exp.Literal.number(len(rules))) if later else exp.Literal.number(len(rules))


def _sub(query: exp.Select, name: str) -> exp.Expr:
    return exp.alias_(exp.Subquery(this=query), name, table=True, copy=False)


def _md5(salt: exp.Expr, customer_id: exp.Expr) -> exp.Expr:
    return exp.MD5(this=exp.Concat(expressions=[salt, string(":"), customer_id]))


def bucket_sql(digest: exp.Expr, dialect: Dialect) -> exp.Expr:
    """experiments.bucket: the digest's first 8 hex digits (4 bytes, big-endian) as a
    number, modulo 10,000, with one call in each dialect. A portable form (eight
    ``strpos`` over the hex alphabet) cost DuckDB as much as the MD5 itself."""
    head = exp.Substring(this=digest, start=exp.Literal.number(1), length=exp.Literal.number(8))
    if dialect == "spark":
        number: exp.Expr = exp.func("CONV", head, exp.Literal.number(16), exp.Literal.number(10))
    else:  # DuckDB casts hexadecimal text written with a 0x prefix
        number = exp.Concat(expressions=[string("0x"), head])
    return exp.Mod(this=exp.Cast(this=number, to=BIGINT), expression=exp.Literal.number(BUCKETS))
