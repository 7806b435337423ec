"""Files in and out: every reader reads a file alike, every writer writes what the suffix says."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.profiles import ProfileFileError, open_profiles
from treatment_engine.simulation import decided, simulate_duckdb, simulate_python
from treatment_engine.sql.duckdb_backend import DuckDBBackend

from .conftest import REPO, SAMPLE_AS_OF


def _python_rows(engine: Engine, path: Path) -> list[dict]:
    from contextlib import ExitStack
    with ExitStack() as stack:
        return [r.to_record() for r in decided(engine.plan, open_profiles(stack, str(path)), SAMPLE_AS_OF)]


def test_a_pandas_csv_with_bom_crlf_index_and_quoted_commas_reads_alike(default_engine: Engine,
                                                                       tmp_path: Path) -> None:
    """What pandas.to_csv(encoding="utf-8-sig") and Excel write: every engine decides all rows."""
    rows = [json.loads(x) for x in (REPO / "examples" / "customers.jsonl").read_text().splitlines()[:300]]
    columns = ["customer_id", "plan_type", "region", "status", "annual_value", "nps", "consent.email",
               "consent.sms"]
    lines = ["," + ",".join(columns)]
    for index, row in enumerate(rows):
        cells = []
        for column in columns:
            value: object = row
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            text = "" if value is None else "true" if value is True else "false" if value is False else str(value)
            cells.append(f'"{text}, as quoted"' if column == "region" else text)
        lines.append(f"{index}," + ",".join(cells))
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    python = _python_rows(default_engine, path)
    assert sum("error" not in r for r in python) == 300
    assert list(DuckDBBackend(default_engine.plan).records(path, SAMPLE_AS_OF)) == python


def test_csv_rows_of_spaces_and_tabs_are_no_profiles_on_duckdb_as_in_python(default_engine: Engine,
                                                                            tmp_path: Path) -> None:
    """A row whose cells are empty or only spaces and tabs is no profile; a cell that starts
    with a space or a tab but holds more is a value (the DuckDB reading trims only such cells)."""
    lines = ["customer_id,region,annual_value,consent.email",
             "c1,north,120,true",
             " , \t,\t ,",
             ",,,",
             "\t \t,,  ,\t",
             " c2,\tsouth,  80,true",
             ",, 7,",
             ",,,\tfalse",
             "\tc3,,,",
             "c4,east,5000, true "]
    path = tmp_path / "spaced.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = _python_rows(default_engine, path)
    assert len(python) == 6  # the three rows of blank cells are left out
    assert list(DuckDBBackend(default_engine.plan).records(path, SAMPLE_AS_OF)) == python
    summary = simulate_duckdb(default_engine.plan, str(path), SAMPLE_AS_OF)
    assert (summary.total, summary.invalid) == (6, sum("error" in r for r in python))


def test_dotted_parquet_columns_nest_as_in_csv(default_engine: Engine, tmp_path: Path) -> None:
    rows = [{"customer_id": f"c{i}", "annual_value": 9000.0, "status": "porting_out",
             "consent.email": i % 2 == 0, "consent.phone": None} for i in range(20)]
    path = tmp_path / "dotted.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    python = _python_rows(default_engine, path)
    assert ["email" in r["channels"] for r in python] == [i % 2 == 0 for i in range(20)]
    assert list(DuckDBBackend(default_engine.plan).records(path, SAMPLE_AS_OF)) == python


def test_columns_that_name_one_field_twice_are_refused(default_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("customer_id,consent,consent.email\nc1,x,true\n")
    with pytest.raises(ProfileFileError, match="consent"):
        _python_rows(default_engine, path)
    result = CliRunner().invoke(cli, ["decide", "--profiles", str(path), "--backend", "duckdb"])
    assert result.exit_code == 1 and "consent" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("names, pair", [
    (["a", "b", "a"], ("a", "a")), ([" a ", "a"], (" a ", "a")),
    (["consent", "x", "consent.email"], ("consent", "consent.email")),
    (["consent.email", "x", "consent"], ("consent.email", "consent")),
    (["a.b.c", "a.b"], ("a.b.c", "a.b")), (["a.b", "x", "a.b.c.d"], ("a.b", "a.b.c.d")),
    (["a.b", "a.c", "a"], ("a.b", "a")),
])
def test_every_pair_of_columns_naming_one_field_is_found_in_either_order(names: list[str],
                                                                         pair: tuple[str, str]) -> None:
    """column_paths looks conflicts up by path (it compared each column with every one
    before it: a header of 20,000 columns took minutes); in any order, the first one."""
    from treatment_engine.profiles import column_paths
    wide = [f"x{i}.y" for i in range(2000)]
    with pytest.raises(ProfileFileError, match=f"columns {pair[0]!r} and {pair[1]!r}, which"):
        column_paths([*wide, *names])
    assert len(column_paths([*wide, "a.b", "a.c", "b"])) == 2003


def test_sample_writes_the_format_its_suffix_names(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("c.parquet", "c.csv", "c.jsonl"):
        target = tmp_path / "new" / name
        assert runner.invoke(cli, ["sample", "--n", "50", "-o", str(target)]).exit_code == 0
    assert pq.ParquetFile(tmp_path / "new" / "c.parquet").metadata.num_rows == 50
    refused = runner.invoke(cli, ["sample", "--n", "5", "-o", str(tmp_path / "c.txt")])
    assert refused.exit_code == 1 and ".jsonl" in refused.stderr and "Traceback" not in refused.output
    run = runner.invoke(cli, ["simulate", "--profiles", str(tmp_path / "new" / "c.parquet"),
                              "--output", str(tmp_path / "missing" / "dir" / "d.parquet")])
    assert run.exit_code == 0, run.output
    assert pq.ParquetFile(tmp_path / "missing" / "dir" / "d.parquet").metadata.num_rows == 50


@pytest.mark.parametrize("backend", ["python", "duckdb"])
def test_one_decision_row_shape_in_every_format(default_engine: Engine, backend: str, tmp_path: Path) -> None:
    profiles = tmp_path / "p.jsonl"
    lines = (REPO / "examples" / "customers.jsonl").read_text().splitlines()[:200]
    profiles.write_text("\n".join([*lines, "not json", '{"customer_id": "x", "segment": "nope"}']) + "\n")
    simulate = simulate_python if backend == "python" else simulate_duckdb
    for suffix in ("jsonl", "csv", "parquet"):
        simulate(default_engine.plan, str(profiles), SAMPLE_AS_OF, output=str(tmp_path / f"d.{suffix}"))
    rows = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert len(rows) == 202
    assert all(set(r) == {"customer_id", "error"} for r in rows[-2:])
    assert all("error" not in r and r["plan_version"] == default_engine.version and r["as_of"] == "2026-11-01"
               for r in rows[:200])
    assert all(round(r["cost"], 2) == r["cost"] for r in rows[:200])
    table = pq.read_table(tmp_path / "d.parquet")
    meta = table.schema.metadata
    assert meta[b"treatment.backend"] == backend.encode() and meta[b"treatment.as_of"] == b"2026-11-01"
    assert table.column("segment").to_pylist()[-2:] == [None, None]
    csv_text = (tmp_path / "d.csv").read_text()
    assert csv_text.splitlines()[0].replace('"', "").split(",")[-8:] == ["cost", "plan_version", "as_of", "arm", "experiment",
                                                                  "bucket", "would_have", "error"]
    assert '[""' in csv_text  # lists as JSON arrays


def test_outputs_are_the_same_from_both_engines(default_engine: Engine, tmp_path: Path) -> None:
    path = str(REPO / "examples" / "customers.csv")
    for suffix in ("jsonl", "csv"):
        simulate_python(default_engine.plan, path, SAMPLE_AS_OF, output=str(tmp_path / f"p.{suffix}"))
        simulate_duckdb(default_engine.plan, path, SAMPLE_AS_OF, output=str(tmp_path / f"d.{suffix}"))
        assert (tmp_path / f"p.{suffix}").read_bytes() == (tmp_path / f"d.{suffix}").read_bytes()


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_an_object_written_as_text_is_warned_about_once_on_every_engine(default_engine: Engine, suffix: str,
                                                                       tmp_path: Path) -> None:
    """A CSV exporter's "{'email': true}" where the plan reads consent.email: the rows read as
    having no consent, as the spec says, and the run says so once."""
    rows = [{"customer_id": f"c{i}", "annual_value": 9000.0, "consent": "{'email': True}"} for i in range(12)]
    path = tmp_path / f"struct-as-text.{suffix}"
    if suffix == "csv":
        path.write_text("customer_id,annual_value,consent\n" + "".join(
            f'{r["customer_id"]},9000,"{r["consent"]}"\n' for r in rows))
    elif suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    for backend in ("python", "duckdb"):
        result = CliRunner().invoke(cli, ["decide", "--profiles", str(path), "--backend", backend, "-q",
                                          "-o", str(tmp_path / "d.jsonl")])
        assert result.exit_code == 0, result.output
        assert result.stderr.count("warning: consent is text, not an object, in 12 rows") == 1, result.stderr
    summaries = [simulate(default_engine.plan, str(path), SAMPLE_AS_OF) for simulate in (simulate_python, simulate_duckdb)]
    assert all(any("consent is text" in n for n in s.notes) for s in summaries)
    few = tmp_path / f"few.{suffix}"
    if suffix == "jsonl":
        few.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
        assert not any("consent" in n for n in simulate_python(default_engine.plan, str(few), SAMPLE_AS_OF).notes)


@pytest.mark.parametrize("careful", [False, True])
def test_rows_keep_input_order_when_limits_are_joined(default_engine: Engine, careful: bool, tmp_path: Path) -> None:
    """Found by the contact-history differential: DuckDB made the few customers with limits
    the join's probe side, and their rows came out first."""
    from treatment_engine.contacts import Contact
    lines = [json.dumps({"customer_id": f"c{i % 7}", "annual_value": i * 100}) for i in range(40)]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + ("\n[1]\n" if careful else "\n"))  # a list line: read the careful way
    day = SAMPLE_AS_OF.toordinal()
    limits = {c: default_engine.limits([Contact(day - 1, "delight", "sms")], SAMPLE_AS_OF) for c in ("c1", "c5")}
    got = [r["customer_id"] for r in DuckDBBackend(default_engine.plan, limits=limits).records(path, SAMPLE_AS_OF)]
    assert got == [f"c{i % 7}" for i in range(40)] + ([None] if careful else [])


