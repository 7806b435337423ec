"""The plan JSON Schema and the engine judge the same files alike (#13 item 17).

Both look at one file at a time: the engine's per-file stages (YAML reading, then the
pydantic shape check) against a JSON Schema validator over the same text read as an
editor's YAML 1.2 parser reads it (where ``<<`` is an ordinary key, not a merge).
What a schema cannot say (tiers in descending order, "value_field needs
delight_max_cost_ratio", a moment's pattern rules: checks across keys, made by the
models' own validators) is left out of the comparison, and counted, so that the corpus
keeps holding cases of both kinds.

The plan files also pass yamllint with the configuration the project ships
(``.yamllint``), and so do the plans ``treatment init`` writes.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError
from yamllint import linter as yamllint_linter
from yamllint.config import YamlLintConfig

from treatment_engine.errors import PlanError
from treatment_engine.model import PlanFile
from treatment_engine.schema import plan_file_schema
from treatment_engine.sourcefile import parse_yaml_file

from .conftest import CASES, REPO

RULE = "rules:\n  - id: r\n    priority: {}\n    then: {{treatment: none}}\n"
CRAFTED = {
    # numbers
    "whole float priority": RULE.format("10.0"),
    "fractional priority": RULE.format("10.5"),
    "text priority": RULE.format("'10'"),
    "priority past the range": RULE.format("2000000000"),
    "negative cost": "actions:\n  a: {kind: delight, cost: -1}\n",
    "infinite cost": "channels:\n  e: {cost: .inf}\n",
    "whole float cap": "policy:\n  contact_caps:\n    any: {max: 2.0, per_days: 7}\n",
    "zero cap": "policy:\n  contact_caps:\n    any: {max: 0, per_days: 7}\n",
    "boolean as a number": RULE.format("true"),
    # empty and null
    "empty file": "",
    "comment only": "# nothing yet\n",
    "explicit nulls": "rules:\npolicy:\nchannels:\n",
    "null priority": RULE.format("null"),
    "bare channel": "channels:\n  self_service:\n",
    "empty id": "segments:\n  - id: ''\n",
    # keys
    "unknown top-level key": "rulez: []\n",
    "unknown rule key": "rules:\n  - id: r\n    thne: {treatment: none}\n",
    "missing then": "rules:\n  - id: r\n",
    "bad treatment": "rules:\n  - id: r\n    then: {treatment: contian}\n",
    "ids as a list": "rules:\n  - id: r\n    when: {segment: [a, b]}\n    then: {treatment: none}\n",
    "ids as a number": "rules:\n  - id: r\n    when: {segment: 5}\n    then: {treatment: none}\n",
    "a list at the top": "- a\n- b\n",
    "a scalar at the top": "just text\n",
    # YAML merge keys: not read by the engine, an ordinary (unknown) key to YAML 1.2
    "merge key in a rule": "base: &b {treatment: none}\nrules:\n  - id: r\n    then:\n      <<: *b\n",
    "merge key in a map of ids": "channels:\n  <<: {email: {cost: 1}}\n",
    "merge key in a channel": "channels:\n  email:\n    <<: {cost: 1}\n",
    "anchors and aliases": "actions:\n  a: &x {kind: contain}\n  b: *x\n",
    # moments
    "a moment": "moments:\n  - id: m\n    pattern: [{event: e}]\n    set: {f: 1}\n",
    "bad duration": "moments:\n  - id: m\n    pattern: [{event: e, count: 2, within: 3w}]\n    set: {f: 1}\n",
    "empty set": "moments:\n  - id: m\n    pattern: [{event: e}]\n    set: {}\n",
    # checks across keys: the models' own validators (not comparable)
    "tiers ascending": "value_tiers:\n  field: v\n  tiers: [{id: a, min: 1}, {id: b, min: 5}]\n",
    "half a policy": "policy: {value_field: v}\n",
    "none with channels": "rules:\n  - id: r\n    then: {treatment: none, channels: [e]}\n",
    "absence first": "moments:\n  - id: m\n    pattern: [{not: {event: e}}]\n    set: {f: 1}\n",
}
CROSS_KEY = ("value_error", "out_of_range")  # pydantic error types of the models' own validators


class EditorLoader(yaml.SafeLoader):
    """PyYAML without YAML 1.1's merge keys, as the YAML 1.2 parsers of editors read."""


EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:merge"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def corpus() -> list[tuple[str, str]]:
    files = [(name, text) for name, text in CRAFTED.items()]
    roots = [REPO, *sorted(case / "plan" for case in CASES.iterdir())]
    for root in roots:
        for path in sorted([*root.glob("rules/**/*.y*ml"), *root.glob("segments/**/*.y*ml")]):
            files.append((str(path.relative_to(REPO)), path.read_text(encoding="utf-8")))
    return files


