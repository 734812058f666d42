"""Every query of the key fingerprints. Flushes, never commits."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from trainer_ops.audit.keys.models import KeyFingerprintRow
from trainer_ops.audit.models import AuditCheckpointRow, AuditEntryRow


class KeyStore:
    def has_table(self, session: Session) -> bool:
        """False on a store not migrated to 0005 yet (only commands that never migrate ask)."""
        return inspect(session.connection()).has_table(KeyFingerprintRow.__tablename__)

    def history(self, session: Session) -> dict[str, list[KeyFingerprintRow]]:
        """Every recorded key by name, oldest generation first."""
        rows = session.execute(
            select(KeyFingerprintRow).order_by(KeyFingerprintRow.name, KeyFingerprintRow.generation)
        ).scalars()
        history: dict[str, list[KeyFingerprintRow]] = {}
        for row in rows:
            history.setdefault(row.name, []).append(row)
        return history

    def add(self, session: Session, rows: list[KeyFingerprintRow]) -> None:
        session.add_all(rows)
        session.flush()

    def last_entry(self, session: Session) -> tuple[int, str, str] | None:
        """(seq, hash, mac) of the audit log's newest entry."""
        row = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.hash, AuditEntryRow.mac)
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        ).first()
        return (int(row[0]), str(row[1]), str(row[2])) if row else None

    def latest_checkpoint_note(self, session: Session) -> str | None:
        return session.execute(
            select(AuditCheckpointRow.note).order_by(AuditCheckpointRow.size.desc()).limit(1)
        ).scalar_one_or_none()
