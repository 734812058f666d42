"""Every fleet query: replicas and their heartbeats, engine instance bindings, reload epochs and the
fleet-wide reload lock (PostgreSQL advisory locks)."""

from __future__ import annotations

import zlib

from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.orm import Session

from trainer_ops.engines.models import InstanceRow, ReplicaRow

# The first key of the two-key advisory locks that guard reloads; the second is the engine's CRC-32.
RELOAD_LOCK_SPACE = 0x7E10AD


def lock_key(engine: str) -> int:
    return zlib.crc32(engine.encode()) & 0x7FFFFFFF


class FleetStore:
    # replicas ----------------------------------------------------------------------------------------
    def beat(self, session: Session, *, replica_id: str, held: list[str], now_ms: int) -> None:
        """Say this replica is alive, and so is every instance its streams hold (`held`); instances
        whose streams here have ended are no longer held here."""
        row = session.get(ReplicaRow, replica_id)
        if row is None:
            session.add(ReplicaRow(replica_id=replica_id, started_at_ms=now_ms, seen_at_ms=now_ms))
        else:
            row.seen_at_ms = now_ms
        if held:
            session.execute(
                update(InstanceRow)
                .where(InstanceRow.instance_id.in_(held), InstanceRow.replica_id == replica_id)
                .values(seen_at_ms=now_ms)
            )
        session.execute(
            update(InstanceRow)
            .where(InstanceRow.replica_id == replica_id, InstanceRow.instance_id.not_in(held))
            .values(replica_id=None)
        )
        session.flush()

    def live_replicas(self, session: Session, *, since_ms: int) -> set[str]:
        rows = session.execute(select(ReplicaRow.replica_id).where(ReplicaRow.seen_at_ms >= since_ms))
        return {replica for (replica,) in rows}

    def replica_rows(self, session: Session, *, since_ms: int) -> list[ReplicaRow]:
        """The replicas seen since `since_ms`, the longest running first (ix_fleet_replicas_seen_at_ms)."""
        query = (
            select(ReplicaRow)
            .where(ReplicaRow.seen_at_ms >= since_ms)
            .order_by(ReplicaRow.started_at_ms, ReplicaRow.replica_id)
        )
        return list(session.scalars(query))

    def held_instances(self, session: Session, *, since_ms: int, limit: int) -> list[InstanceRow]:
        """The SDK instances seen since `since_ms` whose replica was also seen since then, by replica and
        id, at most `limit`: one join, each live replica's instances read through
        ix_engine_instances_replica_seen. Bindings no replica holds (replica_id NULL) are not listed."""
        query = (
            select(InstanceRow)
            .join(ReplicaRow, ReplicaRow.replica_id == InstanceRow.replica_id)
            .where(ReplicaRow.seen_at_ms >= since_ms, InstanceRow.seen_at_ms >= since_ms)
            .order_by(InstanceRow.replica_id, InstanceRow.instance_id)
            .limit(limit)
        )
        return list(session.scalars(query))

    def forget_replica(self, session: Session, *, replica_id: str, now_ms: int) -> None:
        """A replica that stops: it leaves the fleet; its instances stay bound to their owners."""
        session.execute(delete(ReplicaRow).where(ReplicaRow.replica_id == replica_id))
        session.execute(
            update(InstanceRow)
            .where(InstanceRow.replica_id == replica_id)
            .values(replica_id=None, seen_at_ms=now_ms)
        )

    def prune(self, session: Session, *, before_ms: int) -> None:
        """Forget replicas and bindings not seen since `before_ms` (kill -9, long gone instances)."""
        session.execute(delete(ReplicaRow).where(ReplicaRow.seen_at_ms < before_ms))
        session.execute(delete(InstanceRow).where(InstanceRow.seen_at_ms < before_ms))

    # instances ---------------------------------------------------------------------------------------
    def find_instance(self, session: Session, instance_id: str) -> InstanceRow | None:
        return session.get(InstanceRow, instance_id)

    def put_instance(
        self, session: Session, *, instance_id: str, user_id: str, engines: str, replica_id: str, now_ms: int
    ) -> None:
        row = session.get(InstanceRow, instance_id)
        if row is None:
            session.add(
                InstanceRow(
                    instance_id=instance_id,
                    user_id=user_id,
                    engines=engines,
                    replica_id=replica_id,
                    attached_at_ms=now_ms,
                    seen_at_ms=now_ms,
                )
            )
        else:
            row.user_id, row.engines, row.replica_id = user_id, engines, replica_id
            row.attached_at_ms = row.seen_at_ms = now_ms
        session.flush()

    # epochs and locks (PostgreSQL) -------------------------------------------------------------------
    def next_epoch(self, connection: Connection) -> int:
        return int(connection.execute(text("SELECT nextval('trainer_ops_reload_epoch')")).scalar_one())

    def try_lock(self, connection: Connection, engine: str) -> bool:
        locked = connection.execute(
            text("SELECT pg_try_advisory_lock(:space, :key)"),
            {"space": RELOAD_LOCK_SPACE, "key": lock_key(engine)},
        ).scalar_one()
        return bool(locked)

    def unlock(self, connection: Connection, engine: str) -> None:
        connection.execute(
            text("SELECT pg_advisory_unlock(:space, :key)"),
            {"space": RELOAD_LOCK_SPACE, "key": lock_key(engine)},
        )
