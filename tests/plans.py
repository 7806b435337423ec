"""Hypothesis strategies for whole plans, shared by the differential tests."""

from __future__ import annotations

import json
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
    when = {key: value for key, value in (
        ("segment", draw(_subset(SEGMENTS))), ("lifecycle_stage", draw(_subset(STAGES))),
        ("value_tier", draw(_subset(TIERS))),
        ("if", draw(st.one_of(st.none(), expressions.map(unparse))))) if value is not None}
    then = draw(outcomes())
    written = {"id": f"r{index}", "priority": draw(st.integers(0, 3)), "when": when, "then": then}
    # Experiments (appendix H), with shares large enough that small batches reach every arm.
    if draw(st.booleans()):
        then["holdout"] = draw(st.one_of(st.sampled_from([0.2, 0.5]), st.fixed_dictionaries(
            {"share": st.sampled_from([0.15, 0.4])}, optional={"control": st.sampled_from(["next", "none"]),
                                                               "salt": st.sampled_from([f"{index}", f"é x{index}", f"s{index}"])})))
    if draw(st.booleans()):
        written["challengers"] = [{"id": f"c{n}", "share": share, "then": draw(outcomes())}
                                  for n, share in enumerate(draw(st.sampled_from([[0.3], [0.2, 0.25], [0.00001]])))]
    return written


@st.composite
def outcomes(draw: st.DrawFn) -> dict:
    treatment = draw(st.sampled_from(["delight", "contain", "none"]))
    then: dict = {"treatment": treatment}
    if treatment != "none":
        then["actions"] = draw(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=2))
        then["channels"] = draw(st.lists(st.sampled_from(sorted(CHANNELS)), min_size=1, max_size=3))
    return then


@st.composite
def histories(draw: st.DrawFn, customer_ids: list[str], as_of: date) -> dict[str, list[Contact]]:
    """Past contacts per customer: days around the windows' edges, some after ``as_of``."""
    contact = st.builds(Contact, day=st.integers(-35, 3).map(lambda d: as_of.toordinal() + d),
                        treatment=st.sampled_from(["delight", "contain", "none"]),
                        channel=st.one_of(st.none(), st.sampled_from(sorted(CHANNELS))))
    return {cid: draw(st.lists(contact, max_size=6)) for cid in customer_ids if draw(st.booleans())}


@st.composite
def rule_evidence(draw: st.DrawFn, rule_ids: list[str]) -> dict:
    """An evidence file (appendix K) for some of the rules: enough customers or not, paying
    back or not, overall and in cells (a part may be "-", unresolved)."""
    estimate = st.fixed_dictionaries({
        "treated": st.sampled_from([0, 40, 90, 500]), "control": st.sampled_from([0, 30, 60]),
        "uplift": st.sampled_from([-5.0, 2.0, 12.0, 50.0]), "std_error": st.sampled_from([0.0, 1.0, 5.0])},
        optional={"df": st.sampled_from([3.0, 200.0])})
    cell = st.tuples(st.sampled_from([*SEGMENTS, "-"]), st.sampled_from([*STAGES, "-"]),
                     st.sampled_from([*TIERS, "-"])).map("/".join)
    rules = {rule_id: draw(st.fixed_dictionaries({}, optional={
        "overall": estimate, "cells": st.dictionaries(cell, estimate, max_size=4)}))
        for rule_id in draw(st.lists(st.sampled_from(rule_ids), unique=True))}
    return {"format": "treatment-evidence/1", "metric": "m", "rules": rules}


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
    if draw(st.booleans()):  # a universal holdout
        policy["holdout"] = {"share": draw(st.sampled_from([0.1, 0.3])), "salt": draw(st.sampled_from(["uh", "ü"]))}
    evidence = draw(rule_evidence([r["id"] for r in rules])) if rules and draw(st.booleans()) else None
    if evidence is not None:
        policy["profitability"] = {"evidence": {"file": "evidence/m.json", "metric": "m", "min_customers": 100,
                                                "confidence": draw(st.sampled_from([0.5, 0.9]))}}
        catalog["metrics"] = [{"id": "m", "event": "payment", "compute": "sum", "field": "amount",
                               "within": "90d", "value": 1}]
    if policy:
        catalog["policy"] = policy
    if draw(st.booleans()):
        catalog["default"] = {"treatment": "contain", "actions": ["nudge"], "channels": ["sms", "letter"]}
    split = draw(st.integers(0, len(rules)))
    return {
        **({"evidence/m.json": json.dumps(evidence)} if evidence is not None else {}),
        "rules/catalog.yaml": yaml.safe_dump(catalog),
        "rules/a.yaml": yaml.safe_dump({"rules": rules[:split]}),
        "rules/z/b.yaml": yaml.safe_dump({"rules": rules[split:]}),
        "segments/who.yaml": yaml.safe_dump({
            "segments": segments, "lifecycle": stages,
            "value_tiers": {"field": "n", "tiers": [{"id": "gold", "min": 100},
                                                    {"id": "silver", "min": 10},
                                                    {"id": "bronze", "min": -5}]}}),
    }


