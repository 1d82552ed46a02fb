"""Per-burst input store: which inputs a burst has, and the product version they amount to.

Delivery is at least once, so the same input may arrive twice, on two instances at the same time. The store
makes that harmless: inputs are keyed by (burst_id, acronym, content hash), so a repeat is a no-op; the
burst's version counter is bumped in the same transaction as the insert, under a lock on the burst row
(``SELECT ... FOR UPDATE`` in PostgreSQL, ``BEGIN IMMEDIATE`` in SQLite), so one change is one version,
whichever instance wins. A version is a product: an input that arrives while the burst has no source list
(an alert, an MXT position) makes none, so it is stored as version 0, part of every version, and the first
list makes version 1. Each other input remembers the version it created, so the inputs of any version can
be replayed, and a version that cannot build is left out by its number alone. ``published`` is the last
version whose products were stored and notified: a redelivered input whose burst has ``version > published``
(the previous attempt died half-way) must be processed again.

SQLite (a file, embedded) is the default; PostgreSQL (``postgresql://...``, needs ``psycopg``) lets several
instances share one queue.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from vtac.errors import ConfigurationError, TransientError
from vtac.redaction import redact

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS vtac_burst (
        burst_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        published_version INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS vtac_input (
        burst_id TEXT NOT NULL,
        acronym TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        version INTEGER NOT NULL,
        payload {blob} NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (burst_id, acronym, content_hash))""",
    # Who builds a burst's unpublished versions now (one instance at a time), until when (epoch ms).
    """CREATE TABLE IF NOT EXISTS vtac_claim (
        burst_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until_ms BIGINT NOT NULL)""",
    # The extras of each notified version: pending (owner drawing them until until_ms), stored, superseded,
    # failed (reason) or interrupted (the service stopped first: redone at the next start).
    """CREATE TABLE IF NOT EXISTS vtac_extras (
        burst_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        owner TEXT NOT NULL,
        until_ms BIGINT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (burst_id, version))""",
    # A version whose build failed for good (its input cannot build): never built again, its input left out
    # of every later version, so one bad file cannot fail its burst (the reason says why).
    """CREATE TABLE IF NOT EXISTS vtac_set_aside (
        burst_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        reason TEXT NOT NULL,
        set_at TEXT NOT NULL,
        PRIMARY KEY (burst_id, version))""",
)
#: Final states of a version's extras; ``pending`` and ``interrupted`` are not.
EXTRAS_FINAL = ("stored", "superseded", "failed")
#: The input a product is built from: until a burst has one, its other inputs make no version.
SOURCE_LIST = "QSRCLIST_VT"
#: A source list of the burst that is not set aside (SQL, the burst's id as its one parameter).
_HAS_SOURCE_LIST = (
    "SELECT 1 FROM vtac_input i WHERE i.burst_id = {p} AND i.acronym = '" + SOURCE_LIST + "' "
    "AND i.version NOT IN (SELECT s.version FROM vtac_set_aside s WHERE s.burst_id = i.burst_id)"
)


def content_hash_of(key: bytes) -> str:
    """The stored hash of an input's content key (:attr:`StoredInput.content_hash`)."""
    return hashlib.sha256(key).hexdigest()


@dataclass(frozen=True)
class StoredInput:
    """One input of a burst, with the product version its arrival created (0: it came while the burst had no
    source list, and made none)."""

    acronym: str
    content_hash: str
    version: int
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class BurstState:
    """The version a burst's inputs amount to, and the last version whose products went out."""

    version: int
    published: int

    @property
    def needs_products(self) -> bool:
        """True while the current version has not been stored and notified."""
        return self.version > self.published


@dataclass(frozen=True)
class ExtrasRecord:
    """What became of the extras of one notified version (``reason`` says why when not stored)."""

    burst_id: str
    version: int
    status: str
    reason: str = ""


@dataclass(frozen=True)
class RecordOutcome:
    """What recording one input did."""

    changed: bool
    state: BurstState


