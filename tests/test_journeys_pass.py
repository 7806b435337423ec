"""The common events file measured in one pass (journeys/duckdb_pass.py), and each thing
that sends a file to the events table instead: the reports are the Python path's either
way, and the path taken is the one the module says."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine.journeys import duckdb_file
from treatment_engine.journeys.duckdb_file import measure_file
from treatment_engine.journeys.reference import runs
from treatment_engine.journeys.summary import summarize

from .journey_plans import histories, journey, journeys
from .test_journeys_file import START, _each_type_once, stamp

SUCCESS = {"after": {"within": "5s", "none": [{"event": "complaint"}], "require": [{"event": "survey", "if": "v >= 1"}]}}


def _write(path: Path, events: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def _measured(monkeypatch: pytest.MonkeyPatch, compiled: list[Any], path: Path,
              as_of: float | None = None) -> tuple[Any, bool]:
    """measure_file's answer, and whether it made the events table (not one pass)."""
    made: list[bool] = []
    load = duckdb_file._load

    def recorded(*args: Any) -> bool:
        made.append(True)
        return load(*args)

    monkeypatch.setattr(duckdb_file, "_load", recorded)
    measured = measure_file(compiled, str(path), as_of)
    return measured, bool(made)


def _expected(compiled: list[Any], path: Path, as_of: float | None = None) -> tuple[list[Any], Any]:
    from treatment_engine.journeys import source

    with open(path, "rb") as stream:
        found = source.from_lines(compiled, stream, as_of)
    return [summarize(j, runs(j, found.by_journey[j.id], found.as_of), found.as_of) for j in compiled], found


def _event(customer: str, kind: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer, "type": kind, "timestamp": stamp(at, "Z"), **fields}


COMMON = [_event("a", "start", 0), _event("a", "page_view", 1), _event("a", "middle", 2, v=1),
          _event("a", "end", 3), _event("a", "survey", 4, v=2), _event("a", "complaint", 9),
          _event("b", "start", 0), _event("b", "end", 1), _event("b", "complaint", 2),
          _event("c", "start", 0), _event("c", "middle", 1, v=0), _event("c", "end", 2), _event("c", "survey", 9, v=1),
          _event("d", "page_view", 5), _event("e", "start", 30)]


def _compiled() -> list[Any]:
    return [journey(within="10s", steps=[{"event": "start"}, {"event": "middle", "optional": True, "if": "v >= 1"},
                                         {"event": "end"}], success=SUCCESS),
            journey(id="two", within="10s", steps=[{"event": "start"}, {"event": "end", "within": "2s"}])]


