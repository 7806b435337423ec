"""Pydantic's validation errors as located plan issues: one per place, at the key the
author wrote, in words (validate's first stage, for plan files and evidence files alike)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .durations import PATTERN as DURATION
from .errors import PlanIssue, did_you_mean
from .load import Path_, SourceFile
from .model import RANGES, UNION_TAGS

RANGE_HINT = "the range of every number is in docs/plan-format.md, appendix E"

KNOWN_KEYS = (
    "segments", "lifecycle", "value_tiers", "channels", "actions", "policy", "rules", "default",
    "id", "if", "field", "tiers", "min", "cost", "consent", "kind", "value_field",
    "delight_max_cost_ratio", "segment", "lifecycle_stage", "value_tier", "treatment",
    "description", "priority", "when", "then", "fields", "moments", "pattern", "event", "count",
    "within", "not", "set", "contact_caps", "delight_cooldown_days", "max", "per_days",
    "journeys", "owner", "order", "steps", "optional", "target", "rate", "success", "margin", "after",
    "none", "require",
    "profitability", "evidence", "file", "metric", "confidence", "min_customers",
    "metrics", "compute", "higher_is_better", "value",
)


def describe(file: SourceFile, error: ValidationError) -> list[PlanIssue]:
    """Pydantic's errors as plan issues at the offending key, one per place."""
    by_path: dict[Path_, list[ErrorDetails]] = {}
    for detail in error.errors():
        path = real_path(file.data, detail["loc"], detail["type"])
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


def real_path(data: Any, loc: tuple[Any, ...], kind: str) -> Path_:
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
    if kind == "string_pattern_mismatch" and DURATION in text:  # durations are the only pattern a plan has
        return (f"'{name}' must be a duration, a whole number above 0 and its unit (s, m, h or d: 90s, 15m, 12h, "
                f"30d), got {_show(given)}"), None
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
