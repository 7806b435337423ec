"""A plan's moments as durable-rules rulesets (their JSON definition form).

One ruleset per moment, so that one event can complete every moment it belongs to: an
event *posted* to durable-rules fires at most one of the rules it matches (its issues
#190, #400), and one rule per ruleset is also far from its per-ruleset limits (#303).
All customers share one session (``sid``) and every join also requires the same
``cid``: durable-rules keeps at most 1,024 live sessions per ruleset (MemoryError past
that, measured here) and deleting a session's state crashes the process (#136), so
per-customer sessions would not scale; the ``cid`` condition keeps customers apart.

Each step's ``if`` is evaluated by the plan's own expression evaluator before the
event is posted (a flag ``i<step>`` on the message), so conditions mean exactly what
the plan format says; durable-rules correlates: order (``seq``), windows (``ts``),
and absence (``none``, checked when a clock tick for the deadline arrives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..compile import CompiledMoment

TICK = "__tick"


@dataclass(frozen=True)
class StepSpec:
    """What the worker process needs of a step (plain data: it crosses a process boundary)."""

    event: str
    has_if: bool
    count: int
    within: int | None
    absent: bool


def spec_of(moment: CompiledMoment) -> tuple[StepSpec, ...]:
    return tuple(StepSpec(s.event, s.test is not None, s.count, s.within, s.absent) for s in moment.steps)


def _matches(step: int, spec: StepSpec) -> list[dict[str, Any]]:
    tests: list[dict[str, Any]] = [{"t": spec.event}]
    if spec.has_if:
        tests.append({f"i{step}": True})
    return tests


def deadline_key(step: int) -> str:
    """The message field holding an event's time plus step ``step``'s window."""
    return f"d{step}"


def _within(name: str, step: int) -> dict[str, Any]:
    # Against a deadline the event carries (its time plus the window, added before posting),
    # not durable-rules' own arithmetic ($add on a matched event's field).
    return {"$lte": {"ts": {name: deadline_key(step)}}}


def _after(name: str) -> list[dict[str, Any]]:
    return [{"cid": {name: "cid"}}, {"$gt": {"seq": {name: "seq"}}}]


def _and(tests: list[dict[str, Any]]) -> dict[str, Any]:
    return tests[0] if len(tests) == 1 else {"$and": tests}


def _join(tests: list[dict[str, Any]], guard: dict[str, Any]) -> dict[str, Any]:
    """The tests of a term that joins earlier events, closed by ``guard``: a test that holds
    whenever the tests before it do.

    durable-rules (2.0.28, ``reduceExpressionSequence`` in its events.c) steps one test too
    far when a test of an ``$and`` is false, so a false *last* test sends it past the
    group's end marker, reading beyond the expression list (valgrind: invalid read). That
    crashed the worker (segmentation fault) or matched wrongly, depending on memory layout:
    an event just outside a window did it. A last test that is never false when reached
    keeps every skip inside the list.
    """
    return {"$and": [*tests, guard]}


def _later_than(name: str) -> dict[str, Any]:
    """A guard for tests that include ``_after(name)``: it holds whenever they do."""
    return {"$gte": {"seq": {name: "seq"}}}


def definition(steps: tuple[StepSpec, ...], action: Callable[[Any], None]) -> dict[str, Any]:
    """The rule (``r_0``) of one moment's ruleset; matched events are named e0, e1, ..."""
    terms: list[dict[str, Any]] = []
    names: list[str] = []
    for index, step in enumerate(steps):
        if step.absent:
            last = names[-1]
            deadline = {"$gt": {"ts": {last: deadline_key(index)}}}
            terms.append({"tick": _join([{"t": TICK}, {"cid": {last: "cid"}}, deadline],
                                        {"$gte": {"ts": {last: deadline_key(index)}}})})
            # Last in the list: durable-rules checks a `none` when the terms before it are
            # all matched (here, when the deadline's tick arrives), against what is stored.
            terms.append({f"m_{len(terms)}$not": _join(
                _matches(index, step) + _after(last) + [_within(last, index)], _later_than(last))})
            continue
        group_first = None
        for _ in range(step.count):
            name = f"e{len(names)}"
            tests = _matches(index, step)
            if names:
                tests += _after(names[-1])
                if step.count > 1 and group_first is not None:
                    tests.append(_within(group_first, index))  # all within the first
                elif step.within is not None and index > 0:
                    tests.append(_within(names[-1], index))
            if group_first is None:
                group_first = name
            terms.append({name: _join(tests, _later_than(names[-1])) if names else _and(tests)})
            names.append(name)
    return {"r_0": {"all": terms, "run": action}}


def deadline_fields(steps: tuple[StepSpec, ...], timestamp: float) -> dict[str, float]:
    """What a message for this moment carries besides its own fields: for every step with a
    window, the event's time plus that window (see :func:`_within`)."""
    return {deadline_key(index): timestamp + step.within for index, step in enumerate(steps)
            if step.within is not None}


def positive_names(steps: tuple[StepSpec, ...]) -> int:
    """How many events a complete match of these steps names (e0 .. e{n-1})."""
    return sum(s.count for s in steps if not s.absent)
