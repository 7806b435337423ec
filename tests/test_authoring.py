"""Editor schema, plan rule tests with coverage, and the init scaffold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.schema import plan_file_schema

from .conftest import CASES, REPO, write_plan

SCHEMA_ERRORS = ("bad-unknown-key", "bad-priority-type")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(plan_file_schema())


def plan_documents(root: Path) -> list[tuple[Path, object]]:
    docs = []
    for path in sorted([*root.glob("rules/**/*.y*ml"), *root.glob("segments/**/*.y*ml")]):
        try:
            docs.append((path, yaml.safe_load(path.read_text()) or {}))
        except yaml.YAMLError:
            continue  # not YAML at all: no schema can speak to it
    return docs


def test_committed_schema_is_the_generated_one() -> None:
    committed = json.loads((REPO / "docs" / "plan-schema.json").read_text())
    assert committed == plan_file_schema(), "run: treatment schema > docs/plan-schema.json"


def test_default_plan_files_point_editors_at_the_schema() -> None:
    for path in [*REPO.glob("rules/*.yaml"), *REPO.glob("segments/*.yaml")]:
        assert path.read_text().startswith("# yaml-language-server: $schema=../docs/plan-schema.json\n"), path


def test_schema_accepts_every_good_plan_file(validator: jsonschema.Draft202012Validator) -> None:
    roots = [REPO] + [c / "plan" for c in sorted(CASES.iterdir()) if (c / "expected.jsonl").exists()]
    checked = 0
    for root in roots:
        for path, document in plan_documents(root):
            errors = list(validator.iter_errors(document))
            assert not errors, f"{path}: {errors[0].message}"
            checked += 1
    assert checked > 40


@pytest.mark.parametrize("case", SCHEMA_ERRORS)
def test_schema_rejects_the_shape_errors_of_the_conformance_suite(validator, case: str) -> None:
    assert any(list(validator.iter_errors(doc)) for _, doc in plan_documents(CASES / case / "plan"))


def test_default_plan_tests_pass_with_full_rule_coverage() -> None:
    result = CliRunner().invoke(cli, ["test", "--plan", str(REPO)])
    assert result.exit_code == 0, result.output
    assert "rule coverage: 30/30 (100%)" in result.output
    assert re.search(r"^33 passed, 0 failed$", result.output, re.M)


def test_a_broken_expectation_fails_with_a_readable_diff(tmp_path: Path) -> None:
    text = (REPO / "tests" / "plan-default.yaml").read_text()
    broken = text.replace('"rule": "porting-out-save", "channels": ["outbound_call", "email"]',
                          '"rule": "porting-out-save", "channels": ["email"]', 1)
    assert broken != text
    for folder in ("rules", "segments"):
        for path in (REPO / folder).glob("*.yaml"):
            write_plan(tmp_path, {f"{folder}/{path.name}": path.read_text()})
    write_plan(tmp_path, {"tests/cases.yaml": broken})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL porting-out-save decides for c000365  (tests/cases.yaml:" in result.output
    assert "channels: expected ['email']" in result.output
    assert "actual   ['outbound_call', 'email']" in result.output
    assert "32 passed, 1 failed" in result.output


def test_bad_test_files_are_located(tmp_path: Path) -> None:
    write_plan(tmp_path, {"rules/r.yaml": "actions: {}\n",
                          "tests/t.yaml": "tests:\n  - name: x\n    profile: {}\n    expect: {rule: a, colour: red}\n"})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path)])
    assert result.exit_code == 2 and "tests/t.yaml:4:" in result.stderr and "colour" in result.stderr


@pytest.mark.parametrize("plan_text, wanted, summary", [
    ("actions: {}\n", ["tests/t.yaml:4:14: bad-test: unknown key 'treatmnt' in 'expect' of a test "
                       "(did you mean 'treatment'?)",
                       "tests/t.yaml:5:51: bad-test: 'treatment' must be 'delight', 'contain' or 'none', "
                       "got 'delite' (tests.1.expect.treatment)"],
     "the plan's tests were not loaded: 2 problems"),
    # A broken plan and broken tests: both, in one run, and said so.
    ("actions: []\n", ["rules/r.yaml:1:1: dict-type", "tests/t.yaml:4:14: bad-test", "tests/t.yaml:5:51: bad-test"],
     "the plan and its tests were not loaded: 3 problems"),
])
def test_mistakes_in_plan_tests_say_the_fix_and_the_file(tmp_path: Path, plan_text: str, wanted: list[str],
                                                         summary: str) -> None:
    """#13 item 15: not "the plan was not loaded" for a typo in a test file."""
    write_plan(tmp_path, {"rules/r.yaml": plan_text,
                          "tests/t.yaml": "tests:\n  - name: x\n    profile: {customer_id: c}\n"
                                          "    expect: {treatmnt: contain}\n"
                                          "  - {name: y, profile: {customer_id: d}, expect: {treatment: delite}}\n"})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path)])
    lines = [line for line in result.stderr.splitlines() if not line.startswith("using plan ")]  # which plan: #13 item 2
    assert result.exit_code == 2 and lines[-1] == summary, result.stderr
    assert all(line.startswith(want) for line, want in zip(lines, wanted, strict=False)), lines
    assert len(lines) == len(wanted) + 1


