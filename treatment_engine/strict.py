"""The strict base every part of a plan is validated with (one home for it).

A plan's YAML is authored by hand, so validation is strict: an unknown key is an error
(a typo must not be ignored), no type is coerced (``priority: "10"`` is not 10), and a
validated part is frozen, since the compiled plan is shared between threads. A key given
as ``null`` counts as absent, so that YAML's empty value (``if:``) means "not given".

The plan model and the journeys, metrics and evidence models (an evidence file is part
of the plan version) all derive from :class:`PlanPart`; this module imports nothing of
theirs, so each can use it without an import cycle.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class PlanPart(BaseModel):
    """A part of a plan: unknown keys refused, no coercion, frozen, ``null`` means absent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data
