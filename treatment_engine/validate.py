"""Parsed plan files to one validated plan, or a PlanError listing every problem.

Stages, in order (each adds issues; none stops the others from running):
1. shape   - each file against :class:`model.PlanFile` (keys, types, per-entry rules)
2. combine - files merged as spec section 1 says; repeated ids and keys defined twice
3. refer   - every id a rule or the default names is defined
4. parse   - every ``if`` is a valid expression
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .errors import ExpressionError, Location, PlanError, PlanIssue, did_you_mean
from .experiments.checks import check_experiments
from .expressions.ast import Expression
from .expressions.parser import parse
from .journeys.checks import JourneyConditions, ParseAt, check_journey
from .journeys.model import Journey
from .load import Path_, PlanSource, SourceFile
from .model import (
    RANGES,
    UNION_TAGS,
    Action,
    Channel,
    Condition,
    Moment,
    Outcome,
    PlanFile,
    Policy,
    Rule,
    ValueTiers,
    ids,
)
from .salvage import Salvaged, salvage

T = TypeVar("T")
RANGE_HINT = "the range of every number is in docs/plan-format.md, appendix E"

KNOWN_KEYS = (
    "segments", "lifecycle", "value_tiers", "channels", "actions", "policy", "rules", "default",
    "id", "if", "field", "tiers", "min", "cost", "consent", "kind", "value_field",
    "delight_max_cost_ratio", "segment", "lifecycle_stage", "value_tier", "treatment",
    "description", "priority", "when", "then", "fields", "moments", "pattern", "event", "count",
    "within", "not", "set", "contact_caps", "delight_cooldown_days", "max", "per_days",
    "journeys", "owner", "order", "steps", "optional", "target", "rate", "success", "margin", "after",
    "none", "require",
)


@dataclass(frozen=True)
class Located(Generic[T]):
    """A validated entry and where it was written."""

    value: T
    location: Location
    source: SourceFile
    path: Path_


@dataclass(frozen=True)
class ValidatedPlan:
    """A whole plan that passed every check, with parsed conditions beside their entries."""

    version: str
    root: str
    segments: tuple[Located[Condition], ...]
    segment_conditions: tuple[Expression | None, ...]
    lifecycle: tuple[Located[Condition], ...]
    lifecycle_conditions: tuple[Expression | None, ...]
    value_tiers: Located[ValueTiers] | None
    channels: dict[str, Located[Channel]]
    actions: dict[str, Located[Action]]
    policy: Located[Policy] | None
    rules: tuple[Located[Rule], ...]
    rule_conditions: tuple[Expression | None, ...]
    default: Located[Outcome] | None
    fields: dict[str, Located[str]]
    moments: tuple[Located[Moment], ...] = ()
    # Per moment, per step: the parsed `if` (of the event, or of the absent event).
    moment_conditions: tuple[tuple[Expression | None, ...], ...] = ()
    journeys: tuple[Located[Journey], ...] = ()  # appendix J
    journey_conditions: tuple[JourneyConditions, ...] = ()


def validate(source: PlanSource) -> ValidatedPlan:
    issues: list[PlanIssue] = []
    shaped: list[tuple[SourceFile, PlanFile]] = []
    salvaged: dict[str, Salvaged] = {}
    for file in source.files:
        try:
            shaped.append((file, PlanFile.model_validate(file.data)))
        except ValidationError as error:
            issues.extend(_describe(file, error))
            # The rest of the file still goes through the later stages, so that its other
            # problems (references, expressions) are reported in this run too.
            rescued = salvage(file.data, _real_path)
            if rescued is not None:
                shaped.append((file, rescued.plan))
                salvaged[file.path] = rescued
            else:
                salvaged[file.path] = Salvaged(PlanFile(), {}, definitions_whole=False)
    combined = _Combiner(shaped, issues, salvaged)
    combined.run()
    # With a whole file or a whole list of definitions unreadable, every id it defines
    # would look unknown: references are then checked once that is fixed.
    if all(rescued.definitions_whole for rescued in salvaged.values()):
        _check_references(combined, issues)
    parse_once = _ParseOnce()
    segment_conditions = _parse_all(combined.segments, ("if",), issues, parse_once)
    lifecycle_conditions = _parse_all(combined.lifecycle, ("if",), issues, parse_once)
    rule_conditions = _parse_all(combined.rules, ("when", "if"), issues, parse_once)
    moment_conditions = tuple(_parse_steps(moment, issues, parse_once) for moment in combined.moments)
    parse_at = _parse_at(parse_once, issues)
    journey_conditions = tuple(check_journey(j.value, j.source, j.path, parse_at, issues) for j in combined.journeys)
    if issues:
        raise PlanError(issues)
    return ValidatedPlan(
        version=source.version, root=source.root,
        segments=tuple(combined.segments), segment_conditions=segment_conditions,
        lifecycle=tuple(combined.lifecycle), lifecycle_conditions=lifecycle_conditions,
        value_tiers=combined.singles.get("value_tiers"),
        channels=combined.channels, actions=combined.actions,
        policy=combined.singles.get("policy"),
        rules=tuple(combined.rules), rule_conditions=rule_conditions,
        default=combined.singles.get("default"),
        fields=combined.fields,
        moments=tuple(combined.moments), moment_conditions=moment_conditions,
        journeys=tuple(combined.journeys), journey_conditions=journey_conditions,
    )


# -- stage 1: shape -----------------------------------------------------------------

def _describe(file: SourceFile, error: ValidationError) -> list[PlanIssue]:
    """Pydantic's errors as plan issues at the offending key, one per place."""
    by_path: dict[Path_, list[ErrorDetails]] = {}
    for detail in error.errors():
        path = _real_path(file.data, detail["loc"], detail["type"])
        by_path.setdefault(path, []).append(detail)
    issues = []
    for path, details in by_path.items():
        detail = details[0]
        kind = detail["type"]
        name = str(path[-1]) if path else "file"
        given = detail.get("input")
        if len(details) > 1 and all(d["type"].endswith("_type") for d in details):
            message = f"'{name}' must be an id or a list of ids, got {_show(given)}"
            hint = None
        else:
            message, hint = _message(kind, name, given, detail["msg"], path)
        prefer_key = kind in ("extra_forbidden", "missing") or len(path) >= 1
        code = "out-of-range" if _out_of_range(kind, name, given) else kind.replace("_", "-")
        issues.append(PlanIssue(file.locate(path, prefer_key=prefer_key), code, message, hint))
    return issues


