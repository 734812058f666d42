"""Every audit query. Flushes, never commits: the caller's transaction carries the entry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from trainer_ops.audit.models import AuditCheckpointRow, AuditEntryRow
from trainer_ops.audit.types import GENESIS_HASH

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


_INSERT = insert(AuditEntryRow.__table__)  # type: ignore[arg-type]


class AuditStore:
    def lock_chain(self, session: Session) -> None:
        """Serialise appenders for the rest of this transaction. SQLite writers already hold the write
        lock (BEGIN IMMEDIATE); PostgreSQL takes a transaction-scoped advisory lock."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})

    def head(self, session: Session) -> tuple[int, str, int]:
        """(seq, hash, ts_ms) of the last entry, or (0, genesis, 0) for an empty log."""
        row = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.hash, AuditEntryRow.ts_ms)
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        ).first()
        return (int(row[0]), str(row[1]), int(row[2])) if row else (0, GENESIS_HASH, 0)

    def append_many(self, session: Session, rows: list[dict[str, Any]]) -> None:
        # Core insert on the session's connection: no ORM unit-of-work bookkeeping per entry.
        session.connection().execute(_INSERT, rows)

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
        seq order instead of sorting the window.
        """
        stmt = select(AuditEntryRow)
        if user_id is not None:
            stmt = stmt.where(AuditEntryRow.user_id == user_id)
        if actions:
            stmt = stmt.where(AuditEntryRow.action.in_(list(actions)))
        if from_ms is not None:
            first = session.execute(
                select(AuditEntryRow.seq)
                .where(AuditEntryRow.ts_ms >= from_ms)
                .order_by(AuditEntryRow.ts_ms, AuditEntryRow.seq)
                .limit(1)
            ).scalar()
            if first is None:
                return []
            stmt = stmt.where(AuditEntryRow.seq >= first)
        if to_ms is not None:
            last = session.execute(
                select(AuditEntryRow.seq)
                .where(AuditEntryRow.ts_ms <= to_ms)
                .order_by(AuditEntryRow.ts_ms.desc(), AuditEntryRow.seq.desc())
                .limit(1)
            ).scalar()
            if last is None:
                return []
            stmt = stmt.where(AuditEntryRow.seq <= last)
        if before_seq is not None:
            stmt = stmt.where(AuditEntryRow.seq < before_seq)
        stmt = stmt.order_by(AuditEntryRow.seq.desc()).limit(limit)
        return list(session.execute(stmt).scalars())

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

    def last_seq(self, session: Session) -> int:
        return self.head(session)[0]

    def latest_checkpoint(self, session: Session) -> AuditCheckpointRow | None:
        return session.execute(
            select(AuditCheckpointRow).order_by(AuditCheckpointRow.size.desc()).limit(1)
        ).scalar_one_or_none()