def test_a_common_file_is_measured_in_one_pass_as_python_measures_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No events table: the runs, success from the lists of complaints and surveys after
    the last step, and the counts (a page view passed over, a customer with none of the
    journeys' events) all from the one GROUP BY."""
    compiled = _compiled()
    path = tmp_path / "events.jsonl"
    _write(path, COMMON)
    measured, made = _measured(monkeypatch, compiled, path)
    expected, found = _expected(compiled, path)
    assert not made
    assert measured is not None and measured.reports == expected
    got = measured.events
    assert (got.read, got.passed_over, got.as_of, got.refused) == (found.read, found.passed_over, found.as_of, [])
    assert (expected[0].completed, expected[0].succeeded, expected[0].failed) == (3, 1, 2)


UNCOMMON = {
    # a complaint at the very second of the end, after it in the file: the position says it
    # came after the last step (the run fails); the per-customer table holds no position
    "a success event tied with the last step": [_event("a", "start", 0), _event("a", "end", 3),
                                                _event("a", "complaint", 3), _event("a", "survey", 4, v=1),
                                                _event("z", "start", 20)],
    "a refused event": [_event("a", "start", 0), _event("a", "end", 3), {"type": "start", "timestamp": stamp(1, "Z")}],
    "an empty customer id": [_event("a", "start", 0), _event("a", "end", 3), _event("", "start", 1)],
    "a step type twice": [_event("a", "start", 0), _event("a", "end", 1), _event("a", "start", 2), _event("a", "end", 3),
                          _event("a", "survey", 4, v=1)],
    "two step types at one time": [_event("a", "start", 0), _event("a", "middle", 1, v=1), _event("a", "end", 1),
                                   _event("a", "survey", 9, v=1)],
    "a time only Python converts": [_event("a", "start", 0), _event("a", "end", 3), _event("a", "survey", 4, v=1),
                                    {**_event("a", "complaint", 5), "timestamp": stamp(5, "space")},
                                    _event("z", "start", 20)],
}


@pytest.mark.parametrize("name", list(UNCOMMON))
def test_an_uncommon_file_goes_to_the_events_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Each of these needs an event's position or a second look at it: the one pass sees it
    in its totals and leaves the file to the events table, whose reports are the Python
    path's (with the one pass's answer kept, the tie would count the run as succeeded,
    the refusal would go unreported, the repeated customer's runs would be one, the
    complaint whose time only Python reads would not be seen)."""
    compiled = _compiled()
    path = tmp_path / "events.jsonl"
    _write(path, UNCOMMON[name])
    measured, made = _measured(monkeypatch, compiled, path)
    expected, found = _expected(compiled, path)
    assert made
    assert measured is not None and measured.reports == expected
    assert measured.events.refused == found.refused


def test_a_number_as_customer_id_after_the_sample_is_refused_in_a_common_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first lines hold string ids, so the id is read as text, and the one pass checks
    it once per customer (duckdb_file._read): a later customer whose id is the number 7
    (read as the text "7") must stop that reading, and the file is measured as Python
    measures it, the number's two events refused. Nothing else in the file is uncommon,
    so only that check can catch it."""
    from treatment_engine.sql import json_lines

    monkeypatch.setattr(json_lines, "KIND_SAMPLE", 1)
    compiled = _compiled()
    events = [*COMMON, {**_event("x", "start", 0), "customer_id": 7}, {**_event("x", "end", 1), "customer_id": 7}]
    path = tmp_path / "events.jsonl"
    _write(path, events)
    assert ("customer_id",) in duckdb_file._text_fields(str(path), [])
    measured, _ = _measured(monkeypatch, compiled, path)
    expected, found = _expected(compiled, path)
    assert [e.index for e in found.refused] == [len(COMMON), len(COMMON) + 1]
    assert measured is not None and measured.reports == expected
    assert measured.events.refused == found.refused


def test_the_tie_decides_the_run_in_the_python_path(tmp_path: Path) -> None:
    """The tied complaint fails the run: the file order says it came after the end."""
    compiled = _compiled()
    path = tmp_path / "events.jsonl"
    _write(path, UNCOMMON["a success event tied with the last step"])
    expected, _ = _expected(compiled, path)
    assert (expected[0].completed, expected[0].succeeded, expected[0].failed) == (1, 0, 1)


def test_an_as_of_or_a_consecutive_journey_goes_to_the_events_table(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "events.jsonl"
    _write(path, COMMON)
    moment = (START + timedelta(seconds=3)).timestamp()
    measured, made = _measured(monkeypatch, _compiled(), path, moment)
    assert made and measured is not None and measured.reports == _expected(_compiled(), path, moment)[0]
    consecutive = [journey(within="10s", order="consecutive", steps=[{"event": "start"}, {"event": "end"}])]
    measured, made = _measured(monkeypatch, consecutive, path)
    assert made and measured is not None and measured.reports == _expected(consecutive, path)[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), journeys(), histories(), st.booleans())
def test_clean_files_measured_in_one_pass_or_not_as_python_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 first: dict[str, Any], second: dict[str, Any],
                                                                 history: list[Any], once: bool) -> None:
    """Files with nothing refused and every time SQL's: in one pass where each customer met
    each step type once with no ties, else through the events table; the same reports."""
    compiled = [journey(**{**first, "id": "one", "order": "in_order"}),
                journey(**{**second, "id": "two", "order": "in_order"})]
    events = [_event(customer, kind, at, **(rest[0] if rest else {})) for customer, kind, at, *rest in history]
    path = tmp_path / "events.jsonl"
    _write(path, _each_type_once(events) if once else events)
    measured, _ = _measured(monkeypatch, compiled, path)
    expected, found = _expected(compiled, path)
    assert measured is not None and measured.reports == expected
    assert (measured.events.read, measured.events.passed_over, measured.events.as_of) == \
        (found.read, found.passed_over, found.as_of)
    monkeypatch.undo()

