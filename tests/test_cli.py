"""The treatment command through its real entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from treatment_engine.cli import cli

from .conftest import CASES, REPO

TELECOM = CASES / "telecom-example"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _one_file_plan(tmp_path: Path, rules: str) -> Path:
    """A plan folder whose only file is rules/r.yaml holding ``rules``."""
    plan = tmp_path / "plan"
    (plan / "rules").mkdir(parents=True)
    (plan / "rules" / "r.yaml").write_text(rules)
    return plan


def invoke(runner: CliRunner, *args: str, input: str | None = None):
    # Wide enough that rich does not wrap table cells in the middle of a phrase.
    return runner.invoke(cli, list(args), input=input, catch_exceptions=False,
                         env={"COLUMNS": "200"})


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_help_teaches_with_examples_and_reads_at_80_columns(runner: CliRunner) -> None:
    """Every command and group, subcommands included (``keys create``, ``events``), shows
    an example, and no line of its help is wider than an 80-column terminal."""
    for path in _command_paths(cli):
        result = runner.invoke(cli, [*path, "--help"], catch_exceptions=False, env={"COLUMNS": "80"},
                               terminal_width=80)
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"treatment {' '.join(path)} --help has no example"
        wide = [line for line in result.output.splitlines() if len(line) > 80]
        assert not wide, f"treatment {' '.join(path)} --help: {wide}"


def test_decide_writes_one_line_per_profile_and_a_summary(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    result = invoke(runner, "decide", "--plan", str(TELECOM / "plan"), "--profiles",
                    str(TELECOM / "profiles.jsonl"), "--as-of", "2026-11-01", "-o", str(out))
    assert result.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 20
    assert "decided 17, invalid 3" in result.stderr


def test_decide_reads_standard_input(runner: CliRunner) -> None:
    result = invoke(runner, "decide", "--plan", str(TELECOM / "plan"), "--profiles", "-",
                    "--as-of", "2026-11-01", "-q",
                    input='{"customer_id": "c14", "annual_value": 50}\n\nnot json\n')
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert records[0]["rule"] == "default" and records[0]["value_tier"] == "bronze"
    assert records[1] == {"customer_id": None, "error": records[1]["error"]}
    assert "line 3 is not valid JSON" in records[1]["error"]


def test_decide_reads_csv_with_dotted_columns(runner: CliRunner, tmp_path: Path) -> None:
    profiles = tmp_path / "p.csv"
    profiles.write_text("customer_id,annual_value,consent.email,nps,first_purchase_date\n"
                        "007,2400,true,,2020-01-01\n"
                        "c2,abc,false,4,\n", encoding="utf-8")
    plan = _one_file_plan(tmp_path, "channels: {email: {consent: consent.email}}\n"
                                    "actions: {a: {kind: contain}}\n"
                                    "rules:\n  - id: has-nps\n    when: {if: missing(nps)}\n"
                                    "    then: {treatment: contain, actions: [a], channels: [email]}\n")
    result = invoke(runner, "decide", "--plan", str(plan), "--profiles", str(profiles), "-q")
    first, second = (json.loads(x) for x in result.stdout.splitlines())
    assert first["customer_id"] == "007" and first["rule"] == "has-nps" and first["channels"] == ["email"]
    assert second["rule"] == "default"


def test_decide_stats_tables(runner: CliRunner) -> None:
    result = invoke(runner, "decide", "--plan", str(TELECOM / "plan"), "--profiles",
                    str(TELECOM / "profiles.jsonl"), "--as-of", "2026-11-01", "--stats", "-q")
    assert "Decisions by treatment" in result.stderr and "gold-detractor-recovery" in result.stderr


def test_validate_summarises_a_good_plan(runner: CliRunner) -> None:
    result = invoke(runner, "validate", "--plan", str(REPO))
    assert result.exit_code == 0
    assert result.stdout.startswith("valid plan ") and "29 rules" in result.stdout and "4 moments" in result.stdout


def test_validate_lists_problems_with_locations(runner: CliRunner) -> None:
    result = invoke(runner, "validate", "--plan", str(CASES / "bad-unknown-channel" / "plan"))
    assert result.exit_code == 2
    assert "rules/r.yaml:12:18: unknown-ref: unknown channel 'emial'" in result.stderr
    assert "did you mean 'email'?" in result.stderr


def test_explain_text_and_json(runner: CliRunner) -> None:
    profile = ('{"customer_id": "c02", "first_purchase_date": "2024-01-10", "annual_value": 2400,'
               ' "nps": 4, "open_complaints": 1, "consent_phone": true, "last_purchase_date": "2026-10-20"}')
    text = invoke(runner, "explain", "--plan", str(TELECOM / "plan"), "--profile", profile,
                  "--as-of", "2026-11-01")
    assert text.exit_code == 0
    assert "gold-detractor-recovery" in text.output and "lifecycle_stage 'maturity' is not in [exit]" in text.output
    data = json.loads(invoke(runner, "explain", "--plan", str(TELECOM / "plan"), "--profile", profile,
                             "--as-of", "2026-11-01", "--format", "json").stdout)
    assert data["rule"] == "gold-detractor-recovery"
    assert [c["outcome"] for c in data["trace"]["rules"]][:2] == ["not matched", "decided"]


def test_explain_json_is_the_decision_decide_writes(runner: CliRunner) -> None:
    """explain --format json says what decide writes for the same customer, cost in cents
    included: summed in floats, 0.1 + 0.05 is 0.15000000000000002, which explain printed
    while decide (and POST /v1/explain) wrote 0.15. c000038 of the bundled examples is one."""
    profiles = str(REPO / "examples" / "customers.jsonl")
    decided = {}
    for line in invoke(runner, "decide", "--plan", str(REPO), "--profiles", profiles, "--as-of", "2026-11-01",
                       "-q").stdout.splitlines():
        record = json.loads(line)
        decided[record["customer_id"]] = record
    for customer in ("c000038", "c000000", "c000042"):
        explained = json.loads(invoke(runner, "explain", "--plan", str(REPO), "--profiles", profiles,
                                      "--customer", customer, "--as-of", "2026-11-01", "--format", "json").stdout)
        assert explained.pop("trace")["rules"]
        assert explained == decided[customer]
    assert decided["c000038"]["cost"] == 0.15


def test_explain_shows_the_deciding_rules_description(runner: CliRunner) -> None:
    """plan-format.md: rules take an optional description "(shown by explain)"; it was shown
    nowhere. c000042 of the bundled examples is decided by family-bundle, which has one;
    the description is the plan author's text, printed as written (no rich markup)."""
    result = invoke(runner, "explain", "--plan", str(REPO), "--profiles", str(REPO / "examples" / "customers.jsonl"),
                    "--customer", "c000042", "--as-of", "2026-11-01")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "c000042: delight by rule 'family-bundle'"
    assert lines[1] == "  about:    Households with more people than lines are offered a family bundle"


