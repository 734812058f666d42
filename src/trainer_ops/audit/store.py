"""Every audit query. Flushes, never commits: the caller's transaction carries the entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Select, select, text, union_all
from sqlalchemy.orm import Session

from trainer_ops.audit.models import AuditCheckpointRow, AuditEntryRow
from trainer_ops.audit.types import GENESIS_HASH
from trainer_ops.db.libpq import defer

# pg_advisory_xact_lock key that serialises appends across every replica ("tops" in ASCII).
CHAIN_LOCK_KEY = 0x746F7073

ENTRY_COLUMNS = (
    "seq",
    "ts_ms",
    "user_id",
    "role",
    "action",
    "target",
    "request_id",
    "body",
    "prev_hash",
    "hash",
    "leaf_hash",
    "mac",
)


_HEAD = "SELECT seq, hash, ts_ms FROM audit_entries ORDER BY seq DESC LIMIT 1"
# PostgreSQL's batch start: open the transaction, take the chain lock, read the head. Three statements,
# not one: under READ COMMITTED each statement reads a fresh snapshot, so the head is read after the
# lock is held and sees every batch committed before it. They are deferred (db/libpq.py): they go in
# one message with the batch's first statement.
_PG_BATCH_START = (b"BEGIN", f"SELECT pg_advisory_xact_lock({CHAIN_LOCK_KEY})".encode(), _HEAD.encode())
_ROW_INSERT = (
    f"INSERT INTO audit_entries ({', '.join(ENTRY_COLUMNS)}) "  # noqa: S608 - constant column names
    f"VALUES ({', '.join(['{}'] * len(ENTRY_COLUMNS))})"
)
_PG_INSERT = _ROW_INSERT.format(*["%s"] * len(ENTRY_COLUMNS))
_SQLITE_INSERT = _ROW_INSERT.format(*["?"] * len(ENTRY_COLUMNS))
_PG_INSERT_ONE = _ROW_INSERT.format(*[f"${n + 1}" for n in range(len(ENTRY_COLUMNS))]).encode()


def _head_of(row: Any) -> tuple[int, str, int]:
    return (int(row[0]), str(row[1]), int(row[2])) if row else (0, GENESIS_HASH, 0)


def _pg_head(result: pq.abc.PGresult) -> tuple[int, str, int]:
    """`_head_of` for libpq's result (its values are text)."""
    row = [(result.get_value(0, c) or b"").decode() for c in range(3)] if result.ntuples else None
    return _head_of(row)


