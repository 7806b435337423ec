"""A seeded generator of large plans and profiles, and of the same rules for peer engines.

Each generated rule is kept in a neutral form (:class:`GenRule`) from which we write
the plan YAML for our engine and the equivalent rules for the peers. The peers get
the structural constraints and the conditions; only our engine also applies consent,
the profitability policy and the spec's null and type rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import yaml

SEGMENTS = tuple(f"seg{i}" for i in range(8))
STAGES = ("awareness", "acquisition", "consolidation", "maturity", "decline", "exit")
TIERS = ("platinum", "gold", "silver", "bronze")
REGIONS = ("north", "south", "east", "west", "capital")
CHANNELS = {
    "email": {"cost": 0.02, "consent": "consent.email"},
    "sms": {"cost": 0.05, "consent": "consent.sms"},
    "push": {"cost": 0.01, "consent": "consent_push"},
    "outbound_call": {"cost": 4.0, "consent": "consent_phone"},
    "direct_mail": {"cost": 1.2},
    "self_service": {"cost": 0.0},
}
ACTIONS = {
    **{f"delight_{i}": {"kind": "delight", "cost": round(2 + i * 7.5, 2)} for i in range(8)},
    **{f"contain_{i}": {"kind": "contain", "cost": round(i * 0.3, 2)} for i in range(8)},
}
# field -> (kind, low, high)
NUMERIC_FIELDS = {
    "nps": ("int", 0, 10), "churn_risk": ("float", 0.0, 1.0), "annual_value": ("float", 0, 10000),
    "open_complaints": ("int", 0, 5), "age": ("int", 18, 90), "days_overdue": ("int", 0, 90),
}


@dataclass(frozen=True)
class Atom:
    field: str
    op: str  # < <= > >= == in
    value: Any

    def text(self) -> str:
        if self.op == "in":
            return f"{self.field} in [{', '.join(repr(v) for v in self.value)}]"
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class GenRule:
    id: str
    priority: int
    segments: tuple[str, ...] | None
    stages: tuple[str, ...] | None
    tiers: tuple[str, ...] | None
    atoms: tuple[Atom, ...]
    treatment: str
    actions: tuple[str, ...]
    channels: tuple[str, ...]


def generate_rules(count: int, seed: int = 1) -> list[GenRule]:
    rng = random.Random(seed)
    rules = []
    for index in range(count):
        treatment = rng.choices(["delight", "contain", "none"], [4, 5, 1])[0]
        atoms = []
        for field in rng.sample([*NUMERIC_FIELDS, "region"], rng.choice([1, 1, 2])):
            if field == "region":
                atoms.append(Atom("region", "in", tuple(rng.sample(REGIONS, rng.randint(1, 3)))))
                continue
            kind, low, high = NUMERIC_FIELDS[field]
            op = rng.choice(["<", "<=", ">", ">=", "=="] if kind == "int" else ["<", "<=", ">", ">="])
            value: Any = rng.randint(low, high) if kind == "int" else round(rng.uniform(low, high), 2)
            atoms.append(Atom(field, op, value))
        kinds = "delight" if treatment == "delight" else "contain"
        rules.append(GenRule(
            id=f"r{index:04d}-{treatment}",
            priority=rng.randint(0, 100),
            segments=tuple(rng.sample(SEGMENTS, rng.randint(1, 3))) if rng.random() < 0.6 else None,
            stages=tuple(rng.sample(STAGES, rng.randint(1, 3))) if rng.random() < 0.6 else None,
            tiers=tuple(rng.sample(TIERS, rng.randint(1, 2))) if rng.random() < 0.5 else None,
            atoms=tuple(atoms),
            treatment=treatment,
            actions=() if treatment == "none" else tuple(
                rng.sample([a for a in ACTIONS if a.startswith(kinds)], rng.randint(1, 2))),
            channels=() if treatment == "none" else tuple(rng.sample(list(CHANNELS), rng.randint(1, 3))),
        ))
    return rules


def plan_files(rules: list[GenRule], files: int = 5, when: bool = True) -> dict[str, str]:
    """Our plan format: given segment/stage/tier ids, a catalog, a policy and the rules
    (without their ``when`` constraints if ``when`` is False)."""
    catalog = {
        "channels": CHANNELS, "actions": ACTIONS,
        "policy": {"value_field": "annual_value", "delight_max_cost_ratio": 0.02},
        "default": {"treatment": "contain", "actions": ["contain_0"], "channels": ["email", "self_service"]},
    }
    who = {
        "segments": [{"id": s} for s in SEGMENTS],  # given on every profile; the last is a catch-all
        "lifecycle": [{"id": s} for s in STAGES],
        "value_tiers": {"field": "annual_value", "tiers": [
            {"id": "platinum", "min": 5000}, {"id": "gold", "min": 1500},
            {"id": "silver", "min": 300}, {"id": "bronze", "min": 0}]},
    }
    out = {"rules/00-catalog.yaml": yaml.safe_dump(catalog, sort_keys=False),
           "segments/who.yaml": yaml.safe_dump(who, sort_keys=False)}
    per_file = max(1, -(-len(rules) // files))
    for start in range(0, len(rules), per_file):
        chunk = []
        for rule in rules[start:start + per_file]:
            constraints: dict[str, Any] = {}
            if rule.segments:
                constraints["segment"] = list(rule.segments)
            if rule.stages:
                constraints["lifecycle_stage"] = list(rule.stages)
            if rule.tiers:
                constraints["value_tier"] = list(rule.tiers)
            constraints["if"] = " and ".join(atom.text() for atom in rule.atoms)
            then: dict[str, Any] = {"treatment": rule.treatment}
            if rule.treatment != "none":
                then["actions"] = list(rule.actions)
                then["channels"] = list(rule.channels)
            written: dict[str, Any] = {"id": rule.id, "priority": rule.priority}
            if when:
                written["when"] = constraints
            chunk.append({**written, "then": then})
        out[f"rules/{10 + start // per_file:02d}-rules.yaml"] = yaml.safe_dump({"rules": chunk}, sort_keys=False)
    return out


def generate_profiles(count: int, seed: int = 2) -> list[dict[str, Any]]:
    """Profiles that give segment, stage and tier, with ~3% nulls in the condition fields."""
    rng = random.Random(seed)
    profiles = []
    for index in range(count):
        profile: dict[str, Any] = {
            "customer_id": f"c{index:07d}",
            "segment": rng.choice(SEGMENTS), "lifecycle_stage": rng.choice(STAGES),
            "value_tier": rng.choice(TIERS), "region": rng.choice(REGIONS),
            "consent": {"email": rng.random() < 0.8, "sms": rng.random() < 0.6},
            "consent_push": rng.random() < 0.5, "consent_phone": rng.random() < 0.4,
        }
        for field, (kind, low, high) in NUMERIC_FIELDS.items():
            if rng.random() < 0.03:
                profile[field] = None
            else:
                profile[field] = rng.randint(low, high) if kind == "int" else round(rng.uniform(low, high), 2)
        profiles.append(profile)
    return profiles