def test_explain_text_gives_the_cost_in_cents(runner: CliRunner, tmp_path: Path) -> None:
    """The text's cost read '1.23457e+06' for 1,234,567.91 (a float's shortest form): the
    cents were lost, and decide wrote 1234567.91 for the same customer."""
    plan = _one_file_plan(tmp_path, "channels: {email: {cost: 0.02}}\nactions: {gift: {kind: delight, cost: 1234567.89}}\n"
                                    "policy: {value_field: annual_value, delight_max_cost_ratio: 1000}\n"
                                    "rules:\n  - id: give\n    priority: 1\n    when: {}\n"
                                    "    then: {treatment: delight, actions: [gift], channels: [email]}\n")
    profile = '{"customer_id": "c1", "annual_value": 5000}'
    decided = json.loads(invoke(runner, "decide", "--plan", str(plan), "--profiles", "-", "-q",
                                "--as-of", "2026-11-01", input=profile + "\n").stdout)
    text = invoke(runner, "explain", "--plan", str(plan), "--profile", profile, "--as-of", "2026-11-01").stdout
    assert decided["cost"] == 1234567.91
    assert "  cost:     1,234,567.91    plan " in text, text


def test_explain_text_says_when_an_experiment_arm_decided(runner: CliRunner) -> None:
    """c000000 of the bundled examples is in decline-gold-retention's holdout: the headline
    said 'contain by rule default' while the table said decline-gold-retention 'decided',
    and nothing said why (the JSON's trace had it). The text names the arm and what the
    champion would have given, as the JSON does."""
    result = invoke(runner, "explain", "--plan", str(REPO), "--profiles", str(REPO / "examples" / "customers.jsonl"),
                    "--customer", "c000000", "--as-of", "2026-11-01")
    lines = result.stdout.splitlines()
    assert lines[0] == "c000000: contain by rule 'default'"
    assert lines[4].startswith("  experiment: decline-gold-retention, bucket 431 (holdout 0-999, champion "
                               "1000-9999): arm holdout; in the rule's holdout")
    assert ("  champion:   would have given delight by rule 'decline-gold-retention': retention_discount over "
            "outbound_call, email, sms, cost 39.00") in lines


