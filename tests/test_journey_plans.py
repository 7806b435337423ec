"""A journey's plan errors: each rule of appendix J refused at its place, path:line:col."""

from __future__ import annotations

import pytest

from treatment_engine import PlanError, plan_from_texts

GOOD = """\
journeys:
  - id: install
    owner: Operations
    within: 30d
    steps:
      - {event: signed_up}
      - {event: booked, optional: true, within: 3d}
      - {event: installed, within: 10d, target: {rate: 0.9, within: 5d}}
    success:
      target: 0.8
      margin: 0.2
      after: {within: 30d, none: [{event: complaint}], require: [{event: survey, if: score >= 8}]}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(PlanError) as raised:
        plan_from_texts({"rules/j.yaml": text})
    return [str(issue) for issue in raised.value.issues]


def test_a_good_journey_loads() -> None:
    (install,) = plan_from_texts({"rules/j.yaml": GOOD}).journeys
    assert [s.name for s in install.steps] == ["signed_up", "booked", "installed"]
    assert install.steps[2].target_within == 5 * 86_400 and install.candidates(0) == (1, 2)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("- {event: signed_up}", "- {event: signed_up, optional: true}",
     "rules/j.yaml:6:28: optional-end: journey 'install': the first step cannot be optional"),
    ("target: {rate: 0.9, within: 5d}}", "optional: true}",
     "rules/j.yaml:8:41: optional-end: journey 'install': the last step cannot be optional"),
    ("- {event: signed_up}", "- {event: signed_up, within: 1d}",
     "rules/j.yaml:6:28: first-step-window: journey 'install': the first step takes no 'within'"),
    ("within: 10d, target", "within: 31d, target",
     "rules/j.yaml:8:28: window-too-long: journey 'install': step 'installed' allows 31d, longer"),
    ("within: 5d}", "within: 11d}",
     "rules/j.yaml:8:61: window-too-long: journey 'install': the target of step 'installed' counts"),
    ("{event: booked,", "{event: signed_up, id: signed_up,",
     "rules/j.yaml:7:28: duplicate-id: journey 'install': step 'signed_up' is named twice"),
    ("if: score >= 8", "if: score >= >= 8",
     "rules/j.yaml:12:95: bad-expression: invalid expression: unexpected '>='"),
    ("optional: true", "optinal: true",
     "rules/j.yaml:7:25: extra-forbidden: unknown key 'optinal' (did you mean 'optional'?)"),
    ("rate: 0.9", "rate: 1.5", "rules/j.yaml:8:50: less-than-equal: 'rate' must be less than or equal to 1"),
    # A duration was refused with pydantic's regular expression ("String should match pattern '^[1-9]...'").
    ("within: 10d, target", "within: 2w, target",
     "rules/j.yaml:8:28: string-pattern-mismatch: 'within' must be a duration, a whole number above 0 and its unit "
     "(s, m, h or d: 90s, 15m, 12h, 30d), got '2w'"),
    ("within: 10d, target", "within: 0d, target", "rules/j.yaml:8:28: string-pattern-mismatch: 'within' must be a "
     "duration, a whole number above 0 and its unit (s, m, h or d: 90s, 15m, 12h, 30d), got '0d'"),
    ("within: 30d\n    steps", "within: 30d\n    order: sideways\n    steps",
     "rules/j.yaml:5:5: literal-error: 'order' must be 'in_order' or 'consecutive', got 'sideways'"),
    ("    owner: Operations\n", "", "rules/j.yaml:2:5: missing: 'owner' is required here"),
    ("none: [{event: complaint}], require: [{event: survey, if: score >= 8}]", "none: []",
     "rules/j.yaml:12:7: value-error: 'after' needs 'none' or 'require'"),
    ("      - {event: booked, optional: true, within: 3d}\n      - {event: installed, within: 10d, "
     "target: {rate: 0.9, within: 5d}}\n", "",
     "rules/j.yaml:5:5: too-short: 'steps': List should have at least 2 items"),
])
def test_each_rule_is_refused_at_its_place(old: str, new: str, expected: str) -> None:
    assert old in GOOD
    found = errors(GOOD.replace(old, new))
    assert any(e.startswith(expected) for e in found), found


def test_margin_needs_a_touchpoint_target() -> None:
    text = GOOD.replace(", target: {rate: 0.9, within: 5d}", "")
    assert errors(text) == ["rules/j.yaml:11:7: no-touchpoint-target: journey 'install': 'margin' compares the "
                            "journey's success rate with its touchpoints' rates, but no step has a 'target' "
                            "(give a step a target: {rate: 0.9})"]


def test_journey_ids_are_unique_across_files() -> None:
    with pytest.raises(PlanError) as raised:
        plan_from_texts({"rules/a.yaml": GOOD, "rules/b.yaml": GOOD})
    assert any("duplicate journey id 'install'" in str(issue) for issue in raised.value.issues)


def test_the_worked_example_of_appendix_j_holds() -> None:
    """The journey, events and table at the end of appendix J, as the reference reads them."""
    import io
    import re

    from treatment_engine.journeys.reference import runs
    from treatment_engine.journeys.source import from_lines
    from treatment_engine.journeys.summary import summarize

    from .conftest import REPO

    appendix = (REPO / "docs" / "plan-format.md").read_text(encoding="utf-8").split("## Appendix J")[1]
    blocks = [body for _, body in re.findall(r"```(\w*)\n(.*?)```", appendix, re.S)]
    plan = plan_from_texts({"rules/j.yaml": blocks[0]})  # the full example loads too
    (install,) = plan_from_texts({"rules/j.yaml": blocks[1]}).journeys
    found = from_lines([install], io.BytesIO(blocks[2].encode()), 1_772_323_200.0)  # 2026-03-01T00:00:00Z
    made = runs(install, found.by_journey["install"], found.as_of)
    assert [(r.customer_id, r.number, r.status, r.success) for r in made] == [
        ("ann", 1, "completed", True), ("bob", 1, "completed", False), ("cat", 1, "abandoned", False),
        ("cat", 2, "in_progress", None)]
    report = summarize(install, made, found.as_of)
    assert (report.success_rate, report.steps[2].touchpoint_rate, report.watermelon) == (1 / 3, 1 / 3, None)
    assert [j.id for j in plan.journeys] == ["installation"]
