"""A JSON Schema for plan files, generated from the same pydantic models that validate them.

Editors with a YAML language server use it for completion and inline errors; it
checks the shape of one file (keys, types), not what needs the whole plan
(references, repeated ids, expressions): ``treatment validate`` does that.
"""

from __future__ import annotations

from typing import Any

from .model import PlanFile

SCHEMA_ID = "https://treatment-engine.dev/schemas/plan-file.json"


def plan_file_schema() -> dict[str, Any]:
    schema = PlanFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "Treatment plan file"
    schema["description"] = ("One YAML file of a treatment plan (segments/*.yaml or rules/*.yaml). "
                             "See docs/plan-format.md.")
    # `self_service:` with nothing after it is a channel with every setting defaulted; the
    # model fills it in before validating, so the schema must admit the null.
    channels = schema["properties"]["channels"]["anyOf"][0]
    channels["additionalProperties"] = {"anyOf": [channels["additionalProperties"], {"type": "null"}]}
    return schema
