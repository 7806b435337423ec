"""The decisions repository: decisions recorded, read back and replayed; contact limits
counted by the database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine
from treatment_engine.contacts import NO_LIMITS, Contact, ContactRules, compile_contact_rules, contact_state
from treatment_engine.load import read_plan_dir
from treatment_engine.store import INSERT_COLUMNS, DecisionLog, DecisionRow, unflatten

from .. import plans as plan_strategies
from ..conftest import REPO


def test_decisions_round_trip_and_replay(log: DecisionLog) -> None:
    files = read_plan_dir(REPO)
    engine = Engine.from_texts(files)
    log.decisions.remember_plan(engine.plan, files)
    log.decisions.remember_plan(engine.plan, files)  # a version is stored once
    customer = f"store-{uuid.uuid4()}"
    profile = {"customer_id": customer, "annual_value": 2400, "nps": 4, "open_complaints": 1,
               "first_purchase_date": "2024-01-10", "consent": {"phone": True}, "secret": "x"}
    decision = engine.decide(profile, date(2026, 11, 1))
    [row_id] = log.decisions.record(engine.plan, [(profile, decision)])
    second = engine.decide({**profile, "nps": 10}, date(2026, 11, 2))
    log.decisions.record(engine.plan, [({**profile, "nps": 10}, second)])

    history = log.decisions.history(customer)
    assert [h["as_of"] for h in history] == ["2026-11-02", "2026-11-01"]  # newest first
    row = log.decisions.decision(row_id)
    assert row is not None and row.rule == decision.rule and row.plan_version == engine.version
    stored = json.loads(row.inputs or "{}")
    assert "secret" not in stored and stored["consent"]["phone"] is True
    replayed = Engine.from_texts(log.decisions.plan_files(row.plan_version) or {}).decide(
        {**unflatten(stored), "customer_id": customer}, row.as_of)
    assert (replayed.rule, replayed.channels, replayed.cost) == (decision.rule, decision.channels, decision.cost)


def test_no_inputs_policy_keeps_no_profile_data(tmp_path: Path) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}", inputs="none")
    engine = Engine.load(REPO)
    profile = {"customer_id": "c", "annual_value": 10}
    [row_id] = log.decisions.record(engine.plan, [(profile, engine.decide(profile, date(2026, 11, 1)))])
    row = log.decisions.decision(row_id)
    log.close()
    assert row is not None and row.inputs is None


def test_limits_read_the_window_and_only_the_customers_asked(log: DecisionLog) -> None:
    a, b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    rows = [_history_row(cid, Contact(date(2026, 11, day).toordinal(), "contain", "email"), index)
            for index, (cid, day) in enumerate(((a, 1), (a, 5), (a, 9), (b, 2)))]
    with log.database.engine.begin() as connection:
        connection.execute(DecisionRow.__table__.insert(),  # type: ignore[attr-defined]
                           [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in rows])
    one_a_week = compile_contact_rules({"any": (1, 7)}, None, ("email", "sms"))
    assert one_a_week is not None
    found = log.decisions.limits([a], date(2026, 11, 8), one_a_week)  # days 2..8: the 5th; the 9th is later
    assert found[a].blocked == {"email", "sms"} and "1 contact on any channel" in found[a].reasons["sms"]
    assert b not in found  # not asked
    assert set(log.decisions.limits([a, b], date(2026, 11, 8), one_a_week)) == {a, b}
    assert log.decisions.limits([a, b], date(2026, 11, 16), one_a_week) == {}  # days 10..16: nothing
    two_a_week = compile_contact_rules({"any": (2, 7)}, None, ("email", "sms"))
    assert two_a_week is not None and log.decisions.limits(None, date(2026, 11, 9), two_a_week).keys() >= {a}


CAP_KEYS = ("sms", "email", "any")


@st.composite
def contact_rules(draw: st.DrawFn) -> ContactRules:
    caps = draw(st.dictionaries(st.sampled_from(CAP_KEYS), st.tuples(st.integers(1, 3), st.integers(1, 31)),
                                max_size=3))
    cooldown = draw(st.one_of(st.none(), st.integers(1, 31)))
    rules = compile_contact_rules(caps, cooldown, ("sms", "email", "app"))
    assume(rules is not None)
    return rules  # type: ignore[return-value]


def _history_row(cid: str, contact: Contact, index: int) -> tuple[object, ...]:
    day = date.fromordinal(contact.day)
    return (str(uuid.uuid4()), cid, "v", "r", contact.treatment, "[]", "[]", contact.channel, 0.0,
            day, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index), None, "champion", None, None, None,
            None, None, None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=contact_rules(), data=st.data())
def test_limits_counted_by_the_database_match_contact_state(log: DecisionLog, rules: ContactRules,
                                                            data: st.DataObject) -> None:
    """log.limits (windows counted in SQL) == contact_state over the same contacts."""
    as_of = date(2026, 11, 15)
    run = uuid.uuid4().hex[:8]  # the PostgreSQL log is shared between examples
    ids = [f"{run}-{n}" for n in range(5)]
    histories = data.draw(plan_strategies.histories(ids, as_of))
    rows = [_history_row(cid, contact, index) for index, (cid, contact) in
            enumerate((cid, c) for cid, contacts in histories.items() for c in contacts)]
    if rows:
        with log.database.engine.begin() as connection:
            connection.execute(DecisionRow.__table__.insert(), [dict(zip(INSERT_COLUMNS, row, strict=True))  # type: ignore[attr-defined]
                                                                for row in rows])
    expected = {cid: state for cid, contacts in histories.items()
                if (state := contact_state(rules, contacts, as_of)) is not NO_LIMITS}
    assert log.decisions.limits(ids, as_of, rules) == expected
    # ``before`` sees only what was logged earlier: here, the first three rows.
    earlier = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=3)
    first = [(row[1], Contact(row[9].toordinal(), row[4], row[7])) for row in rows[:3]]
    expected_before = {cid: state for cid in ids
                       if (state := contact_state(rules, [c for k, c in first if k == cid], as_of)) is not NO_LIMITS}
    assert log.decisions.limits(ids, as_of, rules, before=earlier) == expected_before


def test_the_stored_fields_of_at_most_a_few_plan_versions_are_kept(tmp_path: Path) -> None:
    """A watched plan reloads on every edit; the log keeps what it needs for the recent
    versions only, not for every version a long-lived service served."""
    from types import SimpleNamespace

    from treatment_engine.store.decisions import VERSIONS_KEPT

    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    plan = Engine.load(REPO).plan
    for edit in range(200):
        edited = SimpleNamespace(version=f"v{edit}", profile_fields=plan.profile_fields)
        maker = log.decisions.row_maker(edited)  # type: ignore[arg-type]
        assert maker.inputs is not None and len(log.decisions._inputs) <= VERSIONS_KEPT
    assert log.decisions.row_maker(edited).inputs is maker.inputs  # type: ignore[arg-type]  # the live one is kept
    log.close()
