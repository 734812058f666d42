"""Every console session query (flush, never commit)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from trainer_ops.console.models import ConsoleSessionRow


class ConsoleSessionStore:
    def add(self, session: Session, row: ConsoleSessionRow) -> None:
        session.add(row)
        session.flush()

    def find(self, session: Session, id_hash: str) -> ConsoleSessionRow | None:
        return session.get(ConsoleSessionRow, id_hash)

    def remove(self, session: Session, id_hash: str) -> bool:
        result = session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.id_hash == id_hash))
        return bool(getattr(result, "rowcount", 0))

    def remove_expired(self, session: Session, now_ms: int) -> int:
        result = session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.expires_at_ms <= now_ms))
        return int(getattr(result, "rowcount", 0))
