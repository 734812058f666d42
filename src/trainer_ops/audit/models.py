"""Audit tables: the entries and the signed checkpoints."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(256))
    request_id: Mapped[str] = mapped_column(String(64))
    # The RFC 8785 canonical JSON of the entry: the bytes the hash covers.
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_user_seq", "user_id", "seq"),
        Index("ix_audit_user_action_seq", "user_id", "action", "seq"),
        Index("ix_audit_action_seq", "action", "seq"),
        Index("ix_audit_ts", "ts_ms", "seq"),
    )


class AuditCheckpointRow(Base):
    """A signed checkpoint: tree size, Merkle root and chain head at that size, and the signed note."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    chain_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    # The Merkle frontier at this size (JSON list of hex): the next checkpoint hashes only newer entries.
    frontier: Mapped[str] = mapped_column(Text)