def test_an_expectation_naming_what_the_plan_does_not_define_is_located(tmp_path: Path) -> None:
    """A test expecting a rule, action or channel the plan does not define can never pass,
    and its failure ("expected 'r2', actual 'default'") would not say why: the name is
    reported where it is written, with the fix, as a test-file problem."""
    write_plan(tmp_path, {
        "rules/r.yaml": "actions: {tips: {kind: contain, cost: 0}}\nchannels: {email: {cost: 0}}\n"
                        "rules:\n  - id: welcome\n    then: {treatment: contain, actions: [tips], channels: [email]}\n",
        "tests/t.yaml": "tests:\n  - name: x\n    profile: {customer_id: c}\n"
                        "    expect: {rule: welcom, actions: [tips, gift], channels: [emial], value_tier: gold}\n"})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path)])
    lines = [line for line in result.stderr.splitlines() if not line.startswith("using plan ")]
    assert result.exit_code == 2, result.output
    assert lines == [
        "tests/t.yaml:4:20: bad-test: unknown rule 'welcom' in test 'x' (did you mean 'welcome'?)",
        "tests/t.yaml:4:44: bad-test: unknown action 'gift' in test 'x' (defined: tips)",
        "tests/t.yaml:4:62: bad-test: unknown channel 'emial' in test 'x' (did you mean 'email'?)",
        "tests/t.yaml:4:82: bad-test: unknown value tier 'gold' in test 'x' (none are defined)",
        "the plan's tests were not loaded: 4 problems"]


def test_an_expected_refusal(tmp_path: Path) -> None:
    write_plan(tmp_path, {"rules/r.yaml": "actions: {}\n", "tests/t.yaml":
                          "tests:\n  - {name: no id, profile: {a: 1}, expect: {error: true}}\n"
                          "  - {name: ok, profile: {customer_id: c}, expect: {treatment: none}}\n"})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path)])
    assert result.exit_code == 0 and "2 passed, 0 failed" in result.output


def test_init_scaffolds_a_plan_that_lints_clean_and_passes(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "plan"
    assert runner.invoke(cli, ["init", str(target)]).exit_code == 0
    assert runner.invoke(cli, ["lint", "--plan", str(target), "--strict"]).exit_code == 0
    tested = runner.invoke(cli, ["test", "--plan", str(target)])
    assert tested.exit_code == 0 and "1 passed, 0 failed" in tested.output
    assert Engine.load(target).plan.counts()["rules"] == 2
    again = runner.invoke(cli, ["init", str(target)])
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_init_suggests_commands_that_run_as_printed(tmp_path: Path) -> None:
    """The 'next:' line is for pasting into a shell: a folder named 'my plan;x' is quoted,
    not split into 'my' and 'plan;x' (the second a command of its own)."""
    import shlex

    target = tmp_path / "my plan;x"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0
    suggested = result.stdout.splitlines()[-1]
    assert shlex.split(suggested) == ["next:", "treatment", "lint", "--plan", str(target), "&&",
                                      "treatment", "test", "--plan", str(target)]


def test_a_test_name_prints_on_its_own_line(tmp_path: Path) -> None:
    """A test's name is the author's text: one holding a newline printed a line of its own,
    which could read as the summary ('1 passed, 0 failed') of a run that failed."""
    write_plan(tmp_path, {"rules/r.yaml": "actions: {}\n", "tests/t.yaml":
                          'tests:\n  - {name: "x\\n1 passed, 0 failed", profile: {customer_id: c},'
                          ' expect: {treatment: delight}}\n'})
    result = CliRunner().invoke(cli, ["test", "--plan", str(tmp_path), "--as-of", "2026-11-01"])
    assert result.exit_code == 1
    assert "FAIL x\\n1 passed, 0 failed  (tests/t.yaml:2:5)" in result.stdout.splitlines()
    assert [line for line in result.stdout.splitlines() if line.endswith("failed")][-1] == "0 passed, 1 failed"
    assert sum(line.startswith("1 passed") for line in result.stdout.splitlines()) == 0


def test_readme_shows_the_current_plan_version() -> None:
    version = Engine.load(REPO).version
    readme = (REPO / "README.md").read_text()
    assert f"valid plan {version}:" in readme and f'"plan_version": "{version}"' in readme
