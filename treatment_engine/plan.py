"""A plan from its files in one call: load, validate, compile; and where plans are found.

:mod:`.compile` turns a validated plan into the compiled one and reads no files; this
module strings the stages together for callers that start from a directory or from
texts (a git revision, a test, the service's reload). It also knows the two places a
plan is looked for when none is named: the nearest plan directory at or above a folder
(:func:`find_plan_dir`, as git finds ``.git``), and the demo plan that ships with the
package (:func:`bundled_plan_dir`).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from .compile import CompiledPlan, compile_plan
from .load import PLAN_FOLDERS, load_plan_source, parse_plan_texts
from .validate import validate

# Where a wheel carries the demo plan inside the package (setup.py copies it there).
BUNDLED_PLAN_FOLDER = "default_plan"


def load_plan(path: str | Path) -> CompiledPlan:
    """Read, validate and compile the plan directory at ``path``. Raises PlanError."""
    return compile_plan(validate(load_plan_source(str(path))))


def plan_from_texts(texts: Mapping[str, str], root: str = "<memory>") -> CompiledPlan:
    """Compile a plan given as {relative path: YAML text}, e.g. from git or a test."""
    return compile_plan(validate(parse_plan_texts(texts, root)))


def is_plan_dir(folder: Path) -> bool:
    """Whether ``folder`` holds a plan: a rules/ or segments/ folder (what the loader reads)."""
    try:
        return any((folder / name).is_dir() for name in PLAN_FOLDERS)
    except OSError:  # an unreadable folder on the way up is not a plan
        return False


def find_plan_dir(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds a plan, or None.

    From inside a plan (``my-plan/rules``, ``my-plan/rules/extra``) this is the plan's
    own directory, as git finds the repository from any folder in it.
    """
    start = start.absolute()
    for folder in (start, *start.parents):
        if is_plan_dir(folder):
            return folder
    return None


def bundled_plan_dir() -> Path:
    """The demo plan (a telecom subscription business) that ships with the package.

    An installed wheel carries it as package data, ``treatment_engine/default_plan``,
    found with importlib.resources. A source checkout (an editable install) has no such
    folder: there the plan is the checkout's own root, which is what a wheel copies.
    """
    packaged = resources.files(__package__ or "treatment_engine") / BUNDLED_PLAN_FOLDER
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent
