"""Every number in a plan has the range docs/plan-format.md (appendix E) gives it, and a plan
that validates always serves: in the evaluator, in `explain` and in the service."""

from __future__ import annotations

import math
import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from treatment_engine import Engine, PlanError, ProfileError
from treatment_engine.durations import UNIT_SECONDS

from . import plans as plan_strategies
from .asgi import Request, exchange
from .conftest import REPO, write_plan
from .strategies import profiles

Bound = float | None  # None: any finite


def documented_ranges() -> dict[tuple[str, str], tuple[Bound, Bound]]:
    """Appendix E's table of numbers: (key, what it takes) -> (from, to)."""
    text = (REPO / "docs" / "plan-format.md").read_text(encoding="utf-8")
    table = text.split("### Numbers", 1)[1].split("\n\n", 2)[1]
    ranges = {}
    for row in table.splitlines()[2:]:
        key, _, takes, low, high = (cell.strip() for cell in row.strip("|").split("|"))
        ranges[(key.replace("`", ""), takes)] = (_bound(low), _bound(high))
    return ranges


def _bound(cell: str) -> Bound:
    if cell == "any finite":
        return None
    if duration := re.fullmatch(r"(\d+)([smhd])", cell):
        return int(duration[1]) * UNIT_SECONDS[duration[2]]
    # "above 0" / "below 1": an open bound (an experiment's share); the generated extreme
    # plans draw no shares, so the bound's number is what matters here.
    return float(cell.removeprefix("above ").removeprefix("below ").replace(",", ""))


RANGES = documented_ranges()


def in_range(key: str, value: object) -> bool:
    """Whether appendix E admits ``value`` for ``key`` (the generated plan's own numbers)."""
    if key == "within":
        low, high = RANGES[("within", "duration")]
        text = str(value)
        return len(text) < 20 and low <= int(text[:-1]) * UNIT_SECONDS[text[-1]] <= high  # type: ignore[operator]
    if key == "numbers in if":
        return math.isfinite(float(str(value)))
    whole = type(value) is int
    takes = next((t for (k, t) in RANGES if k == key and t == "whole number"), None) if whole else None
    takes = takes or next(t for (k, t) in RANGES if k == key and (t != "whole number" or whole))
    low, high = RANGES[(key, takes)]
    number = value if type(value) in (int, float) else math.nan
    try:
        finite = math.isfinite(float(number))  # type: ignore[arg-type]
    except OverflowError:
        return False
    return finite and (low is None or low <= number) and (high is None or number <= high)  # type: ignore[operator]


def test_the_documented_table_covers_every_generated_number() -> None:
    keys = {key for key, _ in RANGES}
    assert keys >= {"priority", "cost", "delight_max_cost_ratio", "min", "max", "per_days",
                    "delight_cooldown_days", "count", "within", "steps", "events", "set values",
                    "numbers in if"}


def _judged(files: dict[str, str], drawn: list[tuple[str, object]]) -> Engine | None:
    """The plan's engine when every drawn number is in range; None after checking that a
    plan with one out of range is refused, with located errors, as out of range."""
    valid = all(in_range(key, value) for key, value in drawn)
    event("in range" if valid else "out of range")
    if valid:
        return Engine.from_texts(files)
    with pytest.raises(PlanError) as raised:
        Engine.from_texts(files)
    lines = raised.value.lines()
    assert all(re.match(r"^[\w/.-]+\.yaml:\d+:\d+: [a-z-]+: ", line) for line in lines), lines
    assert any(" out-of-range: " in line or " too-long: " in line or "too large" in line for line in lines), lines
    return None


AS_OF = st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_strategies.extreme_plans(), st.lists(profiles(), min_size=1, max_size=6), AS_OF, st.data())
def test_a_plan_that_validates_decides_and_explains(plan: tuple[dict[str, str], list[tuple[str, object]]],
                                                    batch: list[dict], as_of: date, data: st.DataObject) -> None:
    engine = _judged(*plan)
    if engine is None:
        return
    for index, profile in enumerate(batch):
        profile["customer_id"] = f"c{index}"
    histories = data.draw(plan_strategies.histories([p["customer_id"] for p in batch], as_of))
    list(engine.decide_many(batch, as_of, histories=histories))
    for profile in batch:
        history = histories.get(profile["customer_id"], [])
        try:
            engine.decide(profile, as_of, history=history)
        except ProfileError:
            continue
        engine.explain(profile, as_of, history=history)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_strategies.extreme_plans(), st.lists(profiles(), min_size=1, max_size=4), AS_OF)
def test_a_plan_that_validates_is_served(plan: tuple[dict[str, str], list[tuple[str, object]]],
                                         batch: list[dict], as_of: date) -> None:
    pytest.importorskip("fastapi")
    from treatment_engine.service.app import create_app
    from treatment_engine.store import DecisionLog

    if _judged(*plan) is None:
        return
    for index, profile in enumerate(batch):
        profile["customer_id"] = f"c{index}"
    day = as_of.isoformat()
    requests: list[Request] = [(  # twice: the second round counts the first as history
        "POST", path, {"profile": profile, "as_of": day})
        for _ in range(2) for profile in batch for path in ("/v1/decisions", "/v1/explain")]
    requests.append(("POST", "/v1/decisions:batch", {"profiles": batch, "as_of": day}))
    with tempfile.TemporaryDirectory() as folder:
        root = write_plan(Path(folder) / "plan", plan[0])
        log = DecisionLog(f"sqlite:///{Path(folder) / 'log.db'}")
        for answer in exchange(create_app(root, log=log), requests):
            assert answer.status_code in (200, 422), answer.text