def test_explain_from_a_file(runner: CliRunner) -> None:
    result = invoke(runner, "explain", "--plan", str(TELECOM / "plan"), "--profiles",
                    str(TELECOM / "profiles.jsonl"), "--customer", "c10", "--as-of", "2026-11-01")
    assert "new-customer-welcome" in result.output
    missing = invoke(runner, "explain", "--plan", str(TELECOM / "plan"), "--profiles",
                     str(TELECOM / "profiles.jsonl"), "--customer", "nobody")
    assert missing.exit_code == 1 and "no profile with customer_id 'nobody'" in missing.stderr


def test_explain_an_invalid_profile(runner: CliRunner) -> None:
    result = invoke(runner, "explain", "--plan", str(TELECOM / "plan"), "--profile", '{"segment": "x"}')
    assert result.exit_code == 1 and "cannot be decided" in result.stderr


def test_sample_is_reproducible(runner: CliRunner, tmp_path: Path) -> None:
    a = invoke(runner, "sample", "--n", "50", "--seed", "3", "--as-of", "2026-11-01").stdout
    b = invoke(runner, "sample", "--n", "50", "--seed", "3", "--as-of", "2026-11-01").stdout
    c = invoke(runner, "sample", "--n", "50", "--seed", "4", "--as-of", "2026-11-01").stdout
    assert a == b != c and len(a.splitlines()) == 50
    invoke(runner, "sample", "--n", "5", "-o", str(tmp_path / "x.csv"))
    assert (tmp_path / "x.csv").read_text().startswith("customer_id,plan_type")


def test_decide_a_sample_decides_what_the_same_sample_piped_in_decides(runner: CliRunner) -> None:
    """``decide --sample N --seed S``: the customers ``sample --n N --seed S`` writes, decided
    as if read from a file (issue #13's first command on a fresh install)."""
    sample = invoke(runner, "sample", "--n", "10", "--seed", "3", "--as-of", "2026-11-01").stdout
    piped = invoke(runner, "decide", "--profiles", "-", "--as-of", "2026-11-01", "-q", input=sample)
    made = invoke(runner, "decide", "--sample", "10", "--seed", "3", "--as-of", "2026-11-01", "-q")
    assert made.exit_code == 0 and made.stdout == piped.stdout and len(made.stdout.splitlines()) == 10


