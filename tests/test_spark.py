"""The Spark engine (local mode) agrees with DuckDB and the Python evaluator, row for row."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from treatment_engine import Engine

from .conftest import CASES, MUST, REPO, SAMPLE_AS_OF, assert_matches_expected
from .test_sql_backends import EXPERIMENT_KEYS

pytest.importorskip("pyspark", reason="the spark extra is not installed")
pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")



# Spark's defaults suit big data. This file runs a hundred-odd small queries in one JVM,
# where the JIT's top tier, whole-stage code generation, adaptive planning and four shuffle
# partitions cost more than they save: the conformance cases took 154 CPU seconds of the
# JVM with the defaults and 73 with these (2026-12-02, load 7-9). No result depends on
# them; test_simulate_on_spark_matches_duckdb runs with the engine's own settings.
SMALL_QUERIES = {"spark.sql.shuffle.partitions": "1", "spark.sql.adaptive.enabled": "false",
                 "spark.sql.codegen.wholeStage": "false"}
TEST_JVM = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


@pytest.fixture(scope="module")
def spark():  # type: ignore[no-untyped-def]
    from treatment_engine.sql.spark_backend import session
    spark = session("local[2]", {**TEST_JVM, **SMALL_QUERIES})
    yield spark
    spark.stop()


@pytest.fixture
def engine_settings(spark):  # type: ignore[no-untyped-def]
    """The session as the engine makes it (``session()``'s settings, else Spark's), for one test."""
    from treatment_engine.sql.spark_backend import SETTINGS
    for key in SMALL_QUERIES:
        if key in SETTINGS:
            spark.conf.set(key, SETTINGS[key])
        else:
            spark.conf.unset(key)
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "true"  # Spark's default again
    yield spark
    for key, value in SMALL_QUERIES.items():
        spark.conf.set(key, value)


def _must(records: list[dict]) -> list[dict]:
    return [{"customer_id": r["customer_id"], "error": True} if "error" in r
            else {k: r.get(k) for k in (*MUST, *EXPERIMENT_KEYS)} for r in records]


@pytest.mark.parametrize("case", sorted(p for p in CASES.iterdir() if (p / "expected.jsonl").exists()),
                         ids=lambda p: p.name)
def test_conformance_cases_on_spark(spark, case: Path) -> None:  # type: ignore[no-untyped-def]
    from treatment_engine.sql.spark_backend import SparkBackend
    as_of = date.fromisoformat((case / "as_of").read_text().strip())
    got = list(SparkBackend(Engine.load(case / "plan").plan, spark).records(case / "profiles.jsonl", as_of))
    want = [json.loads(x) for x in (case / "expected.jsonl").read_text().splitlines() if x.strip()]
    assert_matches_expected(got, want)


@pytest.mark.parametrize("name", ["customers.jsonl", "customers.csv"])
def test_spark_agrees_with_duckdb_on_the_sample(spark, default_engine: Engine, name: str) -> None:  # type: ignore[no-untyped-def]
    from treatment_engine.sql.duckdb_backend import DuckDBBackend
    from treatment_engine.sql.spark_backend import SparkBackend
    path = REPO / "examples" / name
    assert _must(list(SparkBackend(default_engine.plan, spark).records(path, SAMPLE_AS_OF))) == \
        _must(list(DuckDBBackend(default_engine.plan).records(path, SAMPLE_AS_OF)))


def test_spark_applies_contact_limits_as_python_does(spark, default_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """The default plan's caps and cooldown, from a history: the same limits table on Spark."""
    from treatment_engine.contacts import Contact
    from treatment_engine.profiles import read_jsonl
    from treatment_engine.sql.spark_backend import SparkBackend
    path = REPO / "examples" / "customers.jsonl"
    with open(path, "rb") as stream:
        profiles = list(read_jsonl(stream))
    day = SAMPLE_AS_OF.toordinal()
    channels = sorted(default_engine.plan.channels)
    histories = {p["customer_id"]: [Contact(day - (i % 9), "delight" if i % 4 == 0 else "contain",
                                            channels[(i + n) % len(channels)]) for n in range(i % 7)]
                 for i, p in enumerate(profiles)}
    limits = {cid: default_engine.limits(h, SAMPLE_AS_OF) for cid, h in histories.items()}
    assert sum(1 for state in limits.values() if state.blocked or state.cooling_down) > 100
    want = [r.to_record() for r in default_engine.decide_many(profiles, SAMPLE_AS_OF, histories=histories)]
    got = list(SparkBackend(default_engine.plan, spark, limits=limits).records(path, SAMPLE_AS_OF))
    assert _must(got) == _must(want)
    assert _must(got) != _must([r.to_record() for r in default_engine.decide_many(profiles, SAMPLE_AS_OF)])


