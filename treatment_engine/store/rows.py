"""Decisions as the log's rows and back: ids, the kept profile fields, JSON encoding.

Profiles are not stored whole: with the ``fields`` policy only the fields the plan reads
are kept (enough to replay the decision), with ``none`` nothing is. Kept fields are
bounded (``max_chars`` of JSON, 64 KiB by default): a decision whose fields are larger
keeps only a note of their size (:data:`OVERSIZED`), so a profile with a 10 MB string
cannot make every row of the log 10 MB; such a decision cannot be reproduced.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from ..decision import Decision
from ..expressions.values import lookup
from .tables import DecisionRow

MAX_INPUT_CHARS = 64 * 1024
OVERSIZED = "_oversized_chars"  # the one key of inputs not kept for their size


class Inputs:
    """The part of a profile that the plan reads, kept with each decision so it can be
    replayed: a JSON object shaped like the profile, holding only those fields."""

    def __init__(self, paths: Iterable[tuple[str, ...]], max_chars: int = MAX_INPUT_CHARS) -> None:
        self.max_chars = max_chars
        read = set(paths)
        paths = sorted(read)
        # A field read whole holds whatever is read inside it.
        self.top = tuple(p[0] for p in paths if len(p) == 1)
        self.nested = tuple(p for p in paths if len(p) > 1 and not any(p[:i] in read for i in range(1, len(p))))
        inner: dict[str, set[str]] = {}
        for path in self.nested:
            inner.setdefault(path[0], set()).add(path[1])
        self.allowed = frozenset(self.top) | inner.keys()
        # Two levels at most (the common shape: consent.email): a profile made only of read
        # fields is kept as it is, with one containment check instead of a walk per field.
        self.shallow = (None if any(len(p) > 2 for p in self.nested)
                        else tuple((root, frozenset(names)) for root, names in sorted(inner.items())))

    def json(self, profile: Mapping[str, Any]) -> str:
        kept = self._json(profile)
        if len(kept) > self.max_chars:
            return to_json({OVERSIZED: len(kept)})
        return kept

    def kept(self, profile: Mapping[str, Any]) -> dict[str, Any] | None:
        """The fields the plan reads, as a profile (the moments' owner carries this much of
        an event's profile); None when their JSON is over ``max_chars``."""
        readable = self._read(profile)
        return None if len(to_json(readable)) > self.max_chars else readable

    def _json(self, profile: Mapping[str, Any]) -> str:
        return to_json(self._read(profile))

    def _read(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        readable = profile if isinstance(profile, dict) else dict(profile)
        if self.shallow is not None and readable.keys() <= self.allowed:
            for root, names in self.shallow:
                value = readable.get(root)
                if value is not None and (type(value) is not dict or not value.keys() <= names):
                    break
            else:
                return readable
        kept: dict[str, Any] = {name: v for name in self.top if (v := readable.get(name)) is not None}
        for path in self.nested:
            if (v := lookup(readable, path)) is not None:
                node = kept
                for part in path[:-1]:  # dicts of our own: no prefix of a nested path is kept whole
                    node = node.setdefault(part, {})
                node[path[-1]] = v
        return kept


@dataclass(frozen=True)
class RowMaker:
    """Decisions as decision-log rows (:data:`~.tables.INSERT_COLUMNS`), for one plan and one
    moment: ``inputs`` (None: keep none), ``created_at`` already as the driver takes it."""

    inputs: Inputs | None
    created_at: Any
    dates_as_text: bool  # SQLite: days as ISO text, what its driver would store

    def rows(self, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[tuple[Any, ...]]:
        inputs, now = self.inputs, self.created_at
        days: dict[str, Any] = {}
        lists: dict[tuple[str, ...], str] = {}  # a rule's actions and channels repeat: encode once
        rows: list[tuple[Any, ...]] = []
        pairs = list(pairs)
        for row_id, (profile, decision) in zip(new_ids(len(pairs)), pairs, strict=True):
            day = days.get(decision.as_of)
            if day is None:
                day = days[decision.as_of] = (decision.as_of if self.dates_as_text
                                              else date.fromisoformat(decision.as_of))
            actions, channels = decision.actions, decision.channels
            if (actions_json := lists.get(actions)) is None:
                actions_json = lists[actions] = to_json(list(actions))
            if (channels_json := lists.get(channels)) is None:
                channels_json = lists[channels] = to_json(list(channels))
            rows.append((row_id, decision.customer_id, decision.plan_version, decision.rule,
                         decision.treatment, actions_json, channels_json,
                         channels[0] if channels else None, decision.cost, day, now,
                         inputs.json(profile) if inputs is not None else None,
                         decision.arm, decision.experiment, decision.bucket,
                         to_json(decision.would_have.to_record()) if decision.would_have is not None else None,
                         decision.segment, decision.lifecycle_stage, decision.value_tier))
        return rows


_id_counter = itertools.count()
_id_node = secrets.randbits(54)  # random per process: ids from two processes never meet


def _new_process_node() -> None:
    """A process forked after this import (a pre-forking server, the tests' fork server)
    draws its own random bits: with its parent's, two replicas made the same ids and the
    second insert failed (found in CI, 2026-12-02)."""
    global _id_node, _id_counter
    _id_node, _id_counter = secrets.randbits(54), itertools.count()


os.register_at_fork(after_in_child=_new_process_node)


def new_ids(count: int) -> list[str]:
    """``count`` UUIDv7s (RFC 9562): a millisecond timestamp, then this process's random
    bits and a counter, so ids are unique and grow with time; new rows land at the end of
    the primary-key index instead of at random places in it."""
    # 48 bits time | version 7 | 12 bits counter (high) | variant 10 | 8 bits counter (low)
    # | 54 random bits. Only the counter changes within a call: the rest is formatted once.
    stamp = (time.time_ns() // 1_000_000) & 0xFFFFFFFFFFFF
    head = f"{stamp >> 16:08x}-{stamp & 0xFFFF:04x}-7"
    node_high, tail = _id_node >> 48, f"{_id_node & 0xFFFFFFFFFFFF:012x}"
    ids = []
    for _ in range(count):
        tick = next(_id_counter) & 0xFFFFF  # 20 bits
        ids.append(f"{head}{tick >> 8:03x}-{0x8000 | (tick & 0xFF) << 6 | node_high:04x}-{tail}")
    return ids


def to_json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits), the standard library takes
        return json.dumps(value)


def row_record(row: DecisionRow) -> dict[str, Any]:
    return {"id": row.id, "customer_id": row.customer_id, "plan_version": row.plan_version,
            "rule": row.rule, "treatment": row.treatment, "actions": json.loads(row.actions),
            "channels": json.loads(row.channels), "cost": row.cost, "as_of": row.as_of.isoformat(),
            "created_at": row.created_at.isoformat(), "arm": row.arm,
            **({"experiment": row.experiment, "bucket": row.bucket} if row.experiment is not None else {}),
            **({"would_have": json.loads(row.would_have)} if row.would_have is not None else {}),
            **{name: value for name in ("segment", "lifecycle_stage", "value_tier")
               if (value := getattr(row, name)) is not None}}


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Stored dotted fields back into a nested profile."""
    profile: dict[str, Any] = {}
    for dotted, value in fields.items():
        node = profile
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return profile
