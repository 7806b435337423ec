"""Terminal output reads at 80 columns, diff says when nothing changes, and every option
has help text (#13 item 19)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from treatment_engine.cli import cli

from .conftest import REPO, write_plan

AS_OF = "2026-11-01"
# Ids as long as real plans grow them: rich's default cuts each to "a-very-long-rule-…",
# and eight tiers side by side do not fit 80 columns.
TIERS = "".join(f"    - {{id: tier-number-{i}-of-eight, min: {(8 - i) * 100}}}\n" for i in range(8))
SEGMENTS = f"""\
segments:
  - {{id: customers-with-a-rather-long-segment-name, if: age > 30}}
  - id: everyone-else-in-the-customer-base
lifecycle:
  - {{id: a-lifecycle-stage-with-a-long-name, if: tenure > 100}}
  - id: another-stage
value_tiers:
  field: value
  tiers:
{TIERS}"""
RULES = "channels:\n  a-channel-with-a-long-name: {cost: 1}\nactions:\n  an-action-with-a-long-name: {kind: delight, cost: 2}\n" \
    "rules:\n" + "".join(
        f"  - id: a-very-long-rule-identifier-that-says-much-number-{i}\n    priority: {i}\n"
        f"    when: {{if: 'age > {i * 5} and tenure > {i} and value > {i * 50} and (score >= {i} or missing(score))'}}\n"
        f"    then: {{treatment: delight, actions: [an-action-with-a-long-name], channels: [a-channel-with-a-long-name]}}\n"
        for i in range(1, 7))


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wide")
    write_plan(root / "plan", {"segments/s.yaml": SEGMENTS, "rules/r.yaml": RULES})
    write_plan(root / "changed", {"segments/s.yaml": SEGMENTS, "rules/r.yaml": RULES.replace("age > 5 and", "age > 40 and")})
    shuffle = random.Random(1)
    rows = [{"customer_id": f"customer-with-a-long-id-{i:05d}", "age": shuffle.randint(18, 90),
             "tenure": shuffle.randint(0, 400), "value": shuffle.randint(0, 900), "score": shuffle.choice([None, 1, 6])}
            for i in range(200)]
    (root / "p.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return root


def run80(*args: str) -> click.testing.Result:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def assert_readable_at_80(text: str) -> None:
    long = [line for line in text.splitlines() if cell_len(line) > 80]
    assert not long, long
    assert "…" not in text, "an id was cut short"


def test_simulate_reads_at_80_columns(wide: Path) -> None:
    result = run80("simulate", "--plan", str(wide / "plan"), "--profiles", str(wide / "p.jsonl"),
                   "--as-of", AS_OF, "--backend", "python")
    assert_readable_at_80(result.stdout)
    # eight tiers do not fit side by side: one row per stage x tier instead
    assert "tier-number-7-of-eight" in result.stdout and "Decisions by rule" in result.stdout


def test_explain_reads_at_80_columns(wide: Path) -> None:
    result = run80("explain", "--plan", str(wide / "plan"), "--profiles", str(wide / "p.jsonl"),
                   "--customer", "customer-with-a-long-id-00003", "--as-of", AS_OF)
    assert_readable_at_80(result.stdout)
    assert "Rules, in evaluation order" in result.stdout


def test_the_bundled_plan_reads_at_80_columns() -> None:
    profiles = str(REPO / "examples" / "customers.jsonl")
    for args in (["simulate", "--profiles", profiles, "--backend", "python"],
                 ["explain", "--profiles", profiles, "--customer", "c000000"]):
        assert_readable_at_80(run80(*args, "--plan", str(REPO), "--as-of", AS_OF).stdout)


def test_explain_prints_a_profiles_control_characters_escaped() -> None:
    """The customer id, the values and the reasons explain prints come from the profile:
    an escape sequence there drove the terminal, and a newline printed a line that read as
    another decision. They print escaped, each on its line."""
    profile = {"customer_id": "c1\x1b[31mred\nc2: delight by rule 'fake'", "annual_value": 2400,
               "lifecycle_stage": "maturity"}
    result = run80("explain", "--plan", str(REPO), "--profile", json.dumps(profile), "--as-of", AS_OF)
    assert "\x1b" not in result.stdout
    headline = result.stdout.splitlines()[0]
    assert headline.startswith("c1\\x1b[31mred\\nc2: delight by rule 'fake': "), headline


def test_explain_keeps_the_bundled_plan_rule_ids_whole_at_80_columns() -> None:
    """The 'why' column wraps at spaces; a rule id that fits is not folded mid-word to
    give it one more character ("moment-detractor-valuabl" over "e")."""
    result = run80("explain", "--plan", str(REPO), "--profiles", str(REPO / "examples" / "customers.jsonl"),
                   "--customer", "c000005", "--as-of", AS_OF)
    assert_readable_at_80(result.stdout)
    rules_table = result.stdout.split("Rules, in evaluation order", 1)[1]
    for rule in ("moment-detractor-valuable", "moment-repeat-complaint", "respect-do-not-contact"):
        assert f" {rule} " in rules_table, rules_table


def test_the_replayed_moments_read_at_80_columns_with_their_names_whole() -> None:
    """A journey step's stall moment (installation.signed_up.stalled) beside a rule's id,
    as `make demo` shows them: the names are not folded mid-word."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(cli, [
        "events", "replay", str(REPO / "examples" / "journey-events.jsonl"), "--plan", str(REPO),
        "--profiles", str(REPO / "examples" / "customers.jsonl"), "--until", AS_OF])
    assert result.exit_code == 0, result.output
    assert_readable_at_80(result.stderr)
    assert "installation.signed_up.stalled" in result.stderr and "respect-do-not-contact" in result.stderr


