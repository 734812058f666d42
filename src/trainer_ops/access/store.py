"""Every token query."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from trainer_ops.access.models import ApiTokenRow


class TokenStore:
    def find_by_hash(self, session: Session, token_hash: str) -> ApiTokenRow | None:
        return session.execute(
            select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash)
        ).scalar_one_or_none()

    def find_by_id(self, session: Session, token_id: int) -> ApiTokenRow | None:
        return session.get(ApiTokenRow, token_id)

    def add(self, session: Session, row: ApiTokenRow) -> None:
        session.add(row)
        session.flush()

    def count(self, session: Session) -> int:
        return int(session.execute(select(func.count()).select_from(ApiTokenRow)).scalar_one())

    def list_all(self, session: Session) -> list[ApiTokenRow]:
        return list(session.execute(select(ApiTokenRow).order_by(ApiTokenRow.id)).scalars())

    def revoke(self, session: Session, token_id: int, at_ms: int) -> bool:
        result = session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id, ApiTokenRow.revoked_at_ms.is_(None))
            .values(revoked_at_ms=at_ms)
        )
        return bool(getattr(result, "rowcount", 0))
