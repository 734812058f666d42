"""The key fingerprints table (migration 0005): append-only, one row per key and generation."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class KeyFingerprintRow(Base):
    """A key the store belongs to: its fingerprint (never the key), and for a signing key its public
    key and its signature over the rotation that made it current. The newest generation is current."""

    __tablename__ = "key_fingerprints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32))
    generation: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (UniqueConstraint("name", "generation", name="uq_key_fingerprints_name_generation"),)
