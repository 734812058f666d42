"""Release tables: the releases and the history of which one is current (both append-only)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class ReleaseRow(Base):
    __tablename__ = "releases"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    notes: Mapped[str] = mapped_column(Text)
    date: Mapped[int] = mapped_column(BigInteger)
    included_engines: Mapped[str] = mapped_column(Text)
    # {"engines": {engine: {"targetId", "digest", "version"}}, "config": {kind: version}}
    snapshot: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))


class ReleaseEventRow(Base):
    """publish (a new release became current) or rollback (an older one did)."""

    __tablename__ = "release_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