def _real_path(data: Any, loc: tuple[Any, ...], kind: str) -> Path_:
    """Pydantic's ``loc`` less the union branch tags it adds (``str``, ``list[...]``)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part in UNION_TAGS:
            continue
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            path.append(part)
            node = node[part]
        else:
            if kind == "missing" and isinstance(node, dict) and isinstance(part, str):
                path.append(part)
            return tuple(path)
    return tuple(path)


def _message(kind: str, name: str, given: Any, text: str, path: Path_) -> tuple[str, str | None]:
    if _out_of_range(kind, name, given):
        return f"'{name}' must be {RANGES[name].describe()}, got {_show(given)}", RANGE_HINT
    if kind == "extra_forbidden":
        where = "top-level key" if len(path) == 1 else "key"
        hint = did_you_mean(name, KNOWN_KEYS)
        return f"unknown {where} '{name}'", hint
    if kind == "missing":
        return f"'{name}' is required here", None
    if kind in ("int_type", "int_from_float"):
        return f"'{name}' must be a whole number, got {_show(given)}", None
    if kind in ("float_type", "float_parsing"):
        return f"'{name}' must be a number, got {_show(given)}", None
    if kind == "string_type":
        return f"'{name}' must be text, got {_show(given)}", ("quote it" if given is not None else None)
    if kind == "literal_error":
        expected = text.removeprefix("Input should be ")
        return f"'{name}' must be {expected}, got {_show(given)}", None
    if kind in ("list_type",):
        return f"'{name}' must be a list, got {_show(given)}", None
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"'{name}' must be a mapping of keys, got {_show(given)}", None
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"'{name}' must be {text.removeprefix('Input should be ')}, got {_show(given)}", None
    if kind == "string_too_short":
        return f"'{name}' must not be empty", None
    if kind == "value_error":
        return text.removeprefix("Value error, "), None
    if kind == "out_of_range":  # raised by the model's own range checks, message and all
        return text, RANGE_HINT
    if kind == "shares_over_one":  # a rule's experiment arms (model.Rule)
        return text, "lower a share, or drop an arm"
    if kind == "too_long" and (counts := re.search(r"at most (\d+) items?.* (\d+)$", text)):
        return f"'{name}' may hold at most {counts[1]} items, got {counts[2]}", RANGE_HINT
    return f"'{name}': {text}", None


def _out_of_range(kind: str, name: str, given: Any) -> bool:
    """A number outside the range documented for its key (an int past a double's too)."""
    return name in RANGES and (kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than",
                                        "finite_number")
                               or (kind == "float_type" and type(given) is int))


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- stage 2: combine -------------------------------------------------------------