class InputStore(Protocol):
    """What the service needs from the per-burst state, whatever the database."""

    def record(self, burst_id: str, acronym: str, key: bytes, payload: bytes) -> RecordOutcome:
        """Store an input unless already known; bump the burst's version only if it is new and the burst
        has a source list (without one, the input is version 0: it waits for the first version)."""

    def inputs(self, burst_id: str, version: int | None = None) -> list[StoredInput]:
        """The inputs that make up ``version`` (default: the current one), oldest first, those of set-aside
        versions left out."""

    def set_aside(self, burst_id: str, version: int, reason: str) -> None:
        """Record that ``version`` cannot build (its input is left out from now on); if every version before
        it is published, it counts as published too (nothing of it will ever be notified)."""

    def set_aside_versions(self, burst_id: str) -> dict[int, str]:
        """The burst's set-aside versions and why."""

    def unnotified_bursts(self, quiet_s: float, limit: int = 10) -> list[str]:
        """Bursts with a version stored but not notified, a source list to build from, no input for
        ``quiet_s`` and no live claim: what nothing else will drive to its notification (for the sweeper)."""

    def burst_state(self, burst_id: str) -> BurstState:
        """Current and published versions (0, 0 for an unknown burst)."""

    def mark_published(
        self,
        burst_id: str,
        version: int,
        extras: Sequence[ExtrasRecord] = (),
        *,
        owner: str = "",
        lease_s: float = 0,
    ) -> None:
        """Record that ``version``'s products are stored and notified (never moves backwards), and in the same
        transaction what became of its extras (see :meth:`record_extras`)."""

    def claim(self, burst_id: str, owner: str, lease_s: float) -> bool:
        """Become the one instance building the burst's unpublished versions (for ``lease_s``)."""

    def release(self, burst_id: str, owner: str) -> None:
        """Give up a claim (done, or failed: let another instance try)."""

    def ping(self, wait_s: float = 1.0) -> bool:
        """True when the store is usable now (readiness probe)."""

    def record_extras(self, records: Sequence[ExtrasRecord], owner: str, lease_s: float) -> None:
        """Record what became of extras; a ``stored`` record is never overwritten."""

    def extras_record(self, burst_id: str, version: int) -> ExtrasRecord | None:
        """The recorded state of a version's extras (None: none announced)."""

    def take_over_extras(
        self, owner: str, lease_s: float, gone: Callable[[str], bool] = lambda _: False
    ) -> list[ExtrasRecord]:
        """Extras left interrupted, or pending past their lease or by an owner ``gone`` says is dead (a
        crashed instance), now ``owner``'s to redo."""

    def close(self) -> None:
        """Release the connection."""


@dataclass(frozen=True)
class _Dialect:
    """The few things that differ between SQLite and PostgreSQL."""

    placeholder: str
    blob: str
    begin: str
    lock_suffix: str
    transient: tuple[type[BaseException], ...]


SQLITE = _Dialect("?", "BLOB", "BEGIN IMMEDIATE", "", (sqlite3.OperationalError,))


