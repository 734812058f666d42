"""Change requests (migration 0010): one mutable row each; its reviews are a JSON list in the row, so a
state change is one row update under that row's lock."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class ChangeRequestRow(Base):
    __tablename__ = "change_requests"
    __table_args__ = (Index("ix_change_requests_state_apply_at", "state", "apply_at_ms"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    operation: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)  # JSON: the write's body
    params: Mapped[str] = mapped_column(Text)  # JSON: the route's parameters (featureKey, place)
    base_version: Mapped[int] = mapped_column(Integer)
    # JSON (migration 0011): what an operation that is not a document was asked against; null for
    # document writes, whose base_version says it all.
    base: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[str] = mapped_column(String(128))
    author_role: Mapped[str] = mapped_column(String(16))
    author_scope: Mapped[str] = mapped_column(Text)  # JSON
    min_approvals: Mapped[int] = mapped_column(Integer)
    approvers: Mapped[str] = mapped_column(Text)  # JSON list of roles
    self_approval: Mapped[bool] = mapped_column(Boolean)
    reviews: Mapped[str] = mapped_column(Text)  # JSON list: {userId, role, verdict, comment, at}
    apply_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bypass_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: why it ended so
    applied_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(BigInteger)