def engine_verdict(text: str) -> str:
    """accept, reject, or cross-key (refused only by a check across keys)."""
    try:
        source = parse_yaml_file("rules/f.yaml", text)
        PlanFile.model_validate(source.data)
    except PlanError:
        return "reject"
    except ValidationError as error:
        return "cross-key" if all(e["type"] in CROSS_KEY for e in error.errors()) else "reject"
    return "accept"


def schema_verdict(validator: jsonschema.Draft202012Validator, text: str) -> str:
    try:
        document = yaml.load(text, Loader=EditorLoader)  # a SafeLoader: builds plain values only
    except yaml.YAMLError:
        return "reject"
    return "accept" if validator.is_valid(document) else "reject"


def test_the_schema_and_the_engine_agree_on_every_file() -> None:
    validator = jsonschema.Draft202012Validator(plan_file_schema())
    verdicts = {name: (engine_verdict(text), schema_verdict(validator, text)) for name, text in corpus()}
    differ = {name: pair for name, pair in verdicts.items() if pair[0] != "cross-key" and pair[0] != pair[1]}
    assert not differ, differ
    kinds = [engine for engine, _ in verdicts.values()]
    assert kinds.count("accept") > 20 and kinds.count("reject") > 20 and kinds.count("cross-key") >= 4
    assert verdicts["whole float priority"] == ("accept", "accept")
    assert verdicts["merge key in a rule"] == ("reject", "reject")
    assert verdicts["empty file"] == ("accept", "accept")


@pytest.mark.parametrize("document, wanted", [
    ({"rules": 5}, "5 is not of type 'array', 'null'"),
    ({"rules": [{"id": "r", "priority": "x", "then": {"treatment": "none"}}]}, "'x' is not of type 'integer', 'null'"),
    ({"policy": {"delight_cooldown_days": "x"}}, "'x' is not of type 'integer', 'null'"),
])
def test_schema_errors_name_the_type_wanted_not_null(document: object, wanted: str) -> None:
    """No `anyOf [X, null]` for a validator to report "is not of type 'null'" against first."""
    validator = jsonschema.Draft202012Validator(plan_file_schema())
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    assert best is not None and best.message == wanted


def test_editor_loader_reads_merge_keys_as_keys() -> None:
    assert yaml.load("a:\n  <<: {b: 1}\n", Loader=EditorLoader) == {"a": {"<<": {"b": 1}}}


def _yamllint_problems(root: Path, config: YamlLintConfig) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.y*ml")):
        relative = path.relative_to(root).as_posix()
        if config.is_file_ignored(relative):
            continue
        problems.extend(f"{relative}:{p.line}:{p.column}: {p.desc} ({p.rule})"
                        for p in yamllint_linter.run(path.read_text(encoding="utf-8"), config, relative))
    return problems


def test_the_bundled_plan_passes_yamllint_with_the_shipped_config() -> None:
    config = YamlLintConfig(file=str(REPO / ".yamllint"))
    plan_files = [*REPO.glob("rules/*.yaml"), *REPO.glob("segments/*.yaml"), REPO / "tests" / "plan-default.yaml"]
    assert len(plan_files) > 10 and not any(config.is_file_ignored(str(p.relative_to(REPO))) for p in plan_files)
    assert _yamllint_problems(REPO, config) == []


def test_init_writes_a_plan_that_passes_yamllint_with_the_same_rules(tmp_path: Path) -> None:
    from treatment_engine.scaffold import write_scaffold

    write_scaffold(tmp_path)
    shipped = yaml.safe_load((REPO / ".yamllint").read_text())
    written = yaml.safe_load((tmp_path / ".yamllint").read_text())
    assert written["rules"] == shipped["rules"] and written["extends"] == shipped["extends"]
    config = YamlLintConfig(file=str(tmp_path / ".yamllint"))
    assert len(list(tmp_path.rglob("*.yaml"))) >= 4 and _yamllint_problems(tmp_path, config) == []


def test_yamllint_finds_what_the_config_forbids(tmp_path: Path) -> None:
    """The checks above can fail: a plan file with a 'yes' and a long line does not pass."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text("policy:\n  flag: yes\n#" + " word" * 30 + "\n")
    config = YamlLintConfig(file=str(REPO / ".yamllint"))
    assert [p.rsplit("(", 1)[1] for p in _yamllint_problems(tmp_path, config)] == ["truthy)", "line-length)"]
