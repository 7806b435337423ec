"""Experiments (appendix H) in the decision query: the same buckets and arms as
:mod:`treatment_engine.experiments`, computed in SQL.

The bucket is MD5 in SQL too: ``md5`` of the UTF-8 text, as 32 hex digits in both
DuckDB and Spark, whose first 8 digits are read as a number with ``strpos`` over the
hex alphabet (portable where each engine's hex-to-integer function is not). The query
gains stages between choosing the champion rule and listing its channels:

1. hashed: the MD5 digests (universal holdout, the champion rule's experiment);
2. bucketed: the buckets;
3. assigned: the position of the rule that decides (``__rule``: the champion's, a
   challenger's variant, the next applicable rule, or a holdout's ``none``), the arm,
   the experiment and the bucket. Variants are appended to the plan's rules, so every
   output is still read from constant lists by ``__rule``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from sqlglot import exp

from ..compile import CompiledPlan, CompiledRule
from ..experiments.buckets import BUCKETS, UNIVERSAL
from ..experiments.compiled import CHAMPION, HOLDOUT
from .fragments import at_base, case, element, select, string

HEX = "0123456789abcdef"
NEXT = -1  # __pick: the next applicable rule decides (a holdout's control: next)
WOULD_HAVE_COLUMNS = ("would_have_rule", "would_have_treatment", "would_have_actions", "would_have_channels",
                      "would_have_cost")
Branch = tuple[exp.Expr, exp.Expr]


def has_experiments(plan: CompiledPlan) -> bool:
    return plan.holdout is not None or any(rule.experiment is not None for rule in plan.rules)


def _none_rule(rule: CompiledRule, rule_id: str) -> CompiledRule:
    """A rule that decides nothing, under ``rule_id``: a holdout's control ``none``."""
    return dataclasses.replace(rule, id=rule_id, treatment="none", actions=(), channels=(), action_cost=0.0,
                               needs_profit_check=False, static_channels=(), experiment=None)