class AuditStore:
    def lock_and_read_head(self, session: Session, then: Callable[[tuple[int, str, int]], None]) -> None:
        """Serialise appenders for the rest of this transaction, then read the chain head and hand it
        to `then`. SQLite writers already hold the write lock (BEGIN IMMEDIATE): at once. PostgreSQL
        takes a transaction-scoped advisory lock, which serialises appends across processes and
        replicas: the three statements are deferred, sent with the batch's first statement (before a
        caller can need the head, `AuditService` sends them itself)."""
        connection = session.connection()
        if connection.dialect.name != "postgresql":
            then(self.head(session))
            return
        driver: psycopg.Connection[Any] = connection.connection.driver_connection  # type: ignore[assignment]
        begin, lock, head = _PG_BATCH_START
        # The batch's first statements: were a transaction already open, BEGIN would only warn.
        defer(driver, begin, (), opens=True)
        defer(driver, lock, (), opens=True)
        defer(driver, head, (), lambda result: then(_pg_head(result)), opens=True)

    def head(self, session: Session) -> tuple[int, str, int]:
        """(seq, hash, ts_ms) of the last entry, or (0, genesis, 0) for an empty log."""
        # Plain SQL on the DB-API connection: read once per batch on the writer's hot path, where
        # compiling an ORM select cost more than the query itself, and SQLAlchemy's own execution
        # path (events, result wrapping) more than SQLite's.
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_HEAD)
            return _head_of(cursor.fetchone())
        finally:
            cursor.close()

    def append_many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Insert a unit's entries at once, straight through the driver: no ORM bookkeeping, no
        statement compiled. psycopg's executemany pipelines the rows in one round trip (measured faster
        than SQLAlchemy's executemany, and than one INSERT ... SELECT FROM unnest); sqlite3's runs the
        prepared statement once per row."""
        connection = session.connection()
        values = [tuple(row[c] for c in ENTRY_COLUMNS) for row in rows]
        driver: Any = connection.connection.driver_connection
        postgres = connection.dialect.name == "postgresql"
        if postgres and len(values) == 1:  # a change's one entry: deferred to ride with the commit
            defer(driver, _PG_INSERT_ONE, values[0])
            return
        statement = _PG_INSERT if postgres else _SQLITE_INSERT
        cursor = driver.cursor()
        try:
            cursor.executemany(statement, values)
        finally:
            cursor.close()

    def query(
        self,
        session: Session,
        *,
        user_id: str | None,
        actions: Sequence[str],
        from_ms: int | None,
        to_ms: int | None,
        before_seq: int | None,
        limit: int,
    ) -> list[AuditEntryRow]:
        """Newest first, keyset-paged on seq (never OFFSET).

        Time never goes backwards along the chain (the appender makes sure), so a time window is a seq
        window: two index probes turn from/to into seq bounds, and every filter then walks an index in
        seq order instead of sorting the window. Several actions: one index walk per action, newest
        `limit` of each, merged (PostgreSQL cannot walk an IN list over an index in seq order, and
        would otherwise filter the whole log newest first).
        """
        stmt = self._filtered(session, user_id=user_id, actions=actions, from_ms=from_ms, to_ms=to_ms)
        if stmt is None:
            return []
        if before_seq is not None:
            stmt = stmt.where(AuditEntryRow.seq < before_seq)
        if len(actions) > 1:
            newest = [
                stmt.with_only_columns(AuditEntryRow.seq)
                .where(AuditEntryRow.action == action)
                .order_by(AuditEntryRow.seq.desc())
                .limit(limit)
                .subquery()
                for action in dict.fromkeys(actions)
            ]
            merged = union_all(*(select(part.c.seq) for part in newest)).subquery()
            stmt = select(AuditEntryRow).where(AuditEntryRow.seq.in_(select(merged.c.seq)))
        stmt = stmt.order_by(AuditEntryRow.seq.desc()).limit(limit)
        return list(session.execute(stmt).scalars())

    def _filtered(
        self,
        session: Session,
        *,
        user_id: str | None,
        actions: Sequence[str],
        from_ms: int | None,
        to_ms: int | None,
    ) -> Select[AuditEntryRow] | None:
        """The entries a filter selects (a single action included; several are merged by the caller),
        with the time window turned into seq bounds; None when the window holds no entry."""
        stmt = select(AuditEntryRow)
        if user_id is not None:
            stmt = stmt.where(AuditEntryRow.user_id == user_id)
        if len(actions) == 1:
            stmt = stmt.where(AuditEntryRow.action == actions[0])
        if from_ms is not None:
            first = session.execute(
                select(AuditEntryRow.seq)
                .where(AuditEntryRow.ts_ms >= from_ms)
                .order_by(AuditEntryRow.ts_ms, AuditEntryRow.seq)
                .limit(1)
            ).scalar()
            if first is None:
                return None
            stmt = stmt.where(AuditEntryRow.seq >= first)
        if to_ms is not None:
            last = session.execute(
                select(AuditEntryRow.seq)
                .where(AuditEntryRow.ts_ms <= to_ms)
                .order_by(AuditEntryRow.ts_ms.desc(), AuditEntryRow.seq.desc())
                .limit(1)
            ).scalar()
            if last is None:
                return None
            stmt = stmt.where(AuditEntryRow.seq <= last)
        return stmt

    def seqs_after(
        self,
        session: Session,
        *,
        user_id: str | None,
        actions: Sequence[str],
        from_ms: int | None,
        to_ms: int | None,
        after_seq: int,
        limit: int,
    ) -> list[int]:
        """The seqs of the oldest `limit` entries after `after_seq` that a filter selects, oldest first:
        the way back from a page to the newer one before it, on the same indexes as `query`."""
        stmt = self._filtered(session, user_id=user_id, actions=actions, from_ms=from_ms, to_ms=to_ms)
        if stmt is None:
            return []
        stmt = stmt.where(AuditEntryRow.seq > after_seq)
        if len(actions) > 1:
            oldest = [
                stmt.with_only_columns(AuditEntryRow.seq)
                .where(AuditEntryRow.action == action)
                .order_by(AuditEntryRow.seq)
                .limit(limit)
                .subquery()
                for action in dict.fromkeys(actions)
            ]
            merged = union_all(*(select(part.c.seq) for part in oldest)).subquery()
            return list(session.execute(select(merged.c.seq).order_by(merged.c.seq).limit(limit)).scalars())
        seqs = stmt.with_only_columns(AuditEntryRow.seq).order_by(AuditEntryRow.seq).limit(limit)
        return list(session.execute(seqs).scalars())

    def entry(self, session: Session, seq: int) -> AuditEntryRow | None:
        return session.get(AuditEntryRow, seq)

    def scan(self, session: Session, *, after_seq: int = 0, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
        """Every entry from after_seq on, in seq order, as raw tuples of ENTRY_COLUMNS (streamed in pages
        through the driver's cursor: no ORM row objects, which would cost more than the checks)."""
        columns = ", ".join(ENTRY_COLUMNS)
        connection = session.connection()
        last = after_seq
        while True:
            rows = connection.execute(
                text(f"SELECT {columns} FROM audit_entries WHERE seq > :last ORDER BY seq LIMIT :n"),  # noqa: S608
                {"last": last, "n": batch},
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def leaf_hashes(self, session: Session, start: int, end: int) -> list[bytes]:
        """Leaf hashes of entries start..end-1 by position (seq = position + 1)."""
        rows = session.execute(
            select(AuditEntryRow.leaf_hash)
            .where(AuditEntryRow.seq > start, AuditEntryRow.seq <= end)
            .order_by(AuditEntryRow.seq)
        ).all()
        return [bytes.fromhex(r[0]) for r in rows]

    def add_checkpoint(self, session: Session, row: AuditCheckpointRow) -> None:
        session.add(row)
        session.flush()

    def checkpoints(self, session: Session) -> list[AuditCheckpointRow]:
        return list(session.execute(select(AuditCheckpointRow).order_by(AuditCheckpointRow.size)).scalars())

    def recent_checkpoints(self, session: Session, limit: int) -> list[AuditCheckpointRow]:
        return list(
            session.execute(
                select(AuditCheckpointRow).order_by(AuditCheckpointRow.size.desc()).limit(limit)
            ).scalars()
        )

    def checkpoint_roots(self, session: Session, sizes: Sequence[int]) -> dict[int, bytes]:
        """The stored (signed) root at each of these sizes that has a checkpoint."""
        rows = session.execute(
            select(AuditCheckpointRow.size, AuditCheckpointRow.root_hash).where(
                AuditCheckpointRow.size.in_(sorted(set(sizes)))
            )
        ).all()
        return {int(size): bytes.fromhex(root) for size, root in rows}

    def last_seq(self, session: Session) -> int:
        return self.head(session)[0]

    def latest_checkpoint(self, session: Session) -> AuditCheckpointRow | None:
        return session.execute(
            select(AuditCheckpointRow).order_by(AuditCheckpointRow.size.desc()).limit(1)
        ).scalar_one_or_none()
