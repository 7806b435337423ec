"""The API keys repository."""

from __future__ import annotations

import uuid

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine.store import DecisionLog


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


@pytest.mark.parametrize("name, reason", [
    ("", "empty"), ("  ", "empty"), ("ops\tteam", "tab, newline or other control character"),
    ("ops\nteam", "tab, newline or other control character"), (" ops", "space at its start or end"),
    ("o" * 101, "longer than 100 characters")])
def test_a_key_name_that_cannot_be_listed_or_stored_is_refused(log: DecisionLog, name: str, reason: str) -> None:
    """`keys list` prints a name per line, tab-separated: an empty name or one holding a tab
    or a newline makes its lines unreadable; a name past the column's 100 characters is
    refused by PostgreSQL with a database error. None is stored."""
    with pytest.raises(ValueError, match=reason):
        log.keys.create_key(name)
    assert name not in {k.name for k in log.keys.api_keys()}