# -- plans with extreme numbers (docs/plan-format.md, appendix E) ---------------------------

WHOLE_EDGES = (0, 1, -1, 2, 10, 11, 36_500, 36_501, 1_000_000, 1_000_001, 10**9, 10**9 + 1, -(10**9),
               -(10**9) - 1, 2**53 - 1, 2**53, 2**63, -(2**63), 10**20, 10**400)
NUMBER_EDGES = (0.5, -0.5, 1e6, 1e6 + 0.5, 1e9, 1e9 + 1, 1e300, -1e300, 1.7976931348623157e308,
                float("inf"), float("-inf"), float("nan"))
DURATIONS = ("1s", "30d", "366d", "367d", "8784h", "8785h", "527040m", "527041m", "31622400s", "31622401s",
             "9" * 20 + "d")
LITERALS = ("0", "1.5", "9" * 308, "1" + "0" * 308, "9" * 309, "9" * 400, "9" * 5000, "0." + "0" * 400 + "1")
whole_numbers = st.one_of(st.sampled_from(WHOLE_EDGES), st.integers(-(2**64), 2**64))
numbers = st.one_of(whole_numbers, st.sampled_from(NUMBER_EDGES), st.floats())


@st.composite
def extreme_plans(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[str, object]]]:
    """A plan of :func:`plans` with numbers replaced by extremes, in range or not, and the
    replacements as (key of appendix E's table, value): the test judges them by the docs."""
    files = draw(plans())
    catalog = yaml.safe_load(files["rules/catalog.yaml"])
    rules = yaml.safe_load(files["rules/a.yaml"])
    who = yaml.safe_load(files["segments/who.yaml"])
    drawn: list[tuple[str, object]] = []

    def maybe(key: str, strategy: st.SearchStrategy, current: object) -> object:
        if draw(st.integers(0, 2)):  # a third of the numbers: a third of the plans stay in range
            return current
        value = draw(strategy)
        drawn.append((key, value))
        return value

    for kind in ("channels", "actions"):
        for entry in catalog[kind].values():
            entry["cost"] = maybe("cost", numbers, entry.get("cost", 0))
    policy = catalog.setdefault("policy", {})
    if "value_field" in policy:
        policy["delight_max_cost_ratio"] = maybe("delight_max_cost_ratio", numbers,
                                                 policy["delight_max_cost_ratio"])
    for cap in policy.get("contact_caps", {}).values():
        cap["max"] = maybe("max", whole_numbers, cap["max"])
        cap["per_days"] = maybe("per_days", whole_numbers, cap["per_days"])
    if "delight_cooldown_days" in policy:
        policy["delight_cooldown_days"] = maybe("delight_cooldown_days", whole_numbers,
                                                policy["delight_cooldown_days"])
    if not policy:
        del catalog["policy"]
    for tier in who["value_tiers"]["tiers"]:
        tier["min"] = maybe("min", numbers, tier["min"])
    who["value_tiers"]["tiers"].sort(key=lambda t: -t["min"] if t["min"] == t["min"] else 0)
    for rule in rules["rules"]:
        rule["priority"] = maybe("priority", whole_numbers, rule["priority"])
    literal = maybe("numbers in if", st.sampled_from(LITERALS), "1")
    rules["rules"].append({"id": "literal", "when": {"if": f"n > {literal}"}, "then": {"treatment": "none"}})
    steps: list[dict] = []
    for index in range(draw(st.integers(1, 3))):
        step: dict = {"event": "e"}
        if draw(st.booleans()):
            step["count"] = maybe("count", st.one_of(st.sampled_from([2, 10, 11, 10**8]), whole_numbers), 2)
        if index or "count" in step:
            step["within"] = maybe("within", st.sampled_from(DURATIONS), "1d")
        steps.append(step)
    drawn.append(("steps", len(steps)))
    drawn.append(("events", sum(s["count"] if type(s.get("count")) is int else 1 for s in steps)))
    catalog["moments"] = [{"id": "m", "pattern": steps,
                           "set": {"moment": "m", "score": maybe("set values", numbers, 1)}}]
    files.update({"rules/catalog.yaml": yaml.safe_dump(catalog), "rules/a.yaml": yaml.safe_dump(rules),
                  "segments/who.yaml": yaml.safe_dump(who)})
    return files, drawn
