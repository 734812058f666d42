"""Every query of change requests (flush, never commit)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainer_ops.changerequests.models import ChangeRequestRow
from trainer_ops.changerequests.types import State


class ChangeRequestStore:
    def add(self, session: Session, row: ChangeRequestRow) -> None:
        session.add(row)
        session.flush()

    def find(self, session: Session, request_id: str) -> ChangeRequestRow | None:
        return session.get(ChangeRequestRow, request_id)

    def find_for_update(self, session: Session, request_id: str) -> ChangeRequestRow | None:
        """The row, locked until the transaction ends (PostgreSQL; SQLite's write lock already is)."""
        query = select(ChangeRequestRow).where(ChangeRequestRow.id == request_id).with_for_update()
        return session.execute(query).scalar_one_or_none()

    def take_due(self, session: Session, request_id: str, now_ms: int) -> ChangeRequestRow | None:
        """The row if it is still approved and due, locked; None if another replica holds or took it.
        SKIP LOCKED: a replica never waits for a change another replica is applying."""
        query = (
            select(ChangeRequestRow)
            .where(
                ChangeRequestRow.id == request_id,
                ChangeRequestRow.state == State.APPROVED,
                ChangeRequestRow.apply_at_ms <= now_ms,
            )
            .with_for_update(skip_locked=True)
        )
        return session.execute(query).scalar_one_or_none()

    def take_stale_applying(self, session: Session, before_ms: int) -> list[ChangeRequestRow]:
        """Requests `applying` since before `before_ms`, locked; another replica skips them."""
        query = (
            select(ChangeRequestRow)
            .where(ChangeRequestRow.state == State.APPLYING, ChangeRequestRow.updated_at_ms < before_ms)
            .order_by(ChangeRequestRow.id)
            .limit(100)
            .with_for_update(skip_locked=True)
        )
        return list(session.execute(query).scalars())

    def due_ids(self, session: Session, now_ms: int, *, limit: int = 100) -> list[str]:
        query = (
            select(ChangeRequestRow.id)
            .where(ChangeRequestRow.state == State.APPROVED, ChangeRequestRow.apply_at_ms <= now_ms)
            .order_by(ChangeRequestRow.apply_at_ms, ChangeRequestRow.id)
            .limit(limit)
        )
        return list(session.execute(query).scalars())

    def newest(self, session: Session, *, state: str | None, limit: int) -> list[ChangeRequestRow]:
        query = select(ChangeRequestRow).order_by(
            ChangeRequestRow.created_at_ms.desc(), ChangeRequestRow.id.desc()
        )
        if state is not None:
            query = query.where(ChangeRequestRow.state == state)
        return list(session.execute(query.limit(limit)).scalars())