class SqlInputStore:
    """:class:`InputStore` over one DB-API connection in autocommit mode, transactions made explicit."""

    def __init__(
        self, connection: Any, dialect: _Dialect, *, reconnect: Callable[[], Any] | None = None
    ) -> None:
        self._conn = connection
        self._dialect = dialect
        self._lock = threading.Lock()
        # A server connection (PostgreSQL) that failed is replaced before the next transaction: a restart
        # of the database costs the inputs of that moment a retry, never the service.
        self._reconnect = reconnect
        self._broken = False
        with self._transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement.format(blob=dialect.blob))

    def record(self, burst_id: str, acronym: str, key: bytes, payload: bytes) -> RecordOutcome:
        """See :meth:`InputStore.record`; one transaction, the burst row locked throughout."""
        content_hash = content_hash_of(key)
        with self._transaction() as cursor:
            self._execute(
                cursor,
                "INSERT INTO vtac_burst (burst_id, version, published_version) VALUES ({p}, 0, 0) "
                "ON CONFLICT (burst_id) DO NOTHING",
                burst_id,
            )
            state = self._state(cursor, burst_id, lock=True)
            self._execute(
                cursor,
                "SELECT 1 FROM vtac_input WHERE burst_id = {p} AND acronym = {p} AND content_hash = {p}",
                burst_id,
                acronym,
                content_hash,
            )
            if cursor.fetchone() is not None:
                return RecordOutcome(changed=False, state=state)
            self._execute(cursor, _HAS_SOURCE_LIST, burst_id)
            builds = acronym == SOURCE_LIST or cursor.fetchone() is not None
            version = state.version + 1 if builds else 0  # 0: nothing to build yet, part of every version
            self._execute(
                cursor,
                "INSERT INTO vtac_input (burst_id, acronym, content_hash, version, payload, received_at) "
                "VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                burst_id,
                acronym,
                content_hash,
                version,
                payload,
                datetime.now(UTC).isoformat(),
            )
            if not builds:
                return RecordOutcome(changed=True, state=state)
            self._execute(
                cursor, "UPDATE vtac_burst SET version = {p} WHERE burst_id = {p}", version, burst_id
            )
            return RecordOutcome(changed=True, state=BurstState(version, state.published))

    def inputs(self, burst_id: str, version: int | None = None) -> list[StoredInput]:
        """See :meth:`InputStore.inputs`."""
        with self._transaction() as cursor:
            limit = self._state(cursor, burst_id).version if version is None else version
            self._execute(
                cursor,
                "SELECT acronym, content_hash, version, payload, received_at FROM vtac_input "
                "WHERE burst_id = {p} AND version <= {p} AND version NOT IN "
                "(SELECT version FROM vtac_set_aside WHERE burst_id = {p}) ORDER BY version, received_at",
                burst_id,
                limit,
                burst_id,
            )
            rows = cursor.fetchall()
        return [
            StoredInput(
                acronym, content_hash, int(row_version), bytes(payload), datetime.fromisoformat(received)
            )
            for acronym, content_hash, row_version, payload, received in rows
        ]

    def burst_state(self, burst_id: str) -> BurstState:
        """See :meth:`InputStore.burst_state`."""
        with self._transaction() as cursor:
            return self._state(cursor, burst_id)

    def set_aside(self, burst_id: str, version: int, reason: str) -> None:
        """See :meth:`InputStore.set_aside`; one transaction, the burst row locked."""
        with self._transaction() as cursor:
            self._state(cursor, burst_id, lock=True)
            self._execute(
                cursor,
                "INSERT INTO vtac_set_aside (burst_id, version, reason, set_at) VALUES ({p}, {p}, {p}, {p}) "
                "ON CONFLICT (burst_id, version) DO NOTHING",
                burst_id,
                version,
                reason,
                datetime.now(UTC).isoformat(),
            )
            self._execute(
                cursor,
                "UPDATE vtac_burst SET published_version = {p} "
                "WHERE burst_id = {p} AND published_version = {p}",
                version,
                burst_id,
                version - 1,
            )

    def unnotified_bursts(self, quiet_s: float, limit: int = 10) -> list[str]:
        """See :meth:`InputStore.unnotified_bursts`."""
        quiet_since = datetime.fromtimestamp(time.time() - quiet_s, UTC).isoformat()
        with self._transaction() as cursor:
            self._execute(
                cursor,
                "SELECT b.burst_id FROM vtac_burst b WHERE b.version > b.published_version "
                "AND EXISTS (SELECT 1 FROM vtac_input i WHERE i.burst_id = b.burst_id "
                "AND i.acronym = 'QSRCLIST_VT' AND i.version NOT IN "
                "(SELECT s.version FROM vtac_set_aside s WHERE s.burst_id = b.burst_id)) "
                "AND NOT EXISTS (SELECT 1 FROM vtac_input i WHERE i.burst_id = b.burst_id "
                "AND i.received_at > {p}) "
                "AND NOT EXISTS (SELECT 1 FROM vtac_claim c WHERE c.burst_id = b.burst_id "
                "AND c.until_ms > {p}) "
                "ORDER BY b.burst_id LIMIT {p}",
                quiet_since,
                int(time.time() * 1000),
                limit,
            )
            return [str(row[0]) for row in cursor.fetchall()]

    def set_aside_versions(self, burst_id: str) -> dict[int, str]:
        """See :meth:`InputStore.set_aside_versions`."""
        with self._transaction() as cursor:
            self._execute(cursor, "SELECT version, reason FROM vtac_set_aside WHERE burst_id = {p}", burst_id)
            return {int(version): reason for version, reason in cursor.fetchall()}

    def mark_published(
        self,
        burst_id: str,
        version: int,
        extras: Sequence[ExtrasRecord] = (),
        *,
        owner: str = "",
        lease_s: float = 0,
    ) -> None:
        """See :meth:`InputStore.mark_published`; a late, older publication does not undo a newer one."""
        with self._transaction() as cursor:
            self._upsert_extras(cursor, extras, owner, lease_s)
            self._execute(
                cursor,
                "UPDATE vtac_burst SET published_version = {p} "
                "WHERE burst_id = {p} AND published_version < {p}",
                version,
                burst_id,
                version,
            )

    def claim(self, burst_id: str, owner: str, lease_s: float) -> bool:
        """See :meth:`InputStore.claim`: granted when free, expired (a crashed claimant) or already ours."""
        now_ms = int(time.time() * 1000)
        with self._transaction() as cursor:
            self._state(cursor, burst_id, lock=True)  # the burst row lock serialises claims
            self._execute(cursor, "SELECT owner, until_ms FROM vtac_claim WHERE burst_id = {p}", burst_id)
            row = cursor.fetchone()
            if row is not None and row[0] != owner and int(row[1]) > now_ms:
                return False
            self._execute(
                cursor,
                "INSERT INTO vtac_claim (burst_id, owner, until_ms) VALUES ({p}, {p}, {p}) "
                "ON CONFLICT (burst_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms",
                burst_id,
                owner,
                now_ms + int(lease_s * 1000),
            )
            return True

    def release(self, burst_id: str, owner: str) -> None:
        """See :meth:`InputStore.release`."""
        with self._transaction() as cursor:
            self._execute(
                cursor, "DELETE FROM vtac_claim WHERE burst_id = {p} AND owner = {p}", burst_id, owner
            )

    def record_extras(self, records: Sequence[ExtrasRecord], owner: str, lease_s: float) -> None:
        """See :meth:`InputStore.record_extras`; one transaction."""
        if records:
            with self._transaction() as cursor:
                self._upsert_extras(cursor, records, owner, lease_s)

    def _upsert_extras(
        self, cursor: Any, records: Sequence[ExtrasRecord], owner: str, lease_s: float
    ) -> None:
        until_ms = int((time.time() + lease_s) * 1000)
        now = datetime.now(UTC).isoformat()
        for record in records:
            self._execute(
                cursor,
                "INSERT INTO vtac_extras (burst_id, version, status, reason, owner, until_ms, updated_at) "
                "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (burst_id, version) DO UPDATE SET "
                "status = excluded.status, reason = excluded.reason, owner = excluded.owner, "
                "until_ms = excluded.until_ms, updated_at = excluded.updated_at "
                "WHERE vtac_extras.status <> 'stored'",
                record.burst_id,
                record.version,
                record.status,
                record.reason,
                owner,
                until_ms,
                now,
            )

    def extras_record(self, burst_id: str, version: int) -> ExtrasRecord | None:
        """See :meth:`InputStore.extras_record`."""
        with self._transaction() as cursor:
            self._execute(
                cursor,
                "SELECT status, reason FROM vtac_extras WHERE burst_id = {p} AND version = {p}",
                burst_id,
                version,
            )
            row = cursor.fetchone()
        return None if row is None else ExtrasRecord(burst_id, version, row[0], row[1])

    def take_over_extras(
        self, owner: str, lease_s: float, gone: Callable[[str], bool] = lambda _: False
    ) -> list[ExtrasRecord]:
        """See :meth:`InputStore.take_over_extras`: selected and re-leased in one transaction."""
        now_ms = int(time.time() * 1000)
        with self._transaction() as cursor:
            self._execute(
                cursor,
                "SELECT burst_id, version, reason, status, owner, until_ms FROM vtac_extras "
                "WHERE status IN ('interrupted', 'pending') ORDER BY burst_id, version"
                + self._dialect.lock_suffix,
            )
            rows = [
                (burst_id, version, reason)
                for burst_id, version, reason, status, holder, until_ms in cursor.fetchall()
                if status == "interrupted" or int(until_ms) < now_ms or gone(holder)
            ]
            for burst_id, version, _ in rows:
                self._execute(
                    cursor,
                    "UPDATE vtac_extras SET status = 'pending', owner = {p}, until_ms = {p} "
                    "WHERE burst_id = {p} AND version = {p}",
                    owner,
                    now_ms + int(lease_s * 1000),
                    burst_id,
                    version,
                )
        return [ExtrasRecord(burst_id, int(version), "pending", reason) for burst_id, version, reason in rows]

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def ping(self, wait_s: float = 1.0) -> bool:
        """True when the store answers now (readiness); a store busy in a transaction is in use, so usable."""
        if not self._lock.acquire(timeout=wait_s):  # pylint: disable=consider-using-with  # released below
            return True
        try:
            self._ensure_connection()
            cursor = self._conn.cursor()
            try:
                cursor.execute("SELECT 1")
                cursor.fetchall()
            finally:
                cursor.close()
        except Exception:  # pylint: disable=broad-exception-caught  # a probe answers, it never raises
            self._broken = self._reconnect is not None
            return False
        finally:
            self._lock.release()
        return True

    def _ensure_connection(self) -> None:
        """Replace a connection that failed (under the lock)."""
        if not self._broken or self._reconnect is None:
            return
        with suppress(Exception):
            self._conn.close()
        try:
            self._conn = self._reconnect()
        except self._dialect.transient as exc:
            raise TransientError(redact(f"input store unavailable: {exc}")) from exc
        self._broken = False

    def _state(self, cursor: Any, burst_id: str, *, lock: bool = False) -> BurstState:
        suffix = self._dialect.lock_suffix if lock else ""
        self._execute(
            cursor,
            "SELECT version, published_version FROM vtac_burst WHERE burst_id = {p}" + suffix,
            burst_id,
        )
        row = cursor.fetchone()
        return BurstState(0, 0) if row is None else BurstState(int(row[0]), int(row[1]))

    def _execute(self, cursor: Any, sql: str, *params: Any) -> None:
        cursor.execute(sql.format(p=self._dialect.placeholder), params)

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """BEGIN ... COMMIT, ROLLBACK on error; a lost or locked database is a TransientError (retry)."""
        with self._lock:
            self._ensure_connection()
            cursor = self._conn.cursor()
            try:
                cursor.execute(self._dialect.begin)
                yield cursor
                cursor.execute("COMMIT")
            except self._dialect.transient as exc:
                self._rollback(cursor)
                self._broken = self._reconnect is not None
                raise TransientError(redact(f"input store unavailable: {exc}")) from exc
            except BaseException:
                self._rollback(cursor)
                raise
            finally:
                cursor.close()

    def _rollback(self, cursor: Any) -> None:
        """Undo what can be undone; if the connection is gone, so is the transaction."""
        gone: tuple[type[BaseException], ...] = (*self._dialect.transient, sqlite3.ProgrammingError)
        with suppress(*gone):
            cursor.execute("ROLLBACK")


