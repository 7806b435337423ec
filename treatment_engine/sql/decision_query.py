"""A compiled plan as one SQL query: one decision per source row, in input order.

The query reads a canonical view (see :mod:`.sources`) in which each profile field the
plan reads is four typed components (:mod:`.fragments`), and yields every MUST field of
spec section 4. It is a projection only (no joins but the optional limits, no windows
or sorts), so back ends can stream it with bounded memory. It is built in four stages,
one SELECT each, around the one before:

1. resolved: the customer id, segment, lifecycle stage, value tier, and the error of a
   row that cannot be decided;
2. chosen: the first rule that applies, as its position (``__rule``; with experiments,
   ``__passed``, from which the stages of :mod:`.experiments` find the champion and
   pick the rule that decides);
3. decided: the channels the customer may be contacted on;
4. the outputs, read from constant lists by the rule's position.

A query for a summary (``summary=True``) ends after stage 2 with only what a summary
groups by (:meth:`DecisionQueryBuilder.summary_stage`).

Each clause reproduces a function of :mod:`treatment_engine.semantics`, named in the
method that builds it; the invalid-profile messages come from its table.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlglot import exp

from .. import semantics
from ..compile import CompiledChannel, CompiledPlan, CompiledRule
from ..expressions.ast import RESOLVED_NAMES
from . import evidence
from .experiments import PASSED, WOULD_HAVE_COLUMNS, ExperimentStages, has_experiments
from .expressions import ExpressionCompiler, FieldColumns
from .fragments import (
    LIST_BASE,
    Dialect,
    and_,
    case,
    coalesce,
    column,
    element,
    integer,
    not_,
    null_boolean,
    number,
    or_,
    paren,
    select,
    string,
)
from .resolution import BUDGET, ResolvedStage, one_of

PERMITTED_PREFIX = "permitted__"  # the per-channel flags of summary=True
# The query's columns, in order (before any carried or flag columns).
OUTPUT_COLUMNS = ("customer_id", "segment", "lifecycle_stage", "value_tier", "treatment", "rule",
                  "actions", "channels", "channel", "cost", "arm", "experiment", "bucket",
                  *WOULD_HAVE_COLUMNS, "error")
# Parsed once: DataType.build parses its text each call, which for the ~2,000 lists of a
# 500-rule plan with experiments was a third of building the query (1.4 of 4.2 s).
TEXT_ARRAY = exp.DataType.build("ARRAY<VARCHAR>")
# What a summary groups by: every row of a group has the same rule (by its position,
# __rule), the same champion (would_have_rule) and the same permitted channels (the
# flags), so its channel and costs are worked out once per group, not per row.
SUMMARY_COLUMNS = ("segment", "lifecycle_stage", "value_tier", "error", "__rule", "arm", "would_have_rule")

Branch = tuple[exp.Expr, exp.Expr]  # (WHEN, THEN) of a CASE


def required_fields(plan: CompiledPlan) -> list[tuple[str, ...]]:
    """Every profile field path a plan's decisions read, ids included, in a stable order
    (the compiled plan knows: :attr:`CompiledPlan.profile_fields`)."""
    return list(plan.profile_fields)


@dataclass(frozen=True)
class LimitsRelation:
    """Per-customer contact limits (:mod:`treatment_engine.contacts`) as a relation the
    query LEFT JOINs by customer id; a customer it lacks has no limits. Build it with
    :mod:`.limits`, which names the columns."""

    relation: exp.Expr  # a table expression, aliased
    customer_id: str
    cooling_down: str  # BOOLEAN: delight rules do not apply
    blocked: Mapping[str, str]  # channel id -> BOOLEAN column: its cap is reached


@dataclass(frozen=True)
class DecisionQuery:
    sql: exp.Select
    rules: tuple[CompiledRule, ...]  # by the index the query's __rule column holds


def permitted_flags(plan: CompiledPlan, limits: LimitsRelation | None = None) -> list[str]:
    """The flag columns of ``summary=True``: a channel not permitted to everyone."""
    return [f"{PERMITTED_PREFIX}{n}" for n in sorted(plan.channels)
            if plan.channels[n].consent is not None or (limits is not None and n in limits.blocked)]


def decision_query(plan: CompiledPlan, fields: Mapping[tuple[str, ...], FieldColumns],
                   source: exp.Expr, as_of: date, *, invalid_column: str | None = None,
                   dialect: Dialect = "duckdb", carry: tuple[str, ...] = (),
                   summary: bool = False, limits: LimitsRelation | None = None) -> DecisionQuery:
    """One row per source row: the OUTPUT_COLUMNS. ``invalid_column`` names a source column
    holding a reason the row is no profile at all (bad JSON, not an object); ``dialect``
    is the back end's SQL (its first array index, its hex-to-number function); ``carry``
    names source columns passed through (an order key, say); ``summary`` gives the
    SUMMARY_COLUMNS instead, and a TRUE/FALSE column per channel not permitted to everyone
    (:func:`permitted_flags`); ``limits`` brings in contact caps and the delight cooldown,
    for a plan that sets them."""
    return DecisionQueryBuilder(plan, fields, as_of, limits, dialect).build(
        source, invalid_column=invalid_column, carry=carry, summary=summary)


def decision_sql(plan: CompiledPlan, fields: Mapping[tuple[str, ...], FieldColumns], source: exp.Expr,
                 as_of: date, *, dialect: Dialect = "duckdb", **options: Any) -> tuple[str, tuple[CompiledRule, ...]]:
    """:func:`decision_query` as the back end's SQL text, and its rules by position.

    Python's cyclic garbage collector is paused while the tree is built and written out.
    A 500-rule plan's tree is some 15,000 sqlglot nodes, each pointing back at its parent,
    all garbage once written; made with the collector running, they survived young
    collections and set off a full one over every object of the process, 0.04 s of the
    engine's 0.46 s over 200,000 Parquet profiles (benchmarks/bench_simulate.py). Paused,
    they die young: the next young collection frees them."""
    with _collector_paused():
        query = decision_query(plan, fields, source, as_of, dialect=dialect, **options)
        return query.sql.sql(dialect, copy=False), query.rules  # built for this call: no copy needed


@contextmanager
def _collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class DecisionQueryBuilder(ResolvedStage):
    """Builds :func:`decision_query` for one plan over one canonical view (stage 1, who the
    customer is, in :class:`.resolution.ResolvedStage`)."""

    def __init__(self, plan: CompiledPlan, fields: Mapping[tuple[str, ...], FieldColumns], as_of: date,
                 limits: LimitsRelation | None, dialect: Dialect = "duckdb") -> None:
        self.plan = plan
        self.list_base = LIST_BASE[dialect]
        self.fields = fields
        self.limits = limits
        self.plain = ExpressionCompiler(fields, as_of)  # segment and stage conditions
        self.in_rules = ExpressionCompiler(fields, as_of, {name: exp.column(name) for name in RESOLVED_NAMES})
        self.experiments = ExperimentStages(plan, self.applies, dialect) if has_experiments(plan) else None
        self.all_rules = (*plan.rules, plan.default, *(self.experiments.extra if self.experiments else ()))
        self.channel_ids = sorted(plan.channels)
        self.cid = self.field(("customer_id",))

    def build(self, source: exp.Expr, *, invalid_column: str | None,
              carry: tuple[str, ...], summary: bool) -> DecisionQuery:
        kept = [exp.column(c) for c in carry]
        resolved = self.resolved_stage(source, kept, invalid_column)
        chosen = self.chosen_stage(resolved)
        if self.experiments is not None:  # the champion, then the arm that decides
            chosen = self.experiments.assigned(chosen)
        if summary:
            return DecisionQuery(self.summary_stage(chosen, kept), self.all_rules)
        lists = _RuleLists(self.all_rules, "__rule", self.list_base)
        decided = self.decided_stage(chosen, lists, kept)
        return DecisionQuery(self.output_stage(decided, lists, kept), self.all_rules)

    # -- stage 2: the rule ----------------------------------------------------------------

    def unless(self, column: str | None) -> exp.Expr | None:
        # A customer missing from the limits relation has NULL here: no limit.
        return not_(coalesce(exp.column(column), exp.false())) if column else None

    def consented(self, channel: CompiledChannel) -> exp.Expr:
        """semantics.permitted and semantics.uncapped for one channel: TRUE when the customer
        may be contacted on it; NULL or FALSE otherwise."""
        if channel.consent is None:
            consent: exp.Expr = exp.true()
        else:
            flag = self.field(channel.consent).b
            consent = paren(flag) if flag is not None else exp.false()
        uncapped = self.unless(self.limits.blocked.get(channel.id)) if self.limits else None
        if uncapped is None:
            return consent
        return uncapped if channel.consent is None else paren(and_(consent, uncapped))

    def applies(self, rule: CompiledRule, admitted: bool = False) -> exp.Expr:
        """Whether a rule decides a row: semantics.admits, its condition, then what
        semantics.skip_reason checks (profitable, cooling_down, permitted and uncapped).
        ``admitted``: only the skip_reason part, for a row the rule's constraints and
        condition are known to admit (a challenger's then, which shares its champion's)."""
        # Only ever used as a CASE WHEN test, which a NULL fails like FALSE; so the
        # conjunction needs no COALESCE (and SQL's AND/OR are the spec's three-valued ones).
        # Its parts need no parentheses of their own: and_ puts them around an AND or OR.
        tests: list[exp.Expr] = []
        for name, allowed in zip(RESOLVED_NAMES, semantics.constraints(rule), strict=True):
            if allowed is not None and not admitted:
                tests.append(one_of(column(name), sorted(allowed)))
        if rule.expression is not None and not admitted:
            tests.append(self.in_rules.value(rule.expression).b or null_boolean())
        policy = self.plan.policy
        if rule.needs_profit_check:  # semantics.profitable
            ratio_test = None
            if policy is not None:  # cost <= ratio x value, the product read from stage 1
                ratio_test = exp.LTE(this=number(rule.action_cost), expression=column(BUDGET)) \
                    if self.budget() is not None else exp.false()
            tests.append(evidence.profitable(rule, ratio_test))
        if rule.treatment == "delight" and self.limits is not None:  # semantics.cooling_down
            tests.append(self.unless(self.limits.cooling_down) or exp.true())
        if rule.treatment != "none":  # semantics.permitted and semantics.uncapped
            consents = [self.consented(c) for c in rule.channels]
            if not any(c == exp.true() for c in consents):  # a channel open to everyone passes: no test
                tests.append(or_(*consents) if consents else exp.false())
        return and_(*tests) if tests else exp.true()

    def chosen_stage(self, resolved: exp.Select) -> exp.Select:
        rules = self.plan.rules
        tests = [self.applies(rule) for rule in rules]
        if self.experiments is not None:  # rows in a control: next holdout go on to the next rule
            tests = self.experiments.passing(tests)
        chosen = case([(test, integer(i)) for i, test in enumerate(tests)],
                      integer(len(rules)))  # the default's position
        error_row = not_(exp.Is(this=exp.column("error"), expression=exp.Null()))
        name = PASSED if self.experiments is not None else "__rule"
        return select("*", exp.alias_(case([(error_row, exp.Null())], chosen), name, copy=False)).from_(
            copy=False, expression=exp.alias_(exp.Subquery(this=resolved), "resolved", table=True, copy=False))

    # -- stage 3: the channels ----------------------------------------------------------

    def permitted_channels(self, rule_channels: exp.Expr) -> exp.Expr:
        """semantics.contacted: the rule's channels the customer may be contacted on."""
        if not self.channel_ids:  # every list is empty: nothing to filter (and a CASE needs a WHEN)
            return rule_channels
        allowed = exp.Case(this=exp.column("ch"), default=exp.false(), ifs=[
            exp.If(this=string(name), true=self.consented(self.plan.channels[name])) for name in self.channel_ids])
        return exp.ArrayFilter(this=rule_channels, expression=exp.Lambda(
            this=coalesce(allowed, exp.false()), expressions=[exp.to_identifier("ch")]))

    def decided_stage(self, chosen: exp.Select, lists: _RuleLists, kept: list[exp.Column]) -> exp.Select:
        channels = self.permitted_channels(lists.channels())
        experiment_columns: list[exp.Expr] = []
        if self.experiments is not None:  # and the champion's channels, for would_have
            champion = _RuleLists(self.all_rules, "__champion", self.list_base)
            experiment_columns = [exp.column(c) for c in ("__champion", "__arm", "__experiment", "__bucket")]
            experiment_columns.append(exp.alias_(self.permitted_channels(champion.channels()), "__wh_channels"))
        return select(
            *(k.copy() for k in kept),
            *(exp.column(c) for c in ("customer_id", "segment", "lifecycle_stage", "value_tier", "error", "__rule")),
            exp.alias_(channels, "channels", copy=False),
            *experiment_columns,
        ).from_(copy=False, expression=exp.alias_(exp.Subquery(this=chosen), "chosen", table=True, copy=False))

    # -- stage 4: the outputs -------------------------------------------------------------

    def first_cost(self, first: exp.Expr) -> exp.Expr:
        """The first channel's cost (semantics.cost's second term), by its position in
        constant lists: one reference to the filtered channel list (a CASE on it is
        expanded per branch, re-running the filter)."""
        if not self.channel_ids:
            return number(0.0)
        # ARRAY_POSITION counts from 1 in both back ends: 0-based, it is 1 less.
        position = exp.Sub(this=exp.ArrayPosition(this=_text_list(self.channel_ids), expression=first),
                           expression=exp.Literal.number(1))
        return element([number(self.plan.channels[n].cost) for n in self.channel_ids], position, self.list_base)

    def output_stage(self, decided: exp.Select, lists: _RuleLists, kept: list[exp.Column]) -> exp.Select:
        first = exp.Bracket(this=exp.column("channels"), expressions=[exp.Literal.number(0)])
        cost = exp.Add(this=lists.costs(), expression=coalesce(self.first_cost(first),
                                                               number(0.0)))  # semantics.cost
        columns: dict[str, exp.Expr] = {
            "treatment": lists.treatments(), "rule": lists.ids(), "actions": lists.actions(),
            "channel": first, "cost": cost, **self.experiment_outputs(),
        }
        return select(
            *(exp.alias_(columns[name], name, copy=False) if name in columns else exp.column(name)
              for name in OUTPUT_COLUMNS),
            *(k.copy() for k in kept),
        ).from_(copy=False, expression=exp.alias_(exp.Subquery(this=decided), "decided", table=True, copy=False))

    def summary_stage(self, chosen: exp.Select, kept: list[exp.Column]) -> exp.Select:
        """Instead of stages 3 and 4, for a summary: the SUMMARY_COLUMNS and one TRUE/FALSE
        per channel not permitted to everyone (consent or a cap). Nothing a summary leaves
        unread is in the query: a 500-rule plan's output lists (ids, actions, channels,
        costs, and again for would_have) were most of its text, which DuckDB parses and
        binds before it prunes them (about 0.7 s of 1.9 s for the query's planning)."""
        flags = permitted_flags(self.plan, self.limits)
        champion_arm = string("champion")
        would_have_rule: exp.Expr = exp.Null()
        if self.experiments is not None:
            champion_arm = exp.column("__arm")
            off = exp.NEQ(this=exp.column("__arm"), expression=string("champion"))
            would_have_rule = case([(off, _RuleLists(self.all_rules, "__champion", self.list_base).ids())])
        columns = {"arm": champion_arm, "would_have_rule": would_have_rule}
        return select(
            *(exp.alias_(columns[name], name, copy=False) if name in columns else exp.column(name)
              for name in SUMMARY_COLUMNS),
            *(exp.alias_(coalesce(self.consented(self.plan.channels[name.removeprefix(PERMITTED_PREFIX)]),
                                  exp.false()), name, copy=False) for name in flags),
            *(k.copy() for k in kept),
        ).from_(copy=False, expression=exp.alias_(exp.Subquery(this=chosen), "chosen", table=True, copy=False))


    def experiment_outputs(self) -> dict[str, exp.Expr]:
        """arm, experiment, bucket and would_have's parts (NULL on the champion's arm)."""
        if self.experiments is None:
            return {"arm": string("champion"), "experiment": exp.Null(), "bucket": exp.Null(),
                    **{name: exp.Null() for name in WOULD_HAVE_COLUMNS}}
        champion = _RuleLists(self.all_rules, "__champion", self.list_base)
        first = exp.Bracket(this=exp.column("__wh_channels"), expressions=[exp.Literal.number(0)])
        off = exp.NEQ(this=exp.column("__arm"), expression=string("champion"))
        parts = {"rule": champion.ids(), "treatment": champion.treatments(), "actions": champion.actions(),
                 "channels": exp.column("__wh_channels"),
                 "cost": exp.Add(this=champion.costs(), expression=coalesce(
                     self.first_cost(first), number(0.0)))}
        return {"arm": exp.column("__arm"), "experiment": exp.column("__experiment"),
                "bucket": exp.column("__bucket"),
                **{f"would_have_{key}": case([(off.copy(), value)], exp.Null()) for key, value in parts.items()}}


