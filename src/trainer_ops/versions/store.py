"""Every document-version query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from trainer_ops.db.libpq import defer, exec_params
from trainer_ops.versions.models import DocumentVersionRow

# The write path's two statements as plain SQL on the driver (ADR 0031): run once per change on the
# writer thread, where building, compiling and loading an ORM select cost ~20x the query itself.
WRITE_COLUMNS = (
    "kind",
    "version",
    "document",
    "change",
    "created_at_ms",
    "actor_user_id",
    "actor_role",
    "request_id",
)
_LATEST = "SELECT version, document FROM document_versions WHERE kind = {} ORDER BY version DESC LIMIT 1"
_INSERT = (
    f"INSERT INTO document_versions ({', '.join(WRITE_COLUMNS)}) "  # noqa: S608 - constant names
    f"VALUES ({', '.join(['{}'] * len(WRITE_COLUMNS))})"
)
# sqlite3 takes `?`; PostgreSQL's statements go through libpq (`$n`, db/libpq.py).
_SQLITE = (_LATEST.format("?"), _INSERT.format(*["?"] * len(WRITE_COLUMNS)))
_PG = (
    _LATEST.format("$1").encode(),
    _INSERT.format(*[f"${n + 1}" for n in range(len(WRITE_COLUMNS))]).encode(),
)


class VersionStore:
    def current(self, session: Session, kind: str) -> tuple[int, str] | None:
        """(version, document JSON) of the newest version of `kind`, for a change: read inside the
        writer's transaction, under the chain lock, so no other writer can add a version meanwhile.
        On the session's own DB-API connection, so in its transaction."""
        connection = session.connection()
        driver: Any = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            result = exec_params(driver, _PG[0], (kind,))
            if result.ntuples == 0:
                return None
            version, document = (result.get_value(0, column) or b"" for column in range(2))
            return int(version), document.decode()
        cursor = driver.cursor()
        try:
            cursor.execute(_SQLITE[0], (kind,))
            row = cursor.fetchone()
        finally:
            cursor.close()
        return (int(row[0]), str(row[1])) if row else None

    def insert(self, session: Session, values: tuple[Any, ...]) -> None:
        """One version row, its values in WRITE_COLUMNS order; no ORM object, no statement compiled.
        On PostgreSQL it is deferred: it goes with the connection's next message (db/libpq.py)."""
        connection = session.connection()
        driver: Any = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            defer(driver, _PG[1], values)
            return
        cursor = driver.cursor()
        try:
            cursor.execute(_SQLITE[1], values)
        finally:
            cursor.close()

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

    def history(
        self, session: Session, kind: str, *, before_version: int | None, limit: int
    ) -> list[DocumentVersionRow]:
        stmt = select(DocumentVersionRow).where(DocumentVersionRow.kind == kind)
        if before_version is not None:
            stmt = stmt.where(DocumentVersionRow.version < before_version)
        stmt = stmt.order_by(DocumentVersionRow.version.desc()).limit(limit)
        return list(session.execute(stmt).scalars())
