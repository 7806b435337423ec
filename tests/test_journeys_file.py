"""Journeys measured inside DuckDB from an events file (``treatment journeys --events`` on
DuckDB) give the Python path's reports, counts and refusals: generated journeys over
generated files whose events hold nulls, wrong types, timestamps of every shape and
events the reader refuses or passes over; customers with each step type once (the
aggregation path, journeys/sql_once.py) generated and at the rules' edges."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine.expressions.ast import Field
from treatment_engine.journeys import duckdb_file, duckdb_runs, source
from treatment_engine.journeys.duckdb_file import _text_fields, measure_file
from treatment_engine.journeys.reference import runs
from treatment_engine.journeys.summary import summarize
from treatment_engine.sql import json_lines

from .journey_plans import histories, journey, journeys

START = datetime(2026, 3, 1, tzinfo=UTC)


def stamp(seconds: float, shape: str) -> Any:
    """A time written as a producer might write it; some shapes only Python reads."""
    moment = START + timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}"[:4] if moment.microsecond else "")
    return {"Z": text + "Z", "offset": (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
            + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "+02:00",
            "naive": text, "space": text.replace("T", " ") + "Z", "padded": f" {text}Z ",
            "date": moment.strftime("%Y-%m-%d"), "bad day": "2026-02-30T00:00:00Z", "words": "soon",
            "number": seconds}[shape]


SHAPES = st.sampled_from(["Z"] * 6 + ["offset", "naive", "space", "padded", "date", "bad day", "words", "number"])
ODD = st.sampled_from([None, "customer", "type", "unknown type", "not a string type", "no customer"])


@st.composite
def lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """The generated histories as event objects, some of them odd."""
    made = []
    for customer, kind, moment, *rest in draw(histories()):
        event: dict[str, Any] = {"customer_id": customer, "type": kind,
                                 "timestamp": stamp(moment, draw(SHAPES)), **(rest[0] if rest else {})}
        odd = draw(ODD) if draw(st.integers(0, 9)) == 0 else None
        if odd == "customer":
            event["customer_id"] = draw(st.sampled_from([7, "", None, ["a"]]))
        elif odd == "no customer":
            del event["customer_id"]
        elif odd == "type":
            event["type"] = ""
        elif odd == "unknown type":
            event["type"] = "page_view"
        elif odd == "not a string type":
            event["type"] = draw(st.sampled_from([3, True, None]))
        made.append(event)
    return made


def python_path(compiled: Any, path: Path, as_of: float | None) -> tuple[Any, Any]:
    with open(path, "rb") as stream:
        found = source.from_lines([compiled], stream, as_of)
    report = summarize(compiled, runs(compiled, found.by_journey[compiled.id], found.as_of), found.as_of)
    return report, found


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), lines(), st.one_of(st.none(), st.integers(0, 50)))
def test_duckdb_reads_and_measures_the_file_as_python_does(tmp_path: Path, written: dict[str, Any],
                                                            events: list[dict[str, Any]], as_of: int | None) -> None:
    compiled = journey(**written)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    moment = None if as_of is None else (START + timedelta(seconds=as_of)).timestamp()
    expected, found = python_path(compiled, path, moment)
    measured = measure_file([compiled], str(path), moment)
    assert measured is not None
    assert measured.reports == [expected]
    got = measured.events
    assert (got.read, got.passed_over, got.as_of) == (found.read, found.passed_over, found.as_of)
    assert got.refused == found.refused


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), lines(), st.one_of(st.none(), st.integers(0, 50)))
def test_customers_with_each_step_type_once_are_measured_alike(tmp_path: Path, written: dict[str, Any],
                                                               events: list[dict[str, Any]], as_of: int | None) -> None:
    """The aggregation path (journeys/sql_once.py) takes customers who met each step type
    at most once, no two of those events at one time: here every customer, each type kept
    at its first event (several steps of one type included; a customer with a tie in time
    goes to the window query, in the same statement)."""
    test_duckdb_reads_and_measures_the_file_as_python_does.hypothesis.inner_test(  # type: ignore[attr-defined]
        tmp_path, written, _each_type_once(events), as_of)


def test_a_file_duckdb_would_read_otherwise_goes_the_python_way(tmp_path: Path) -> None:
    compiled = journey(within="7d", steps=[{"event": "start"}, {"event": "end", "if": "v >= 1"}])
    path = tmp_path / "events.jsonl"
    # NaN is not JSON: Python refuses the line, DuckDB's reader would take it as a number
    path.write_text('{"customer_id": "a", "type": "start", "timestamp": "2026-03-01T00:00:00Z"}\n'
                    '{"customer_id": "a", "type": "end", "timestamp": "2026-03-01T00:00:01Z", "v": NaN}\n',
                    encoding="utf-8")
    assert measure_file([compiled], str(path), None) is None


@pytest.mark.parametrize("condition", ["v >= 1", "v == true", "missing(v)", "v in [1, 'x', true]",
                                       "not (v > 0)", "days_since(d) >= 0"])
def test_each_condition_holds_on_the_same_events_in_sql_and_in_python(tmp_path: Path, condition: str) -> None:
    """Nulls, absent fields and wrong types, one condition at a time."""
    compiled = journey(within="30d", steps=[{"event": "start", "if": condition}, {"event": "end"}])
    values: list[Any] = [0, 1, 2, -1.5, "x", "1", True, False, None, [1], {"a": 1}]
    events = [{"customer_id": f"c{i}", "type": "start", "timestamp": "2026-03-01T00:00:00Z", "v": v,
               "d": "2026-02-27"} for i, v in enumerate(values)]
    events += [{"customer_id": "absent", "type": "start", "timestamp": "2026-03-01T00:00:00Z"}]
    events += [{"customer_id": e["customer_id"], "type": "end", "timestamp": "2026-03-02T00:00:00Z"} for e in events]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    expected, _ = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert expected.entered > 0


def test_a_number_is_no_timestamp_in_a_file(tmp_path: Path) -> None:
    """Only the store's rows carry seconds; in a file a number is refused (it was taken as
    seconds, and a line without a customer_id stopped the command)."""
    compiled = journey(within="7d", steps=[{"event": "start"}, {"event": "end"}])
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "start", "timestamp": 5.5}\n{"customer_id": "a", "type": "start", "timestamp": 5.5}\n',
                    encoding="utf-8")
    with open(path, "rb") as stream:
        found = source.from_lines([compiled], stream, None)
    assert [(e.index, e.customer_id) for e in found.refused] == [(0, None), (1, "a")]
    assert "no valid timestamp" in found.refused[1].error
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.events.refused == found.refused


def test_a_time_only_python_reads_stays_unread_on_an_event_refused_for_its_type(tmp_path: Path) -> None:
    """An event's time is read only where its type is one of the journeys' (parse_event
    reads the time after the customer id and the type): an event without a type is refused
    whatever its time, so a time there that only Python converts must not send a plan
    whose condition reads days_since (which needs every time in SQL) the Python way."""
    compiled = journey(within="7d", steps=[{"event": "start", "if": "days_since(d) >= 0"}, {"event": "end"}])
    events = [{"customer_id": "a", "type": "start", "timestamp": stamp(0, "Z"), "d": "2026-02-27"},
              {"customer_id": "a", "timestamp": stamp(1, "padded")},
              {"customer_id": "a", "type": None, "timestamp": stamp(1, "padded")},
              {"customer_id": "a", "type": "page_view", "timestamp": stamp(1, "padded")},
              {"customer_id": "a", "type": "end", "timestamp": stamp(2, "Z")}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    expected, found = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert measured.events.refused == found.refused and [e.index for e in found.refused] == [1, 2]
    assert expected.completed == 1


def test_the_aggregation_path_keeps_the_edges_of_the_rules(tmp_path: Path) -> None:
    """Customers with each step type once, at the rules' edges: a step exactly at its
    limit, a tie in time (input order decides), two candidates of one event, success's
    window edge. Each customer alone, so a wrong run changes the report."""
    compiled = journey(within="10s", steps=[
        {"event": "start"}, {"event": "booked", "optional": True, "within": "2s"},
        {"event": "middle", "optional": True, "if": "v >= 1"}, {"event": "middle", "id": "m2", "if": "v >= 0"},
        {"event": "end", "within": "3s"}],
        success={"after": {"within": "3s", "none": [{"event": "complaint"}]}})
    histories = {
        "at the limit": [("start", 0), ("booked", 2), ("middle", 3, 0), ("end", 6), ("complaint", 9)],
        "a second late": [("start", 0), ("booked", 2.5), ("middle", 3, 0), ("end", 7), ("complaint", 10.5)],
        "tie, start first": [("start", 1), ("middle", 1, 0), ("end", 1)],
        "tie, middle first": [("middle", 1, 0), ("start", 1), ("end", 2)],
        "one event, two steps": [("start", 0), ("middle", 1, 1), ("end", 2)],
        "booked with the middle": [("start", 0), ("middle", 1, 0), ("booked", 1), ("end", 2)],
        "complaint tied, before the end": [("start", 0), ("middle", 1, 0), ("complaint", 2), ("end", 2)],
    }
    reports = []
    for name, history in histories.items():
        path = tmp_path / f"{len(reports)}.jsonl"
        path.write_text("".join(json.dumps({"customer_id": name, "type": kind, "timestamp": stamp(at, "Z"),
                                            **({"v": rest[0]} if rest else {})}) + "\n"
                                for kind, at, *rest in history), encoding="utf-8")
        expected, _ = python_path(compiled, path, (START + timedelta(seconds=60)).timestamp())
        measured = measure_file([compiled], str(path), (START + timedelta(seconds=60)).timestamp())
        assert measured is not None and measured.reports == [expected], name
        reports.append((expected.completed, expected.succeeded, tuple(s.reached for s in expected.steps)))
    assert reports == [(1, 0, (1, 1, 0, 1, 1)), (0, 0, (1, 0, 0, 1, 0)), (1, 1, (1, 0, 0, 1, 1)),
                       (0, 0, (1, 0, 0, 0, 0)), (0, 0, (1, 0, 1, 0, 0)), (1, 1, (1, 0, 0, 1, 1)),
                       (1, 1, (1, 0, 0, 1, 1))]


def test_one_condition_on_two_step_types_is_held_to_each_type_in_the_aggregation(tmp_path: Path) -> None:
    """The same condition written on two steps of different types is one column of the
    events table, TRUE on events of either type: the per-customer aggregation must read it
    on each step's own type only (journeys/duckdb_runs._only). Here the start fails it and
    the end meets it: no run."""
    compiled = journey(within="7d", steps=[{"event": "start", "if": "v >= 1"}, {"event": "end", "if": "v >= 1"}])
    assert compiled.conditions.steps[0] is compiled.conditions.steps[1]
    events = [{"customer_id": "a", "type": "start", "timestamp": stamp(0, "Z"), "v": 0},
              {"customer_id": "a", "type": "end", "timestamp": stamp(1, "Z"), "v": 1},
              {"customer_id": "b", "type": "start", "timestamp": stamp(0, "Z"), "v": 1}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    expected, _ = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert expected.entered == 1


def _each_type_once(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, Any]] = set()
    once = []
    for event in events:
        key = (json.dumps(event.get("customer_id")), json.dumps(event.get("type")))
        if key not in seen:
            seen.add(key)
            once.append(event)
    return once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), journeys(), lines(), st.booleans(), st.one_of(st.none(), st.integers(0, 50)))
def test_journeys_measured_together_from_one_events_table(tmp_path: Path, first: dict[str, Any],
                                                          second: dict[str, Any], events: list[dict[str, Any]],
                                                          once: bool, as_of: int | None) -> None:
    """Several journeys over the same step types (and the same conditions) read from one
    events table: each journey's report is still the Python path's, whether every
    customer met each type once (the aggregation alone, no window query at all) or some
    did not."""
    compiled = [journey(**{**first, "id": "one"}), journey(**{**second, "id": "two"})]
    path = tmp_path / "events.jsonl"
    written = _each_type_once(events) if once else events
    path.write_text("".join(json.dumps(e) + "\n" for e in written), encoding="utf-8")
    moment = None if as_of is None else (START + timedelta(seconds=as_of)).timestamp()
    with open(path, "rb") as stream:
        found = source.from_lines(compiled, stream, moment)
    expected = [summarize(j, runs(j, found.by_journey[j.id], found.as_of), found.as_of) for j in compiled]
    measured = measure_file(compiled, str(path), moment)
    assert measured is not None
    assert measured.reports == expected


def test_times_at_the_edges_of_the_strptime_shortcut_read_as_python_reads_them(tmp_path: Path) -> None:
    """The commonest shape (sql/timestamps.common_shape_sql) at its edges: the year 0000,
    which DuckDB's strptime takes and Python refuses, the first and last years Python
    reads, a day that does not exist, a leap second, and the shape one character off."""
    compiled = journey(within="1d", steps=[{"event": "start"}, {"event": "end"}])
    stamps = ["0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-02-29T00:00:00Z",
              "2026-12-31T23:59:60Z", "2026-1-01T00:00:00Z", "2026-01-01T00:00:00Z", "12026-01-01T0:00:00Z"]
    events = [{"customer_id": f"c{i}", "type": kind, "timestamp": text}  # a tie: input order decides
              for i, text in enumerate(stamps) for kind in ("start", "end")]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    expected, found = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert measured.events.refused == found.refused and measured.events.as_of == found.as_of
    assert expected.completed == 3 and len(found.refused) == 10


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), lines(), st.one_of(st.none(), st.integers(0, 50)))
def test_reserved_fields_read_as_text_are_checked_on_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                written: dict[str, Any], events: list[dict[str, Any]],
                                                                as_of: int | None) -> None:
    """customer_id, type and timestamp are read as text where the file's first lines hold
    plain strings there (journeys/duckdb_file._text_fields): with a sample of one line, the
    odd values after it (a number, true or a list as customer_id, a number as type or
    timestamp) must stop the text reading, and the file is measured as Python measures it."""
    monkeypatch.setattr(json_lines, "KIND_SAMPLE", 1)
    test_duckdb_reads_and_measures_the_file_as_python_does.hypothesis.inner_test(  # type: ignore[attr-defined]
        tmp_path, written, events, as_of)


def test_a_reserved_field_that_is_not_text_after_the_sample_is_refused(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first line holds strings, so the three fields are read as text; the later lines'
    number, true, list and object must be refused as Python refuses them, not read as
    their JSON text ("7", "true")."""
    monkeypatch.setattr(json_lines, "KIND_SAMPLE", 1)
    compiled = journey(within="7d", steps=[{"event": "start"}, {"event": "end"}])
    good = {"customer_id": "a", "type": "start", "timestamp": "2026-03-01T00:00:00Z"}
    events = [good, {**good, "type": "end"}, {**good, "customer_id": 7}, {**good, "customer_id": True},
              {**good, "customer_id": ["a"]}, {**good, "type": 3}, {**good, "timestamp": 1772323200},
              {**good, "customer_id": "b", "timestamp": {"at": 1}}, {**good, "customer_id": "c", "type": "end"}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    assert _text_fields(str(path), []) == (("customer_id",), ("type",), ("timestamp",))
    expected, found = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert measured.events.refused == found.refused and len(found.refused) == 6


def test_a_number_as_type_is_refused_where_a_journeys_type_is_spelled_as_that_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The type read as text is checked only where it is none of the journeys' types
    (duckdb_file._late_checks), unless one of those types could be another kind's text:
    here the type "7", so the number 7 (read as the text "7") must still be refused."""
    monkeypatch.setattr(json_lines, "KIND_SAMPLE", 1)
    compiled = journey(within="7d", steps=[{"event": "start"}, {"event": "7"}])
    good = {"customer_id": "a", "type": "start", "timestamp": "2026-03-01T00:00:00Z"}
    events = [good, {**good, "type": 7, "timestamp": "2026-03-01T00:00:01Z"},
              {**good, "type": "7", "timestamp": "2026-03-01T00:00:02Z"}]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    assert ("type",) in _text_fields(str(path), [])
    expected, found = python_path(compiled, path, None)
    measured = measure_file([compiled], str(path), None)
    assert measured is not None and measured.reports == [expected]
    assert measured.events.refused == found.refused and [e.index for e in found.refused] == [1]
    assert expected.completed == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), lines(), st.one_of(st.none(), st.integers(0, 50)))
def test_the_type_read_through_an_in_list_as_through_the_comparisons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     written: dict[str, Any],
                                                                     events: list[dict[str, Any]],
                                                                     as_of: int | None) -> None:
    """A plan with more event types than duckdb_file.SHORT_LIST reads the type through an
    IN list, not a CASE of comparisons: the same reports."""
    monkeypatch.setattr(duckdb_file, "SHORT_LIST", 0)
    test_duckdb_reads_and_measures_the_file_as_python_does.hypothesis.inner_test(  # type: ignore[attr-defined]
        tmp_path, written, events, as_of)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(journeys(), journeys(), lines(), st.one_of(st.none(), st.integers(0, 50)))
def test_the_type_tested_by_the_types_left_out_as_by_the_types_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    first: dict[str, Any], second: dict[str, Any],
                                                                    events: list[dict[str, Any]],
                                                                    as_of: int | None) -> None:
    """Each scan of the events table tests the type by a NOT IN of the ENUM's other members
    wherever that list is shorter (duckdb_runs.one_of, here for any length): the same
    reports as the Python path's, with several journeys and events passed over."""
    monkeypatch.setattr(duckdb_runs, "SHORT_COMPLEMENT", 1_000)
    test_journeys_measured_together_from_one_events_table.hypothesis.inner_test(  # type: ignore[attr-defined]
        tmp_path, first, second, events, False, as_of)


def test_one_of_keeps_the_rows_of_the_in_list() -> None:
    """The NOT IN of a short complement keeps what the IN keeps, and no row whose type is
    NULL (an event of no journey's type); with every type, the test is that the type is set."""
    import duckdb

    compiled = [journey(id="a", within="1d", steps=[{"event": t} for t in ("s1", "s2", "s3", "s4")]),
                journey(id="b", within="1d", steps=[{"event": "s1"}, {"event": "s5"}])]
    kept = ["s1", "s2", "s3", "s4"]
    assert duckdb_runs.one_of(kept, compiled) == "type NOT IN ('s5')"
    assert duckdb_runs.one_of(["s1"], compiled) == "type IN ('s1')"
    assert duckdb_runs.one_of([*kept, "s5"], compiled) == "type IS NOT NULL"
    db = duckdb.connect()
    db.execute("CREATE TYPE kinds AS ENUM ('s1', 's2', 's3', 's4', 's5')")
    db.execute("CREATE TABLE events AS SELECT CAST(t AS kinds) AS type FROM "
               "(VALUES ('s1'), ('s5'), (NULL), ('s4'), ('s2'), (NULL), ('s3')) v(t)")
    for types in (kept, ["s1"], [*kept, "s5"], ["s2", "s3", "s4", "s5"]):
        test = duckdb_runs.one_of(types, compiled)
        listed = ", ".join(f"'{t}'" for t in types)
        assert db.execute(f"SELECT list(type ORDER BY type) FROM events WHERE {test}").fetchall() == \
            db.execute(f"SELECT list(type ORDER BY type) FROM events WHERE type IN ({listed})").fetchall()


def test_a_fields_null_test_is_one_test_of_its_json_value() -> None:
    """A condition's field read as JSON is null by one test of its value
    (duckdb_file._JsonField): on every kind of value DuckDB hands over, the same answer as
    the test of its four components, each NULL."""
    import duckdb
    from sqlglot import exp

    from treatment_engine.sql.fragments import Value

    paths = [("x",), ("y", "z")]
    compiler = duckdb_file._EventCompiler(paths, exp.Cast(this=exp.Null(), to=exp.DataType.build("DATE")))
    db = duckdb.connect()
    rows = ['{"x": 1, "y": {"z": -2.5}}', '{"x": "a", "y": {"z": "null"}}', '{"x": true, "y": {"z": false}}',
            '{"x": null, "y": {"z": null}}', '{"y": {}}', '{"x": {}, "y": {"z": []}}', '{"x": [1], "y": null}',
            '{"x": "", "y": {"z": {"a": 1}}}']
    db.execute("CREATE TABLE t AS SELECT * FROM (SELECT unnest(?::VARCHAR[]) AS line) , "
               "LATERAL (SELECT line::JSON->'x' AS x, from_json(line, '{\"y\": {\"z\": \"JSON\"}}').y AS y)", [rows])
    for path in paths:
        field = compiler.visit_field(Field(path))
        assert isinstance(field, duckdb_file._JsonField)
        four = Value(field.n, field.s, field.b, field.o)
        tests = [t.sql(dialect="duckdb") for t in (field.is_null(), four.is_null(), field.is_not_null(),
                                                   four.is_not_null())]
        got = db.execute(f"SELECT {', '.join(tests)} FROM t").fetchall()
        assert [r[:2] for r in got] == [(r[1], r[1]) for r in got] and [r[2] for r in got] == [r[3] for r in got]
        assert [r[1] for r in got].count(True) >= 2