class _Combiner:
    def __init__(self, shaped: list[tuple[SourceFile, PlanFile]], issues: list[PlanIssue],
                 salvaged: dict[str, Salvaged] | None = None) -> None:
        self.shaped = shaped
        self.issues = issues
        self.salvaged = salvaged or {}
        # Words of the parts cut from files that failed their shape check: ids they may
        # define, which references must not call unknown.
        self.cut_words = {word for rescued in self.salvaged.values() for word in rescued.cut_words}
        self.segments: list[Located[Condition]] = []
        self.lifecycle: list[Located[Condition]] = []
        self.channels: dict[str, Located[Channel]] = {}
        self.actions: dict[str, Located[Action]] = {}
        self.rules: list[Located[Rule]] = []
        self.singles: dict[str, Located[Any]] = {}
        self.fields: dict[str, Located[str]] = {}
        self.moments: list[Located[Moment]] = []
        self.journeys: list[Located[Journey]] = []

    def run(self) -> None:
        for file, plan in self.shaped:
            self._listed(file, "segments", plan.segments, self.segments, "segment")
            self._listed(file, "lifecycle", plan.lifecycle, self.lifecycle, "lifecycle stage")
            self._listed(file, "rules", plan.rules, self.rules, "rule")
            self._listed(file, "moments", plan.moments, self.moments, "moment")
            self._listed(file, "journeys", plan.journeys, self.journeys, "journey")
            self._keyed(file, "channels", plan.channels, self.channels, "channel")
            self._keyed(file, "actions", plan.actions, self.actions, "action")
            self._keyed(file, "fields", plan.fields, self.fields, "field")
            for key in ("value_tiers", "policy", "default"):
                self._single(file, key, getattr(plan, key))
        tiers = self.singles.get("value_tiers")
        if tiers is not None:
            seen: dict[str, int] = {}
            for index, tier in enumerate(tiers.value.tiers):
                if tier.id in seen:
                    path = tiers.path + ("tiers", index, "id")
                    self.issues.append(PlanIssue(tiers.source.locate(path), "duplicate-id",
                                                 f"value tier '{tier.id}' is defined twice"))
                seen[tier.id] = index

    def _listed(self, file: SourceFile, key: str, entries: list[Any] | None,
                into: list[Located[Any]], noun: str) -> None:
        first_seen = {entry.value.id: entry for entry in into}
        rescued = self.salvaged.get(file.path)
        for index, entry in enumerate(entries or ()):
            path = (key, index if rescued is None else rescued.original_index(key, index))
            located = Located(entry, file.locate(path), file, path)
            earlier = first_seen.get(entry.id)
            if earlier is not None:
                self.issues.append(PlanIssue(file.locate(path + ("id",)), "duplicate-id",
                                             f"duplicate {noun} id '{entry.id}' (first defined "
                                             f"at {earlier.location})",
                                             f"{noun} ids must be unique across the plan"))
                continue
            first_seen[entry.id] = located
            into.append(located)

    def _keyed(self, file: SourceFile, key: str, entries: dict[str, Any] | None,
               into: dict[str, Located[Any]], noun: str) -> None:
        for name, entry in (entries or {}).items():
            path = (key, name)
            if name in into:
                self.issues.append(PlanIssue(file.locate(path), "duplicate-id",
                                             f"{noun} '{name}' is defined twice (first at "
                                             f"{into[name].location})"))
                continue
            into[name] = Located(entry, file.locate(path), file, path)

    def _single(self, file: SourceFile, key: str, value: Any) -> None:
        if value is None:
            return
        path = (key,)
        if key in self.singles:
            self.issues.append(PlanIssue(file.locate(path), "defined-twice",
                                         f"'{key}' may be defined in one file only (already "
                                         f"defined at {self.singles[key].location})"))
            return
        self.singles[key] = Located(value, file.locate(path), file, path)


# -- stage 3: refer -----------------------------------------------------------------

def _check_references(plan: _Combiner, issues: list[PlanIssue]) -> None:
    known = {
        "segment": [s.value.id for s in plan.segments],
        "lifecycle_stage": [s.value.id for s in plan.lifecycle],
        "value_tier": [t.id for t in plan.singles["value_tiers"].value.tiers]
        if "value_tiers" in plan.singles else [],
    }
    nouns = {"segment": "segment", "lifecycle_stage": "lifecycle stage", "value_tier": "value tier"}
    for rule in plan.rules:
        when = rule.value.when
        for key in ("segment", "lifecycle_stage", "value_tier"):
            listed = ids(getattr(when, key))
            for position, name in enumerate(listed or ()):
                if name not in known[key] and name not in plan.cut_words:
                    raw = getattr(when, key)
                    path = rule.path + ("when", key) + ((position,) if isinstance(raw, list) else ())
                    issues.append(PlanIssue(rule.source.locate(path, prefer_key=False), "unknown-ref",
                                            f"unknown {nouns[key]} '{name}' in rule '{rule.value.id}'",
                                            did_you_mean(name, known[key]) or _defined(known[key])))
        _check_outcome(rule.value.then, rule.source, rule.path + ("then",), plan, issues,
                       f"rule '{rule.value.id}'")
    default = plan.singles.get("default")
    if default is not None:
        _check_outcome(default.value, default.source, default.path, plan, issues, "the default")
    policy = plan.singles.get("policy")
    check_experiments(plan.rules, policy, lambda outcome, source, path, owner: _check_outcome(
        outcome, source, path, plan, issues, owner), issues)
    if policy is not None:
        capped = [*plan.channels, "any"]
        for name in policy.value.contact_caps or {}:
            if name not in capped and name not in plan.cut_words:
                issues.append(PlanIssue(policy.source.locate(policy.path + ("contact_caps", name)),
                                        "unknown-ref", f"unknown channel '{name}' in policy.contact_caps",
                                        did_you_mean(name, capped) or _defined(capped)))


