"""A deliberately plain reading of spec section 6, used as the oracle in property tests.

It shares no code with the engine's evaluators: every rule is written out again from
the spec's text, slowly and obviously, so that a fused fast path in the engine that
bends a rule shows up as a disagreement.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from treatment_engine.expressions import ast

_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_DATETIME = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]"
    r"([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?$"
)


def number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_double(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def parse_date(text: Any) -> date | None:
    if not isinstance(text, str):
        return None
    m = _DATE.match(text) or _DATETIME.match(text)
    if not m:
        return None
    parts = m.groups()
    if len(parts) > 3:
        hh, mm, ss, zone = parts[3], parts[4], parts[5], parts[6]
        if int(hh) > 23 or (mm and int(mm) > 59) or (ss and int(ss) > 59):
            return None
        if zone and zone != "Z":
            digits = zone[1:].replace(":", "")
            if int(digits[:2]) > 23 or (len(digits) > 2 and int(digits[2:]) > 59):
                return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def field(profile: dict, path: tuple[str, ...]) -> Any:
    value: Any = profile
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def eq(a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if number(a) and number(b):
        return as_double(a) == as_double(b)
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if type(a) is type(b) and isinstance(a, (list, dict)):
        return a == b
    return False


def evaluate(node: ast.Expression, profile: dict, as_of: date,
             resolved: dict[str, Any] | None = None) -> Any:
    def ev(n: ast.Expression) -> Any:
        return evaluate(n, profile, as_of, resolved)

    def logic(v: Any) -> bool | None:
        return v if isinstance(v, bool) else None

    if isinstance(node, ast.Literal):
        return node.value
    if isinstance(node, ast.ListLiteral):
        return list(node.items)
    if isinstance(node, ast.Field):
        if resolved is not None and len(node.path) == 1 and node.path[0] in resolved:
            return resolved[node.path[0]]
        return field(profile, node.path)
    if isinstance(node, ast.Call):
        value = ev(node.argument)
        if node.function == "missing":
            return value is None
        parsed = parse_date(value)
        return None if parsed is None else (as_of - parsed).days
    if isinstance(node, ast.Not):
        v = logic(ev(node.operand))
        return None if v is None else not v
    if isinstance(node, ast.Negate):
        v = ev(node.operand)
        return -as_double(v) if number(v) else None
    if isinstance(node, ast.Logical):
        values = [logic(ev(o)) for o in node.operands]
        if node.operator == "and":
            if False in values:
                return False
            return None if None in values else True
        if True in values:
            return True
        return None if None in values else False
    if isinstance(node, ast.Arithmetic):
        a, b = ev(node.left), ev(node.right)
        if not (number(a) and number(b)):
            return None
        x, y = as_double(a), as_double(b)
        if node.operator == "+":
            return x + y
        if node.operator == "-":
            return x - y
        if node.operator == "*":
            return x * y
        return None if y == 0 else x / y
    if isinstance(node, ast.Comparison):
        a, b = ev(node.left), ev(node.right)
        if node.operator == "==":
            return eq(a, b)
        if node.operator == "!=":
            r = eq(a, b)
            return None if r is None else not r
        if number(a) and number(b):
            x, y = as_double(a), as_double(b)
        elif isinstance(a, str) and isinstance(b, str):
            x, y = a, b
        else:
            return None
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[node.operator]
    if isinstance(node, ast.Membership):
        element, container = ev(node.element), ev(node.container)
        if element is None or not isinstance(container, list):
            return None
        found = any(eq(element, item) is True for item in container)
        return (not found) if node.negated else found
    raise TypeError(node)


def decide(plan_files: dict[str, str], profile: Any, as_of: date) -> dict:
    """Spec section 4 from the raw YAML, with none of the engine's compiled structures."""
    import yaml

    from treatment_engine.expressions.parser import parse

    merged: dict[str, Any] = {"segments": [], "lifecycle": [], "rules": [], "channels": {},
                              "actions": {}}
    for path in sorted(plan_files):
        if path.startswith("evidence/"):
            continue  # measured evidence, read by the guard below (appendix K)
        doc = yaml.safe_load(plan_files[path]) or {}
        for key, value in doc.items():
            if key in ("segments", "lifecycle", "rules"):
                merged[key] += value or []
            elif key in ("channels", "actions"):
                merged[key].update(value or {})
            else:
                merged[key] = value
    if not isinstance(profile, dict) or not isinstance(profile.get("customer_id"), str) \
            or not profile["customer_id"]:
        return {"error": True}

    def holds(text: str | None, resolved: dict | None = None) -> bool:
        return text is None or evaluate(parse(text), profile, as_of, resolved) is True

    def first(entries: list, key: str) -> Any:
        if profile.get(key) is not None:
            ids = [e["id"] for e in entries]
            return profile[key] if profile[key] in ids and isinstance(profile[key], str) else KeyError
        return next((e["id"] for e in entries if holds(e.get("if"))), None)

    segment = first(merged["segments"], "segment")
    stage = first(merged["lifecycle"], "lifecycle_stage")
    tiers = merged.get("value_tiers")
    if profile.get("value_tier") is not None:
        ok = tiers and isinstance(profile["value_tier"], str) and \
            profile["value_tier"] in [t["id"] for t in tiers["tiers"]]
        tier = profile["value_tier"] if ok else KeyError
    else:
        tier = None
        value = field(profile, tuple(tiers["field"].split("."))) if tiers else None
        if number(value):
            tier = next((t["id"] for t in tiers["tiers"] if t["min"] <= as_double(value)), None)
    if KeyError in (segment, stage, tier):
        return {"customer_id": profile["customer_id"], "error": True}

    def permitted(channels: list) -> list:
        out = []
        for name in channels:
            consent = (merged["channels"][name] or {}).get("consent")
            if consent is None or field(profile, tuple(consent.split("."))) is True:
                out.append(name)
        return out

    resolved = {"segment": segment, "lifecycle_stage": stage, "value_tier": tier}
    policy = merged.get("policy") or {}

    def matches(rule: dict) -> bool:
        when = rule.get("when") or {}
        for key in ("segment", "lifecycle_stage", "value_tier"):
            allowed = when.get(key)
            if allowed is not None:
                allowed = [allowed] if isinstance(allowed, str) else allowed
                if resolved[key] is None or resolved[key] not in allowed:
                    return False
        return holds(when.get("if"), resolved)

    def evidence_says(rule_id: str, cost: float) -> bool | None:
        """Appendix K as its text says: the cell's estimate, else the rule's, when measured
        on min_customers customers with both arms; does its lower bound cover the cost?"""
        import json

        from scipy import stats

        guard = (policy.get("profitability") or {}).get("evidence")
        entry = json.loads(plan_files[guard["file"]])["rules"].get(rule_id) if guard else None
        cell = "/".join(resolved[key] or "-" for key in ("segment", "lifecycle_stage", "value_tier"))
        for estimate in ((entry or {}).get("cells", {}).get(cell), (entry or {}).get("overall")):
            if estimate and estimate["treated"] and estimate["control"] and \
                    estimate["treated"] + estimate["control"] >= guard.get("min_customers", 1000):
                confidence = guard.get("confidence", 0.9)
                quantile = stats.t.ppf(confidence, estimate["df"]) if "df" in estimate else stats.norm.ppf(confidence)
                # bool(): scipy's quantile makes the comparison numpy's False, which `is False` is not
                return bool(estimate["uplift"] - quantile * estimate["std_error"] >= cost)
        return None

    def channels_if_applies(then: dict, rule_id: str | None = None) -> list | None:
        cost = sum(float(merged["actions"][a].get("cost", 0)) for a in then.get("actions", []))
        says = evidence_says(rule_id, cost) if then["treatment"] == "delight" and rule_id else None
        if says is False:
            return None
        if says is None and then["treatment"] == "delight" and "value_field" in policy:
            value = field(profile, tuple(policy["value_field"].split(".")))
            if not number(value) or not cost <= policy["delight_max_cost_ratio"] * as_double(value):
                return None
        if then["treatment"] == "none":
            return []
        return permitted(then.get("channels", [])) or None

    def first_applicable(rules: list) -> tuple[str, dict, list]:
        for rule in rules:
            if matches(rule) and (given := channels_if_applies(rule["then"], rule["id"])) is not None:
                return rule["id"], rule["then"], given
        default = merged.get("default") or {"treatment": "none"}
        return "default", default, permitted(default.get("channels", [])) if default["treatment"] != "none" else []

    ranked = [rule for _, rule in sorted(enumerate(merged["rules"]), key=lambda p: (-(p[1].get("priority") or 0), p[0]))]
    rule_id, then, channels = first_applicable(ranked)
    arm = "champion"
    held = policy.get("holdout")
    if held and bucket(held.get("salt", "universal_holdout"), profile["customer_id"]) < round(held["share"] * 10_000):
        rule_id, then, channels, arm = "holdout", {"treatment": "none"}, [], "universal_holdout"
    elif rule_id != "default":
        rule = next(r for r in ranked if r["id"] == rule_id)
        holdout = rule["then"].get("holdout")
        holdout = {"share": holdout} if isinstance(holdout, float | int) else holdout
        arms = ([("holdout", holdout["share"])] if holdout else []) + \
            [(c["id"], c["share"]) for c in rule.get("challengers") or []]
        salt = holdout.get("salt", rule_id) if holdout else rule_id
        number_ = bucket(salt, profile["customer_id"])
        low = 0
        for name, share in arms:
            high = low + round(share * 10_000)
            if low <= number_ < high:
                arm = name
            low = high
        if arm == "holdout" and holdout.get("control", "next") == "none":
            then, channels = {"treatment": "none"}, []
        elif arm == "holdout":
            rule_id, then, channels = first_applicable(ranked[ranked.index(rule) + 1:])
        elif arm != "champion":
            challenger = next(c for c in rule["challengers"] if c["id"] == arm)
            if (given := channels_if_applies(challenger["then"])) is not None:
                then, channels = challenger["then"], given
    return {"customer_id": profile["customer_id"], **resolved, "treatment": then["treatment"],
            "rule": rule_id, "actions": list(then.get("actions", [])) if then["treatment"] != "none" else [],
            "channels": channels, "arm": arm}


def bucket(salt: str, customer_id: str) -> int:
    """Appendix H, as its text says: MD5 of salt:id, first 4 bytes big-endian, mod 10,000."""
    import hashlib

    digest = hashlib.md5((salt + ":" + customer_id).encode("utf-8", "surrogatepass")).hexdigest()
    return int(digest[:8], 16) % 10_000
