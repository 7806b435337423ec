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


def test_tp010_a_number_expression_compared_with_a_string_without_declared_fields(tmp_path: Path) -> None:
    """`days_since(...) <= "60"` is null for every customer (a number never orders against a
    string), so the rule never decides: found without `fields:`, as days_since() and
    arithmetic give numbers whatever the profile holds."""
    report = lint_plan(write_plan(tmp_path, {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
        "rules/r.yaml": "rules:\n" + rule("a", 5, "{if: days_since(joined) <= '60'}")
        + rule("b", 4, "{if: value * 2 == true}") + rule("c", 3, "{if: -age != 'x'}")
        + rule("d", 2, "{if: days_since(joined) <= 60 and value + 1 > 3}") + COVER_ALL}))
    found = sorted((str(f.location), f.message) for f in report.findings if f.code == "TP010")
    assert found == [
        ("rules/r.yaml:12:16", '-age is a number, so comparing it with the string "x" (!=) is always true'),
        ("rules/r.yaml:4:16", 'days_since(joined) is a number, so comparing it with the string "60" (<=) is never true'),
        ("rules/r.yaml:8:16", "value * 2 is a number, so comparing it with the boolean true (==) is never true"),
    ], found


def test_tp009_and_tp010_point_at_the_field_in_the_expression(tmp_path: Path) -> None:
    """#13 item 16: the column of the field (or comparison), not the rule's `- id` line."""
    fields = WHO + "fields: {age: number, tenure: number, value: number, score: number, consent: object}\n"
    report = lint_plan(write_plan(tmp_path, {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": fields,
        "rules/r.yaml": "rules:\n" + rule("a", 5, "{if: age > 1 and scroe > 1}")
        + "  - id: b\n    priority: 4\n    when:\n      if: >-\n        age > 2 and\n"
          "        scroe > 2\n    then: {treatment: none}\n"
        + rule("c", 3, "{if: score > 3 or age == 'old'}") + COVER_ALL}))
    found = sorted((f.code, str(f.location)) for f in report.findings if f.code in ("TP009", "TP010"))
    # `when: {if: age > 1 and scroe > 1}`: the text starts at column 16, 'scroe' is its 13th character;
    # a folded expression points at its start (line 9 of the file), as validate's errors do.
    assert found == [("TP009", "rules/r.yaml:4:28"), ("TP009", "rules/r.yaml:9:11"),
                     ("TP010", "rules/r.yaml:15:29")], found


@pytest.mark.parametrize("condition, fields, wanted", [
    ("consent.emial", "", ["TP009 rules/r.yaml:4:16 did you mean 'consent.email'?"]),
    # Declaring consent as an object does not make every name under it a channel's consent.
    ("consent.emial == true", "fields: {consent: object, age: number, tenure: number, value: number, score: number}\n",
     ["TP009 rules/r.yaml:4:16 did you mean 'consent.email'?"]),
    ("consent.email and not consent.fax", "fields: {consent.fax: boolean, consent: object, age: number, "
     "tenure: number, value: number, score: number}\n", []),
    ("consent.email", "", []),
])
def test_tp009_consent_names_are_checked_against_the_channels(tmp_path: Path, condition: str, fields: str,
                                                                wanted: list[str]) -> None:
    report = lint_plan(write_plan(tmp_path, {
        "rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO + fields,
        "rules/r.yaml": "rules:\n" + rule("a", 5, f"{{if: {condition}}}") + COVER_ALL}))
    found = [f"{f.code} {f.location} {f.hint}" for f in report.findings if f.code == "TP009"]
    assert found == wanted


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


def _sarif_locations(plan: Path, cwd: Path) -> tuple[Path, list[dict]]:
    from treatment_engine.lint.output import as_sarif

    run = json.loads(as_sarif(lint_plan(plan), plan, cwd=cwd))["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    return Path(base.removeprefix("file://")), [r["locations"][0]["physicalLocation"] for r in run["results"]]


def test_sarif_paths_are_relative_to_the_repository_root(tmp_path: Path) -> None:
    """#13 item 18: from a subfolder of the repository, the path is still the file's own."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write_plan(repo / "plans" / "p", {"rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
                                      "rules/r.yaml": "rules:\n" + rule("a", 5, "{}", "{treatment: contain, "
                                                                                      "actions: [gift], channels: [letter]}")})
    (repo / "docs").mkdir()
    root, locations = _sarif_locations(repo / "plans" / "p", cwd=repo / "docs")
    assert root == repo.resolve()
    uris = {loc["artifactLocation"]["uri"] for loc in locations}
    assert "plans/p/rules/r.yaml" in uris and all(loc["artifactLocation"]["uriBaseId"] == "%SRCROOT%" for loc in locations)
    assert all((root / uri).exists() for uri in uris), uris


def test_sarif_relative_paths_are_uri_references(tmp_path: Path) -> None:
    """An artifact's ``uri`` is a URI reference (SARIF 3.10.2, RFC 3986), resolved against
    %SRCROOT%: a folder named "p #1 ü" is percent-encoded, or "#" starts a fragment and a
    consumer opens "p " (the space and the "ü" are not allowed in a URI either)."""
    from urllib.parse import unquote, urljoin, urlsplit

    from treatment_engine.lint.output import as_sarif

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    plan = write_plan(repo / "plans" / "p #1 ü%", {"rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
                                                  "rules/r.yaml": "rules:\n" + rule("a", 5, "{}")})
    run = json.loads(as_sarif(lint_plan(plan), plan, cwd=repo))["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]]
    assert uris
    for uri in uris:
        resolved = urlsplit(urljoin(base, uri))
        assert resolved.fragment == "" and " " not in uri and uri.isascii(), uri
        assert Path(unquote(resolved.path)).is_file(), uri


def test_sarif_paths_outside_the_repository_are_absolute_uris(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    plan = write_plan(tmp_path / "elsewhere", {"rules/catalog.yaml": CATALOG, "segments/who.yaml": WHO,
                                               "rules/r.yaml": "rules:\n" + rule("a", 5, "{}")})
    _, locations = _sarif_locations(plan, cwd=tmp_path / "repo")
    uris = {loc["artifactLocation"]["uri"] for loc in locations}
    assert uris and all(uri.startswith("file:///") and "uriBaseId" not in loc["artifactLocation"]
                        for uri, loc in zip(uris, locations, strict=False))
    assert (plan / "rules" / "catalog.yaml").resolve().as_uri() in uris


def test_an_empty_plan_names_its_folder_in_sarif_not_a_made_up_path(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "empty", {"rules/empty.yaml": ""})
    _, locations = _sarif_locations(plan, cwd=tmp_path)
    assert locations == [{"artifactLocation": {"uri": "empty/", "uriBaseId": "%SRCROOT%"}}]


def test_a_broken_plan_and_a_broken_test_file_are_reported_together(tmp_path: Path) -> None:
    report = lint_plan(write_plan(tmp_path, {
        "rules/r.yaml": "actions: []\n",
        "tests/t.yaml": "tests:\n  - {name: x, profile: {customer_id: c}, expect: {treatmnt: none}}\n"}))
    assert [(f.code, str(f.location)) for f in report.findings] == [("TP000", "rules/r.yaml:1:1"),
                                                                    ("TP000", "tests/t.yaml:2:51")]
    assert report.findings[1].hint == "did you mean 'treatment'?"