@pytest.mark.parametrize("args, code, message", [
    (["decide", "--plan", str(TELECOM / "plan"), "--profiles", "/no/such/file.jsonl"], 1,
     "no such profiles file: /no/such/file.jsonl"),
    (["decide", "--plan", "/no/such/plan", "--profiles", "-"], 2, "no such plan directory"),
    (["decide", "--profiles", "-", "--as-of", "yesterday"], 2, "not a date in the form YYYY-MM-DD"),
    (["decide"], 2, "give either --profiles FILE or --sample N"),
    (["decide", "--profiles", "-", "--sample", "3"], 2, "give either --profiles FILE or --sample N"),
    # '-' is standard input to decide and explain; simulate and diff said "no such profiles file: -"
    (["simulate", "--profiles", "-"], 2, "'-' (standard input) is read by decide and explain"),
    (["diff", "--base", str(REPO), "--profiles", "-", "--backend", "python"], 2,
     "'-' (standard input) is read by decide and explain; this command reads a file or a pipe such as /dev/stdin"),
    (["explain"], 2, "give either --profile JSON or --profiles FILE --customer ID"),
    (["explain", "--profile", "{nope"], 2, "the profile is not valid JSON: Expecting property name"),
    # --customer picks from --profiles: with --profile it was ignored, the given profile explained
    (["explain", "--profile", '{"customer_id": "c1"}', "--customer", "c2"], 2,
     "--customer ID picks a profile from --profiles FILE"),
])
def test_bad_usage_gives_one_clear_line_and_no_traceback(args: list[str], code: int, message: str) -> None:
    run = subprocess.run([sys.executable, "-m", "treatment_engine", *args], capture_output=True,
                         text=True, input="", timeout=60)
    assert run.returncode == code, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_root_cli_py_is_the_same_command() -> None:
    run = subprocess.run([sys.executable, str(REPO / "cli.py"), "validate", "--plan", str(REPO)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("valid plan")


def test_without_plan_the_variable_or_the_bundled_plan_is_used(runner: CliRunner, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from treatment_engine import Engine

    monkeypatch.chdir(tmp_path)  # not a plan: no rules/ or segments/ here
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    assert f"valid plan {Engine.load(REPO).version}:" in invoke(runner, "validate").output
    monkeypatch.setenv("TREATMENT_PLAN", str(TELECOM / "plan"))
    assert f"valid plan {Engine.load(TELECOM / 'plan').version}:" in invoke(runner, "validate").output


def test_db_defaults_for_the_service_commands_only(runner: CliRunner, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """serve, reproduce and keys open $TREATMENT_DB_URL, else sqlite:///treatment.db (only
    serve and keys create make it); decide and simulate read contact history only from a
    --db they are given."""
    pytest.importorskip("sqlmodel", reason="the service extra is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TREATMENT_DB_URL", raising=False)
    assert "no decision log at sqlite:///treatment.db" in invoke(runner, "keys", "list").stderr
    assert invoke(runner, "keys", "create", "ops").exit_code == 0 and (tmp_path / "treatment.db").is_file()
    monkeypatch.setenv("TREATMENT_DB_URL", f"sqlite:///{tmp_path / 'named.db'}")
    assert invoke(runner, "keys", "create", "ops").exit_code == 0 and (tmp_path / "named.db").is_file()
    monkeypatch.setenv("TREATMENT_DB_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    profiles = tmp_path / "p.jsonl"
    profiles.write_text('{"customer_id": "c1", "annual_value": 2400}\n')
    decided = invoke(runner, "decide", "--plan", str(REPO), "--profiles", str(profiles), "-q")
    assert decided.exit_code == 0 and not (tmp_path / "absent.db").exists()


def test_a_plan_problem_prints_as_one_line_whatever_names_hold(tmp_path: Path) -> None:
    """A file name or key with a newline printed a problem over two lines, the second of
    which read as a finding of its own (a name can fake one: 'x.yaml:1:1: fine\\nrules/...');
    an escape sequence reached the terminal. Control characters are escaped; a NUL byte's
    reader error no longer trails a line about '<unicode string>'."""
    named, nul = tmp_path / "named", tmp_path / "nul"
    for plan in (named, nul):
        (plan / "rules").mkdir(parents=True)
    (named / "rules" / "a\nb.yaml").write_text('"bo\\ngus\\e[31m": 1\n')
    (nul / "rules" / "nul.yaml").write_text("rules: []\x00\n")
    for command in ("validate", "lint", "test"):
        results = {plan: CliRunner().invoke(cli, [command, "--plan", str(plan)]) for plan in (named, nul)}
        for result in results.values():
            assert result.exit_code == 2
            problems = [line for line in result.output.splitlines() if line.startswith("rules/")]
            assert len(problems) == 1, result.output
            assert "\x1b" not in result.output and "<unicode string>" not in result.output
        (problem,) = (line for line in results[named].output.splitlines() if line.startswith("rules/"))
        assert problem.startswith("rules/a\\nb.yaml:1:1: ") and "'bo\\ngus\\x1b[31m'" in problem, problem
        assert "unacceptable character #x0000: control characters are not allowed" in results[nul].output
