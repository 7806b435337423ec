"""Decisions as rows: the profile fields kept (what the compiled plan reads) and the ids."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine
from treatment_engine.expressions.values import lookup
from treatment_engine.store import Inputs, new_ids, unflatten

FIELDS_PLAN = {
    "segments/who.yaml": "segments:\n  - {id: north, if: region == \"north\"}\n  - {id: rest}\n"
                         "lifecycle:\n  - {id: new, if: days_since(joined) < 30}\n  - {id: old}\n"
                         "value_tiers:\n  field: spend.annual\n  tiers:\n    - {id: top, min: 100}\n",
    "rules/catalog.yaml": "channels:\n  sms: {cost: 0.1, consent: consent.sms}\n  email: {cost: 0.01}\n"
                          "actions:\n  gift: {kind: delight, cost: 1}\n  note: {kind: contain}\n"
                          "policy: {value_field: margin, delight_max_cost_ratio: 0.1}\n"
                          "default: {treatment: contain, actions: [note], channels: [email]}\n",
    "rules/rules.yaml": "rules:\n  - id: r\n    priority: 1\n    when: {if: segment == \"north\" and vip}\n"
                        "    then: {treatment: delight, actions: [gift], channels: [sms]}\n",
}


def test_a_compiled_plan_names_every_field_its_decisions_read() -> None:
    """What the log keeps to replay a decision: ids, conditions' fields (a rule's segment is
    the resolved one, not a profile field it reads), consent, the value and tier fields."""
    plan = Engine.from_texts(FIELDS_PLAN).plan
    assert plan.profile_fields == (("consent", "sms"), ("customer_id",), ("joined",), ("lifecycle_stage",),
                                   ("margin",), ("region",), ("segment",), ("spend", "annual"),
                                   ("value_tier",), ("vip",))
    kept = Inputs(plan.profile_fields).json({"customer_id": "c", "vip": True, "spend": {"annual": 5, "x": 1},
                                             "secret": 1})
    assert json.loads(kept) == {"customer_id": "c", "vip": True, "spend": {"annual": 5}}


def test_ids_are_time_ordered_uuid7s() -> None:
    before = time.time_ns() // 1_000_000
    ids = new_ids(600) + new_ids(600)  # the counter's low byte wraps within these
    after = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 and str(u) == i for u, i in zip(parsed, ids, strict=True))
    assert len(set(ids)) == len(ids) and ids == sorted(ids)  # unique, and they sort in the order made
    assert all(before <= u.int >> 80 <= after for u in parsed)  # the 48-bit millisecond timestamp


profile_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3),
                           st.dictionaries(st.sampled_from(["email", "sms", "x"]), st.booleans(), max_size=3))


@settings(max_examples=300, deadline=None)
@given(paths=st.lists(st.sampled_from([("a",), ("b",), ("consent", "email"), ("consent", "sms"),
                                       ("deep", "er", "est"), ("deep", "er"), ("c",)]), max_size=6),
       profile=st.dictionaries(st.sampled_from(["a", "b", "c", "consent", "deep", "secret"]), profile_values))
def test_inputs_keep_exactly_the_fields_the_plan_reads(paths: list[tuple[str, ...]], profile: dict[str, object]) -> None:
    """Kept inputs replay the same values at every read path, and hold nothing else."""
    kept = unflatten(json.loads(Inputs(paths).json(profile)))
    read = set(paths)
    for path in read:
        assert lookup(kept, path) == lookup(profile, path)

    def leaves(node: object, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if prefix in read or not isinstance(node, dict):
            yield prefix
            return
        for key, value in node.items():
            yield from leaves(value, (*prefix, key))
    for leaf in leaves(kept, ()):  # every stored value is a read field, or inside one
        assert leaf == () or any(leaf[:len(p)] == p for p in read) or (
            lookup(kept, leaf) in (None, {}) and any(p[:len(leaf)] == leaf for p in read))


def test_a_process_forked_after_import_makes_ids_of_its_own() -> None:
    """Two replicas forked from one process (a pre-forking server; the tests' fork server)
    once made the same ids, and the second insert of each failed."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child writes its ids and leaves at once
        os.write(write, "\n".join(new_ids(3)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as stream:
        theirs = stream.read().split("\n")
    ours = new_ids(3)
    assert len(theirs) == 3 and not set(theirs) & set(ours)
    assert {i.rpartition("-")[2] for i in theirs} != {i.rpartition("-")[2] for i in ours}  # random bits differ
