"""Loading and validating plans (spec sections 1 and 8): what loads, and where errors point."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine import Engine, PlanError, plan_from_texts
from treatment_engine.load import LoadBudget, parse_plan_texts, read_plan_dir

from . import plans as plan_strategies
from .conftest import REPO, write_plan

CATALOG = """\
channels:
  email: {cost: 0.02, consent: consent.email}
  self_service:
actions:
  nudge: {kind: contain}
  gift: {kind: delight, cost: 10}
"""


def errors(files: dict[str, str]) -> list[str]:
    with pytest.raises(PlanError) as raised:
        plan_from_texts(files)
    return raised.value.lines()


def test_a_minimal_plan_loads_with_defaults() -> None:
    plan = plan_from_texts({"rules/catalog.yaml": CATALOG})
    assert plan.default.treatment == "none" and plan.default.channels == ()
    assert plan.channels["self_service"].cost == 0 and plan.channels["self_service"].consent is None
    assert plan.action_costs["nudge"] == 0


@pytest.mark.parametrize("text, where, fragment", [
    ("rules:\n  - id: r\n    priority: high\n    then: {treatment: none}\n", "rules/r.yaml:3:5",
     "'priority' must be a whole number"),
    ("rules:\n  - id: r\n    priority: 5.5\n    then: {treatment: none}\n", "rules/r.yaml:3:5",
     "whole number"),
    ("rules:\n  - id: r\n    thne: {treatment: none}\n", "rules/r.yaml:3:5",
     "unknown key 'thne' (did you mean 'then'?)"),
    ("rules:\n  - id: r\n    then: {treatment: contian}\n", "rules/r.yaml:3:12",
     "'treatment' must be 'delight', 'contain' or 'none'"),
    ("rules:\n  - id: r\n    then: {treatment: none, channels: [email]}\n", "rules/r.yaml:3:5",
     "no actions and no channels"),
    ("rules:\n  - id: r\n    then: {treatment: contain, channels: [emial]}\n", "rules/r.yaml:3:43",
     "unknown channel 'emial' in rule 'r' (did you mean 'email'?)"),
    ("rules:\n  - id: r\n    when: {segment: vip}\n    then: {treatment: none}\n",
     "rules/r.yaml:3:21", "unknown segment 'vip'"),
    ("rules:\n  - id: r\n    when:\n      if: age >> 3\n    then: {treatment: none}\n",
     "rules/r.yaml:4:16", "invalid expression: unexpected '>'"),
    ("rulez: []\n", "rules/r.yaml:1:1", "unknown top-level key 'rulez'"),
    ("- just\n- a list\n", "rules/r.yaml:1:1", "must be a mapping"),
    ("rules:\n  - id: r\n    id: s\n    then: {treatment: none}\n", "rules/r.yaml:3:5",
     "the key 'id' is repeated"),
    ("rules:\n  - {id: r, then: {treatment: none}\n", "rules/r.yaml", "invalid YAML"),
    ("actions:\n  x: {cost: 1}\n", "rules/r.yaml:2:3", "'kind' is required"),
    ("actions:\n  x: {kind: delight, cost: -1}\n", "rules/r.yaml:2:22",
     "out-of-range: 'cost' must be a number from 0 to 1,000,000,000, got -1"),
    ("policy: {value_field: v}\n", "rules/r.yaml:1:1", "'value_field' needs 'delight_max_cost_ratio' too"),
    ("policy:\n  contact_caps:\n    smss: {max: 2, per_days: 7}\n", "rules/r.yaml:3:5",
     "unknown channel 'smss' in policy.contact_caps"),
    ("policy:\n  contact_caps:\n    any: {max: 0, per_days: 7}\n", "rules/r.yaml:3:11",
     "'max' must be a whole number from 1 to 1,000,000, got 0"),
    ("policy:\n  delight_cooldown_days: 0\n", "rules/r.yaml:2:3",
     "'delight_cooldown_days' must be a whole number from 1 to 36,500, got 0"),
])
def test_plan_errors_point_at_the_offending_key(text: str, where: str, fragment: str) -> None:
    lines = errors({"rules/catalog.yaml": CATALOG, "rules/r.yaml": text})
    assert any(line.startswith(where) and fragment in line for line in lines), lines


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    lines = errors({
        "rules/catalog.yaml": CATALOG,
        "rules/b.yaml": "rules:\n  - id: b\n    priority: x\n    then: {treatment: none}\n",
        "rules/a.yaml": "rules:\n  - id: a\n    when: {if: 'x =! 1'}\n    then: {treatment: none}\n",
        "segments/s.yaml": "segments:\n  - id: s\n    if: age >\n",
    })
    assert [line.split(":")[0] for line in lines] == ["rules/a.yaml", "rules/b.yaml", "segments/s.yaml"]


def test_a_refused_file_does_not_hide_the_syntax_errors_of_the_others(tmp_path: Path) -> None:
    """A link out of the plan (or a file that is not UTF-8, or too big) is reported with
    the YAML errors of the files that could be read, not alone and they after its fix."""
    plan = write_plan(tmp_path / "plan", {"rules/catalog.yaml": CATALOG, "rules/broken.yaml": "rules: [\n",
                                          "rules/tabs.yaml": "rules:\n\t- id: x\n"})
    (tmp_path / "elsewhere.yaml").write_text("rules: []\n")
    (plan / "rules" / "linked.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(PlanError) as raised:
        Engine.load(plan)
    assert [(i.code, str(i.location)) for i in raised.value.issues] == [
        ("yaml-syntax", "rules/broken.yaml:2:1"), ("symlink-outside", "rules/linked.yaml"),
        ("yaml-syntax", "rules/tabs.yaml:2:1")], raised.value.lines()  # in file order


def test_references_are_checked_beside_other_whole_plan_problems() -> None:
    lines = errors({
        "rules/catalog.yaml": CATALOG,
        "rules/a.yaml": "rules:\n  - id: a\n    then: {treatment: contain, actions: [nope]}\n"
                        "  - id: a\n    then: {treatment: none}\n",
        "segments/s.yaml": "segments:\n  - id: s\n    if: age >\n",
    })
    assert len(lines) == 3, lines
    assert "unknown action 'nope'" in lines[0] and "duplicate rule id 'a'" in lines[1]


def test_unreadable_yaml_values_are_plan_errors() -> None:
    lines = errors({"rules/r.yaml": "rules:\n  - id: r\n    description: 2026-13-01\n"
                                    "    then: {treatment: none}\n"})
    assert lines[0].startswith("rules/r.yaml:3:18: yaml-value") and "quote it" in lines[0]


def test_repeated_ids_and_single_keys_across_files() -> None:
    lines = errors({
        "rules/catalog.yaml": CATALOG + "policy: {value_field: v, delight_max_cost_ratio: 0.1}\n",
        "rules/more.yaml": "channels:\n  email: {}\npolicy: {value_field: w, delight_max_cost_ratio: 1}\n",
        "segments/a.yaml": "segments:\n  - id: s\n",
        "segments/b.yaml": "segments:\n  - id: s\n",
    })
    text = "\n".join(lines)
    assert "rules/more.yaml:2:3: duplicate-id: channel 'email' is defined twice" in text
    assert "rules/more.yaml:3:1: defined-twice: 'policy' may be defined in one file only" in text
    assert "segments/b.yaml:2:5: duplicate-id: duplicate segment id 's'" in text


def test_tiers_must_descend() -> None:
    lines = errors({"segments/t.yaml": "value_tiers:\n  field: v\n  tiers:\n    - {id: a, min: 1}\n"
                                       "    - {id: b, min: 5}\n"})
    assert "descending min" in lines[0] and lines[0].startswith("segments/t.yaml:3:")


def test_explicit_null_means_absent_and_empty_files_are_empty() -> None:
    plan = plan_from_texts({
        "rules/catalog.yaml": CATALOG,
        "rules/empty.yaml": "",
        "rules/comment-only.yaml": "# nothing yet\n",
        "rules/r.yaml": "rules:\n  - id: r\n    priority:\n    when:\n    then: {treatment: contain, "
                        "actions: [nudge], channels: [self_service]}\n",
    })
    assert plan.rules[0].priority == 0 and plan.rules[0].segments is None


def test_files_combine_in_path_order_and_dot_files_are_ignored(tmp_path: Path) -> None:
    write_plan(tmp_path, {
        "rules/catalog.yaml": CATALOG,
        "rules/a/b.yaml": "rules:\n  - id: second\n    then: {treatment: none}\n",
        "rules/a.yaml": "rules:\n  - id: first\n    then: {treatment: none}\n",
        "rules/.hidden.yaml": "this: is not loaded\n",
        "rules/.drafts/x.yaml": "neither: is this\n",
        "rules/notes.txt": "not yaml\n",
        "segments/s.yml": "segments:\n  - id: everyone\n",
    })
    engine = Engine.load(tmp_path)
    assert [r.id for r in engine.plan.rules] == ["first", "second"]
    assert [s.id for s in engine.plan.segments] == ["everyone"]


def test_not_a_plan_directory(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="neither rules/ nor segments/"):
        Engine.load(tmp_path)
    with pytest.raises(PlanError, match="no such plan directory"):
        Engine.load(tmp_path / "missing")
    # A file (TREATMENT_PLAN=rules.yaml, diff --base rules.yaml) is there: it is no folder.
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    with pytest.raises(PlanError, match="is a file, not a plan directory"):
        Engine.load(tmp_path / "rules.yaml")


def test_version_is_a_content_hash() -> None:
    files = {"rules/catalog.yaml": CATALOG}
    assert plan_from_texts(files).version == plan_from_texts(dict(files)).version
    assert plan_from_texts(files).version != plan_from_texts({"rules/catalog.yaml": CATALOG + "\n#"}).version


def test_compiled_plan_is_immutable() -> None:
    plan = plan_from_texts({"rules/catalog.yaml": CATALOG})
    with pytest.raises(AttributeError):
        plan.rules = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.channels["sms"] = plan.channels["email"]  # type: ignore[index]


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                         st.floats(allow_nan=False), st.sampled_from(["contain", "delight", "next", "none", "0.1"]))
# Keys of rules, outcomes and holdouts (a holdout is a union of a bare share and a mapping,
# whose tag pydantic puts in an error's location), and the words their literals take.
yaml_values = st.recursive(yaml_scalars, lambda c: st.one_of(
    st.lists(c, max_size=3),
    st.dictionaries(st.sampled_from(["id", "if", "then", "when", "treatment", "rules", "segments",
                                     "channels", "actions", "cost", "kind", "priority", "holdout", "share",
                                     "control", "salt", "x"]),
                    c, max_size=4)), max_leaves=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_any_yaml_loads_or_raises_only_plan_error(document: object) -> None:
    import yaml
    text = yaml.safe_dump(document)
    try:
        plan_from_texts({"rules/catalog.yaml": CATALOG, "rules/r.yaml": text})
    except PlanError as error:
        assert all(":" in line for line in error.lines())


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_any_text_loads_or_raises_only_plan_error(text: str) -> None:
    with contextlib.suppress(PlanError):
        plan_from_texts({"rules/r.yaml": text})


# -- what one load may read (docs/plan-format.md, appendix E) ----------------------------

def budget_errors(files: dict[str, str], budget: LoadBudget) -> list[str]:
    with pytest.raises(PlanError) as raised:
        parse_plan_texts(files, "<memory>", budget)
    return raised.value.lines()


ALIASED = """\
channels:
  email: &free {cost: 0}
  fax: *free
  telex: *free
