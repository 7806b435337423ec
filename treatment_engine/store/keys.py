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
