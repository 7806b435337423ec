"""Locks held in the database, so that replicas on one database act as one service.

Two kinds, both released by the end of the transaction that took them (a replica that
dies mid-transaction holds nothing once its connection drops):

- **the schema lock**: migrations run one replica at a time, so any number of replicas
  may start at once on a fresh database (and a like lock for plan releases);
- **customer locks**: reading a customer's contact limits, deciding and logging the
  decision happen under the customer's lock (see :mod:`treatment_engine.service.serialize`),
  so caps and the cooldown hold whatever the interleaving, while different customers
  never wait for each other.

PostgreSQL: transaction-level advisory locks (``pg_advisory_xact_lock``) on 64-bit keys,
a constant for the schema and a hash of the customer id for a customer. SQLite: its
single writer lock, taken at the start of the transaction (``BEGIN EXCLUSIVE`` /
``BEGIN IMMEDIATE``): it serializes every writer, of this process and of others, which
is the most SQLite offers; reads never wait for it (WAL). Other databases: no lock
(documented in docs/deploying.md: use PostgreSQL for more than one replica).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection

# "treatment" in ASCII: the schema's key, far from any customer's by chance only as much
# as any two 64-bit hashes are (a collision would make one wait, never decide wrong).
SCHEMA_LOCK_KEY = 0x74726561746D656E
RELEASE_LOCK_KEY = SCHEMA_LOCK_KEY + 1  # plan releases (service/plan_sync.py)
# How long a replica waits for the SQLite writer lock before its commit fails. Migrations
# may hold it for as long as an index takes to build on a big log: start-up waits longer.
SQLITE_BUSY_MS = 5_000
SQLITE_MIGRATION_BUSY_MS = 600_000
# A transaction holds at most this many customer locks: each takes a slot of PostgreSQL's
# shared lock table (max_locks_per_transaction x max_connections slots, 6,400 by default).
MAX_CUSTOMER_LOCKS = 500
# PostgreSQL, in a transaction that takes customer locks: the longest wait for them (a
# replica's committer that waits decides nothing else meanwhile: the wait fails, its
# requests are answered 503 to send again), and the longest the transaction may sit idle
# holding them before the server ends it. A replica that stops mid-transaction (frozen,
# or cut off by a connection the server still thinks open) would otherwise hold its
# customers' locks until TCP gives up on it, hours later, and stall every replica that
# waits for one of them. A healthy holder is idle between statements for milliseconds.
CUSTOMER_LOCK_WAIT_MS = 5_000
LOCK_HOLDER_IDLE_MS = 15_000


def dialect_of(connection: Connection) -> str:
    return connection.engine.dialect.name


def hold_schema_lock(connection: Connection) -> None:
    """Make ``connection``'s transaction the only one migrating: call it first thing in
    the transaction that runs the migrations; the lock goes with its commit."""
    dialect = dialect_of(connection)
    if dialect == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
    elif dialect == "sqlite":
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_MIGRATION_BUSY_MS}")
        connection.exec_driver_sql("BEGIN EXCLUSIVE")
        connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")


def hold_release_lock(connection: Connection) -> None:
    """Make ``connection``'s transaction the only one releasing a plan, so replicas that
    load the same version at once release it once. Call it first in the transaction."""
    if dialect_of(connection) == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({RELEASE_LOCK_KEY})")
    else:
        begin_writing(connection)


def begin_writing(connection: Connection) -> None:
    """Start a transaction that will write, holding SQLite's writer lock from its first
    statement (its reads see every earlier commit, and no other writer can come between
    them and this transaction's writes). Nothing to do elsewhere: the first statement
    begins the transaction."""
    if dialect_of(connection) == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def customer_lock_key(customer_id: str) -> int:
    """A signed 64-bit key for the customer (the type of PostgreSQL's advisory lock keys)."""
    digest = hashlib.blake2b(customer_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_customers(connection: Connection, customer_ids: Iterable[str]) -> None:
    """Hold the customers' locks until ``connection``'s transaction ends (PostgreSQL).

    Taken in ascending key order, by every replica alike, so two transactions that want
    some of the same customers never wait for each other in a cycle. On SQLite the writer
    lock taken by :func:`begin_writing` covers every customer already.
    """
    if dialect_of(connection) != "postgresql":
        return
    keys = sorted({customer_lock_key(cid) for cid in customer_ids})
    if not keys:
        return
    connection.exec_driver_sql(  # for this transaction only (set_config's is_local)
        f"SELECT set_config('lock_timeout', '{CUSTOMER_LOCK_WAIT_MS}', true), "
        f"set_config('idle_in_transaction_session_timeout', '{LOCK_HOLDER_IDLE_MS}', true)")
    # One round trip. unnest yields the array in order, and PostgreSQL evaluates a volatile
    # function in the select list row by row after ORDER BY (since 9.6): keys in order.
    connection.exec_driver_sql(
        "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", (keys,))