class _RuleLists:
    """Outputs read from constant lists by the chosen rule's position: one reference to
    the position per output, where a 500-way CASE would be re-evaluated per branch
    wherever the engine inlines the projection."""

    def __init__(self, rules: tuple[CompiledRule, ...], position: str, list_base: int) -> None:
        self.rules = rules
        self.position = position  # the column holding the rule's 0-based position
        self.list_base = list_base

    def lookup(self, values: list[exp.Expr]) -> exp.Expr:
        return element(values, exp.column(self.position), self.list_base)

    def treatments(self) -> exp.Expr:
        return self.lookup([string(r.treatment) for r in self.rules])

    def ids(self) -> exp.Expr:
        return self.lookup([string(r.id) for r in self.rules])

    def actions(self) -> exp.Expr:
        return self.lookup([_text_list(r.actions) for r in self.rules])

    def costs(self) -> exp.Expr:
        return self.lookup([number(r.action_cost) for r in self.rules])

    def channels(self) -> exp.Expr:
        """Each rule's listed channels; none for a `none` rule (semantics.contacted)."""
        return self.lookup([_text_list([c.id for c in r.channels] if r.treatment != "none" else [])
                            for r in self.rules])


def _text_list(items: tuple[str, ...] | list[str]) -> exp.Expr:
    return exp.Cast(this=exp.Array(expressions=[string(i) for i in items]), to=TEXT_ARRAY.copy())
