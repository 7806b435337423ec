"""The decision log on SQLite and on a real PostgreSQL ($TREATMENT_TEST_PG_URL, set by .ci/run)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine
from treatment_engine.contacts import NO_LIMITS, Contact, ContactRules, compile_contact_rules, contact_state
from treatment_engine.expressions.values import lookup
from treatment_engine.load import read_plan_dir
from treatment_engine.store import INSERT_COLUMNS, DecisionLog, DecisionRow, Inputs, new_ids, unflatten

from . import plans as plan_strategies
from .conftest import REPO

PG_URL = os.environ.get("TREATMENT_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    opened = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else str(PG_URL))
    yield opened
    opened.close()


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


def test_no_inputs_policy_keeps_no_profile_data(tmp_path: Path) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}", inputs="none")
    engine = Engine.load(REPO)
    profile = {"customer_id": "c", "annual_value": 10}
    [row_id] = log.decisions.record(engine.plan, [(profile, engine.decide(profile, date(2026, 11, 1)))])
    row = log.decisions.decision(row_id)
    log.close()
    assert row is not None and row.inputs is None


def test_migrations_build_exactly_the_models_schema(log: DecisionLog) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with log.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_a_log_made_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as connection:  # what create_all made before alembic: revision 0001's tables
        connection.execute(sa.text("CREATE TABLE plan_versions (version VARCHAR(32) PRIMARY KEY, "
                                   "files VARCHAR NOT NULL, loaded_at DATETIME NOT NULL)"))
        connection.execute(sa.text(
            "CREATE TABLE decisions (id VARCHAR(36) PRIMARY KEY, customer_id VARCHAR(200) NOT NULL, "
            "plan_version VARCHAR(32) NOT NULL, rule VARCHAR NOT NULL, treatment VARCHAR(16) NOT NULL, "
            "actions VARCHAR NOT NULL, channels VARCHAR NOT NULL, cost FLOAT NOT NULL, as_of DATE NOT NULL, "
            "created_at DATETIME NOT NULL, inputs VARCHAR)"))
        connection.execute(sa.text("CREATE INDEX ix_decisions_customer_created ON decisions (customer_id, created_at)"))
        connection.execute(sa.text(
            "INSERT INTO decisions VALUES ('d1', 'c1', 'v', 'r', 'contain', '[]', '[\"sms\"]', 0, "
            "'2026-11-01', '2026-11-01 10:00:00', NULL)"))
    old.dispose()
    upgraded = DecisionLog(url)
    try:
        with upgraded.database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0006"
        assert upgraded.decisions.history("c1")[0]["id"] == "d1"  # nothing lost
        sms_cap = compile_contact_rules({"sms": (1, 7)}, None, ("sms",))
        assert sms_cap is not None and upgraded.decisions.limits(["c1"], date(2026, 11, 3), sms_cap)["c1"].blocked == {"sms"}
    finally:
        upgraded.close()


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


def test_api_keys_are_stored_hashed_and_can_be_revoked(log: DecisionLog) -> None:
    name = f"ops-{uuid.uuid4()}"
    key = log.keys.create_key(name)
    assert log.keys.key_is_valid(key) and not log.keys.key_is_valid(key[:-1]) and not log.keys.key_is_valid("")
    stored = next(k for k in log.keys.api_keys() if k.name == name)
    assert key not in stored.digest and len(stored.digest) == 64
    with pytest.raises(ValueError, match="exists already"):
        log.keys.create_key(name)
    assert log.keys.revoke_key(name) and not log.keys.key_is_valid(key)
    assert not log.keys.revoke_key(name)
    from sqlmodel import Session

    from treatment_engine.store import ApiKey
    with Session(log.database.engine) as session:  # the PostgreSQL database outlives the test: leave no key
        session.delete(session.get(ApiKey, name))
        session.commit()


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
            day, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index), None)


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


def test_background_checkpoints_fold_the_write_ahead_log_into_the_database(tmp_path: Path) -> None:
    """The service's log checkpoints on a thread (commits never copy the WAL themselves);
    nothing committed is lost, and closing leaves an empty WAL."""
    path = tmp_path / "log.db"
    log = DecisionLog(f"sqlite:///{path}", background_checkpoints=True)
    engine = Engine.load(REPO)
    with log.database.engine.connect() as connection:  # the service's connections leave checkpoints to the thread
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    profiles = [{"customer_id": f"c{i}", "annual_value": 100 + i} for i in range(3_000)]
    for _ in range(3):
        log.decisions.record(engine.plan, [(p, engine.decide(p, date(2026, 11, 1))) for p in profiles])
    wal = Path(f"{path}-wal")
    # With automatic checkpoints off, only the thread copies pages into the database file:
    # until it does, the file holds little more than the schema.
    deadline = time.monotonic() + 10
    while path.stat().st_size < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 1_000_000, "no checkpoint copied the log into the database"
    log.close()
    assert not wal.exists() or wal.stat().st_size == 0  # TRUNCATE on close
    with sqlite3.connect(path) as reopened:
        assert reopened.execute("SELECT count(*) FROM decisions").fetchone()[0] == 9_000
    reopened.close()


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


def test_a_failing_checkpoint_is_retried_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from treatment_engine.wal import Checkpointer

    missing = tmp_path / "not-yet" / "log.db"  # cannot be opened until its folder exists
    checkpoints = Checkpointer(str(missing), every_seconds=0.01)
    checkpoints.committed()
    deadline = time.monotonic() + 5
    while "will retry" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "will retry" in caplog.text and checkpoints.alive()
    missing.parent.mkdir()
    sqlite3.connect(missing).close()
    checkpoints.committed()
    time.sleep(0.2)
    assert checkpoints.alive()
    checkpoints.close()
    assert not checkpoints.alive() and "on close" not in caplog.text