"""


def test_aliases_count_what_they_stand_for() -> None:
    plan = plan_from_texts({"rules/catalog.yaml": ALIASED})
    assert plan.channels["telex"].cost == 0
    lines = budget_errors({"rules/catalog.yaml": ALIASED}, LoadBudget(alias_nodes=5))
    assert lines == ["rules/catalog.yaml:4:10: too-many-aliases: aliases in this file stand for more than 5 "
                     "values (write the values out, or use fewer aliases)"]


def test_nesting_and_values_past_the_budget_are_located() -> None:
    deep = "rules:\n  - id: r\n    when: {segment: [[[x]]]}\n"
    assert budget_errors({"rules/r.yaml": deep}, LoadBudget(depth=5))[0].startswith("rules/r.yaml:3:22: too-deep:")
    files = {"rules/a.yaml": "channels: {email: {cost: 1}}\n", "rules/b.yaml": "actions: {gift: {kind: delight}}\n"}
    # 7 values a file (3 mappings, 3 keys, 1 scalar): b.yaml's key 'gift' is the 11th
    lines = budget_errors(files, LoadBudget(nodes=10))
    assert lines[0].startswith("rules/b.yaml:1:11: too-many-values: the plan holds more than 10 values"), lines
    parse_plan_texts(files, "<memory>", LoadBudget(nodes=14))


def test_bytes_and_files_past_the_budget(tmp_path: Path) -> None:
    write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "rules/small.yaml": "rules: []\n"})
    with pytest.raises(PlanError, match=r"rules/catalog.yaml: too-big: the file is larger than 100 bytes"):
        read_plan_dir(tmp_path, LoadBudget(file_bytes=100))
    with pytest.raises(PlanError, match=r"rules/small.yaml: too-big: the plan's files come to more than 145 bytes"):
        read_plan_dir(tmp_path, LoadBudget(plan_bytes=145))
    with pytest.raises(PlanError, match="the plan has more than 1 files"):
        read_plan_dir(tmp_path, LoadBudget(files=1))
    assert budget_errors({"rules/catalog.yaml": CATALOG}, LoadBudget(file_bytes=100)) == [
        "rules/catalog.yaml: too-big: the file is larger than 100 bytes (split it into smaller files)"]


def test_loads_share_no_yaml_state_and_keep_none() -> None:
    import gc
    import threading

    import yaml

    files = read_plan_dir(REPO)
    versions: list[str] = []
    workers = [threading.Thread(target=lambda: versions.append(Engine.from_texts(files).version))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(versions) == 4 and len(set(versions)) == 1
    gc.collect()
    # A constructor shared by every load kept each scalar it ever built (929 more per load
    # of the default plan): none may outlive the load that made it.
    kept = [o for o in gc.get_objects() if isinstance(o, yaml.constructor.BaseConstructor) and o.constructed_objects]
    assert kept == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan_strategies.plans())
def test_the_rule_index_holds_what_each_cell_can_match(files: dict[str, str]) -> None:
    """The index is filled rule by rule; each cell must list the rules a brute-force test
    admits, in evaluation order."""
    import itertools

    from treatment_engine.semantics import admits as can_match

    plan = plan_from_texts(files)
    dimensions = [[None, *sorted(ids)] for ids in (plan.segment_ids, plan.stage_ids, plan.tier_ids)]
    for key in itertools.product(*dimensions):
        assert plan.candidates(key) == tuple(rule for rule in plan.rules if can_match(rule, key))


def test_a_rule_with_five_mistakes_reports_all_five_in_one_run() -> None:
    """Shape errors do not hide the references and expressions of the same rule (#13 item 14)."""
    lines = errors({
        "rules/catalog.yaml": CATALOG,
        "segments/s.yaml": "segments:\n  - id: vip\n    if: nps >= 9\n  - id: rest\n",
        "rules/r.yaml": "rules:\n  - id: first\n    then: {treatment: contain, actions: [nudge]}\n"
                        "  - id: five\n    priority: high\n    colour: red\n"
                        "    when:\n      segment: vipp\n      if: (churn_risk >= 0.8\n"
                        "    then:\n      treatment: contain\n      actions: [nudgee]\n",
    })
    assert [line.split(": ")[0] for line in lines] == [
        "rules/r.yaml:5:5", "rules/r.yaml:6:5", "rules/r.yaml:8:16", "rules/r.yaml:9:29", "rules/r.yaml:12:17"]
    assert "'priority' must be a whole number" in lines[0] and "unknown key 'colour'" in lines[1]
    assert "unknown segment 'vipp'" in lines[2] and "did you mean 'vip'" in lines[2]
    assert "invalid expression" in lines[3] and "unknown action 'nudgee'" in lines[4]


def test_a_word_misspelt_inside_a_holdouts_long_form_is_stood_in_for_beside_the_rest() -> None:
    """A holdout is a bare share or a mapping; pydantic names the form in the error's
    location, where the plan has no such key. The misspelt ``control`` word under it is
    stood in for at the key the author wrote (not the holdout or the rule cut whole), so the
    share out of range beside it, the rule's unknown segment and its unknown action all come
    in the same run."""
    lines = errors({
        "rules/catalog.yaml": CATALOG,
        "segments/s.yaml": "segments:\n  - id: vip\n    if: nps >= 9\n  - id: rest\n",
        "rules/r.yaml": "rules:\n  - id: r\n    when:\n      segment: nosuch\n"
                        "    then:\n      treatment: contain\n      actions: [nudgee]\n"
                        "      holdout: {share: 0.1, control: nxet}\n"
                        "  - id: s\n    then: {treatment: contain, holdout: {share: 7, control: none}}\n",
    })
    assert [":".join(line.split(":")[:4]) for line in lines] == [
        "rules/r.yaml:4:16: unknown-ref", "rules/r.yaml:7:17: unknown-ref", "rules/r.yaml:8:29: literal-error",
        "rules/r.yaml:10:42: out-of-range"], lines
    assert "'control' must be 'next' or 'none', got 'nxet'" in lines[2]


def test_a_required_word_misspelt_does_not_hide_the_rest_of_its_rule() -> None:
    """``treatment: bogus`` was cut, the ``then`` it left without a treatment was cut, and
    so the whole rule: its unknown segment and broken expression showed only after the
    treatment was fixed. The word is stood in for, so all of them come in one run."""
    lines = errors({
        "rules/catalog.yaml": CATALOG,
        "segments/s.yaml": "segments:\n  - id: vip\n    if: nps >= 9\n  - id: rest\n",
        "rules/r.yaml": "rules:\n  - id: r\n    when:\n      segment: nosuch\n      if: 'a >'\n"
                        "    then:\n      treatment: bogus\n      actions: [nudgee]\n",
    })
    assert [":".join(line.split(":")[:4]) for line in lines] == [
        "rules/r.yaml:4:16: unknown-ref", "rules/r.yaml:5:15: bad-expression", "rules/r.yaml:7:7: literal-error",
        "rules/r.yaml:8:17: unknown-ref"]
    assert "unknown action 'nudgee'" in lines[3]


@pytest.mark.parametrize("files, wanted", [
    # An entry cut for its own mistake still defines its id: no "unknown" echo where it is used.
    ({"rules/catalog.yaml": CATALOG.replace("gift: {kind: delight, cost: 10}", "gift: {kind: delight, cost: free}"),
      "rules/r.yaml": "rules:\n  - id: r\n    then: {treatment: delight, actions: [gift]}\n"},
     ["rules/catalog.yaml:6:25: float-type"]),
    ({"rules/catalog.yaml": CATALOG, "segments/s.yaml": "segments:\n  - if: x > 1\n  - id: rest\n",
      "rules/r.yaml": "rules:\n  - id: r\n    when: {segment: [rest, nope]}\n    then: {treatment: none}\n"},
     ["rules/r.yaml:3:28: unknown-ref", "segments/s.yaml:2:5: missing"]),
    # A whole list of definitions unreadable: references wait until it is fixed.
    ({"rules/catalog.yaml": CATALOG, "segments/s.yaml": "segments: {vip: 1}\n",
      "rules/r.yaml": "rules:\n  - id: r\n    when: {segment: vip, if: 'a >'}\n    then: {treatment: none}\n"},
     ["rules/r.yaml:3:34: bad-expression", "segments/s.yaml:1:1: list-type"]),
    # An unknown top-level key defines nothing rules name: references are still checked...
    ({"rules/catalog.yaml": CATALOG + "colour: red\n",
      "rules/r.yaml": "rules:\n  - id: r\n    then: {treatment: contain, actions: [nudg]}\n"},
     ["rules/catalog.yaml:7:1: extra-forbidden", "rules/r.yaml:3:42: unknown-ref"]),
    # ... unless it looks like a misspelt list of definitions.
    ({"rules/catalog.yaml": CATALOG.replace("actions:", "actoins:"),
      "rules/r.yaml": "rules:\n  - id: r\n    then: {treatment: contain, actions: [nudge]}\n"},
     ["rules/catalog.yaml:4:1: extra-forbidden"]),
    # A cut entry keeps later entries at their own lines.
    ({"rules/catalog.yaml": CATALOG,
      "rules/r.yaml": "rules:\n  - id: a\n  - id: b\n    when: {if: 'x >'}\n    then: {treatment: none}\n"},
     ["rules/r.yaml:2:5: missing", "rules/r.yaml:4:20: bad-expression"]),
])
def test_problems_past_a_shape_error_are_located_without_echoes(files: dict[str, str], wanted: list[str]) -> None:
    assert [":".join(line.split(":")[:4]) for line in errors(files)] == wanted
