"""Who may call the protected endpoints: keys from $TREATMENT_API_KEYS or the database.

Keys in the database are stored as SHA-256 digests (``treatment keys create`` shows a
key once). Answers from the database are cached for a few seconds so that a protected
decision endpoint does not pay a query per request; a revoked key stops working within
that time.
"""

from __future__ import annotations

import hmac
import threading
import time

from ..store import KeyRepository, key_digest

CACHE_SECONDS = 10.0


class KeyChecker:
    def __init__(self, env_keys: frozenset[str], log: KeyRepository | None,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self.env_digests = frozenset(key_digest(k) for k in env_keys)
        self.log = log
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._valid: dict[str, float] = {}  # digest -> until when it is trusted
        self._any_stored: tuple[bool, float] = (False, 0.0)

    def required(self) -> bool:
        """Keys are required once any is configured, in the environment or the database;
        revoking the last key leaves the endpoints closed, not open."""
        if self.env_digests:
            return True
        if self.log is None:
            return False
        stored, until = self._any_stored
        now = time.monotonic()
        if now >= until:
            stored = bool(self.log.api_keys())
            self._any_stored = (stored, now + self.cache_seconds)
        return stored

    def valid(self, key: str) -> bool:
        if not key:
            return False
        digest = key_digest(key)
        if any(hmac.compare_digest(digest, known) for known in self.env_digests):
            return True
        if self.log is None:
            return False
        now = time.monotonic()
        with self._lock:
            if self._valid.get(digest, 0.0) > now:
                return True
        if not self.log.key_is_valid(key):
            return False
        with self._lock:
            self._valid[digest] = now + self.cache_seconds
        return True
