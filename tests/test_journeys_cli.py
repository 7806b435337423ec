"""`treatment journeys`: the report's figures on a hand-made history, the watermelon flag,
and the command over a file, over the service's stored events, in every format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from treatment_engine.cli import cli
from treatment_engine.journeys.reference import runs
from treatment_engine.journeys.summary import Times, summarize
from treatment_engine.moments.events import parse_timestamp
from treatment_engine.moments.partitions import partition_of
from treatment_engine.store import DecisionLog
from treatment_engine.store.events import Incoming

from .conftest import REPO
from .journey_plans import DAY, events, journey

FUNNEL = {"within": "30d", "steps": [{"event": "signed_up"},
                                     {"event": "installed", "within": "10d", "target": {"rate": 0.5, "within": "2d"}},
                                     {"event": "billed", "within": "10d"}],
          "success": {"target": 0.9, "after": {"within": "5d", "none": [{"event": "churned"}]}}}


def report(written: dict, raw: list, as_of: float):  # type: ignore[no-untyped-def]
    compiled = journey(**written)
    return summarize(compiled, runs(compiled, events(compiled, raw), as_of), as_of)


def test_percentiles_are_nearest_rank() -> None:
    assert Times.of([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]) == Times(10, 5, 8, 9)
    assert Times.of([7.0]) == Times(1, 7.0, 7.0, 7.0) and Times.of([]) == Times(0, None, None, None)


def test_counts_funnel_times_touchpoints_and_success() -> None:
    raw = [("a", "signed_up", 0), ("a", "installed", DAY), ("a", "billed", 2 * DAY),  # succeeds
           ("b", "signed_up", 0), ("b", "installed", 3 * DAY), ("b", "billed", 4 * DAY),
           ("b", "churned", 5 * DAY),  # completed, failed
           ("c", "signed_up", 0),  # abandoned at installation
           ("d", "signed_up", 0), ("d", "installed", DAY),  # abandoned at billing
           ("e", "signed_up", 39 * DAY)]  # in progress: not yet counted for the touchpoint
    made = report(FUNNEL, raw, 40 * DAY)
    assert (made.customers, made.entered, made.completed, made.abandoned, made.in_progress) == (5, 5, 2, 2, 1)
    assert (made.succeeded, made.failed, made.success_rate) == (1, 3, 0.25)
    assert made.conversion == 0.5 and made.total == Times(2, 2 * DAY, 4 * DAY, 4 * DAY)
    signed, installed, billed = made.steps
    assert (installed.reached, installed.dropped, installed.waiting, installed.conversion) == (3, 1, 1, 0.75)
    assert installed.times == Times(3, DAY, 3 * DAY, 3 * DAY)
    # a and d within 2 days, b after 3, c never; e may still arrive in time
    assert (installed.touchpoint_rate, installed.touchpoint_runs, installed.met) == (0.5, 4, True)
    assert (billed.reached, billed.dropped, billed.waiting) == (2, 1, 0)
    assert signed.conversion is None and billed.target is None


def test_the_watermelon_is_green_touchpoints_and_a_red_journey() -> None:
    green = [("a", "signed_up", 0), ("a", "installed", DAY), ("a", "billed", 2 * DAY), ("a", "churned", 3 * DAY),
             ("b", "signed_up", 0), ("b", "installed", DAY), ("b", "billed", 2 * DAY)]
    flagged = report(FUNNEL, green, 40 * DAY)
    assert flagged.success_rate == 0.5 and flagged.steps[1].touchpoint_rate == 1.0
    assert flagged.watermelon is not None and "below its target of 90%" in flagged.watermelon
    # the same journey held to 50%: not a watermelon
    assert report({**FUNNEL, "success": {**FUNNEL["success"], "target": 0.5}}, green, 40 * DAY).watermelon is None
    # by margin: the journey 50% against its touchpoint's 100%, more than 20 points below
    margin = {**FUNNEL, "success": {"margin": 0.2, "after": FUNNEL["success"]["after"]}}
    assert "more than 20% below its weakest touchpoint" in (report(margin, green, 40 * DAY).watermelon or "")
    # a red touchpoint: the journey is red outside too, so no flag
    red = green + [("c", "signed_up", 0), ("c", "installed", 5 * DAY), ("d", "signed_up", 0),
                   ("d", "installed", 5 * DAY), ("e", "signed_up", 0), ("e", "installed", 5 * DAY)]
    assert report(FUNNEL, red, 40 * DAY).watermelon is None


def _sample(tmp_path: Path) -> Path:
    path = tmp_path / "journey-events.jsonl"
    made = CliRunner().invoke(cli, ["events", "sample", "--journeys", "--customers", "400", "--until", "2026-11-01",
                                    "-o", str(path)])
    assert made.exit_code == 0, made.output
    return path


def test_the_command_shows_the_funnel_and_flags_the_planted_watermelon(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    shown = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--as-of", "2026-11-01"],
                               env={"COLUMNS": "200"})  # a wide terminal: the report stays 80 columns
    assert shown.exit_code == 0, shown.output
    assert "WATERMELON: installation:" in shown.stdout and "WATERMELON: house-move" not in shown.stdout
    assert "first_bill_new_address" in shown.stdout and max(map(len, shown.stdout.splitlines())) <= 80
    formats = {}
    for backend in ("duckdb", "python"):
        for fmt in ("json", "csv"):
            done = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--format", fmt,
                                            "--backend", backend])
            assert done.exit_code == 0, done.output
            formats[backend, fmt] = done.stdout
    assert formats["duckdb", "json"] == formats["python", "json"]
    by_id = {j["id"]: j for j in json.loads(formats["duckdb", "json"])["journeys"]}
    assert by_id["installation"]["watermelon"] and by_id["house-move"]["watermelon"] is None
    rows = list(csv.DictReader(io.StringIO(formats["duckdb", "csv"])))
    assert [r["step"] for r in rows if r["journey"] == "house-move"] == [
        "move_notice", "final_reading", "contract_moved", "first_bill_new_address"]


def test_the_command_reads_the_services_stored_events(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = DecisionLog(url)
    try:
        raws = [json.loads(line) for line in path.read_text().splitlines()]
        log.events.accept([Incoming(r["customer_id"], r["type"], parse_timestamp(r["timestamp"]) or 0.0, r,
                                    partition_of(r["customer_id"], 16)) for r in raws])
    finally:
        log.close()
    from_db = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--db", url, "--format", "json"])
    from_file = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--format", "json"])
    assert from_db.exit_code == 0, from_db.output
    assert json.loads(from_db.stdout) == json.loads(from_file.stdout)


def test_the_command_says_what_is_wrong_without_a_traceback(tmp_path: Path) -> None:
    both = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO)])
    assert both.exit_code == 2 and "give one of --events FILE or --db URL" in both.output
    missing = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "No such file or directory" in missing.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"customer_id": "c1", "type": "signed_up", "timestamp": "yesterday"}\nnot json\n')
    shown = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(bad)])
    assert shown.exit_code == 0 and f"{bad}:1 (c1): the event has no valid timestamp" in shown.stderr
    late = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(bad), "--as-of", "soon"])
    assert late.exit_code == 2 and "not an ISO 8601 date" in late.output


def test_a_db_that_holds_no_log_is_refused_as_every_command_refuses_it(tmp_path: Path) -> None:
    """`journeys --db` with a mistyped path used to end in SQLAlchemy's traceback ("no such
    table: events") after making an empty database file there; like reproduce, decide
    --db and measure, it now says there is no log, with exit status 2, and makes nothing."""
    missing = tmp_path / "treatment.db"
    refused = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--db", f"sqlite:///{missing}"])
    assert isinstance(refused.exception, SystemExit) and refused.exit_code == 2, refused.output
    assert f"no decision log at sqlite:///{missing}" in refused.output
    assert not missing.exists()
    unparsed = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--db", "nonsense"])
    assert isinstance(unparsed.exception, SystemExit) and unparsed.exit_code == 2, unparsed.output
    assert "cannot open the decision log at nonsense" in unparsed.output


def test_the_breakdown_places_each_customer_by_their_decision(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    done = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--format", "json",
                                    "--by", "segment,arm", "--profiles", str(REPO / "examples" / "customers.jsonl")])
    assert done.exit_code == 0, done.output
    for item in json.loads(done.stdout)["journeys"]:
        groups = item["breakdown"]
        assert sum(g["entered"] for g in groups) == item["entered"]  # every run in one group
        assert all(set(g["group"]) == {"segment", "arm"} for g in groups)
        assert any(g["group"]["arm"] == "universal_holdout" for g in groups)
    shown = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--by", "tier",
                                     "--profiles", str(REPO / "examples" / "customers.jsonl")])
    assert shown.exit_code == 2 and "unknown tier: choose from segment, lifecycle_stage" in shown.output
    alone = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--by", "arm"])
    assert alone.exit_code == 2 and "--by needs --profiles FILE" in alone.output


def test_the_breakdown_groups_runs_by_customer_unknowns_first() -> None:
    from treatment_engine.journeys.breakdown import summarize_by

    compiled = journey(**FUNNEL)
    made = runs(compiled, events(compiled, [("a", "signed_up", 0), ("b", "signed_up", 0), ("c", "signed_up", 0)]),
                40 * DAY)
    split = summarize_by(compiled, made, 40 * DAY, {"a": ("x",), "b": ("x",)}, ("segment",))
    assert [(b.group, b.report.entered) for b in split] == [({"segment": None}, 1), ({"segment": "x"}, 2)]


def test_the_html_report_shows_funnels_touchpoints_and_the_flag_in_words(tmp_path: Path) -> None:
    path, page = _sample(tmp_path), tmp_path / "journeys.html"
    done = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--report", str(page),
                                    "--by", "arm", "--profiles", str(REPO / "examples" / "customers.jsonl")])
    assert done.exit_code == 0, done.output
    shown = page.read_text(encoding="utf-8")
    for chart in ("funnel-installation", "touchpoints-installation", "funnel-house-move", "touchpoints-house-move"):
        assert f'data-chart="{chart}"' in shown
    assert "<b>Watermelon.</b> installation: every touchpoint meets its target" in shown
    assert "Not a watermelon: every touchpoint meets its target and the journey succeeds" in shown
    assert "<h3>By arm</h3>" in shown and "universal_holdout" in shown and "<script" not in shown


def test_the_html_report_escapes_what_the_plan_says() -> None:
    from treatment_engine.journeys.html import render

    compiled = journey(**{**FUNNEL, "owner": "<script>alert(1)</script>"})
    made = runs(compiled, events(compiled, [("a", "signed_up", 0)]), 40 * DAY)
    page = render([summarize(compiled, made, 40 * DAY)], 40 * DAY)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_json_report_is_made_without_the_table_printers_library() -> None:
    """rich draws only the table (0.07 CPU s to import, a fixed cost of every run that the
    10-million-event benchmark counts): the JSON and CSV formats must not import it. In a
    fresh process, since this one has imported it already."""
    import os
    import subprocess
    import sys

    script = ("import sys; from click.testing import CliRunner; from treatment_engine.cli import cli; "
              f"done = CliRunner().invoke(cli, ['journeys', '--plan', {str(REPO)!r}, '--events', "
              f"{str(REPO / 'examples' / 'events.jsonl')!r}, '--format', 'json']); "
              "assert done.exit_code == 0, done.output; print(sorted(m for m in sys.modules if m.startswith('rich')))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert found.stdout.strip() == "[]"


def test_events_sample_refuses_a_span_that_would_start_before_the_year_1() -> None:
    """`events sample --until 0001-01-02` ended in OverflowError's traceback (and with
    --journeys in "year 0 is out of range"): the days before --until are a usage error."""
    for args in (["--until", "0001-01-02"], ["--until", "0001-01-02", "--journeys"],
                 ["--until", "2026-11-01", "--days", "800000"]):
        result = CliRunner().invoke(cli, ["events", "sample", "--n", "2", *args])
        assert isinstance(result.exception, SystemExit) and result.exit_code == 2, (args, result.output)
        assert "before the year 1" in result.output, result.output
    fine = CliRunner().invoke(cli, ["events", "sample", "--n", "2", "--until", "0001-03-02", "--days", "60"])
    assert fine.exit_code == 0 and fine.stdout.count("\n") == 2, fine.output


def test_a_file_with_no_event_a_journey_reads_says_so(tmp_path: Path) -> None:
    """Events of other kinds only (a moments file, outcomes, the wrong file): the report was
    all zeros "as of 1970-01-01T00:00:00Z", the time of no event, without a word of why."""
    other = tmp_path / "other.jsonl"
    other.write_text('{"customer_id": "c1", "type": "payment_failed", "timestamp": "2026-10-01T09:00:00Z"}\n'
                     '{"customer_id": "c1", "type": "signed_up", "timestamp": "never"}\n')
    for backend in ("duckdb", "python"):
        shown = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(other), "--backend", backend])
        assert shown.exit_code == 0, shown.output
        assert (f"note: {other} holds no valid event of a type a journey reads (activated, bill_issued, churned, "
                "complaint, contract_moved, final_reading, installation_booked, installed, move_notice, signed_up): "
                "every journey is empty, as of no event's time (give --as-of)") in shown.stderr
        dated = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(other), "--backend", backend,
                                         "--as-of", "2026-11-01"])
        assert dated.exit_code == 0 and "note:" not in dated.stderr, dated.output


def test_a_refused_event_prints_on_one_line(tmp_path: Path) -> None:
    """A refused event's own text (its customer id) is printed with its control characters
    escaped: a newline there split the line, and printed a second line of its own."""
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"customer_id": "a\nevent 9 (b): fake", "type": "signed_up"}) + "\n"
                    + json.dumps({"customer_id": "c1", "type": "signed_up", "timestamp": "2026-10-01T00:00:00Z"}) + "\n")
    result = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    refusals = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert len(refusals) == 1 and refusals[0].startswith(f"{path}:1 (a\\nevent 9 (b): fake): "), result.stderr


@pytest.mark.parametrize("backend", ["duckdb", "python"])
def test_a_refused_event_is_named_by_its_files_line(tmp_path: Path, backend: str) -> None:
    """Refusals said "event 0", the event's position from 0 among the file's events, beside
    a reason saying "line 3 is not valid JSON": now the file's line, which blank lines do not
    shift; from standard input, which cannot be read again, the position stays."""
    path = tmp_path / "events.jsonl"
    path.write_text('\n{"customer_id": "c1", "type": "signed_up", "timestamp": "never"}\n\n  \n'
                    '{"type": "signed_up", "timestamp": "2026-10-01"}\n'
                    '{"customer_id": "c2", "type": "signed_up", "timestamp": "2026-10-01"}\n')
    result = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", str(path), "--backend", backend])
    assert result.exit_code == 0, result.output
    named = [line.split(" (")[0] for line in result.stderr.splitlines() if " (c1)" in line or "(no customer)" in line]
    assert named == [f"{path}:2", f"{path}:5"], result.stderr
    piped = CliRunner().invoke(cli, ["journeys", "--plan", str(REPO), "--events", "-", "--backend", "python"],
                               input=path.read_text())
    assert "event 0 (c1)" in piped.stderr and "event 1 (no customer)" in piped.stderr, piped.stderr
