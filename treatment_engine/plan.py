"""A plan from its files in one call: load, validate, compile.

:mod:`.compile` turns a validated plan into the compiled one and reads no files; this
module strings the stages together for callers that start from a directory or from
texts (a git revision, a test, the service's reload).
"""

from __future__ import annotations

from collections.abc import Mapping

from .compile import CompiledPlan, compile_plan
from .load import load_plan_source, parse_plan_texts
from .validate import validate


def load_plan(path: str) -> CompiledPlan:
    """Read, validate and compile the plan directory at ``path``. Raises PlanError."""
    return compile_plan(validate(load_plan_source(path)))


def plan_from_texts(texts: Mapping[str, str], root: str = "<memory>") -> CompiledPlan:
    """Compile a plan given as {relative path: YAML text}, e.g. from git or a test."""
    return compile_plan(validate(parse_plan_texts(texts, root)))
