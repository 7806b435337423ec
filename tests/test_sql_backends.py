"""The SQL back end (DuckDB) against the in-process evaluator: every MUST field and the
experiment fields (appendix H), every row."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from treatment_engine import Engine
from treatment_engine.profiles import read_csv
from treatment_engine.sql.duckdb_backend import DuckDBBackend
from treatment_engine.sql.fragments import Unsupported

from .conftest import CASES, MUST, REPO, SAMPLE_AS_OF, assert_matches_expected
from .plans import ACTIONS, CHANNELS, histories, plans
from .strategies import profiles

AS_OF = date(2026, 6, 15)


EXPERIMENT_KEYS = ("arm", "experiment", "bucket", "would_have")  # appendix H: compared too


def python_records(engine: Engine, items: list, as_of: date, histories: dict | None = None) -> list[dict]:
    out = []
    for result in engine.decide_many(items, as_of, histories=histories):
        record = result.to_record()
        out.append({"customer_id": record["customer_id"], "error": True} if "error" in record
                   else {k: record.get(k) for k in (*MUST, *EXPERIMENT_KEYS)})
    return out


def sql_records(engine: Engine, path: Path, as_of: date, histories: dict | None = None) -> list[dict]:
    limits = {cid: engine.limits(h, as_of) for cid, h in histories.items()} if histories is not None else None
    return [{"customer_id": r["customer_id"], "error": True} if "error" in r
            else {k: r.get(k) for k in (*MUST, *EXPERIMENT_KEYS)}
            for r in DuckDBBackend(engine.plan, limits=limits).records(path, as_of)]


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if (p / "expected.jsonl").exists()),
                         ids=lambda p: p.name)
def test_conformance_cases_on_duckdb(case: Path) -> None:
    as_of = date.fromisoformat((case / "as_of").read_text().strip())
    engine = Engine.load(case / "plan")
    want = [json.loads(x) for x in (case / "expected.jsonl").read_text().splitlines() if x.strip()]
    assert_matches_expected(list(DuckDBBackend(engine.plan).records(case / "profiles.jsonl", as_of)), want)


def test_default_plan_and_sample_on_every_input_format(default_engine: Engine, tmp_path: Path) -> None:
    jsonl, csv_file = REPO / "examples" / "customers.jsonl", REPO / "examples" / "customers.csv"
    with open(jsonl, "rb") as stream:
        from treatment_engine.profiles import read_jsonl
        want = python_records(default_engine, list(read_jsonl(stream)), SAMPLE_AS_OF)
    assert sql_records(default_engine, jsonl, SAMPLE_AS_OF) == want
    with open(csv_file, encoding="utf-8", newline="") as stream:
        want_csv = python_records(default_engine, list(read_csv(stream)), SAMPLE_AS_OF)
    assert sql_records(default_engine, csv_file, SAMPLE_AS_OF) == want_csv
    import pyarrow as pa
    import pyarrow.parquet as pq
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    typed = [r for r in rows if not isinstance(r.get("nps"), str)]  # Parquet columns hold one type
    pq.write_table(pa.Table.from_pylist(typed), tmp_path / "c.parquet")
    from treatment_engine.profiles import read_parquet
    back = list(read_parquet(str(tmp_path / "c.parquet")))  # what the file holds, for both sides
    assert len(back) == len(typed)
    assert sql_records(default_engine, tmp_path / "c.parquet", SAMPLE_AS_OF) == python_records(
        default_engine, back, SAMPLE_AS_OF)


def _write_jsonl(path: Path, batch: list) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        for item in batch:
            stream.write(json.dumps(item) + "\n")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(profiles(), min_size=1, max_size=30))
def test_duckdb_matches_python_on_generated_plans(tmp_path: Path, files: dict[str, str], batch: list[dict]) -> None:
    engine = Engine.from_texts(files)
    for index, profile in enumerate(batch):
        if index % 5 != 4:  # and some without an id, to be refused on both sides
            profile["customer_id"] = f"c{index}"
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, batch)
    try:
        got = sql_records(engine, path, AS_OF)
    except Unsupported:
        assume(False)  # documented: such plans run on the python engine
    assert got == python_records(engine, batch, AS_OF)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(profiles(), min_size=1, max_size=30), st.data())
def test_duckdb_matches_python_with_contact_history(tmp_path: Path, files: dict[str, str], batch: list[dict],
                                                   data: st.DataObject) -> None:
    engine = Engine.from_texts(files)
    for index, profile in enumerate(batch):
        profile["customer_id"] = f"c{index % 7}"  # some customers twice, in any order
    history = data.draw(histories([f"c{i}" for i in range(7)], AS_OF))
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, batch)
    try:
        got = sql_records(engine, path, AS_OF, history)
    except Unsupported:
        assume(False)
    assert got == python_records(engine, batch, AS_OF, history)
    explained = [engine.explain(p, AS_OF, history=history.get(p["customer_id"], ())).to_record()
                 for p in batch if "error" not in python_records(engine, [p], AS_OF)[0]]
    assert [{k: r.get(k) for k in (*MUST, *EXPERIMENT_KEYS)} for r in explained] == \
        [r for r in got if "error" not in r]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(profiles(), min_size=1, max_size=10))
def test_duckdb_matches_python_on_csv(tmp_path: Path, files: dict[str, str], batch: list[dict]) -> None:
    engine = Engine.from_texts(files)
    columns = ["customer_id", "a", "b", "n", "s", "d", "flag", "segment", "obj.x", "obj.y"]
    path = tmp_path / "p.csv"
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for index, profile in enumerate(batch):
            row = []
            for column in columns:
                value: object = f"c{index}" if column == "customer_id" else profile
                if column != "customer_id":
                    for part in column.split("."):
                        value = value.get(part) if isinstance(value, dict) else None
                if isinstance(value, (dict, list)) or value is None:
                    value = ""
                text = "true" if value is True else "false" if value is False else str(value)
                row.append(text.replace("\n", " ").replace("\r", " "))
            writer.writerow(row)
    with open(path, encoding="utf-8", newline="") as stream:
        items = list(read_csv(stream))
    try:
        got = sql_records(engine, path, AS_OF)
    except Unsupported:
        assume(False)
    assert got == python_records(engine, items, AS_OF)


@pytest.mark.parametrize("summary", [False, True], ids=["decisions", "summary"])
@pytest.mark.parametrize("name", ["customers.jsonl", "customers.csv"])
def test_the_query_probes_no_hash_table_per_row(default_engine: Engine, name: str, summary: bool) -> None:
    """Past a few items DuckDB plans ``x IN (...)`` as a hash join (MARK) against the list,
    which every row probes: the bundled plan's JSON lines query had 32, one per field read
    (a number's first character tested against eleven). Without contact limits to join,
    the query's plan has no join at all."""
    from treatment_engine.sql.duckdb_backend import connect

    connection = connect()
    query = DuckDBBackend(default_engine.plan).sql(REPO / "examples" / name, SAMPLE_AS_OF, connection=connection,
                                                   summary=summary)
    shown = "\n".join(row[1] for row in connection.execute(f"EXPLAIN {query}").fetchall())
    assert "JOIN" not in shown.upper()


CHAINED_HOLDOUTS = """
rules:
  - id: a
    priority: 40
    when: {if: "n == 3 or n == 5"}
    then: {treatment: contain, actions: [nudge], channels: [letter], holdout: 0.5}
  - id: unprofitable
    priority: 35
    when: {if: "n > 2"}
    then: {treatment: delight, actions: [gift], channels: [letter]}
  - id: b
    priority: 30
    when: {if: "n > 2 and n != 6"}
    then: {treatment: contain, actions: [nudge], channels: [sms], holdout: {share: 0.5, control: next}}
  - id: c
    priority: 20
    when: {if: "n > 3"}
    then: {treatment: delight, actions: [call], channels: [email, letter], holdout: {share: 0.3, control: none}}
    challengers: [{id: alt, share: 0.3, then: {treatment: contain, actions: [nudge], channels: [sms]}}]
  - id: d
    priority: 10
    when: {if: "n > 4"}
    then: {treatment: contain, actions: [nudge], channels: [letter], holdout: 0.5}
"""


def chained_holdouts() -> tuple[Engine, list[dict], list[dict]]:
    """The plan of CHAINED_HOLDOUTS, 3,000 customers, and their records by the Python
    evaluator, which hold the cases the SQL's next-rule search must get right: held out
    of a, decided by b though in b's holdout too (for its own salt); held out of b,
    decided by c, which is champion with its own arms elsewhere."""
    engine = Engine.from_texts({
        "rules/catalog.yaml": yaml.safe_dump({
            "channels": CHANNELS, "actions": ACTIONS,
            "policy": {"value_field": "n", "delight_max_cost_ratio": 1, "holdout": {"share": 0.1, "salt": "uh"}}}),
        "rules/rules.yaml": CHAINED_HOLDOUTS})
    batch = [{"customer_id": f"c{i}", "n": i % 7, "consent": {"email": i % 3 > 0}, "sms_ok": i % 4 > 0}
             for i in range(3000)]
    want = python_records(engine, batch, AS_OF)
    arms = {(r["arm"], (r["would_have"] or {}).get("rule"), r["rule"]) for r in want if "arm" in r}
    assert {("holdout", "a", "b"), ("holdout", "b", "c"), ("holdout", "c", "c"), ("alt", "c", "c")} <= arms
    return engine, batch, want


def test_duckdb_gives_a_held_row_the_next_rule_through_chained_holdouts(tmp_path: Path) -> None:
    """A row held out of its champion (control: next) gets the next rule that applies, even
    when that rule has a holdout of its own the row is in (a rule's holdout applies only
    to the customers it is champion for). The query finds the next rule by letting held
    rows pass their rule in the first-rule CASE, then finds the champion again among the
    rules with such a holdout (sql.experiments): every row of every arm is compared."""
    engine, batch, want = chained_holdouts()
    path = tmp_path / "p.jsonl"
    _write_jsonl(path, batch)
    assert sql_records(engine, path, AS_OF) == want


def many_rules_plan(count: int) -> Engine:
    rules = [{"id": f"r{i}", "priority": count - i, "when": {"if": f"n > {i} and (m == {i} or m < 0)"},
              "then": {"treatment": "contain", "actions": ["nudge"], "channels": ["sms", "letter"]}}
             for i in range(count)]
    return Engine.from_texts({
        "rules/catalog.yaml": yaml.safe_dump({"channels": CHANNELS, "actions": ACTIONS}),
        "rules/rules.yaml": yaml.safe_dump({"rules": rules})})


@pytest.mark.parametrize("enabled_before", [True, False], ids=["collector-on", "collector-off"])
def test_building_the_query_leaves_its_nodes_to_die_young(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          enabled_before: bool) -> None:
    """A 300-rule plan's query is thousands of sqlglot nodes, garbage once written out:
    no collection runs while they are made (made under the collector, they survived young
    collections and set off a full one, 0.04 s of a 0.46 s simulation), at most the young
    one that frees them once written, and the collector is left as the caller had it."""
    import gc

    from treatment_engine.sql import duckdb_backend

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"customer_id": "c1", "n": 3, "m": 3}) + "\n")
    backend = DuckDBBackend(many_rules_plan(300).plan)
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    def described(*args: object, **kwargs: object) -> object:
        source = original(*args, **kwargs)
        # What describing the file made is not the query's; and the collector starts from
        # nothing, so that the young collection allowed is not the tenth since the last
        # middle one (which makes it a middle one: in a full run, the earlier tests' count).
        gc.collect()
        collections.clear()
        return source

    original = duckdb_backend.build_source
    monkeypatch.setattr(duckdb_backend, "build_source", described)
    was = gc.isenabled()
    gc.callbacks.append(count)
    try:
        if not enabled_before:
            gc.disable()
        query = backend.sql(path, AS_OF)
        assert gc.isenabled() is enabled_before
    finally:
        gc.callbacks.remove(count)
        gc.enable() if was else gc.disable()
    assert query.count("WHEN") >= 300
    assert collections in ([], [0])


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_a_column_name_is_read_back_as_that_column(dialect: str) -> None:
    """fragments.column writes the query's own plain names as bare words (cheaper nodes):
    every name, reserved words and odd characters included, must read back as a column
    of that very name."""
    import sqlglot
    from sqlglot import exp

    from treatment_engine.sql.fragments import column

    for name in ("f3_n", "segment", "__budget", "select", "ORDER", "group", "has space", "1st", "é", "a\"b", "a`b"):
        written = column(name).sql(dialect)
        read = sqlglot.parse_one(f"SELECT {written} FROM t", read=dialect).expressions[0]
        assert isinstance(read, exp.Column) and read.name == name, (name, written)
