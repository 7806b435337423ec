"""Which plan a command uses, and that it says so (issue 13, item 2).

The plan directory is looked for upward from the current directory, as git finds
.git; every command names the plan it used (path and version) on standard error, and
the fallback to the bundled demo plan says so in words. Standard output stays data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.plan import bundled_plan_dir, find_plan_dir

from .conftest import CASES, REPO

TELECOM = CASES / "telecom-example"
AS_OF = "2026-11-01"


@pytest.fixture
def my_plan(tmp_path: Path) -> Path:
    """A plan other than the bundled one, with a nested rules folder."""
    plan = tmp_path / "my-plan"
    shutil.copytree(TELECOM / "plan", plan)
    (plan / "rules" / "extra").mkdir()
    return plan


def _outside_any_plan(folder: Path) -> Path:
    if find_plan_dir(folder) is not None:
        pytest.skip(f"a folder above {folder} holds rules/ or segments/")
    return folder


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False, env={"COLUMNS": "200"})


def test_the_plan_is_found_from_any_folder_inside_it(my_plan: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_plan_dir(my_plan / "rules" / "extra") == my_plan
    assert find_plan_dir(my_plan) == my_plan
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    monkeypatch.chdir(my_plan / "rules")
    result = invoke("validate")
    version = Engine.load(my_plan).version
    assert result.exit_code == 0 and result.stdout.startswith(f"valid plan {version}: ")
    assert version != Engine.load(REPO).version  # not the bundled plan
    assert result.stderr == f"using plan {my_plan} (version {version}), found above the current directory\n"
    monkeypatch.chdir(my_plan)
    assert invoke("validate").stderr == f"using plan . (version {version})\n"


def test_the_bundled_plan_is_a_fallback_said_in_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = _outside_any_plan(tmp_path / "empty")
    empty.mkdir()
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    monkeypatch.chdir(empty)
    result = invoke("validate")
    version = Engine.load(bundled_plan_dir()).version
    assert result.exit_code == 0 and result.stdout.startswith(f"valid plan {version}: ")
    assert result.stderr.startswith(f"using the bundled demo plan (version {version}) at {bundled_plan_dir()}: "
                                    f"no plan directory (one holding rules/ or segments/) in {empty} or above it")
    quiet = invoke("decide", "--profiles", "-", "-q", stdin='{"customer_id": "c1"}\n')
    assert "using the bundled demo plan" in quiet.stderr  # a warning: said even with -q


def test_the_variable_and_the_option_name_the_plan(my_plan: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    version = Engine.load(my_plan).version
    monkeypatch.chdir(my_plan.parent)
    assert invoke("validate", "--plan", "my-plan").stderr == f"using plan my-plan (version {version})\n"
    monkeypatch.setenv("TREATMENT_PLAN", str(my_plan))
    assert invoke("validate").stderr == f"using plan my-plan (version {version}), from $TREATMENT_PLAN\n"


def test_decide_keeps_standard_output_for_decisions(my_plan: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    monkeypatch.chdir(my_plan)
    profiles = str(TELECOM / "profiles.jsonl")
    result = invoke("decide", "--profiles", profiles, "--as-of", AS_OF)
    assert [json.loads(line)["customer_id"] for line in result.stdout.splitlines()][:2] == ["c01", "c02"]
    assert result.stderr.startswith(f"using plan . (version {Engine.load(my_plan).version})\n")
    assert "using plan" not in invoke("decide", "--profiles", profiles, "--as-of", AS_OF, "-q").stderr


def test_a_broken_plan_is_named_before_its_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(CASES / "bad-unknown-channel" / "plan", broken)
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    monkeypatch.chdir(broken / "rules")
    result = invoke("validate")
    assert result.exit_code == 2 and result.stdout == ""
    first, second = result.stderr.splitlines()[:2]
    assert first == f"using plan {broken}, found above the current directory"
    assert second.startswith("rules/r.yaml:12:18: unknown-ref: unknown channel 'emial'")


@pytest.mark.parametrize("command", [
    ["lint"], ["test", "--as-of", AS_OF], ["explain", "--profile", '{"customer_id": "c1"}', "--as-of", AS_OF],
    ["simulate", "--profiles", str(TELECOM / "profiles.jsonl"), "--as-of", AS_OF, "--backend", "python"],
    ["diff", "--base", str(TELECOM / "plan"), "--profiles", str(TELECOM / "profiles.jsonl"), "--as-of", AS_OF],
])
def test_every_command_says_which_plan_it_used(command: list[str], my_plan: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (my_plan / "tests").mkdir()
    (my_plan / "tests" / "t.yaml").write_text(
        'tests:\n  - name: anyone\n    profile: {"customer_id": "c1"}\n    expect: {"rule": "default"}\n')
    monkeypatch.delenv("TREATMENT_PLAN", raising=False)
    monkeypatch.chdir(my_plan / "rules" / "extra")
    result = invoke(*command)
    assert result.exit_code in (0, 1), result.output
    expected = f"using plan {my_plan} (version {Engine.load(my_plan).version}), found above the current directory"
    assert expected in result.stderr.splitlines() and expected not in result.stdout
