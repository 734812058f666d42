"""Every audit query. Flushes, never commits: the caller's transaction carries the entry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from trainer_ops.audit.models import AuditEntryRow, AuditHeadRow
from trainer_ops.audit.types import GENESIS_HASH


class AuditStore:
    def lock_head(self, session: Session) -> AuditHeadRow:
        """The chain head, locked for this transaction (on SQLite the write lock already is)."""
        stmt = select(AuditHeadRow).where(AuditHeadRow.id == 1)
        if session.get_bind().dialect.name != "sqlite":
            stmt = stmt.with_for_update()
        head = session.execute(stmt).scalar_one_or_none()
        if head is None:
            head = AuditHeadRow(id=1, seq=0, hash=GENESIS_HASH)
            session.add(head)
            session.flush()
        return head

    def append(self, session: Session, row: AuditEntryRow) -> None:
        session.add(row)
        session.execute(update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=row.seq, hash=row.hash))
        session.flush()

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
        """Newest first, keyset-paged on seq (never OFFSET)."""
        stmt = select(AuditEntryRow)
        if user_id is not None:
            stmt = stmt.where(AuditEntryRow.user_id == user_id)
        if actions:
            stmt = stmt.where(AuditEntryRow.action.in_(list(actions)))
        if from_ms is not None:
            stmt = stmt.where(AuditEntryRow.ts_ms >= from_ms)
        if to_ms is not None:
            stmt = stmt.where(AuditEntryRow.ts_ms <= to_ms)
        if before_seq is not None:
            stmt = stmt.where(AuditEntryRow.seq < before_seq)
        stmt = stmt.order_by(AuditEntryRow.seq.desc()).limit(limit)
        return list(session.execute(stmt).scalars())

    def all_in_order(self, session: Session) -> list[AuditEntryRow]:
        return list(session.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq)).scalars())