def test_diff_reads_at_80_columns_and_writes_json_and_a_report(wide: Path, tmp_path: Path) -> None:
    args = ["diff", "--base", str(wide / "plan"), "--plan", str(wide / "changed"), "--profiles",
            str(wide / "p.jsonl"), "--as-of", AS_OF]
    text = run80(*args, "--report", str(tmp_path / "out" / "diff.html"))
    assert_readable_at_80(text.stdout)
    assert "Transitions (base -> new)" in text.stdout
    page = (tmp_path / "out" / "diff.html").read_text()
    assert page.startswith("<!doctype html>") and 'data-chart="rule-changes"' in page
    data = json.loads(run80(*args, "--format", "json").stdout)
    assert data["changed"] == sum(t["customers"] for t in data["transitions"]) > 0
    assert data["rule_changes"]["default"] == -data["rule_changes"]["a-very-long-rule-identifier-that-says-much-number-1"]
    assert {"from", "to", "customers", "example_customer"} <= set(data["transitions"][0])


def test_diff_without_differences_says_so(wide: Path, tmp_path: Path) -> None:
    result = run80("diff", "--base", str(wide / "plan"), "--plan", str(wide / "plan"), "--profiles",
                   str(wide / "p.jsonl"), "--as-of", AS_OF, "--report", str(tmp_path / "same.html"))
    assert "no differences: no customer's decision changes (200 decided, 0 invalid)" in result.stdout
    assert "Transitions" not in result.stdout and "No differences" in (tmp_path / "same.html").read_text()