def test_spark_agrees_with_duckdb_on_generated_parquet(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sys
    sys.path.insert(0, str(REPO / "benchmarks"))
    import duckdb
    from bench_simulate import make_profiles  # noqa: F401 - the same generator the benchmark uses
    from plangen import generate_rules, plan_files

    from treatment_engine.sql.duckdb_backend import DuckDBBackend
    from treatment_engine.sql.spark_backend import SparkBackend
    plan = Engine.from_texts(plan_files(generate_rules(120, seed=3))).plan
    path = tmp_path / "p.parquet"
    duckdb.connect().execute(f"""COPY (SELECT 'c' || range AS customer_id,
        ['seg0','seg1','seg2','seg3'][1 + range % 4] AS segment, ['acquisition','maturity','decline'][1 + range % 3] AS lifecycle_stage,
        ['platinum','gold','silver','bronze'][1 + range % 4] AS value_tier, ['north','south','east'][1 + range % 3] AS region,
        {{'email': range % 3 = 0, 'sms': range % 5 = 0}} AS consent, range % 2 = 0 AS consent_push, range % 7 = 0 AS consent_phone,
        CASE WHEN range % 31 = 0 THEN NULL ELSE range % 11 END AS nps, (range % 100) / 100.0 AS churn_risk,
        (range * 37) % 10000 AS annual_value, range % 6 AS open_complaints, 18 + range % 70 AS age, range % 90 AS days_overdue
        FROM range(20000)) TO '{path}' (FORMAT PARQUET)""")
    spark_rows = _must(list(SparkBackend(plan, spark).records(path, SAMPLE_AS_OF)))
    assert spark_rows == _must(list(DuckDBBackend(plan).records(path, SAMPLE_AS_OF)))
    assert len(spark_rows) == 20000


def test_a_large_plan_runs_without_whole_stage_code_generation(spark, default_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    """Past the JVM's 64 KB a method, Spark logs a compiler stack trace and interprets the
    stage: a plan that large runs without whole-stage generation (and the 120-rule plan of
    test_spark_agrees_with_duckdb_on_generated_parquet decides alike so); a small one keeps it."""
    import sys
    sys.path.insert(0, str(REPO / "benchmarks"))
    from plangen import generate_rules, plan_files

    from treatment_engine.sql.spark_backend import SparkBackend
    sample = REPO / "examples" / "customers.jsonl"
    for plan, whole_stage in ((Engine.from_texts(plan_files(generate_rules(150, seed=3))).plan, "false"),
                              (default_engine.plan, "true")):
        SparkBackend(plan, spark).decisions(sample, SAMPLE_AS_OF)
        assert spark.conf.get("spark.sql.codegen.wholeStage") == whole_stage


def test_simulate_on_spark_matches_duckdb(engine_settings, default_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    from treatment_engine.simulation import simulate_duckdb, simulate_spark
    path = str(REPO / "examples" / "customers.jsonl")
    a = simulate_spark(default_engine.plan, path, SAMPLE_AS_OF)
    b = simulate_duckdb(default_engine.plan, path, SAMPLE_AS_OF)
    assert (a.total, a.invalid, a.by_rule, a.by_cell, a.by_channel) == (b.total, b.invalid, b.by_rule, b.by_cell, b.by_channel)
    assert sum(a.cost_by_treatment.values()) == pytest.approx(sum(b.cost_by_treatment.values()))


def test_simulate_on_spark_counts_arms_as_duckdb_does(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from treatment_engine.simulation import simulate_duckdb, simulate_spark

    from .conftest import write_plan
    from .test_simulation import EXPERIMENTS, _experiment_customers
    plan = Engine.load(write_plan(tmp_path / "plan", {"rules/plan.yaml": EXPERIMENTS})).plan
    _experiment_customers(tmp_path / "p.jsonl", 2000)
    a = simulate_spark(plan, str(tmp_path / "p.jsonl"), SAMPLE_AS_OF)
    b = simulate_duckdb(plan, str(tmp_path / "p.jsonl"), SAMPLE_AS_OF)
    assert a.arms.customers == b.arms.customers and len(a.arms.customers) == 6
    for key in b.arms.customers:
        assert a.arms.champion_cost[key] == pytest.approx(b.arms.champion_cost[key])
        assert a.arms.cost[key] == pytest.approx(b.arms.cost[key])


def test_conditions_that_can_only_be_null(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Found by the generated-plan test below: Spark refused `CASE WHEN NULL` (an untyped
    NULL) for a rule whose condition can only be null; DuckDB accepted it."""
    from treatment_engine.sql.duckdb_backend import DuckDBBackend
    from treatment_engine.sql.spark_backend import SparkBackend
    rules = "".join(f"  - {{id: r{i}, when: {{if: '{text}'}}, then: {{treatment: none}}}}\n"
                    for i, text in enumerate(["n == null", "n < true", "n in 5", "not (n == null)"]))
    engine = Engine.from_texts({"rules/r.yaml": "rules:\n" + rules})
    path = tmp_path / "p.jsonl"
    path.write_text('{"customer_id": "a", "n": 1}\n{"customer_id": "b"}\n')
    want = _must(list(DuckDBBackend(engine.plan).records(path, SAMPLE_AS_OF)))
    assert _must(list(SparkBackend(engine.plan, spark).records(path, SAMPLE_AS_OF))) == want
    assert [r["rule"] for r in want] == ["default", "default"]


def test_spark_matches_python_on_generated_plans(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The hypothesis differential test of test_sql_backends, on Spark, with a smaller budget
    (each example starts a Spark job)."""
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st

    from treatment_engine.sql.fragments import Unsupported
    from treatment_engine.sql.spark_backend import SparkBackend

    from .plans import plans
    from .strategies import profiles
    from .test_sql_backends import AS_OF, python_records

    counter = iter(range(10**6))

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(plans(), st.lists(profiles(), min_size=1, max_size=10))
    def check(files: dict[str, str], batch: list[dict]) -> None:
        engine = Engine.from_texts(files)
        for index, profile in enumerate(batch):
            if index % 5 != 4:
                profile["customer_id"] = f"c{index}"
        path = tmp_path / f"p{next(counter)}.jsonl"
        path.write_text("".join(json.dumps(p) + "\n" for p in batch))
        try:
            got = _must(list(SparkBackend(engine.plan, spark).records(path, AS_OF)))
        except Unsupported:
            assume(False)
        assert got == python_records(engine, batch, AS_OF)

    check()


def test_spark_gives_a_held_row_the_next_rule_through_chained_holdouts(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """test_sql_backends' chained holdouts on Spark: its own MD5 bucket inside the
    first-rule CASE, every row of every arm."""
    from treatment_engine.sql.spark_backend import SparkBackend

    from .test_sql_backends import AS_OF, chained_holdouts

    engine, batch, want = chained_holdouts()
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in batch))
    assert _must(list(SparkBackend(engine.plan, spark).records(path, AS_OF))) == want


def test_spark_reads_the_hostile_corpus_as_python_does(spark, default_engine: Engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every hostile line of tests/hostile/profiles: the same rows, reasons included."""
    from treatment_engine.profiles import read_jsonl
    from treatment_engine.simulation import decided
    from treatment_engine.sql.spark_backend import SparkBackend

    from .test_hostile_profiles import check_verdicts, write_corpus
    path = tmp_path / "hostile.jsonl"
    rows = write_corpus(path)
    with open(path, "rb") as stream:
        want = [r.to_record() for r in decided(default_engine.plan, list(read_jsonl(stream)), SAMPLE_AS_OF)]
    got = list(SparkBackend(default_engine.plan, spark).records(path, SAMPLE_AS_OF))
    check_verdicts(got, rows)
    assert got == want


def test_spark_reads_excel_csv_and_dotted_parquet_as_python_does(spark, default_engine: Engine,  # type: ignore[no-untyped-def]
                                                                 tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from treatment_engine.sql.spark_backend import SparkBackend

    from .test_files import _python_rows
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(b'\xef\xbb\xbf,customer_id,annual_value,region,consent.email\r\n'
                         b'0,c1,9000,"north, east",true\r\n1,c2,12,south,false\r\n2,,,,\r\n')
    parquet_path = tmp_path / "dotted.parquet"
    pq.write_table(pa.Table.from_pylist([{"customer_id": f"c{i}", "annual_value": 9000.0, "status": "porting_out",
                                          "consent.email": i % 2 == 0} for i in range(6)]), parquet_path)
    for path in (csv_path, parquet_path):
        want = _python_rows(default_engine, path)
        assert list(SparkBackend(default_engine.plan, spark).records(path, SAMPLE_AS_OF)) == want
    assert sum("email" in r["channels"] for r in _python_rows(default_engine, parquet_path)) == 3


# Hostile CSV files Spark's own reader read otherwise than Python's csv module (the rule's
# reader), each without a word but the last two: it kept a row with a cell too many (single
# quotes are no quotes to the rule, a backslash no escape), lost a row of mixed line ends,
# kept a doubled quote's quotes, trimmed a space after a closing quote, read bytes that are
# not UTF-8 as replacement characters, and failed the whole query on an empty file or a row
# past 20,480 cells; a header of 22,000 columns overflowed the stack of its SQL parser
# (the blank-row test), and without that test its reading ran 14 minutes without an answer.
# "plain" files are those Spark's reader still reads (sql/spark_csv.py).
_H = "customer_id,annual_value,consent.email,note"
SPARK_CSV_FILES = {
    "extra cells": (_H + "\nc1,2000,true,x,extra\nc2,300,,\n").encode(),
    "trailing commas": (_H + "\nc1,2000,true,x,\nc2,300,,,,\nc3,200,\n").encode(),
    "single quotes": (_H + "\n'c1,x',2000,true,n\nc2,'5',,\n").encode(),
    "a comma after a backslash": (_H + "\nc1,2000,true,a\\\nc2,300,,b\\,c\n").encode(),
    "doubled quotes": (_H + '\nc1,2000,true,"say ""hi"""\n"c""2",300,,\n').encode(),
    "a space after a quoted cell": (_H + '\nc1,"2000" ,true,x\nc2,"300"\t,,\n').encode(),
    "text after a closing quote": (_H + '\nc1,"2"000,true,x\n').encode(),
    "quoted line breaks": (_H + '\r\n"c\n1",2000,true,"a\r\nb"\r\nc2,"30\n0",,\r\n').encode(),
    "not UTF-8 past the header's read": (_H + "\n" + "".join(f"c{i},2000,true,x\n" for i in range(3000))
                                         + "c9,1,true,caf\xe9\n").encode("latin-1"),
    "an empty file": b"",
    "a row past 20,480 cells": (_H + "\nc1,2000,true,x" + ",y" * 30_000 + "\nc2,300,,\n").encode(),
    "plain: mixed line ends, short rows, blank rows": (_H + "\nc1,2000,true,x\r\nc2,50\rc3\n\n , ,\nc4,300,,\n").encode(),
    "a header of 22,000 columns, a quoted cell": (_H + "".join(f",x{i}" for i in range(22_000))
                                                  + '\nc1,2000,true,"n"' + ",1" * 22_000 + "\nc2,300\n").encode(),
    "a header of 22,000 columns, no quotes": (_H + "".join(f",x{i}" for i in range(22_000)) + "\nc1,2000,true,n"
                                          + ",1" * 22_000 + "\n , , , \nc2,300\n").encode(),
    "plain: a BOM, spaces, a long cell": ("\ufeff" + _H + f"\nc1 , 2000 , TRUE ,{'x' * 200_000}\n c2,1e3,null,\n").encode(),
}


@pytest.mark.parametrize("name", SPARK_CSV_FILES)
def test_spark_reads_hostile_csv_as_python_does(spark, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    from treatment_engine.profiles import ProfileFileError
    from treatment_engine.sql.spark_backend import SparkBackend
    from treatment_engine.sql.spark_csv import plain_csv

    from .test_files import _python_rows
    from .test_hostile_profiles import READING_PLAN
    path = tmp_path / "profiles.csv"
    path.write_bytes(SPARK_CSV_FILES[name])
    engine = Engine.from_texts(READING_PLAN)

    def read(rows):  # type: ignore[no-untyped-def]
        try:
            return rows()
        except ProfileFileError as error:
            return str(error)
    want = read(lambda: _python_rows(engine, path))
    assert read(lambda: list(SparkBackend(engine.plan, spark).records(path, SAMPLE_AS_OF))) == want
    if name.startswith("plain"):  # Spark's own reader still reads a file it reads alike
        assert plain_csv(spark, str(path), 4)


def test_simulate_on_spark_counts_and_warns_about_csv_as_python_does(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The summary and the warning about a ``consent`` column of text where the plan reads
    consent.email (and a ``household`` one), for a file Spark's reader reads, one of odd
    cells (nulls, spaces, a number first) and one read the careful way (a quoted
    line break and a row with a cell too many). Spark counted the warning with DuckDB's
    strict reader, which stops on such a file: simulate failed with DuckDB's error."""
    from treatment_engine.simulation import simulate_python, simulate_spark

    from .test_hostile_profiles import ODD_CONSENT_CSV, TWO_OBJECTS_PLAN
    engine = Engine.from_texts(TWO_OBJECTS_PLAN)  # consent.email and household.size
    rows = "".join(f"c{i},yes,{i * 300}\r\n" for i in range(8))
    files = {"plain": f"customer_id,consent,annual_value\r\n{rows}c9,,2000\nc10,no,5\n",
             "careful": f'customer_id,consent,annual_value\r\n{rows}"c\n9",no,2000\nc10,no,5,extra\n',
             "odd cells": ODD_CONSENT_CSV}  # nulls, spaces, a number first (counted as Python counts)
    for name, text in files.items():
        path = tmp_path / f"{name.replace(' ', '_')}.csv"
        path.write_text(text, encoding="utf-8", newline="")
        got, want = (simulate(engine.plan, str(path), SAMPLE_AS_OF) for simulate in (simulate_spark, simulate_python))
        assert (got.total, got.invalid, got.by_rule, got.notes) == (want.total, want.invalid, want.by_rule, want.notes)
        assert ("consent is a number" if name == "odd cells" else "consent is text") in want.notes[0], name
    assert "household is text" in want.notes[1]
    from .test_hostile_profiles import OTHER_SEPARATORS
    path = tmp_path / "semicolons.csv"  # one column: Spark says what the other engines say
    path.write_text(OTHER_SEPARATORS["semicolons"][0], encoding="utf-8")
    got, want = (simulate(engine.plan, str(path), SAMPLE_AS_OF) for simulate in (simulate_spark, simulate_python))
    assert (got.invalid, got.notes) == (want.invalid, want.notes) and "look separated by ';'" in want.notes[-1]


def test_simulate_on_spark_writes_one_file_in_the_suffixes_format(spark, default_engine: Engine,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    from treatment_engine.simulation import simulate_python, simulate_spark
    path = str(REPO / "examples" / "customers.jsonl")
    for suffix in ("jsonl", "csv", "parquet"):
        simulate_spark(default_engine.plan, path, SAMPLE_AS_OF, output=str(tmp_path / "out" / f"s.{suffix}"))
        assert (tmp_path / "out" / f"s.{suffix}").is_file()
    simulate_python(default_engine.plan, path, SAMPLE_AS_OF, output=str(tmp_path / "p.jsonl"))
    assert (tmp_path / "out" / "s.jsonl").read_bytes() == (tmp_path / "p.jsonl").read_bytes()


def test_spark_computes_the_experiment_vectors_buckets(spark) -> None:  # type: ignore[no-untyped-def]
    """Appendix H's test vectors, through the query's own bucket expression on Spark."""
    from sqlglot import exp

    from treatment_engine.sql.experiments import bucket_sql, digest_sql

    from .test_experiments import VECTORS

    frame = spark.createDataFrame([(v["salt"], v["customer_id"]) for v in VECTORS], "salt string, cid string")
    frame.createOrReplaceTempView("vectors")
    expression = bucket_sql(digest_sql(exp.column("salt"), exp.column("cid"), "spark"), "spark").sql("spark")
    got = [row[0] for row in spark.sql(f"SELECT {expression} FROM vectors").collect()]
    assert got == [v["bucket"] for v in VECTORS]


def test_spark_gives_the_reference_journey_runs(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One small set (Spark is slow): the hand-written histories of test_journeys, in order
    and consecutive, with success after the last step; then the command end to end."""
    from click.testing import CliRunner

    from treatment_engine.cli import cli
    from treatment_engine.journeys.reference import runs
    from treatment_engine.journeys.spark import spark_runs

    from .journey_plans import DAY, events, journey
    from .test_journeys import AFTER

    raw = [("a", "signed_up", 0), ("a", "booked", DAY), ("a", "installed", 5 * DAY), ("a", "survey", 6 * DAY, {"score": 9}),
           ("b", "signed_up", 0), ("b", "installed", 10 * DAY + 1),  # one second late
           ("c", "signed_up", 0), ("c", "installed", 10 * DAY), ("c", "complaint", 12 * DAY),
           ("c", "signed_up", 50 * DAY), ("c", "signed_up", 51 * DAY), ("c", "booked", 52 * DAY),
           ("d", "signed_up", 0), ("d", "complaint", DAY), ("d", "booked", 2 * DAY), ("d", "installed", 3 * DAY),
           ("d", "survey", 31 * DAY, {"score": 8}), ("e", "signed_up", 70 * DAY)]
    for order in ("in_order", "consecutive"):
        compiled = journey(**AFTER, order=order)
        seen = events(compiled, raw)
        assert spark_runs(compiled, seen, 75 * DAY, spark) == runs(compiled, seen, 75 * DAY)
    path = tmp_path / "events.jsonl"
    made = CliRunner().invoke(cli, ["events", "sample", "--journeys", "--customers", "60", "--until", "2026-11-01",
                                    "-o", str(path)])
    assert made.exit_code == 0, made.output
    reports = {backend: CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path),
                                                 "--format", "json", "--backend", backend])
               for backend in ("spark", "duckdb")}
    assert reports["spark"].exit_code == 0, reports["spark"].output
    assert json.loads(reports["spark"].stdout) == json.loads(reports["duckdb"].stdout)


def test_measure_on_spark_gives_the_reference_sufficient_statistics(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """#15: Spark's attribution = the Python reference's, on one small set covering the rules
    (window edges either side, a later decision, the universal holdout, open windows,
    versions, every compute kind, a non-numeric amount), from JSON lines and Parquet."""
    from treatment_engine.measure.attribution import measure_python
    from treatment_engine.measure.inputs import read_decision_file, read_event_file
    from treatment_engine.measure.spark_stats import measure_spark
    from treatment_engine.outputs import DecisionWriter
    from treatment_engine.plan import plan_from_texts

    from .test_measure import PLAN, TEN_DAYS, _decision, _event

    decisions = [_decision("a"), _decision("b", "holdout", would_have="r"), _decision("c", day="2026-11-03"),
                 _decision("a", "x", day="2026-11-02"), _decision("é", version="v2"),
                 _decision("u", "universal_holdout", experiment="universal_holdout", rule="holdout", would_have="r")]
    events = [_event("a", "churned", 5), _event("b", "payment", TEN_DAYS, amount=7),
              _event("b", "payment", TEN_DAYS + 1, amount=9), _event("a", "payment", -1, amount=3),
              _event("a", "survey_response", 3, score=4), _event("a", "survey_response", 3, score=6),
              _event("c", "payment", 86_400 * 3, amount="12"), _event("é", "churned", 60), _event("u", "churned", 1)]
    plan = plan_from_texts(PLAN)
    events_path = tmp_path / "e.jsonl"
    events_path.write_text("".join(json.dumps(row) + "\n" for row in events))
    as_of = date(2026, 11, 12)
    from treatment_engine.measure.inputs import day_start
    for suffix in ("jsonl", "parquet"):
        path = tmp_path / f"d.{suffix}"
        with DecisionWriter(path, {}) as writer:
            for row in decisions:
                writer.write(row)
        want = measure_python(plan, read_decision_file(str(path)), read_event_file(str(events_path)),
                              day_start(as_of.isoformat()))
        got = measure_spark(plan, str(path), str(events_path), day_start(as_of.isoformat()), spark=spark)
        assert got == want
        assert len(want.groups) > 10  # the set reaches every arm and metric
    # The log's decisions come as an Arrow stream (inputs.log_decision_reader), read once.
    import pyarrow as pa

    from treatment_engine.measure.inputs import decision_schema, decisions_table
    table = decisions_table(list(read_decision_file(str(path))))
    stream = pa.RecordBatchReader.from_batches(decision_schema(), table.to_batches(max_chunksize=2))
    assert measure_spark(plan, stream, str(events_path), day_start(as_of.isoformat()), spark=spark) == want


def test_measure_on_spark_refuses_the_decisions_files_the_others_refuse(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Spark's permissive readers made a cost 'abc' null (measured as 0), a line of garbage
    a row of nulls, an as_of with a time of day a day: where the reference and DuckDB refuse
    a decisions file, Spark now refuses it in the reference's words (file, line, what)."""
    from treatment_engine.measure.inputs import MeasureInputError, day_start
    from treatment_engine.measure.spark_stats import measure_spark
    from treatment_engine.plan import plan_from_texts

    from .test_measure import PLAN, UNREADABLE_DECISIONS, _event

    plan = plan_from_texts(PLAN)
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(_event("a", "payment", 5, amount=3)) + "\n")
    for index, (name, text, named) in enumerate(UNREADABLE_DECISIONS):
        decisions = tmp_path / str(index) / name
        decisions.parent.mkdir()
        decisions.write_text(text)
        with pytest.raises(MeasureInputError) as refused:
            measure_spark(plan, str(decisions), str(events), day_start("2027-03-01"), spark=spark)
        assert str(decisions) in str(refused.value) and named in str(refused.value), (text, str(refused.value))


def test_measure_on_spark_reads_times_by_the_one_grammar(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Spark's cast takes forms parse_timestamp refuses and strips less than it does: each
    odd time, one payment of its own amount, counts on Spark exactly where it does in Python."""
    from treatment_engine.measure.attribution import measure_python
    from treatment_engine.measure.inputs import day_start, read_decision_file, read_event_file
    from treatment_engine.measure.spark_stats import measure_spark
    from treatment_engine.plan import plan_from_texts

    from .test_measure import PLAN, _decision
    from .test_measure_fast import ODD_STAMPS, OUTSIDE_THE_GRAMMAR

    decisions_path, events_path = tmp_path / "d.jsonl", tmp_path / "e.jsonl"
    decisions_path.write_text(json.dumps(_decision("a", day="2026-10-25")) + "\n")
    stamps = [*ODD_STAMPS, *OUTSIDE_THE_GRAMMAR]
    events_path.write_text("".join(json.dumps({"customer_id": "a", "type": "payment", "timestamp": stamp,
                                               "amount": 2 ** index}) + "\n" for index, stamp in enumerate(stamps)))
    plan = plan_from_texts(PLAN)
    as_of = day_start("2027-06-01")
    want = measure_python(plan, read_decision_file(str(decisions_path)), read_event_file(str(events_path)), as_of)
    assert any(g.metric == "revenue" and g.sum > 0 for g in want.groups)
    assert measure_spark(plan, str(decisions_path), str(events_path), as_of, spark=spark) == want