class ExperimentStages:
    """The extra rules (appended after the plan's and the default) and the stages that
    pick among them. ``applies`` is the query builder's test that a rule decides a row."""

    def __init__(self, plan: CompiledPlan, applies: Callable[[CompiledRule], exp.Expr]) -> None:
        self.plan = plan
        self.applies = applies
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

    # -- stages ---------------------------------------------------------------------------

    def hashed(self, chosen: exp.Select, list_base: int) -> exp.Select:
        cid = exp.column("customer_id")
        salts = [string(r.experiment.salt) if r.experiment else exp.Null() for r in self.plan.rules]
        salt = element([*salts, exp.Null()], at_base(exp.column("__champion"), list_base))
        columns = [exp.alias_(_md5(salt, cid), "__xp_md5")]
        if self.plan.holdout is not None:
            columns.append(exp.alias_(_md5(string(self.plan.holdout.salt), cid), "__uh_md5"))
        return select("*", *columns).from_(_sub(chosen, "chosen"), copy=False)

    def bucketed(self, hashed: exp.Select) -> exp.Select:
        columns = [exp.alias_(_bucket(exp.column("__xp_md5")), "__xp_bucket")]
        if self.plan.holdout is not None:
            columns.append(exp.alias_(_bucket(exp.column("__uh_md5")), "__uh_bucket"))
        return select("*", *columns).from_(_sub(hashed, "hashed"), copy=False)

    def assigned(self, bucketed: exp.Select, list_base: int) -> exp.Select:
        """Two stages: ``armed`` picks each row's arm and what decides it (``__pick``: a
        position, or NEXT for a holdout's next applicable rule); ``assigned`` resolves
        ``__rule``, checking a challenger's own ``then`` and finding the next applicable rule
        with one shared CASE (a copy per holdout grew the query with plans: 50 holdouts
        in a 500-rule plan made it 15 times longer, and as slow to build and plan)."""
        armed = self.armed(bucketed, list_base)
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
        return select("*", exp.alias_(rule, "__rule")).from_(_sub(armed, "armed"), copy=False)

    def armed(self, bucketed: exp.Select, list_base: int) -> exp.Select:
        champion, number = exp.column("__champion"), exp.column("__xp_bucket")
        picks: list[Branch] = []
        arms: list[Branch] = []
        held = None
        if self.plan.holdout is not None:
            held = exp.LT(this=exp.column("__uh_bucket"), expression=exp.Literal.number(self.plan.holdout.size))
            picks.append((held, exp.Literal.number(self.universal)))
            arms.append((held, string(UNIVERSAL)))
        for index, rule in enumerate(self.plan.rules):
            if rule.experiment is None:
                continue
            for arm in rule.experiment.arms:
                if arm.high <= arm.low:
                    continue  # a share that rounds to no bucket: nobody is in this arm
                inside = exp.and_(exp.EQ(this=champion.copy(), expression=exp.Literal.number(index)),
                                  exp.GTE(this=number.copy(), expression=exp.Literal.number(arm.low)),
                                  exp.LT(this=number.copy(), expression=exp.Literal.number(arm.high)))
                picks.append((inside, exp.Literal.number(self.positions.get((index, arm.id), NEXT))))
                arms.append((inside, string(arm.id)))
        decided = exp.Is(this=champion.copy(), expression=exp.Null())
        experiment_ids = [string(r.experiment.id) if r.experiment else exp.Null() for r in self.plan.rules]
        experiment = element([*experiment_ids, exp.Null()], at_base(champion.copy(), list_base))
        in_rule = case([(exp.Is(this=experiment.copy(), expression=exp.Null()).not_(), number.copy())], exp.Null())
        if held is not None:
            experiment = case([(held.copy(), string(UNIVERSAL))], experiment)
            bucket = case([(held.copy(), exp.column("__uh_bucket"))], in_rule)
        else:
            bucket = in_rule
        return select(
            "*",
            exp.alias_(case([(decided, exp.Null()), *picks], champion.copy()), "__pick"),
            exp.alias_(case([(decided.copy(), exp.Null()), *arms], string(CHAMPION)), "__arm"),
            exp.alias_(experiment, "__experiment"),
            exp.alias_(bucket, "__bucket"),
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
            (exp.and_(exp.GT(this=exp.Literal.number(i), expression=exp.column("__champion")), self.applies(r)),
             exp.Literal.number(i)) for i, r in enumerate(rules) if i > first]
        return case(later, exp.Literal.number(len(rules))) if later else exp.Literal.number(len(rules))


def _sub(query: exp.Select, name: str) -> exp.Expr:
    return exp.alias_(exp.Subquery(this=query), name, table=True, copy=False)


def _md5(salt: exp.Expr, customer_id: exp.Expr) -> exp.Expr:
    return exp.MD5(this=exp.Concat(expressions=[salt, string(":"), customer_id]))


def _bucket(digest: exp.Expr) -> exp.Expr:
    """experiments.bucket: the first 8 hex digits as a number, modulo 10,000."""
    total: exp.Expr | None = None
    for place in range(8):
        digit = exp.Sub(this=exp.StrPosition(this=string(HEX), substr=exp.Substring(
            this=digest.copy(), start=exp.Literal.number(place + 1), length=exp.Literal.number(1))),
            expression=exp.Literal.number(1))
        # BIGINT before multiplying: 15 x 16^7 is past a 32-bit INT, which Spark would wrap.
        term = exp.Mul(this=exp.Cast(this=digit, to=exp.DataType.build("BIGINT")),
                       expression=exp.Literal.number(16 ** (7 - place)))
        total = term if total is None else exp.Add(this=total, expression=term)
    assert total is not None
    return exp.Mod(this=exp.Paren(this=total), expression=exp.Literal.number(BUCKETS))

