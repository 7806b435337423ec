"""A JSON Schema for plan files, generated from the same pydantic models that validate them.

Editors with a YAML language server use it for completion and inline errors; it
checks the shape of one file (keys, types), not what needs the whole plan
(references, repeated ids, expressions): ``treatment validate`` does that.

It judges a file as the engine's per-file shape check does (tests/test_schema_agreement.py
runs both over the same files): an empty file is an empty plan file, an explicit null
is a key left out, ``10.0`` is a whole number, and a YAML merge key (``<<``) is refused.
"""

from __future__ import annotations

import copy
from typing import Any

from .model import PlanFile

SCHEMA_ID = "https://treatment-engine.dev/schemas/plan-file.json"
# Keywords that only constrain one JSON type, so branches of different types can share
# one schema ({"type": ["string", "null"], "minLength": 1} is "a non-empty string, or null").
_ANNOTATIONS = {"title", "description", "default"}
_MERGE_KEY = {"not": {"const": "<<"}}


def plan_file_schema() -> dict[str, Any]:
    schema = PlanFile.model_json_schema(by_alias=True, mode="validation")
    # `self_service:` with nothing after it is a channel with every setting defaulted; the
    # model fills it in before validating, so the schema must admit the null.
    channels = schema["properties"]["channels"]["anyOf"][0]
    channels["additionalProperties"] = {"anyOf": [channels["additionalProperties"], {"type": "null"}]}
    _optional_keys_take_null(schema)
    schema = dict(_nullable_as_type_lists(schema, schema["$defs"]))
    _refuse_merge_keys(schema)
    # An empty file (or one holding only comments) is a plan file with nothing in it.
    schema["type"] = ["object", "null"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "Treatment plan file"
    schema["description"] = ("One YAML file of a treatment plan (segments/*.yaml or rules/*.yaml). "
                             "See docs/plan-format.md.")
    return schema


def _optional_keys_take_null(node: Any) -> None:
    """Every key that may be left out may be null: the models read an explicit null as
    absent (``priority:`` with nothing after it is priority 0)."""
    if isinstance(node, list):
        for item in node:
            _optional_keys_take_null(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _optional_keys_take_null(value)
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        if name in required or {"type": "null"} in child.get("anyOf", ()):
            continue
        annotations = {key: child.pop(key) for key in list(child) if key in _ANNOTATIONS}
        node["properties"][name] = {"anyOf": [child, {"type": "null"}], **annotations}


def _nullable_as_type_lists(node: Any, defs: dict[str, Any]) -> Any:
    """``anyOf [X, null]`` written as ``{"type": [X's type, "null"], ...X}``.

    pydantic writes every optional key as an ``anyOf`` with a null branch, and a validator
    then reports a wrong value against each branch, the null one first ("5 is not of type
    'null'"). One schema with a list of types says "5 is not of type 'array', 'null'".
    A ``$ref`` branch is written out in place for this (its definition stays for the rest).
    """
    if isinstance(node, list):
        return [_nullable_as_type_lists(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_as_type_lists(value, defs) for key, value in node.items()}
    branches = node.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return node
    resolved = [_resolve(branch, defs) for branch in branches]
    merged = _merge_by_type(resolved)
    if merged is None:
        return node
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    return {**merged, **rest}


def _resolve(branch: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = branch.get("$ref")
    if ref is None:
        return branch
    target: dict[str, Any] = _nullable_as_type_lists(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]), defs)
    return target | {key: v for key, v in branch.items() if key != "$ref"}


def _merge_by_type(branches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The branches as one schema, or None when two of them constrain the same keyword
    (an integer and a number both with a minimum) or a branch has no single type."""
    types: list[str] = []
    merged: dict[str, Any] = {}
    for branch in branches:
        kind = branch.get("type")
        if not isinstance(kind, str) or kind in types:
            return None
        types.append(kind)
        for key, value in branch.items():
            if key == "type" or key in _ANNOTATIONS:
                continue
            if key in merged:
                return None
            merged[key] = value
    return {"type": types, **merged}


def _refuse_merge_keys(node: Any) -> None:
    """A map keyed by ids (channels, actions, fields, caps, a moment's set) may not have
    the key ``<<``: the engine does not read YAML merge keys, and an editor's YAML 1.2
    parser reads ``<<`` as an ordinary key (the entries with fixed keys refuse any key
    they do not know already)."""
    if isinstance(node, list):
        for item in node:
            _refuse_merge_keys(item)
    elif isinstance(node, dict):
        if isinstance(node.get("additionalProperties"), dict):
            node["propertyNames"] = {**node.get("propertyNames", {}), **_MERGE_KEY}
        for value in node.values():
            _refuse_merge_keys(value)