def _check_outcome(outcome: Outcome, source: SourceFile, path: Path_, plan: _Combiner,
                   issues: list[PlanIssue], owner: str) -> None:
    for key, defined, noun in (("actions", plan.actions, "action"),
                               ("channels", plan.channels, "channel")):
        for position, name in enumerate(getattr(outcome, key)):
            if name not in defined and name not in plan.cut_words:
                issues.append(PlanIssue(source.locate(path + (key, position), prefer_key=False),
                                        "unknown-ref", f"unknown {noun} '{name}' in {owner}",
                                        did_you_mean(name, defined) or _defined(list(defined))))


def _defined(names: list[str]) -> str:
    if not names:
        return "none are defined"
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    return f"defined: {shown}"


# -- stage 4: parse ------------------------------------------------------------------

class _ParseOnce:
    """Each distinct text parsed once per plan: big plans repeat their conditions, and
    the parsed trees are immutable, so entries with the same text share one."""

    def __init__(self) -> None:
        self.known: dict[str, Expression | tuple[str, int, str | None]] = {}

    def __call__(self, text: str) -> Expression:
        found = self.known.get(text)
        if found is None:
            try:
                found = parse(text)
            except ExpressionError as error:
                found = (error.message, error.column, error.hint)
            self.known[text] = found
        if isinstance(found, tuple):
            raise ExpressionError(*found)  # a new one each time: a raised error keeps its traceback
        return found


def _parse_all(entries: list[Located[Any]], key_path: tuple[str, ...], issues: list[PlanIssue],
               parse_once: _ParseOnce) -> tuple[Expression | None, ...]:
    parsed: list[Expression | None] = []
    for entry in entries:
        holder = entry.value
        for part in key_path[:-1]:
            holder = getattr(holder, part)
        text = holder.if_
        if text is None:
            parsed.append(None)
            continue
        path = entry.path + key_path
        try:
            parsed.append(parse_once(text))
        except ExpressionError as error:
            issues.append(PlanIssue(_expression_location(entry.source, path, error.column),
                                    "bad-expression", f"invalid expression: {error.message}",
                                    error.hint))
            parsed.append(None)
    return tuple(parsed)


def _parse_steps(moment: Located[Moment], issues: list[PlanIssue],
                 parse_once: _ParseOnce) -> tuple[Expression | None, ...]:
    parsed: list[Expression | None] = []
    for index, step in enumerate(moment.value.pattern):
        text, key = (step.not_.if_, ("pattern", index, "not", "if")) if step.not_ is not None \
            else (step.if_, ("pattern", index, "if"))
        if text is None:
            parsed.append(None)
            continue
        try:
            parsed.append(parse_once(text))
        except ExpressionError as error:
            path = moment.path + key
            issues.append(PlanIssue(_expression_location(moment.source, path, error.column),
                                    "bad-expression", f"invalid expression: {error.message}", error.hint))
            parsed.append(None)
    return tuple(parsed)


def _parse_at(parse_once: _ParseOnce, issues: list[PlanIssue]) -> ParseAt:
    """Parse one ``if`` at ``path`` of a file, recording a located issue when it fails."""
    def parse_at(source: SourceFile, path: Path_, text: str) -> Expression | None:
        try:
            return parse_once(text)
        except ExpressionError as error:
            issues.append(PlanIssue(_expression_location(source, path, error.column),
                                    "bad-expression", f"invalid expression: {error.message}", error.hint))
            return None
    return parse_at


def _expression_location(source: SourceFile, path: Path_, column: int) -> Location:
    known = source.text_position(path)
    if known is not None:
        line, start, one_line = known
        return Location(source.path, line, start + column - 1 if one_line else start)
    return source.locate(path, prefer_key=False)
