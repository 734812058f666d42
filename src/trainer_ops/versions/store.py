"""Every document-version query."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from trainer_ops.versions.models import DocumentVersionRow

_COLUMNS = list(DocumentVersionRow.__table__.columns)
_INSERT = insert(DocumentVersionRow.__table__)  # type: ignore[arg-type]


class VersionStore:
    def latest(self, session: Session, kind: str) -> DocumentVersionRow | None:
        return session.execute(
            select(DocumentVersionRow)
            .where(DocumentVersionRow.kind == kind)
            .order_by(DocumentVersionRow.version.desc())
            .limit(1)
        ).scalar_one_or_none()

    def at(self, session: Session, kind: str, version: int) -> DocumentVersionRow | None:
        return session.execute(
            select(DocumentVersionRow).where(
                DocumentVersionRow.kind == kind, DocumentVersionRow.version == version
            )
        ).scalar_one_or_none()

    def latest_versions(self, session: Session) -> dict[str, int]:
        rows = session.execute(
            select(DocumentVersionRow.kind, func.max(DocumentVersionRow.version)).group_by(
                DocumentVersionRow.kind
            )
        ).all()
        return {kind: int(version) for kind, version in rows}

    def add(self, session: Session, row: DocumentVersionRow) -> None:
        # Core insert on the session's connection: the write path's hottest statement, no ORM flush.
        values = {c.key: getattr(row, c.key) for c in _COLUMNS if c.key != "id"}
        session.connection().execute(_INSERT, values)

    def history(
        self, session: Session, kind: str, *, before_version: int | None, limit: int
    ) -> list[DocumentVersionRow]:
        stmt = select(DocumentVersionRow).where(DocumentVersionRow.kind == kind)
        if before_version is not None:
            stmt = stmt.where(DocumentVersionRow.version < before_version)
        stmt = stmt.order_by(DocumentVersionRow.version.desc()).limit(limit)
        return list(session.execute(stmt).scalars())
