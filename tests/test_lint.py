"""treatment lint: each check fires on a plan with the mistake and stays quiet without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from treatment_engine.cli import cli
from treatment_engine.expressions.parser import parse
from treatment_engine.lint import lint_plan
from treatment_engine.lint.logic import disjoint, implies

from .conftest import CASES, REPO, write_plan

CATALOG = """\
channels:
  email: {cost: 0.02, consent: consent.email}
  letter: {cost: 1}
actions:
  gift: {kind: delight, cost: 30}
  tips: {kind: contain}
default: {treatment: contain, actions: [tips], channels: [letter]}
"""
WHO = """\
segments:
  - {id: young, if: age < 30}
  - {id: rest}
lifecycle:
  - {id: new, if: tenure < 30}
  - {id: settled}
value_tiers:
  field: value
  tiers: [{id: high, min: 1000}, {id: low, min: 0}]
"""
COVER_ALL = """\
  - id: catch-all
    priority: 0
    when: {if: score > 5}
    then: {treatment: contain, actions: [tips], channels: [letter]}
"""


def codes(tmp_path: Path, rules: str, catalog: str = CATALOG, who: str = WHO, extra: dict | None = None) -> list[str]:
    write_plan(tmp_path, {"rules/catalog.yaml": catalog, "segments/who.yaml": who,
                          "rules/rules.yaml": "rules:\n" + rules + COVER_ALL, **(extra or {})})
    report = lint_plan(tmp_path)
    return [f"{f.severity}:{f.code}" for f in report.findings]


def rule(rule_id: str, priority: int, when: str, then: str = "{treatment: contain, actions: [tips], channels: [letter]}") -> str:
    return f"  - id: {rule_id}\n    priority: {priority}\n    when: {when}\n    then: {then}\n"


def test_the_default_plan_and_the_scaffold_lint_clean(tmp_path: Path) -> None:
    report = lint_plan(REPO)
    assert report.count("error") == 0 and report.count("warning") == 0, [str(f) for f in report.findings]
    assert report.exit_code(strict=True) == 0
    from treatment_engine.scaffold import write_scaffold
    write_scaffold(tmp_path / "new")
    scaffold = lint_plan(tmp_path / "new")
    assert scaffold.count("warning") == 0 and scaffold.exit_code(strict=True) == 0


def test_tp001_gaps(tmp_path: Path) -> None:
    found = lint_plan(write_plan(tmp_path / "a", {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
        "rules/r.yaml": "rules:\n" + rule("young-only", 1, "{segment: young}")}))
    gaps = [f for f in found.findings if f.code == "TP001"]
    assert gaps and "segment rest" in gaps[0].message
    assert "warning:TP001" not in codes(tmp_path / "b", rule("young-only", 1, "{segment: young}"))


@pytest.mark.parametrize("earlier, later, expected", [
    ("{segment: [young, rest]}", "{segment: young, if: score > 3}", "warning:TP002"),
    ("{if: score > 3}", "{if: score > 5 and age < 3}", "warning:TP002"),
    ("{if: score > 3 or age < 2}", "{if: score > 5 or age < 1}", "info:TP002"),
])
def test_tp002_shadowed(tmp_path: Path, earlier: str, later: str, expected: str) -> None:
    assert expected in codes(tmp_path, rule("first", 9, earlier) + rule("second", 1, later))


@pytest.mark.parametrize("earlier, later", [
    ("{segment: young}", "{segment: [young, rest]}"),   # the later rule matches more
    ("{if: score > 5}", "{if: score > 3}"),
    ("{if: vip}", "{if: score > 3}"),                     # a field the later rule leaves free
])
def test_tp002_not_shadowed(tmp_path: Path, earlier: str, later: str) -> None:
    codes(tmp_path, rule("first", 9, earlier) + rule("second", 1, later))
    assert not [f for f in lint_plan(tmp_path).findings if f.code == "TP002" and f.message.startswith("rule 'second'")]


def test_tp002_not_when_the_earlier_rule_can_skip(tmp_path: Path) -> None:
    email_only = "{treatment: contain, actions: [tips], channels: [email]}"
    assert not any(c.endswith("TP002") for c in codes(
        tmp_path, rule("first", 9, "{segment: young}", email_only) + rule("second", 1, "{segment: young}")))


def test_tp003_ties(tmp_path: Path) -> None:
    gift = "{treatment: delight, actions: [gift], channels: [letter]}"
    assert "warning:TP003" in codes(tmp_path / "a", rule("a", 5, "{if: score > 1}") + rule("b", 5, "{if: age > 1}", gift))
    # disjoint conditions, or the same outcome, are no tie
    assert "warning:TP003" not in codes(tmp_path / "b", rule("a", 5, "{if: score > 5}") + rule("b", 5, "{if: score < 2}", gift))
    assert "warning:TP003" not in codes(tmp_path / "c", rule("a", 5, "{if: score > 1}") + rule("b", 5, "{if: age > 1}"))


def test_tp004_never_profitable(tmp_path: Path) -> None:
    policy = CATALOG + "policy: {value_field: value, delight_max_cost_ratio: 0.01}\n"
    gift = "{treatment: delight, actions: [gift], channels: [letter]}"
    assert "warning:TP004" in codes(tmp_path / "a", rule("a", 5, "{value_tier: low}", gift), catalog=policy)
    assert "warning:TP004" not in codes(tmp_path / "b", rule("a", 5, "{value_tier: high}", gift), catalog=policy)


def test_tp005_no_reachable_channel(tmp_path: Path) -> None:
    email_only = "{treatment: contain, actions: [tips], channels: [email]}"
    fields = WHO + "fields: {age: number, tenure: number, value: number, score: number}\n"
    assert "warning:TP005" in codes(tmp_path / "a", rule("a", 5, "{}", email_only), who=fields)
    assert "warning:TP005" not in codes(tmp_path / "b", rule("a", 5, "{}", email_only),
                                        who=fields.replace("score: number}", "score: number, consent: object}"))


def test_tp006_kind_mismatch(tmp_path: Path) -> None:
    assert "warning:TP006" in codes(tmp_path, rule("a", 5, "{}", "{treatment: contain, actions: [gift], channels: [letter]}"))


def test_tp007_unused(tmp_path: Path) -> None:
    found = codes(tmp_path, rule("a", 5, "{segment: young, lifecycle_stage: new, value_tier: high}"),
                  catalog=CATALOG.replace("  letter: {cost: 1}\n", "  letter: {cost: 1}\n  fax: {}\n"))
    assert found.count("warning:TP007") == 3  # channels fax and email, action gift
    assert "info:TP007" in found              # segment rest, stage settled, tier low


def test_tp008_after_catch_all(tmp_path: Path) -> None:
    who = WHO.replace("  - {id: rest}\n", "  - {id: rest}\n  - {id: late, if: age > 90}\n")
    assert "warning:TP008" in codes(tmp_path / "a", "", who=who)
    assert "warning:TP008" not in codes(tmp_path / "b", "")


def test_tp009_and_tp010_with_declared_fields(tmp_path: Path) -> None:
    fields = WHO + "fields: {age: number, tenure: number, value: number, score: number, consent: object, joined: date}\n"
    found = lint_plan(write_plan(tmp_path, {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": fields,
        "rules/r.yaml": "rules:\n" + rule("a", 5, "{if: scroe > 1}") + rule("b", 4, "{if: age == 'old'}")
        + rule("c", 3, "{if: days_since(age) > 3}") + COVER_ALL}))
    messages = {f.code: f for f in found.findings}
    assert "did you mean 'score'?" in (messages["TP009"].hint or "")
    assert sum(f.code == "TP010" for f in found.findings) == 2
    assert not any(f.code in ("TP009", "TP010") for f in lint_plan(write_plan(tmp_path / "ok", {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": fields,
        "rules/r.yaml": "rules:\n" + rule("a", 5, "{if: score > 1 and days_since(joined) > 3}") + COVER_ALL})).findings)


def test_a_broken_plan_is_an_error() -> None:
    report = lint_plan(CASES / "bad-unknown-key" / "plan")
    assert report.exit_code(strict=False) == 2 and report.findings[0].code == "TP000"


def test_logic_is_sound_on_examples() -> None:
    assert implies(parse("x > 5 and y == 'a'"), parse("x >= 5")) is True
    assert implies(parse("x > 5"), parse("x > 5 and y > 1")) is False
    assert implies(parse("x in ['a', 'b']"), parse("x in ['a', 'b', 'c']")) is True
    assert implies(parse("x in ['a', 'z']"), parse("x in ['a', 'b']")) is False
    assert disjoint(parse("x < 3"), parse("x >= 3")) and not disjoint(parse("x <= 3"), parse("x >= 3"))
    assert disjoint(parse("x == 'a'"), parse("x > 3"))


def test_cli_formats_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
                          "rules/r.yaml": "rules:\n" + rule("a", 5, "{}", "{treatment: contain, actions: [gift], channels: [letter]}")})
    text = runner.invoke(cli, ["lint", "--plan", str(tmp_path)])
    assert text.exit_code == 0 and "warning[TP006 action-kind-mismatch]" in text.output
    assert runner.invoke(cli, ["lint", "--plan", str(tmp_path), "--strict"]).exit_code == 1
    data = json.loads(runner.invoke(cli, ["lint", "--plan", str(tmp_path), "--format", "json"]).stdout)
    assert {f["code"] for f in data["findings"]} >= {"TP006"}
    sarif = json.loads(runner.invoke(cli, ["lint", "--plan", str(tmp_path), "--format", "sarif"]).stdout)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and run["tool"]["driver"]["rules"][0]["id"] == "TP000"
    result = next(r for r in run["results"] if r["ruleId"] == "TP006")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("rules/r.yaml") and location["region"]["startLine"] == 2
    assert runner.invoke(cli, ["lint", "--plan", str(CASES / "bad-unknown-key" / "plan")]).exit_code == 2
