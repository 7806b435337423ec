"""The decision semantics written once: its messages, and the same text on every path.

The invalid-profile messages come from one table (treatment_engine.semantics); the
Python evaluator raises them and the SQL query writes them, so for the same profile the
two must give the same text, character for character.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from treatment_engine import Day, DecisionError, Engine, ProfileError, semantics
from treatment_engine.expressions import values
from treatment_engine.expressions.ast import FLIPPED
from treatment_engine.profiles import read_csv
from treatment_engine.sql.duckdb_backend import DuckDBBackend
from treatment_engine.sql.fragments import Unsupported

from .plans import SEGMENTS, STAGES, TIERS, plans
from .strategies import profiles, scalars

AS_OF = date(2026, 6, 15)

# Text a profile may give as its segment/stage/tier: the plan's ids, and text the plan
# does not define, quotes, backslashes and non-ASCII included.
given_text = st.one_of(st.sampled_from([*SEGMENTS, *STAGES, *TIERS]),
                       st.sampled_from(["", "vip", "O'Brien", 'say "hi"', "back\\slash", "é", "日本", "a\nb"]),
                       st.text(max_size=6))
given_values = st.one_of(given_text, scalars, st.lists(scalars, max_size=2),
                         st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2))
customer_ids = st.one_of(st.just("c"), st.just(""), st.none(), st.integers(), st.booleans(),
                         st.lists(st.just("c"), max_size=1))


@st.composite
def invalid_leaning_profiles(draw: st.DrawFn) -> dict:
    """Profiles of strategies.profiles with ids and given values that are often invalid."""
    profile = draw(profiles())
    if draw(st.integers(0, 3)):
        profile["customer_id"] = "c"
    elif draw(st.booleans()):
        profile["customer_id"] = draw(customer_ids)
    for key in ("segment", "lifecycle_stage", "value_tier"):
        if draw(st.booleans()):
            profile[key] = draw(given_values)
    return profile


def python_errors(engine: Engine, batch: list) -> list[tuple[str | None, str | None]]:
    return [(r.customer_id, r.error) if isinstance(r, DecisionError) else (r.customer_id, None)
            for r in engine.decide_many(batch, AS_OF)]


def duckdb_errors(engine: Engine, path: Path) -> list[tuple[str | None, str | None]]:
    try:
        records = list(DuckDBBackend(engine.plan).records(path, AS_OF))
    except Unsupported:
        assume(False)  # documented: such plans run on the python engine
        raise
    return [(r["customer_id"], r.get("error")) for r in records]


@settings(max_examples=35, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(invalid_leaning_profiles(), min_size=1, max_size=40))
def test_python_and_duckdb_give_the_same_error_text(tmp_path: Path, files: dict[str, str], batch: list[dict]) -> None:
    engine = Engine.from_texts(files)
    for index, profile in enumerate(batch):
        if profile.get("customer_id") == "c":
            profile["customer_id"] = f"c{index}"
    path = tmp_path / "p.jsonl"
    with open(path, "w", encoding="utf-8") as stream:
        for profile in batch:
            stream.write(json.dumps(profile) + "\n")
    assert duckdb_errors(engine, path) == python_errors(engine, batch)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(st.tuples(st.sampled_from(["c", ""]), given_text, given_text, given_text),
                         min_size=1, max_size=10))
def test_the_same_error_text_from_csv(tmp_path: Path, files: dict[str, str],
                                      rows: list[tuple[str, str, str, str]]) -> None:
    engine = Engine.from_texts(files)
    path = tmp_path / "p.csv"
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["customer_id", "segment", "lifecycle_stage", "value_tier"])
        for index, row in enumerate(rows):
            cells = [f"{row[0]}{index}" if row[0] else "", *row[1:]]
            writer.writerow([c.replace("\n", " ").replace("\r", " ") for c in cells])
    with open(path, encoding="utf-8", newline="") as stream:
        items = list(read_csv(stream))
    assume(len(items) == len(rows))  # a row of empty cells is no profile at all
    assert duckdb_errors(engine, path) == python_errors(engine, items)


@pytest.mark.parametrize("profile, message", [
    ([1], "a profile must be a JSON object, got an array"),
    (None, "a profile must be a JSON object, got null"),
    ({"customer_id": ""}, "the profile has no customer_id (a non-empty string)"),
    ({"customer_id": "c", "segment": "vip's"},
     "the profile gives segment 'vip's', which the plan does not define as a segment"),
    ({"customer_id": "c", "lifecycle_stage": 3},
     "the profile gives lifecycle_stage as a number, which the plan does not define as a lifecycle stage"),
    ({"customer_id": "c", "value_tier": ["gold"]},
     "the profile gives value_tier as an object or array, which the plan does not define as a value tier"),
    ({"customer_id": "c", "value_tier": True},
     "the profile gives value_tier as a boolean, which the plan does not define as a value tier"),
])
def test_the_messages_of_the_table(default_engine: Engine, profile: object, message: str) -> None:
    with pytest.raises(ProfileError) as raised:
        default_engine.decide(profile)  # type: ignore[arg-type]
    assert raised.value.message == message


def test_sql_message_parts_join_into_the_python_message() -> None:
    for dimension in semantics.DIMENSIONS:
        before, after = semantics.undefined_text_parts(dimension)
        assert before + "x'y" + after == semantics.undefined_given(dimension, "x'y")
        for component, kind in semantics.KIND_NAMES.items():
            example = {"n": 1.5, "b": False, "o": {"a": 1}}[component]
            assert semantics.undefined_kind(dimension, component) == semantics.undefined_given(dimension, example)
            assert kind in semantics.undefined_given(dimension, example)


@given(st.sampled_from(sorted(FLIPPED)), scalars, scalars)
def test_flipped_operators_swap_their_operands(op: str, a: object, b: object) -> None:
    def compare(operator: str, left: object, right: object) -> bool | None:
        if operator in ("==", "!="):
            same = values.equals(left, right)
            return same if operator == "==" or same is None else not same
        return values.order(operator, left, right)
    assert compare(op, a, b) == compare(FLIPPED[op], b, a)


def test_a_day_is_built_once_from_a_date_or_its_text() -> None:
    day = Day.of(date(2026, 11, 1))
    assert (day.date, day.ordinal, day.text) == (date(2026, 11, 1), date(2026, 11, 1).toordinal(), "2026-11-01")
    assert Day.of("2026-11-01") == day and Day.of(day) is day and Day.of(date(2026, 11, 1)) is day
    with pytest.raises(ValueError):
        Day.of("2026-13-01")
    with pytest.raises(AttributeError):
        day.text = "2026-11-02"  # type: ignore[misc]


def test_the_engine_takes_a_day_or_a_date(default_engine: Engine, sample_profiles: list[dict]) -> None:
    profile, day = sample_profiles[0], Day.of(AS_OF)
    assert default_engine.decide(profile, day) == default_engine.decide(profile, AS_OF)
    assert default_engine.decide(profile, day).as_of == "2026-06-15"
    assert default_engine.explain(profile, day).rule == default_engine.decide(profile, AS_OF).rule
    assert list(default_engine.decide_many([profile], day)) == [default_engine.decide(profile, AS_OF)]
    assert default_engine.decide_or_error(profile, day) == default_engine.decide(profile, day)
    bad = default_engine.decide_or_error({"customer_id": "c1", "segment": "nope"}, day)
    assert isinstance(bad, DecisionError) and bad.customer_id == "c1" and "'nope'" in bad.error
    assert default_engine.decide_or_error(profile).as_of == "2026-11-01"  # the engine's clock
