"""A validated plan to the immutable, thread-safe form every back end reads.

Compiled once, evaluated many times: conditions become closures, costs are summed,
consent fields are split into paths, and rules are sorted and indexed by the
(segment, lifecycle stage, value tier) they can match, so a decision only looks at
rules that can possibly apply to the customer in front of it. The same object
carries the parsed expressions and locations for the SQL compiler and the explainer.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .contacts import ContactRules, compile_contact_rules
from .durations import seconds
from .errors import Location
from .evidence import EvidenceGuard, RuleVerdicts, rule_verdicts
from .experiments.compiled import CompiledExperiment, CompiledHoldout, compile_experiment, compile_holdout
from .expressions.ast import RESOLVED_NAMES, Expression, fields_read
from .expressions.closures import Compiled, compile_expression
from .journeys.compiled import CompiledJourney, compile_journeys
from .journeys.stalls import CompiledStall, compile_stalls
from .measure.metrics import CompiledMetric, compile_metric
from .model import Outcome, ids
from .semantics import admits
from .validate import ValidatedPlan

# An exhaustive index stays below this many (segment, stage, tier) cells; beyond it the
# index is filled per cell on first use (still correct, still thread-safe).
EAGER_INDEX_LIMIT = 50_000

IndexKey = tuple[str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class CompiledChannel:
    id: str
    cost: float
    consent: tuple[str, ...] | None  # dotted profile field that must be exactly true


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A segment or lifecycle stage definition: first match names the profile."""

    id: str
    expression: Expression | None
    test: Compiled | None
    location: Location


@dataclass(frozen=True, slots=True)
class CompiledTier:
    id: str
    min: float


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    order: int  # position after sorting by descending priority, plan order kept for ties
    priority: int
    description: str | None
    segments: frozenset[str] | None  # None: any
    stages: frozenset[str] | None
    tiers: frozenset[str] | None
    expression: Expression | None
    test: Compiled | None
    treatment: str
    actions: tuple[str, ...]
    channels: tuple[CompiledChannel, ...]
    action_cost: float  # sum of the actions' costs, in plan order
    needs_profit_check: bool  # a delight rule under a policy, or with evidence
    location: Location
    # The channel ids when no channel needs consent (so they are the same for everyone,
    # and `none` rules have ()); None when consent must be checked per profile.
    static_channels: tuple[str, ...] | None = None
    experiment: CompiledExperiment | None = None  # its holdout and challengers (appendix H)
    evidence: RuleVerdicts | None = None  # what measured evidence says of it (appendix K)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    value_field: tuple[str, ...]
    delight_max_cost_ratio: float


@dataclass(frozen=True, slots=True)
class CompiledStep:
    """One step of a moment's pattern (see :mod:`treatment_engine.moments`)."""

    event: str  # the event type it matches (for an absence: the type that must not occur)
    expression: Expression | None  # its `if`, over the event's own fields
    test: Compiled | None
    count: int  # how many such events (1 unless `count`)
    within: int | None  # seconds: after the previous step (or, with count, across the events)
    absent: bool  # a `not` step: no such event within `within`


@dataclass(frozen=True, slots=True)
class CompiledMoment:
    id: str
    description: str | None
    steps: tuple[CompiledStep, ...]
    sets: Mapping[str, Any]  # what a firing sets in the decision's profile
    location: Location

    @property
    def horizon(self) -> int:
        """Seconds from a pattern's first event to the latest it can complete."""
        return sum(s.within or 0 for s in self.steps)