def test_simulate_quiet_prints_nothing_but_writes(wide: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = run80("simulate", "-q", "--plan", str(wide / "plan"), "--profiles", str(wide / "p.jsonl"),
                   "--as-of", AS_OF, "--backend", "python", "--output", str(out), "--report", str(tmp_path / "r.html"))
    assert result.stdout == "" and result.stderr == ""
    assert len(out.read_text().splitlines()) == 200 and (tmp_path / "r.html").exists()


def _options(command: click.Command, path: str) -> list[tuple[str, click.Option]]:
    found = [(path, p) for p in command.params if isinstance(p, click.Option) and not p.hidden]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                found.extend(_options(sub, f"{path} {name}"))
    return found


def test_every_option_of_every_command_has_help_text() -> None:
    options = _options(cli, "treatment")
    assert len(options) > 60  # the walk reaches the subcommands of groups too
    missing = [f"{path} {option.opts[0]}" for path, option in options if not (option.help or "").strip()]
    assert not missing, missing


def test_simulate_quiet_is_quiet_on_a_terminal_too() -> None:
    """On a terminal the progress bars (making sample customers, deciding) would show."""
    terminal = {"COLUMNS": "80", "FORCE_COLOR": "1", "TTY_INTERACTIVE": "1"}
    args = ["simulate", "--sample", "3000", "--as-of", AS_OF, "--backend", "python", "--plan", str(REPO)]
    loud = CliRunner(env=terminal).invoke(cli, args)
    assert loud.exit_code == 0 and "making 3,000 sample customers" in loud.stderr  # the check can fail
    quiet = CliRunner(env=terminal).invoke(cli, [*args, "-q"])
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_progress_leaves_no_empty_lines_where_stderr_is_not_a_terminal() -> None:
    """A transient bar drawn to a pipe or a log left an empty line behind each time."""
    for args in (["decide", "--sample", "3"], ["simulate", "--sample", "300", "--backend", "python"]):
        result = CliRunner().invoke(cli, [*args, "--as-of", AS_OF, "--plan", str(REPO)])
        assert result.exit_code == 0 and "" not in result.stderr.splitlines(), (args, result.stderr)


# Experiments with ids as long as real plans grow them (appendix H): a universal holdout,
# and a rule with a holdout and a challenger.
EXPERIMENT_RULES = RULES.replace(
    "rules:\n", "policy:\n  holdout: {share: 0.1, salt: the-universal-holdout-of-2026}\nrules:\n", 1).replace(
    "channels: [a-channel-with-a-long-name]}\n",
    "channels: [a-channel-with-a-long-name], holdout: 0.2}\n"
    "    challengers:\n      - {id: a-challenger-with-a-long-name-too, share: 0.3, then: {treatment: none}}\n", 1)


@pytest.fixture(scope="module")
def experimenting(wide: Path) -> Path:
    write_plan(wide / "experiments", {"segments/s.yaml": SEGMENTS, "rules/r.yaml": EXPERIMENT_RULES})
    return wide / "experiments"


def test_simulate_shows_experiment_arms_at_80_columns(wide: Path, experimenting: Path, tmp_path: Path) -> None:
    for backend in ("python", "duckdb"):
        result = run80("simulate", "--plan", str(experimenting), "--profiles", str(wide / "p.jsonl"),
                       "--as-of", AS_OF, "--backend", backend, "--report", str(tmp_path / "r.html"))
        assert_readable_at_80(result.stdout)
        text = result.stdout
        assert "Experiment arms" in text and "Arms by rule" in text and "holdouts save" in text
        assert "a-challenger-with-a-long-name-too" in text and "universal_holdout" in text
        for declared in ("10%", "90%", "20%", "30%", "50%"):
            assert f" {declared} " in text
    page = (tmp_path / "r.html").read_text()
    assert 'data-experiment="universal_holdout" data-arm="universal_holdout"' in page
    assert 'data-arm="a-challenger-with-a-long-name-too"' in page and "holdouts save" in page
    plain = run80("simulate", "--plan", str(wide / "plan"), "--profiles", str(wide / "p.jsonl"),
                  "--as-of", AS_OF, "--backend", "python", "--report", str(tmp_path / "plain.html"))
    assert "Experiment arms" not in plain.stdout and "Experiment arms" not in (tmp_path / "plain.html").read_text()


def test_diff_shows_customers_changing_arm(wide: Path, experimenting: Path, tmp_path: Path) -> None:
    from treatment_engine import Engine
    from treatment_engine.profiles import read_jsonl

    changed = wide / "experiments-changed"
    write_plan(changed, {"segments/s.yaml": SEGMENTS,
                         "rules/r.yaml": EXPERIMENT_RULES.replace("share: 0.3", "share: 0.1")})
    args = ["diff", "--base", str(experimenting), "--plan", str(changed), "--profiles", str(wide / "p.jsonl"),
            "--as-of", AS_OF]
    text = run80(*args, "--report", str(tmp_path / "diff.html")).stdout
    assert_readable_at_80(text)
    data = json.loads(run80(*args, "--format", "json").stdout)
    # The oracle: both plans' decisions, compared customer by customer.
    with open(wide / "p.jsonl", "rb") as stream:
        profiles = list(read_jsonl(stream))
    pairs = zip(Engine.load(experimenting).decide_many(profiles, AS_OF), Engine.load(changed).decide_many(profiles, AS_OF),
                strict=True)
    moved = [(a.arm, b.arm) for a, b in pairs if (a.experiment, a.arm) != (b.experiment, b.arm)]
    assert moved and set(moved) == {("a-challenger-with-a-long-name-too", "champion")}
    assert data["arms_changed"] == len(moved) == sum(c["customers"] for c in data["arm_changes"])
    assert data["arm_changes"][0]["from"] == {"experiment": "a-very-long-rule-identifier-that-says-much-number-1",
                                              "arm": "a-challenger-with-a-long-name-too"}
    assert "Arm changes (base -> new)" in text and f"{len(moved)} customers change experiment arm" in text
    assert 'class="arm-changes"' in (tmp_path / "diff.html").read_text()
    same = run80("diff", "--base", str(experimenting), "--plan", str(experimenting), "--profiles",
                 str(wide / "p.jsonl"), "--as-of", AS_OF)
    assert "no differences" in same.stdout and "Arm changes" not in same.stdout


@pytest.mark.parametrize("command", [["simulate"], ["diff", "--base", str(REPO)]])
def test_a_report_named_as_a_folder_is_refused_before_the_run(command: list[str], tmp_path: Path) -> None:
    """As measure's and journeys' --report: a folder is refused when the command starts, not
    after a whole simulation that then cannot be written."""
    result = CliRunner().invoke(cli, [*command, "--plan", str(REPO), "--profiles",
                                      str(REPO / "examples" / "customers.jsonl"), "--report", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "is a directory" in result.stderr and "Decisions by" not in result.stdout
    assert "using plan" not in result.stderr  # refused before the plan was even loaded
