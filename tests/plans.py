"""Hypothesis strategies for whole plans, shared by the differential tests."""

from __future__ import annotations

from datetime import date

import yaml
from hypothesis import strategies as st

from treatment_engine.contacts import Contact
from treatment_engine.expressions.unparse import unparse

from .strategies import expressions

SEGMENTS = ("s0", "s1", "s2")
STAGES = ("acquisition", "maturity", "decline")
TIERS = ("gold", "silver", "bronze")
CHANNELS = {"email": {"cost": 0.5, "consent": "consent.email"}, "sms": {"cost": 1, "consent": "sms_ok"},
            "letter": {"cost": 2.0}}
ACTIONS = {"gift": {"kind": "delight", "cost": 10}, "call": {"kind": "delight", "cost": 3.5},
           "nudge": {"kind": "contain", "cost": 0}}


def _subset(options: tuple[str, ...]) -> st.SearchStrategy:
    return st.one_of(st.none(), st.sampled_from(options),
                     st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True))


@st.composite
def rule(draw: st.DrawFn, index: int) -> dict:
    treatment = draw(st.sampled_from(["delight", "contain", "none"]))
    when = {key: value for key, value in (
        ("segment", draw(_subset(SEGMENTS))), ("lifecycle_stage", draw(_subset(STAGES))),
        ("value_tier", draw(_subset(TIERS))),
        ("if", draw(st.one_of(st.none(), expressions.map(unparse))))) if value is not None}
    then: dict = {"treatment": treatment}
    if treatment != "none":
        then["actions"] = draw(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=2))
        then["channels"] = draw(st.lists(st.sampled_from(sorted(CHANNELS)), min_size=1, max_size=3))
    return {"id": f"r{index}", "priority": draw(st.integers(0, 3)), "when": when, "then": then}


@st.composite
def histories(draw: st.DrawFn, customer_ids: list[str], as_of: date) -> dict[str, list[Contact]]:
    """Past contacts per customer: days around the windows' edges, some after ``as_of``."""
    contact = st.builds(Contact, day=st.integers(-35, 3).map(lambda d: as_of.toordinal() + d),
                        treatment=st.sampled_from(["delight", "contain", "none"]),
                        channel=st.one_of(st.none(), st.sampled_from(sorted(CHANNELS))))
    return {cid: draw(st.lists(contact, max_size=6)) for cid in customer_ids if draw(st.booleans())}


@st.composite
def plans(draw: st.DrawFn) -> dict[str, str]:
    """{relative path: YAML text} for a valid plan over the fields of strategies.profiles."""
    conditions = st.one_of(st.none(), expressions.map(unparse))
    segments = [{"id": s, "if": draw(conditions)} for s in SEGMENTS]
    stages = [{"id": s, "if": draw(conditions)} for s in STAGES]
    count = draw(st.integers(0, 6))
    rules = [draw(rule(i)) for i in range(count)]
    catalog: dict = {"channels": CHANNELS, "actions": ACTIONS}
    policy: dict = {}
    if draw(st.booleans()):
        policy = {"value_field": draw(st.sampled_from(["n", "obj.x"])),
                  "delight_max_cost_ratio": draw(st.sampled_from([0.01, 0.5, 2]))}
    if draw(st.booleans()):  # contact limits, which only a history can trigger
        caps = draw(st.dictionaries(st.sampled_from([*sorted(CHANNELS), "any"]),
                                    st.fixed_dictionaries({"max": st.integers(1, 3),
                                                           "per_days": st.integers(1, 30)}),
                                    max_size=3))
        if caps:
            policy["contact_caps"] = caps
        if draw(st.booleans()):
            policy["delight_cooldown_days"] = draw(st.integers(1, 30))
    if policy:
        catalog["policy"] = policy
    if draw(st.booleans()):
        catalog["default"] = {"treatment": "contain", "actions": ["nudge"], "channels": ["sms", "letter"]}
    split = draw(st.integers(0, len(rules)))
    return {
        "rules/catalog.yaml": yaml.safe_dump(catalog),
        "rules/a.yaml": yaml.safe_dump({"rules": rules[:split]}),
        "rules/z/b.yaml": yaml.safe_dump({"rules": rules[split:]}),
        "segments/who.yaml": yaml.safe_dump({
            "segments": segments, "lifecycle": stages,
            "value_tiers": {"field": "n", "tiers": [{"id": "gold", "min": 100},
                                                    {"id": "silver", "min": 10},
                                                    {"id": "bronze", "min": -5}]}}),
    }
