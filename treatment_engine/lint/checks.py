"""The lint checks, one function each, over a validated plan and its compiled form."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..compile import CompiledPlan, CompiledRule
from ..errors import Location, did_you_mean
from ..expressions import ast
from ..expressions.ast import (
    RESOLVED_NAMES,
    Expression,
    fields_read,
)
from ..load import Path_, SourceFile
from ..semantics import admits, always_applies
from ..validate import Located, ValidatedPlan
from ..validate import _expression_location as expression_location  # where validate puts expression errors
from .experiments import empty_arms, underpowered
from .findings import Finding
from .logic import disjoint, implies
from .patterns import literals_compared_to_resolved, type_mismatches_in

MAX_GAP_FINDINGS = 20


@dataclass(frozen=True)
class Context:
    validated: ValidatedPlan
    plan: CompiledPlan
    tested_fields: frozenset[str] | None  # dotted paths present in the plan's test profiles


def run_checks(context: Context) -> list[Finding]:
    findings: list[Finding] = []
    for check in (gaps, shadowed_rules, ties, never_profitable, no_reachable_channel,
                  kind_mismatch, unused, unreachable_definitions, unknown_fields, type_mismatches,
                  underpowered, empty_arms, unprofitable_by_evidence):
        findings.extend(check(context))
    return findings


def unprofitable_by_evidence(context: Context) -> Iterator[Finding]:
    """TP013: where the evidence says a rule does not pay back, overall or in some cells."""
    for rule in context.plan.rules:
        if rule.evidence is None:
            continue
        overall = rule.evidence.overall
        failing = sorted(key for key, verdict in ((v.scope, v) for v in rule.evidence.cells.values())
                         if not verdict.pays)
        if overall is not None and not overall.pays:
            yield Finding("warning", "TP013", rule.location,
                          f"rule '{rule.id}' does not pay back on the evidence: {overall.reason(rule.action_cost)}",
                          "it decides only in cells whose own evidence says it pays; measure again, "
                          "or change or remove the rule")
        elif failing:
            yield Finding("warning", "TP013", rule.location,
                          f"rule '{rule.id}' does not pay back on the evidence in {len(failing)} "
                          f"cell(s): {', '.join(failing[:5])}{' ...' if len(failing) > 5 else ''}",
                          "there the guard keeps it from deciding")


def _where(rule: CompiledRule) -> str:
    return f"'{rule.id}' (priority {rule.priority}, {rule.location})"


# -- TP001 -----------------------------------------------------------------------

def gaps(context: Context) -> Iterator[Finding]:
    plan = context.plan
    segments: list[str | None] = [*sorted(plan.segment_ids)] or [None]
    stages: list[str | None] = [*sorted(plan.stage_ids)] or [None]
    tiers: list[str | None] = [*sorted(plan.tier_ids)] or [None]
    uncovered: dict[tuple[str | None, tuple[str | None, ...]], list[str | None]] = {}
    for stage, segment in itertools.product(stages, segments):
        missing = tuple(t for t in tiers if not any(admits(r, (segment, stage, t)) for r in plan.rules))
        if missing:
            uncovered.setdefault((stage, missing), []).append(segment)
    where = plan.default.location
    for count, ((stage, missing), segment_list) in enumerate(sorted(uncovered.items(), key=str)):
        if count == MAX_GAP_FINDINGS:
            yield Finding("warning", "TP001", where, f"... and {len(uncovered) - count} more uncovered groups")
            return
        tier_text = "any tier" if len(missing) == len(tiers) > 1 else f"tier {_names(list(missing))}"
        yield Finding("warning", "TP001", where,
                      f"only the default decides for segment {_names(segment_list)} x stage "
                      f"{_names([stage])} x {tier_text}",
                      "add a rule for these customers, or accept that the default treats them")


def _names(values: list[str | None]) -> str:
    shown = [v if v is not None else "(any)" for v in values]
    return shown[0] if len(shown) == 1 else "{" + ", ".join(shown) + "}"


# -- TP002 -----------------------------------------------------------------------

def _admits_all(outer: frozenset[str] | None, inner: frozenset[str] | None) -> bool:
    return outer is None or (inner is not None and inner <= outer)


def shadowed_rules(context: Context) -> Iterator[Finding]:
    rules = context.plan.rules
    for index, later in enumerate(rules):
        maybe: CompiledRule | None = None
        for earlier in rules[:index]:
            if not (_admits_all(earlier.segments, later.segments) and _admits_all(earlier.stages, later.stages)
                    and _admits_all(earlier.tiers, later.tiers) and always_applies(earlier)):
                continue
            verdict = implies(later.expression, earlier.expression)
            if verdict is True:
                yield Finding("warning", "TP002", later.location,
                              f"rule '{later.id}' can never decide: {_where(earlier)} matches every "
                              f"customer it matches and always applies",
                              "narrow or remove it, or give it a higher priority")
                maybe = None
                break
            if verdict is None and maybe is None:
                maybe = earlier
        if maybe is not None:
            yield Finding("info", "TP002", later.location,
                          f"rule '{later.id}' is possibly shadowed by {_where(maybe)}: its conditions "
                          f"may imply the earlier rule's, which lint cannot decide")


# -- TP003 -----------------------------------------------------------------------

def _overlap(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    return a is None or b is None or bool(a & b)


def ties(context: Context) -> Iterator[Finding]:
    by_priority: dict[int, list[CompiledRule]] = {}
    for rule in context.plan.rules:
        by_priority.setdefault(rule.priority, []).append(rule)
    for same in by_priority.values():
        for first, second in itertools.combinations(same, 2):
            if not (_overlap(first.segments, second.segments) and _overlap(first.stages, second.stages)
                    and _overlap(first.tiers, second.tiers)):
                continue
            if disjoint(first.expression, second.expression):
                continue
            if (first.treatment, first.actions, first.channels) == (second.treatment, second.actions, second.channels):
                continue
            yield Finding("warning", "TP003", second.location,
                          f"rule '{second.id}' ties with '{first.id}' ({first.location}) at priority "
                          f"{first.priority}: both can match one customer and decide differently, and "
                          f"only file order puts '{first.id}' first",
                          "give one of them a higher priority")


# -- TP004 -----------------------------------------------------------------------

def never_profitable(context: Context) -> Iterator[Finding]:
    plan = context.plan
    policy = plan.policy
    if policy is None or plan.tier_field != policy.value_field or not plan.tiers:
        return
    ceilings = {}
    previous = math.inf
    for tier in plan.tiers:  # by descending min: a tier's values lie below the tier above it
        ceilings[tier.id] = previous
        previous = tier.min
    ratio = policy.delight_max_cost_ratio
    for rule in plan.rules:
        if rule.treatment != "delight" or rule.tiers is None:
            continue
        needed = math.inf if ratio == 0 else rule.action_cost / ratio
        if rule.action_cost == 0:
            continue
        if all(needed >= ceilings[tier] for tier in rule.tiers):
            field = ".".join(policy.value_field)
            yield Finding("warning", "TP004", rule.location,
                          f"rule '{rule.id}' is never profitable: its actions cost {rule.action_cost:g}, "
                          f"which needs {field} >= {needed:g}, but its tiers "
                          f"({', '.join(sorted(rule.tiers))}) stay below "
                          f"{max(ceilings[t] for t in rule.tiers):g}",
                          "use cheaper actions, or higher tiers")


# -- TP005, TP006 ------------------------------------------------------------------

def _known_fields(context: Context) -> frozenset[str] | None:
    declared = set(context.validated.fields)
    if not declared and context.tested_fields is None:
        return None
    known = declared | set(context.tested_fields or ())
    for expression in (*context.validated.rule_conditions, *context.validated.segment_conditions,
                       *context.validated.lifecycle_conditions):
        if expression is not None:
            known |= fields_read(expression)
    return frozenset(known)


def _is_known(name: str, known: frozenset[str], declared: dict[str, str] | None = None) -> bool:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if prefix == name and prefix in known:
            return True
        if end < len(parts) and declared is not None and declared.get(prefix) == "object":
            return True
    return name in known


def no_reachable_channel(context: Context) -> Iterator[Finding]:
    known = _known_fields(context)
    if known is None:
        return
    declared = {name: entry.value for name, entry in context.validated.fields.items()}
    for rule in context.plan.rules:
        if rule.treatment == "none" or not rule.channels:
            continue
        unreachable = [c for c in rule.channels
                       if c.consent is not None and not _is_known(".".join(c.consent), known, declared)]
        if len(unreachable) == len(rule.channels):
            needs = ", ".join(f"{c.id} needs {'.'.join(c.consent or ())}" for c in unreachable)
            yield Finding("warning", "TP005", rule.location,
                          f"rule '{rule.id}' has no reachable channel: {needs}, and no profile is known "
                          f"to carry those fields",
                          "declare the consent fields under `fields:`, or add a consent-free channel")


def kind_mismatch(context: Context) -> Iterator[Finding]:
    kinds = context.plan.action_kinds
    for rule in (*context.plan.rules, context.plan.default):
        if rule.treatment == "none":
            continue
        odd = [a for a in rule.actions if kinds[a] != rule.treatment]
        if odd:
            yield Finding("warning", "TP006", rule.location,
                          f"rule '{rule.id}' is a {rule.treatment} rule but lists "
                          f"{', '.join(f'{a} ({kinds[a]})' for a in odd)}",
                          f"use {rule.treatment} actions, or change the treatment")


# -- TP007, TP008 ------------------------------------------------------------------

def unused(context: Context) -> Iterator[Finding]:
    validated, plan = context.validated, context.plan
    # A challenger's then (appendix H) uses channels and actions as its rule's own does.
    variants = (arm.variant for r in plan.rules if r.experiment for arm in r.experiment.arms if arm.variant)
    rules = (*plan.rules, plan.default, *variants)
    used_channels = {c.id for r in rules for c in r.channels}
    used_actions = {a for r in rules for a in r.actions}
    for noun, defined, used in (("channel", validated.channels, used_channels),
                                ("action", validated.actions, used_actions)):
        for name, location in ((n, e.location) for n, e in defined.items()):
            if name not in used:
                yield Finding("warning", "TP007", location, f"{noun} '{name}' is used by no rule",
                              "remove it, or use it in a rule")
    named: dict[str, set[str]] = {"segment": set(), "lifecycle_stage": set(), "value_tier": set()}
    for rule in plan.rules:
        for key, constraint in (("segment", rule.segments), ("lifecycle_stage", rule.stages),
                                ("value_tier", rule.tiers)):
            named[key] |= constraint or set()
        if rule.expression is not None:
            for key, compared in literals_compared_to_resolved(rule.expression).items():
                named[key] |= compared
    for key, entries in (("segment", [(s.value.id, s.location) for s in validated.segments]),
                         ("lifecycle_stage", [(s.value.id, s.location) for s in validated.lifecycle])):
        for name, location in entries:
            if name not in named[key]:
                yield Finding("info", "TP007", location,
                              f"{key.replace('_', ' ')} '{name}' is named by no rule (it still labels "
                              f"decisions and reports)")
    if validated.value_tiers is not None:
        for tier in validated.value_tiers.value.tiers:
            if tier.id not in named["value_tier"]:
                yield Finding("info", "TP007", validated.value_tiers.location,
                              f"value tier '{tier.id}' is named by no rule (it still labels decisions "
                              f"and reports)")


def unreachable_definitions(context: Context) -> Iterator[Finding]:
    for noun, entries in (("segment", context.validated.segments),
                          ("lifecycle stage", context.validated.lifecycle)):
        catch_all = None
        for entry in entries:
            if catch_all is not None:
                yield Finding("warning", "TP008", entry.location,
                              f"{noun} '{entry.value.id}' can never be assigned: '{catch_all}' above "
                              f"it matches everyone", "move it above the catch-all")
            elif entry.value.if_ is None:
                catch_all = entry.value.id


# -- TP009, TP010 ------------------------------------------------------------------

@dataclass(frozen=True)
class _Condition:
    """A parsed condition and where its text sits, to point a finding at a node in it."""

    expression: Expression
    source: SourceFile
    path: Path_  # of the `if` text
    in_rules: bool

    def at(self, column: int) -> Location:
        return expression_location(self.source, self.path, column)


def _conditions(validated: ValidatedPlan) -> Iterator[_Condition]:
    groups: tuple[tuple[tuple[Located[Any], ...], tuple[Expression | None, ...], Path_, bool], ...] = (
        (validated.segments, validated.segment_conditions, ("if",), False),
        (validated.lifecycle, validated.lifecycle_conditions, ("if",), False),
        (validated.rules, validated.rule_conditions, ("when", "if"), True))
    for entries, conditions, key, in_rules in groups:
        for entry, expression in zip(entries, conditions, strict=True):
            if expression is not None:
                yield _Condition(expression, entry.source, entry.path + key, in_rules)


def _fields_in(condition: _Condition) -> Iterator[ast.Field]:
    """Each field a condition reads, once, at its first mention."""
    seen: set[str] = set()
    for node in ast.walk(condition.expression):
        if isinstance(node, ast.Field) and node.name not in seen:
            seen.add(node.name)
            if not (condition.in_rules and node.name in RESOLVED_NAMES):
                yield node


def unknown_fields(context: Context) -> Iterator[Finding]:
    """Fields a condition reads that the plan's `fields:` does not declare, and consent
    fields no channel asks for (`consent.emial` when the email channel reads consent.email)."""
    validated = context.validated
    declared = {name: entry.value for name, entry in validated.fields.items()}
    # Consent fields grouped under their parent (consent.email, consent.sms -> consent): a
    # condition reading another name in such a group most likely misspells one of them.
    groups: dict[str, list[str]] = {}
    for channel in context.plan.channels.values():
        if channel.consent and len(channel.consent) > 1:
            name = ".".join(channel.consent)
            groups.setdefault(name.rsplit(".", 1)[0], []).append(name)
    for condition in _conditions(validated):
        for node in _fields_in(condition):
            name = node.name
            siblings = sorted(set(groups.get(name.rsplit(".", 1)[0], ())))
            if siblings and name not in siblings and name not in declared:
                yield Finding("warning", "TP009", condition.at(node.column),
                              f"field '{name}' is no channel's consent field (the channels read "
                              f"{', '.join(siblings)})",
                              did_you_mean(name, siblings) or "declare it in `fields:`, or fix the name")
            elif declared and not _is_known(name, frozenset(declared), declared):
                yield Finding("warning", "TP009", condition.at(node.column),
                              f"field '{name}' is not declared in `fields:`",
                              did_you_mean(name, sorted(declared)) or "declare it, or fix the name")
    if declared:
        yield from _unknown_plan_fields(context, declared)


def _unknown_plan_fields(context: Context, declared: dict[str, str]) -> Iterator[Finding]:
    """The fields channels, the policy and the value tiers read, against `fields:`."""
    validated, plan = context.validated, context.plan
    referenced = [(".".join(c.consent), validated.channels[c.id].location, f"channel '{c.id}'")
                  for c in plan.channels.values() if c.consent]
    if plan.policy is not None and validated.policy is not None:
        referenced.append((".".join(plan.policy.value_field), validated.policy.location, "the policy"))
    if plan.tier_field is not None and validated.value_tiers is not None:
        referenced.append((".".join(plan.tier_field), validated.value_tiers.location, "value_tiers"))
    for name, location, owner in referenced:
        if not _is_known(name, frozenset(declared), declared):
            yield Finding("warning", "TP009", location, f"{owner} reads field '{name}', which is not "
                          f"declared in `fields:`", did_you_mean(name, sorted(declared)) or "declare it")


def type_mismatches(context: Context) -> Iterator[Finding]:
    """Comparisons that can never hold: a declared field, or an expression that is always
    a number (days_since(), arithmetic), against a literal of another kind."""
    declared = {name: entry.value for name, entry in context.validated.fields.items()}
    for condition in _conditions(context.validated):
        for message, hint, column in type_mismatches_in(condition.expression, declared):
            yield Finding("warning", "TP010", condition.at(column), message, hint)
