"""Plan authors' own tests: expected decisions kept next to the plan, run like pytest.

A plan's tests are the ``tests/*.yaml`` files at the top of the plan directory::

    as_of: 2026-11-01                 # default for the cases below
    tests:
      - name: a valuable detractor gets a call
        profile: {customer_id: t1, annual_value: 2400, nps: 3, open_complaints: 1}
        expect: {treatment: delight, rule: gold-detractor-recovery}

``expect`` may name any decision field (``segment``, ``lifecycle_stage``, ``value_tier``,
``treatment``, ``rule``, ``actions``, ``channels``) or ``error: true`` for a profile
that must be refused. Only the fields given are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from .decision import Decision
from .engine import Engine
from .errors import Location, PlanError, PlanIssue, ProfileError, defined_hint, did_you_mean
from .experiments.buckets import UNIVERSAL
from .experiments.compiled import CHAMPION, HOLDOUT
from .load import Path_, SourceFile, parse_yaml_file

if TYPE_CHECKING:
    from .compile import CompiledPlan

TESTS_FOLDER = "tests"


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    segment: str | None = None
    lifecycle_stage: str | None = None
    value_tier: str | None = None
    treatment: Literal["delight", "contain", "none"] | None = None
    rule: str | None = None
    actions: list[str] | None = None
    channels: list[str] | None = None
    arm: str | None = None  # an experiment's arm (appendix H): champion, holdout, a challenger's id...
    error: bool | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    as_of: date | None = None
    profile: dict[str, Any]
    expect: Expectation


class CaseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None
    tests: list[Case] = []


@dataclass(frozen=True)
class LoadedCase:
    case: Case
    as_of: date
    location: Location
    source: SourceFile  # the test file, to locate what the case names
    path: Path_  # the case within it


@dataclass
class CaseResult:
    loaded: LoadedCase
    decided_rule: str | None
    mismatches: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (want, got)

    @property
    def passed(self) -> bool:
        return not self.mismatches


@dataclass
class SuiteResult:
    results: list[CaseResult]
    rules: list[str]  # every rule of the plan, in evaluation order

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def uncovered(self) -> list[str]:
        decided = {r.decided_rule for r in self.results}
        return [rule for rule in self.rules if rule not in decided]


def case_files(plan_dir: Path) -> list[Path]:
    folder = plan_dir / TESTS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def load_cases(plan_dir: Path, default_as_of: date) -> list[LoadedCase]:
    """Every case of every test file, or a PlanError locating each problem."""
    cases: list[LoadedCase] = []
    issues: list[PlanIssue] = []
    for path in case_files(plan_dir):
        relative = path.relative_to(plan_dir).as_posix()
        try:
            source = parse_yaml_file(relative, path.read_text(encoding="utf-8"))
            parsed = CaseFile.model_validate(source.data)
        except PlanError as error:
            issues.extend(error.issues)
            continue
        except ValidationError as error:
            issues.extend(_describe(source, detail) for detail in error.errors())
            continue
        for index, case in enumerate(parsed.tests):
            cases.append(LoadedCase(case, case.as_of or parsed.as_of or default_as_of,
                                    source.locate(("tests", index)), source, ("tests", index)))
    if issues:
        raise PlanError(issues)
    return cases


_MODELS: dict[str, type[BaseModel]] = {"tests": Case, "expect": Expectation}


def _describe(source: SourceFile, detail: ErrorDetails) -> PlanIssue:
    """One pydantic error of a test file as an issue at the key, with the fix when known."""
    loc = tuple(p for p in detail["loc"] if isinstance(p, (str, int)))
    where = ".".join(map(str, loc)) or "file"
    name = str(loc[-1]) if loc else "file"
    if detail["type"] == "extra_forbidden":
        owner = next((str(p) for p in reversed(loc[:-1]) if isinstance(p, str)), "")
        known = list(_MODELS.get(owner, CaseFile).model_fields)
        place = f"in '{owner}' of a test" if owner else "at the top of a test file"
        return PlanIssue(source.locate(loc), "bad-test", f"unknown key '{name}' {place}",
                         did_you_mean(name, known) or f"known: {', '.join(known)}")
    if detail["type"] == "missing":
        return PlanIssue(source.locate(loc[:-1]), "bad-test", f"'{name}' is required here ({where})")
    given = detail.get("input")
    shown = "" if isinstance(given, (dict, list)) or given is None else f", got {given!r}"
    text = detail["msg"]
    text = f"must be {text.removeprefix('Input should be ')}" if text.startswith("Input should be ") else text
    return PlanIssue(source.locate(loc), "bad-test", f"'{name}' {text}{shown} ({where})")


# What an expectation may name, and the noun that says so.
_NAMED = (("segment", "segment"), ("lifecycle_stage", "lifecycle stage"), ("value_tier", "value tier"),
          ("rule", "rule"), ("actions", "action"), ("channels", "channel"), ("arm", "arm"))


def unknown_names(plan: CompiledPlan, cases: list[LoadedCase]) -> list[PlanIssue]:
    """Each id an expectation names that the plan does not define. Such a case can never
    pass, and its failure (expected 'welcom', actual 'welcome') would not say why: a
    misspelling, or a rule renamed since the test was written."""
    known = _decision_names(plan)
    issues = []
    for loaded in cases:
        for key, noun in _NAMED:
            given = getattr(loaded.case.expect, key)
            for position, name in enumerate(given if isinstance(given, list) else [] if given is None else [given]):
                if name in known[key]:
                    continue
                path = (*loaded.path, "expect", key, *((position,) if isinstance(given, list) else ()))
                issues.append(PlanIssue(loaded.source.locate(path, prefer_key=False), "bad-test",
                                        f"unknown {noun} '{name}' in test '{loaded.case.name}'",
                                        did_you_mean(name, known[key]) or defined_hint(known[key])))
    return issues


def _decision_names(plan: CompiledPlan) -> dict[str, list[str]]:
    """Per decision field, every value a decision by ``plan`` can hold there, in plan order."""
    rules = [rule.id for rule in plan.rules] + ["default"] + ([HOLDOUT] if plan.holdout else [])
    arms = [CHAMPION] + ([UNIVERSAL] if plan.holdout else []) + list(dict.fromkeys(
        arm.id for rule in plan.rules if rule.experiment for arm in rule.experiment.arms))
    return {"segment": [s.id for s in plan.segments], "lifecycle_stage": [s.id for s in plan.lifecycle],
            "value_tier": [t.id for t in plan.tiers], "rule": rules, "actions": list(plan.action_costs),
            "channels": list(plan.channels), "arm": arms}


def run_cases(engine: Engine, cases: list[LoadedCase]) -> SuiteResult:
    results = []
    for loaded in cases:
        expect = loaded.case.expect.model_dump(exclude_none=True)
        try:
            decision: Decision | None = engine.decide(loaded.case.profile, loaded.as_of)
        except ProfileError as error:
            decision = None
            refused = error.message
        got: dict[str, Any] = ({"error": True, "message": refused} if decision is None else
                               {k: list(v) if isinstance(v, tuple) else v
                                for k, v in decision.model_dump(exclude={"trace"}).items()})
        mismatches = {key: (want, got.get(key, False if key == "error" else None))
                      for key, want in expect.items()
                      if got.get(key, False if key == "error" else None) != want}
        if decision is None and "error" not in expect:
            mismatches["error"] = (False, refused)
        results.append(CaseResult(loaded, None if decision is None else decision.rule, mismatches))
    return SuiteResult(results, [r.id for r in engine.plan.rules] + ["default"])


def profile_fields(cases: list[LoadedCase]) -> frozenset[str]:
    """Every dotted field path the test profiles carry (lint's evidence of real fields)."""
    found: set[str] = set()

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                found.add(path)
                walk(child, path)
    for loaded in cases:
        walk(loaded.case.profile, "")
    return frozenset(found)