def open_sqlite_store(path: str | Path, *, timeout_s: float = 30.0) -> SqlInputStore:
    """An embedded store in one file (``:memory:`` for a throw-away one); WAL so readers never block."""
    connection = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    return SqlInputStore(connection, SQLITE)


def open_postgres_store(url: str, *, connect_timeout_s: int = 10) -> SqlInputStore:
    """A shared store in PostgreSQL; several instances may use it at once."""
    try:
        import psycopg  # pylint: disable=import-outside-toplevel  # optional: only for shared state
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(f"{redact(url)}: PostgreSQL needs the 'psycopg' package") from exc

    def connect() -> Any:
        return psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s)

    try:
        connection = connect()
    except psycopg.OperationalError as exc:
        raise TransientError(redact(f"cannot connect to the input store {url}: {exc}")) from exc
    # InterfaceError: "the connection is closed" once the server went away.
    transient = (psycopg.OperationalError, psycopg.InterfaceError)
    dialect = _Dialect("%s", "BYTEA", "BEGIN", " FOR UPDATE", transient)
    return SqlInputStore(connection, dialect, reconnect=connect)


def open_input_store(url: str) -> SqlInputStore:
    """``postgresql://...``, ``sqlite:///path/state.db``, or a plain file path (SQLite)."""
    openers: dict[str, Callable[[str], SqlInputStore]] = {
        "postgresql://": open_postgres_store,
        "postgres://": open_postgres_store,
        "sqlite:///": lambda text: open_sqlite_store(text.removeprefix("sqlite:///") or ":memory:"),
    }
    for prefix, opener in openers.items():
        if url.startswith(prefix):
            return opener(url)
    if "://" in url:
        raise ConfigurationError(f"input store {redact(url)}: expected postgresql://, sqlite:/// or a path")
    return open_sqlite_store(url)