def test_progress_has_a_percentage_and_sampling_reports_progress(default_engine: Engine, tmp_path: Path) -> None:
    from treatment_engine.sample import generate, write_file
    made: list[int] = []
    write_file(tmp_path / "s.jsonl", 25_000, 7, SAMPLE_AS_OF, progress=made.append)
    assert made == [10_000, 20_000]
    assert generate(3, as_of=SAMPLE_AS_OF) == generate(3, as_of=SAMPLE_AS_OF, progress=made.append)
    seen: list[tuple[float | None, int | None]] = []
    simulate_python(default_engine.plan, str(tmp_path / "s.jsonl"), SAMPLE_AS_OF,
                    progress=lambda fraction, rows: seen.append((fraction, rows)))
    assert [fraction for fraction, _ in seen] == [0.4, 0.8]


def test_duckdb_never_prints_its_own_progress_bar_into_standard_output() -> None:
    """DuckDB draws a bar on stdout for a query past two seconds, even into a pipe, where
    `decide --backend duckdb` writes its JSON lines."""
    from treatment_engine.sql.duckdb_backend import connect
    assert connect().execute("SELECT current_setting('enable_progress_bar_print')").fetchone() == (False,)


def _writes(tmp: Path) -> list[tuple[list[str], Path]]:
    """Every command that writes a file, each told to write it under folders not made yet."""
    examples, new = REPO / "examples", tmp / "new" / "folders"
    decisions, outcomes = tmp / "decisions.parquet", tmp / "outcomes.jsonl"
    measure = ["measure", "--plan", str(REPO), "--decisions", str(decisions), "--events", str(outcomes),
               "--as-of", "2027-03-01"]
    replay = ["events", "replay", str(examples / "first-events.jsonl"), "--profiles", str(examples / "customers.jsonl"),
              "--until", "2026-12-01"]
    journeys = ["journeys", "--plan", str(REPO), "--events", str(examples / "journey-events.jsonl"),
                "--as-of", SAMPLE_AS_OF.isoformat()]
    return [
        ([*replay, "-o", str(new / "a" / "fired.jsonl")], new / "a" / "fired.jsonl"),
        ([*replay, "--errors", str(new / "b" / "refused.jsonl")], new / "b" / "refused.jsonl"),
        (["events", "sample", "--until", "2026-12-01", "-o", str(new / "c" / "events.jsonl")], new / "c" / "events.jsonl"),
        ([*journeys, "-o", str(new / "d" / "journeys.txt")], new / "d" / "journeys.txt"),
        ([*journeys, "--report", str(new / "e" / "journeys.html")], new / "e" / "journeys.html"),
        ([*measure, "--report", str(new / "f" / "results.html")], new / "f" / "results.html"),
        ([*measure, "--write-evidence", str(new / "g" / "evidence.json"), "--evidence-metric", "revenue_90d"],
         new / "g" / "evidence.json"),
        (["sample", "--plan", str(REPO), "--outcomes", str(decisions), "--truth", str(new / "h" / "truth.json"),
          "--output", str(tmp / "outcomes-again.jsonl")], new / "h" / "truth.json"),
        (["simulate", "--plan", str(REPO), "--sample", "200", "-q", "--as-of", SAMPLE_AS_OF.isoformat(),
          "--report", str(new / "i" / "simulated.html")], new / "i" / "simulated.html"),
        (["diff", "--plan", str(REPO), "--base", str(REPO), "--sample", "200", "--as-of", SAMPLE_AS_OF.isoformat(),
          "--report", str(new / "j" / "diff.html")], new / "j" / "diff.html"),
    ]


