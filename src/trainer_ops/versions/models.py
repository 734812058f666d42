"""One row per version of each ops document; rows are never updated."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class DocumentVersionRow(Base):
    __tablename__ = "document_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    # The whole document as JSON: any version can be read back as it was.
    document: Mapped[str] = mapped_column(Text)
    # What this version changed: {"target", "before", "after"} of the touched part.
    change: Mapped[str] = mapped_column(Text)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    actor_user_id: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("kind", "version", name="uq_document_versions_kind_version"),)
