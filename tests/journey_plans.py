"""Journeys for tests: plans from dicts, events from tuples, and generated ones (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml
from hypothesis import strategies as st

from treatment_engine import plan_from_texts
from treatment_engine.journeys.compiled import CompiledJourney
from treatment_engine.journeys.reference import JourneyEvent, Run

DAY = 86_400
Raw = tuple[str, str, float] | tuple[str, str, float, dict[str, Any]]
RunsOf = Callable[[CompiledJourney, Sequence[JourneyEvent], float], list[Run]]


def journey(**written: Any) -> CompiledJourney:
    """One journey compiled from its plan entry (owner and id filled in)."""
    entry = {"id": "j", "owner": "tests", **written}
    return plan_from_texts({"rules/j.yaml": yaml.safe_dump({"journeys": [entry]})}).journeys[0]


def events(compiled: CompiledJourney, raw: Sequence[Raw]) -> list[JourneyEvent]:
    """(customer, type, seconds[, fields]) in input order, as the journey sees them."""
    made = []
    for index, item in enumerate(raw):
        customer, kind, moment = item[0], item[1], float(item[2])
        fields = {"customer_id": customer, "type": kind, **(item[3] if len(item) > 3 else {})}  # type: ignore[misc]
        made.append(JourneyEvent(customer, moment, index, compiled.flags(kind, fields, moment)))
    return made


TYPES = ("start", "middle", "end", "complaint", "survey", "other")


@st.composite
def journeys(draw: st.DrawFn) -> dict[str, Any]:
    """A journey entry over TYPES: 2-4 steps, optional middles, windows of a few seconds."""
    count = draw(st.integers(2, 4))
    whole = draw(st.integers(2, 7))
    steps: list[dict[str, Any]] = [{"event": "start"}]
    for index in range(1, count):
        step: dict[str, Any] = {"id": f"s{index}", "event": draw(st.sampled_from(TYPES[1:3]))}
        if index < count - 1 and draw(st.booleans()):
            step["optional"] = True
        if draw(st.booleans()):
            step["within"] = f"{draw(st.integers(1, min(4, whole)))}s"
        if draw(st.booleans()):
            # nulls and wrong types: v is also null, a string or a boolean (see histories)
            step["if"] = draw(st.sampled_from(["v >= 1", "v == 0", "not missing(v)", "v != 'x'", "v in [1, true]",
                                               "not (v < 2)"]))
        steps.append(step)
    entry: dict[str, Any] = {"within": f"{whole}s", "steps": steps,
                             "order": draw(st.sampled_from(["in_order", "consecutive"]))}
    if draw(st.booleans()):
        after: dict[str, Any] = {"within": f"{draw(st.integers(1, 5))}s"}
        if draw(st.booleans()):
            after["none"] = [{"event": "complaint"}]
        if draw(st.booleans()) or "none" not in after:
            after["require"] = [{"event": "survey", "if": "v >= 1"}]
        entry["success"] = {"after": after}
    return entry


@st.composite
def histories(draw: st.DrawFn) -> list[Raw]:
    """Events of two customers, each a stream with gaps of 0 to 3 seconds (ties included),
    mostly of step types and with a field `v`: dense enough that runs go far and windows
    are met at their edges. Input order mixes the customers."""
    raw: list[Raw] = []
    kinds = st.sampled_from(("start",) * 2 + TYPES[1:3] * 3 + TYPES[3:])
    for customer in ("a", "b"):
        moment = 0.0
        for _ in range(draw(st.integers(0, 20))):
            moment += draw(st.sampled_from([0, 0.5, 1, 1, 2, 3]))
            fields = draw(st.one_of(st.just({}), st.fixed_dictionaries({"v": st.sampled_from([0, 1, 2, "x", None, True])})))
            raw.append((customer, draw(kinds), moment, fields))
    return draw(st.permutations(raw))