def test_every_file_a_command_writes_may_be_named_in_folders_not_made_yet(tmp_path: Path) -> None:
    """`-o out/fired.jsonl` on a fresh clone (no out/) failed with "No such file or directory"
    for every writer but the decisions file's: each now makes the folders it writes in."""
    runner = CliRunner()
    for args in (["simulate", "--plan", str(REPO), "--sample", "1500", "-q", "--as-of", SAMPLE_AS_OF.isoformat(),
                  "--output", str(tmp_path / "decisions.parquet")],
                 ["sample", "--plan", str(REPO), "--outcomes", str(tmp_path / "decisions.parquet"),
                  "--output", str(tmp_path / "outcomes.jsonl")]):
        made = runner.invoke(cli, args)
        assert made.exit_code == 0, made.output
    for args, written in _writes(tmp_path):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert written.is_file(), args  # the refused events file is empty here: none are refused


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_wrong_shape_count_leaves_the_connection_free_for_the_contact_limits(
        default_engine: Engine, suffix: str, tmp_path: Path) -> None:
    """The count of wrong shapes ran on the connection the decision query then uses, and left
    its result unfinished: registering the contact limits there failed (``simulate --db`` and
    ``decide --db`` on a file with an object written as text)."""
    rows = [{"customer_id": f"c{i}", "annual_value": 9000.0, "consent": "{'email': True}"} for i in range(12)]
    path = tmp_path / f"struct-as-text.{suffix}"
    if suffix == "csv":
        path.write_text("customer_id,annual_value,consent\n" + "".join(
            f'{r["customer_id"]},9000,"{r["consent"]}"\n' for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    summary = simulate_duckdb(default_engine.plan, str(path), SAMPLE_AS_OF, limits={})
    assert summary.total == 12 and any("consent is text" in n for n in summary.notes)


@pytest.fixture(scope="module")
def late_bad_byte(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV file that stops being UTF-8 past the careful reading's first batch of rows
    (65,536): Python's csv module stops there, inside the stream DuckDB reads."""
    path = tmp_path_factory.mktemp("late") / "late.csv"
    rows = "".join(f"c{i},{i % 900},north\n" for i in range(70_000))
    path.write_bytes(b"customer_id,annual_value,region\n" + rows.encode() + b"bad\xff,1,x\n")
    return path


@pytest.mark.parametrize("command", ["simulate", "decide"])
def test_a_file_problem_met_late_in_the_careful_reading_is_worded_as_python_words_it(
        late_bad_byte: Path, command: str, tmp_path: Path) -> None:
    """DuckDB wrapped the careful reading's own error in its own, and simulate printed a
    traceback; decide said something else than the Python back end."""
    said = {}
    for backend in ("python", "duckdb"):
        result = CliRunner().invoke(cli, [command, "--profiles", str(late_bad_byte), "--backend", backend, "-q",
                                          "-o", str(tmp_path / f"{backend}.jsonl")])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        said[backend] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(said["python"]) == 1 and f"{late_bad_byte} is not UTF-8 text" in said["python"][0]
    assert said["duckdb"] == said["python"]


def test_a_careful_reading_that_failed_does_not_speak_for_the_next_run(
        default_engine: Engine, late_bad_byte: Path, tmp_path: Path) -> None:
    """The careful reading's failure is kept to replace DuckDB's wrapping of it; one backend
    that read such a file, then a file whose typed reading is refused (a late cell of
    another kind), must fall back to the plain reading, not raise the earlier file's words."""
    backend = DuckDBBackend(default_engine.plan)
    with pytest.raises(ProfileFileError, match="is not UTF-8 text"):
        list(backend.records(late_bad_byte, SAMPLE_AS_OF))
    rows = "".join(f"c{i},{'lots' if i == 1_100 else i % 900},north\n" for i in range(1_200))
    later = tmp_path / "late-kind.csv"
    later.write_text("customer_id,annual_value,region\n" + rows)
    assert len(list(backend.records(later, SAMPLE_AS_OF))) == 1_200
