"""The API keys repository: keys are shown once, when created, and kept as digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, col, select

from .connection import Database, now
from .tables import ApiKey


class KeyRepository:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_key(self, name: str) -> str:
        """A new key under ``name``; only its digest is kept, so the caller must show it now."""
        _check_name(name)
        key = "tk_" + secrets.token_urlsafe(32)
        with Session(self.database.engine) as session:
            if session.get(ApiKey, name) is not None:
                raise ValueError(f"an API key named {name!r} exists already")
            session.add(ApiKey(name=name, digest=key_digest(key), created_at=now()))
            session.commit()
        return key

    def revoke_key(self, name: str) -> bool:
        with Session(self.database.engine) as session:
            stored = session.get(ApiKey, name)
            if stored is None or stored.revoked_at is not None:
                return False
            stored.revoked_at = now()
            session.add(stored)
            session.commit()
            return True

    def api_keys(self) -> list[ApiKey]:
        with Session(self.database.engine) as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.name))).all())

    def key_is_valid(self, key: str) -> bool:
        """True for a key created here and not revoked."""
        digest = key_digest(key)
        with Session(self.database.engine) as session:
            stored = session.exec(select(ApiKey).where(ApiKey.digest == digest)).first()
        return stored is not None and stored.revoked_at is None and hmac.compare_digest(stored.digest, digest)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


MAX_NAME = 100  # the api_keys.name column's length


def _check_name(name: str) -> None:
    """A name `keys list` can print on one line and `keys revoke` can be given back, and
    that fits its column (PostgreSQL refuses a longer one with a database error)."""
    if not name.strip():
        raise ValueError("an API key's name must not be empty")
    if not name.isprintable():
        raise ValueError(f"an API key's name must not hold a tab, newline or other control character: {name!r}")
    if name != name.strip():
        raise ValueError(f"an API key's name must not have a space at its start or end: {name!r}")
    if len(name) > MAX_NAME:
        raise ValueError(f"an API key's name must not be longer than {MAX_NAME} characters")
