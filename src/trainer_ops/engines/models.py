"""Ruleset tables: content-addressed blobs, named rulesets per engine, and activations (all append-only)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from trainer_ops.db.base import Base


class RulesetBlobRow(Base):
    __tablename__ = "ruleset_blobs"

    # SHA-256 of the RFC 8785 canonical form: the same content is stored once, whatever its name.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at_ms: Mapped[int] = mapped_column(BigInteger)


class RulesetRow(Base):
    __tablename__ = "rulesets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engine: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(128))

    __table_args__ = (UniqueConstraint("engine", "target_id", name="uq_rulesets_engine_target"),)


class ActivationRow(Base):
    """One row per ruleset that became active on an engine (version N of that engine), for every place
    (`scope` NULL) or for one place code only (migration 0009, ADR 0025). Versions are one sequence per
    engine across scopes."""

    __tablename__ = "engine_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    engine: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    target_id: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64))
    previous_target_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    actor_user_id: Mapped[str] = mapped_column(String(128))
    request_id: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    scope: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        UniqueConstraint("engine", "version", name="uq_engine_activations_version"),
        Index("ix_engine_activations_engine_scope", "engine", "scope", "version"),
    )


class ReplicaRow(Base):
    """A running replica, kept fresh by its heartbeat (migration 0006; its index 0008)."""

    __tablename__ = "fleet_replicas"

    replica_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at_ms: Mapped[int] = mapped_column(BigInteger)
    seen_at_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_fleet_replicas_seen_at_ms", "seen_at_ms"),)


class InstanceRow(Base):
    """An SDK engine instance: bound to the user who first attached it, held by one replica's stream."""

    __tablename__ = "engine_instances"

    instance_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    engines: Mapped[str] = mapped_column(String(512))
    replica_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    attached_at_ms: Mapped[int] = mapped_column(BigInteger)
    seen_at_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_engine_instances_replica_seen", "replica_id", "seen_at_ms"),)
