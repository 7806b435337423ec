"""Parsed plan files to one validated plan, or a PlanError listing every problem.

Stages, in order (each adds issues; none stops the others from running):
1. shape   - each file against :class:`model.PlanFile` (keys, types, per-entry rules)
2. combine - files merged as spec section 1 says; repeated ids and keys defined twice
3. refer   - every id a rule or the default names is defined
4. parse   - every ``if`` is a valid expression
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from .errors import ExpressionError, Location, PlanError, PlanIssue, defined_hint, did_you_mean
from .evidence import EvidenceFile, is_evidence_path
from .experiments.checks import check_experiments
from .expressions.ast import Expression
from .expressions.parser import parse
from .journeys.checks import JourneyConditions, ParseAt, check_journey, check_stall_ids
from .journeys.model import Journey
from .load import Path_, PlanSource, SourceFile
from .measure.checks import check_metric_conditions
from .measure.metrics import Metric
from .model import (
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
from .shape_errors import describe, real_path

T = TypeVar("T")



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
    evidence: Located[EvidenceFile] | None = None  # the file policy.profitability names
    metrics: tuple[Located[Metric], ...] = ()  # appendix I, each with its parsed `if`
    metric_conditions: tuple[Expression | None, ...] = ()
    journeys: tuple[Located[Journey], ...] = ()  # appendix J
    journey_conditions: tuple[JourneyConditions, ...] = ()


def validate(source: PlanSource) -> ValidatedPlan:
    issues: list[PlanIssue] = []
    shaped: list[tuple[SourceFile, PlanFile]] = []
    salvaged: dict[str, Salvaged] = {}
    evidence = _shape_evidence([f for f in source.files if is_evidence_path(f.path)], issues)
    for file in source.files:
        if is_evidence_path(file.path):
            continue
        try:
            shaped.append((file, PlanFile.model_validate(file.data)))
        except ValidationError as error:
            issues.extend(describe(file, error))
            # The rest of the file still goes through the later stages, so that its other
            # problems (references, expressions) are reported in this run too.
            rescued = salvage(file.data, real_path)
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
    guarded = _guard_evidence(combined.singles.get("policy"), evidence, [m.value.id for m in combined.metrics],
                              issues)
    parse_once = _ParseOnce()
    segment_conditions = _parse_all(combined.segments, ("if",), issues, parse_once)
    lifecycle_conditions = _parse_all(combined.lifecycle, ("if",), issues, parse_once)
    rule_conditions = _parse_all(combined.rules, ("when", "if"), issues, parse_once)
    moment_conditions = tuple(_parse_steps(moment, issues, parse_once) for moment in combined.moments)
    metric_conditions = _parse_all(combined.metrics, ("if",), issues, parse_once)
    check_metric_conditions(combined.metrics, metric_conditions, issues)
    parse_at = _parse_at(parse_once, issues)
    journey_conditions = tuple(check_journey(j.value, j.source, j.path, parse_at, issues) for j in combined.journeys)
    check_stall_ids(((j.value, j.source, j.path) for j in combined.journeys),
                    {m.value.id: m.location for m in combined.moments}, issues)
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
        evidence=guarded,
        metrics=tuple(combined.metrics), metric_conditions=metric_conditions,
        journeys=tuple(combined.journeys), journey_conditions=journey_conditions,
    )


def _shape_evidence(files: list[SourceFile], issues: list[PlanIssue]) -> dict[str, Located[EvidenceFile]]:
    """Each file of evidence/ against its model (appendix K)."""
    shaped = {}
    for file in files:
        try:
            shaped[file.path] = Located(EvidenceFile.model_validate(file.data), file.locate(()), file, ())
        except ValidationError as error:
            issues.extend(describe(file, error))
    return shaped


def _guard_evidence(policy: Located[Policy] | None, evidence: dict[str, Located[EvidenceFile]],
                    metrics: list[str], issues: list[PlanIssue]) -> Located[EvidenceFile] | None:
    """The evidence file policy.profitability names: in the plan, of a metric the plan
    defines (appendix I), and of the metric the policy names."""
    guard = policy.value.profitability.evidence if policy and policy.value.profitability else None
    if policy is None or guard is None:
        return None
    path = policy.path + ("profitability", "evidence")
    if guard.metric not in metrics:
        issues.append(PlanIssue(policy.source.locate(path + ("metric",), prefer_key=False), "unknown-ref",
                                f"unknown metric '{guard.metric}' in policy.profitability.evidence",
                                did_you_mean(guard.metric, metrics) or "the metric must be one of the plan's "
                                "metrics: (docs/plan-format.md, appendix I)"))
    found = evidence.get(guard.file)
    if found is None:
        known = sorted(evidence)
        issues.append(PlanIssue(policy.source.locate(path + ("file",), prefer_key=False), "unknown-ref",
                                f"no evidence file '{guard.file}' in the plan",
                                did_you_mean(guard.file, known) or "evidence files live in the plan's "
                                "evidence/ folder as *.json (treatment measure --write-evidence)"))
    elif found.value.metric != guard.metric:
        issues.append(PlanIssue(found.source.locate(("metric",), prefer_key=False), "evidence-metric",
                                f"'{guard.file}' measures '{found.value.metric}', but the policy asks "
                                f"for '{guard.metric}'", "write the evidence of that metric, or name it"))
    return found


# -- stage 1: shape: each file against its model, errors by treatment_engine.shape_errors


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
        self.metrics: list[Located[Metric]] = []
        self.journeys: list[Located[Journey]] = []

    def run(self) -> None:
        for file, plan in self.shaped:
            self._listed(file, "segments", plan.segments, self.segments, "segment")
            self._listed(file, "lifecycle", plan.lifecycle, self.lifecycle, "lifecycle stage")
            self._listed(file, "rules", plan.rules, self.rules, "rule")
            self._listed(file, "moments", plan.moments, self.moments, "moment")
            self._listed(file, "metrics", plan.metrics, self.metrics, "metric")
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
                                            did_you_mean(name, known[key]) or defined_hint(known[key])))
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
                                        did_you_mean(name, capped) or defined_hint(capped)))


def _check_outcome(outcome: Outcome, source: SourceFile, path: Path_, plan: _Combiner,
                   issues: list[PlanIssue], owner: str) -> None:
    for key, defined, noun in (("actions", plan.actions, "action"),
                               ("channels", plan.channels, "channel")):
        for position, name in enumerate(getattr(outcome, key)):
            if name not in defined and name not in plan.cut_words:
                issues.append(PlanIssue(source.locate(path + (key, position), prefer_key=False),
                                        "unknown-ref", f"unknown {noun} '{name}' in {owner}",
                                        did_you_mean(name, defined) or defined_hint(list(defined))))


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