@dataclass(frozen=True)
class CompiledPlan:
    version: str
    root: str
    segments: tuple[CompiledCondition, ...]
    lifecycle: tuple[CompiledCondition, ...]
    tier_field: tuple[str, ...] | None
    tiers: tuple[CompiledTier, ...]
    channels: Mapping[str, CompiledChannel]
    action_costs: Mapping[str, float]
    action_kinds: Mapping[str, str]
    policy: CompiledPolicy | None  # the profitability test, when the plan sets one
    contact_rules: ContactRules | None  # caps and cooldown, read from the decision history
    rules: tuple[CompiledRule, ...]  # in evaluation order
    default: CompiledRule
    segment_ids: frozenset[str]
    stage_ids: frozenset[str]
    tier_ids: frozenset[str]
    candidates: Callable[[IndexKey], tuple[CompiledRule, ...]]
    moments: tuple[CompiledMoment, ...] = ()
    holdout: CompiledHoldout | None = None  # the universal holdout (appendix H)
    expected_customers: int | None = None  # how many customers the plan expects (lint's power check)
    evidence_guard: EvidenceGuard | None = None  # policy.profitability.evidence (appendix K)
    metrics: tuple[CompiledMetric, ...] = ()  # outcomes measured after decisions (appendix I)

    journeys: tuple[CompiledJourney, ...] = ()  # appendix J
    stalls: tuple[CompiledStall, ...] = ()  # journey steps' on_stall: moments the journeys fire

    @property
    def correlates(self) -> bool:
        """Whether the moments engine has work: moments, or journey steps that stall."""
        return bool(self.moments or self.stalls)

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type some moment's pattern, some metric or some journey names: what
        the service stores and replay reads (outcomes and journeys are measured from the store)."""
        return frozenset(step.event for m in self.moments for step in m.steps) | {m.event for m in self.metrics} \
            | frozenset(kind for journey in self.journeys for kind in journey.event_types)

    def counts(self) -> dict[str, int]:
        return {"segments": len(self.segments), "lifecycle stages": len(self.lifecycle),
                "value tiers": len(self.tiers), "rules": len(self.rules),
                "channels": len(self.channels), "actions": len(self.action_costs),
                **({"moments": len(self.moments)} if self.moments else {})}

    @functools.cached_property
    def profile_fields(self) -> tuple[tuple[str, ...], ...]:
        """Every profile field path the plan's decisions read, ids included, sorted: what a
        decision log keeps to replay a decision, and what the SQL back ends select."""
        paths: set[tuple[str, ...]] = {("customer_id",), *((name,) for name in RESOLVED_NAMES)}
        for entry in (*self.segments, *self.lifecycle):
            if entry.expression is not None:
                paths |= {tuple(name.split(".")) for name in fields_read(entry.expression)}
        for rule in self.rules:  # rules read the resolved segment, stage and tier, not the profile's
            if rule.expression is not None:
                paths |= {tuple(name.split(".")) for name in fields_read(rule.expression)
                          if name not in RESOLVED_NAMES}
        paths |= {c.consent for c in self.channels.values() if c.consent}
        if self.policy is not None:
            paths.add(self.policy.value_field)
        if self.tier_field is not None:
            paths.add(self.tier_field)
        return tuple(sorted(paths))


def compile_plan(plan: ValidatedPlan) -> CompiledPlan:
    """The immutable plan every back end reads. Loading lives in :mod:`.plan`."""
    channels = {
        name: CompiledChannel(name, entry.value.cost,
                              tuple(entry.value.consent.split(".")) if entry.value.consent else None)
        for name, entry in plan.channels.items()
    }
    action_costs = {name: entry.value.cost for name, entry in plan.actions.items()}
    policy = contact_rules = None
    if plan.policy is not None:
        written = plan.policy.value
        if written.value_field is not None and written.delight_max_cost_ratio is not None:
            policy = CompiledPolicy(tuple(written.value_field.split(".")), written.delight_max_cost_ratio)
        contact_rules = compile_contact_rules(
            {key: (cap.max, cap.per_days) for key, cap in (written.contact_caps or {}).items()},
            written.delight_cooldown_days, channels)

    def outcome_rule(rule_id: str, order: int, priority: int, description: str | None,
                     when: Any, expression: Expression | None, outcome: Any,
                     location: Location) -> CompiledRule:
        cost = 0.0
        for action in outcome.actions:
            cost += action_costs[action]
        rule_channels = tuple(channels[c] for c in outcome.channels)
        return CompiledRule(
            id=rule_id, order=order, priority=priority, description=description,
            segments=_id_set(when.segment) if when else None,
            stages=_id_set(when.lifecycle_stage) if when else None,
            tiers=_id_set(when.value_tier) if when else None,
            expression=expression,
            test=compile_expression(expression, resolved_names=True) if expression else None,
            treatment=outcome.treatment, actions=tuple(outcome.actions),
            channels=rule_channels, action_cost=cost,
            needs_profit_check=outcome.treatment == "delight" and policy is not None,
            location=location,
            static_channels=_static_channels(outcome.treatment, rule_channels),
        )

    guard = plan.policy.value.profitability.evidence if plan.policy and plan.policy.value.profitability else None

    def with_evidence(rule: CompiledRule) -> CompiledRule:
        """A delight rule's own outcome under measured evidence (a challenger's is not)."""
        if guard is None or plan.evidence is None or rule.treatment != "delight":
            return rule
        verdicts = rule_verdicts(guard, plan.evidence.value.rules.get(rule.id), rule.action_cost)
        return rule if verdicts is None else dataclasses.replace(rule, evidence=verdicts, needs_profit_check=True)

    def ranked_rule(order: int, i: int) -> CompiledRule:
        written = plan.rules[i].value
        rule = with_evidence(outcome_rule(written.id, order, written.priority, written.description, written.when,
                                          plan.rule_conditions[i], written.then, plan.rules[i].location))
        experiment = compile_experiment(written, rule, lambda then: dataclasses.replace(
            outcome_rule(written.id, order, written.priority, written.description, written.when,
                         plan.rule_conditions[i], then, plan.rules[i].location), test=rule.test))
        return rule if experiment is None else dataclasses.replace(rule, experiment=experiment)

    ranked = sorted(range(len(plan.rules)), key=lambda i: -plan.rules[i].value.priority)
    rules = tuple(ranked_rule(order, i) for order, i in enumerate(ranked))
    if plan.default is not None:
        default = outcome_rule("default", len(rules), 0, "the plan's default", None, None,
                               plan.default.value, plan.default.location)
    else:
        default = outcome_rule("default", len(rules), 0, "no default in the plan: leave alone",
                               None, None, Outcome(treatment="none"), Location(plan.root))
    # The default always decides (spec 8), so it never skips for profit or consent.
    default = dataclasses.replace(default, needs_profit_check=False)

    segments = tuple(_condition(e.value.id, x, e.location) for e, x in
                     zip(plan.segments, plan.segment_conditions, strict=True))
    lifecycle = tuple(_condition(e.value.id, x, e.location) for e, x in
                      zip(plan.lifecycle, plan.lifecycle_conditions, strict=True))
    tiers: tuple[CompiledTier, ...] = ()
    tier_field = None
    if plan.value_tiers is not None:
        tier_field = tuple(plan.value_tiers.value.field.split("."))
        tiers = tuple(CompiledTier(t.id, t.min) for t in plan.value_tiers.value.tiers)

    segment_ids = frozenset(s.id for s in segments)
    stage_ids = frozenset(s.id for s in lifecycle)
    tier_ids = frozenset(t.id for t in tiers)
    journeys = compile_journeys(plan.journeys, plan.journey_conditions)
    return CompiledPlan(
        version=plan.version, root=plan.root, segments=segments, lifecycle=lifecycle,
        tier_field=tier_field, tiers=tiers, channels=MappingProxyType(channels),
        action_costs=MappingProxyType(action_costs),
        action_kinds=MappingProxyType({n: e.value.kind for n, e in plan.actions.items()}),
        policy=policy, contact_rules=contact_rules, rules=rules, default=default, segment_ids=segment_ids,
        stage_ids=stage_ids, tier_ids=tier_ids,
        candidates=_build_index(rules, segment_ids, stage_ids, tier_ids),
        moments=tuple(_moment(m, conditions) for m, conditions in zip(plan.moments, plan.moment_conditions,
                                                                       strict=True)),
        holdout=compile_holdout(plan.policy.value if plan.policy else None,
                                plan.policy.location if plan.policy else Location(plan.root)),
        expected_customers=plan.policy.value.expected_customers if plan.policy else None,
        evidence_guard=guard,
        metrics=tuple(compile_metric(m.value, x, m.location) for m, x in zip(plan.metrics, plan.metric_conditions,
                                                                              strict=True)),
        journeys=journeys,
        stalls=compile_stalls(plan.journeys, journeys),
    )


def _moment(located: Any, conditions: tuple[Expression | None, ...]) -> CompiledMoment:
    written = located.value
    steps = []
    for step, expression in zip(written.pattern, conditions, strict=True):
        test = compile_expression(expression, resolved_names=False) if expression else None
        within = seconds(step.within) if step.within else None
        if step.not_ is not None:
            steps.append(CompiledStep(step.not_.event, expression, test, 1, within, True))
        else:
            steps.append(CompiledStep(step.event, expression, test, step.count or 1, within, False))
    return CompiledMoment(written.id, written.description, tuple(steps),
                          MappingProxyType(dict(written.set)), located.location)


def _condition(rule_id: str, expression: Expression | None, location: Location) -> CompiledCondition:
    test = compile_expression(expression, resolved_names=False) if expression else None
    return CompiledCondition(rule_id, expression, test, location)


def _id_set(value: str | list[str] | None) -> frozenset[str] | None:
    listed = ids(value)
    return None if listed is None else frozenset(listed)


def _static_channels(treatment: str, channels: tuple[CompiledChannel, ...]) -> tuple[str, ...] | None:
    if treatment == "none":
        return ()
    if channels and all(c.consent is None for c in channels):
        return tuple(c.id for c in channels)
    return None


def _fill(rules: tuple[CompiledRule, ...], dimensions: list[list[str | None]]) -> dict[IndexKey, tuple[CompiledRule, ...]]:
    """The rules each cell admits (semantics.admits, filled by rule), in evaluation order: each rule put in its cells in one
    pass (testing every cell against every rule, cells x rules, was most of a big plan's
    load), nested by dimension so that the inner loop allocates nothing (a key tuple per
    rule and cell kept the garbage collector busy)."""
    filling: dict[str | None, dict[str | None, dict[str | None, list[CompiledRule]]]] = {
        s: {t: {u: [] for u in dimensions[2]} for t in dimensions[1]} for s in dimensions[0]}
    for rule in rules:
        tiers = dimensions[2] if rule.tiers is None else rule.tiers
        for segment in dimensions[0] if rule.segments is None else rule.segments:
            by_stage = filling[segment]
            for stage in dimensions[1] if rule.stages is None else rule.stages:
                by_tier = by_stage[stage]
                for tier in tiers:
                    by_tier[tier].append(rule)
    return {(s, t, u): tuple(found) for s, by_stage in filling.items()
            for t, by_tier in by_stage.items() for u, found in by_tier.items()}


def _build_index(rules: tuple[CompiledRule, ...], segment_ids: frozenset[str],
                 stage_ids: frozenset[str], tier_ids: frozenset[str]) -> Callable[[IndexKey], tuple[CompiledRule, ...]]:
    dimensions = ([None, *sorted(segment_ids)], [None, *sorted(stage_ids)], [None, *sorted(tier_ids)])
    cells = len(dimensions[0]) * len(dimensions[1]) * len(dimensions[2])
    if cells <= EAGER_INDEX_LIMIT:
        # A dimension no rule constrains gives each of its values the same rules: one
        # representative cell is filled and its tuple shared (a plan without `when`
        # shares one tuple among all its cells instead of holding cells x rules).
        free = tuple(all(getattr(rule, name) is None for rule in rules) for name in ("segments", "stages", "tiers"))
        filled = _fill(rules, [[None] if free[i] else dimensions[i] for i in range(3)])
        # Only the bound __getitem__ escapes, so the table stays read-only without the
        # cost of a MappingProxyType lookup on every decision.
        table = {(s, t, u): filled[(None if free[0] else s, None if free[1] else t, None if free[2] else u)]
                 for s in dimensions[0] for t in dimensions[1] for u in dimensions[2]}
        return table.__getitem__
    memo: dict[IndexKey, tuple[CompiledRule, ...]] = {}

    def lookup(key: IndexKey) -> tuple[CompiledRule, ...]:
        # Filling a dict entry is atomic, and two threads computing one cell agree.
        found = memo.get(key)
        if found is None:
            found = memo[key] = tuple(rule for rule in rules if admits(rule, key))
        return found
    return lookup
