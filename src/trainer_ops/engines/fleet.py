"""This replica's place in the fleet: who it is, which replicas are alive, who owns an engine instance
id, fleet-wide reload epochs and the fleet-wide reload lock (ADR 0019).

With a bus that reaches only this process (SQLite, or notifications off) the fleet is this process:
epochs come from a counter, the lock is the engine slot's own, and only this replica answers reloads.
Instance bindings are kept in the store either way, so an instance id stays its owner's, and every
replica beats either way, so `view` (the console's Overview) lists whatever replicas share the store.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from trainer_ops.db.engine import Database
from trainer_ops.engines.fleet_store import FleetStore
from trainer_ops.engines.models import InstanceRow
from trainer_ops.errors import Conflict
from trainer_ops.infra.bus import Bus
from trainer_ops.infra.clock import Clock

# Bindings and replicas not seen for this long are deleted (housekeeping; they stop counting at the TTL).
PRUNE_AFTER_MS = 24 * 3600 * 1000
# The most SDK instances a view of the fleet lists (the console's Overview says when there are more).
VIEW_INSTANCES = 200


@dataclass(frozen=True)
class ReplicaSeen:
    replica_id: str
    started_at: float | None  # epoch seconds; None: this replica, absent from the fleet's table
    seen_at: float | None  # its last heartbeat
    this: bool  # the replica answering


@dataclass(frozen=True)
class InstanceSeen:
    """An SDK engine instance held by a live replica's stream."""

    instance_id: str
    user_id: str  # the user its binding belongs to
    engines: tuple[str, ...]
    replica_id: str
    attached_at: float  # epoch seconds
    seen_at: float


@dataclass(frozen=True)
class FleetView:
    replicas: list[ReplicaSeen]
    instances: list[InstanceSeen]
    more: bool  # more instances are alive than `instances` lists


class Fleet:
    def __init__(
        self,
        *,
        database: Database,
        bus: Bus,
        clock: Clock,
        ttl_seconds: float,
        store: FleetStore | None = None,
    ) -> None:
        # Unique even where every container's server runs as pid 1 on a host of the same name.
        self.replica_id = f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(2)}"
        self.bus = bus
        self.ttl_seconds = ttl_seconds
        self._db = database
        self._clock = clock
        self._store = store or FleetStore()
        self._counter = itertools.count(1)

    @property
    def shared(self) -> bool:
        return self.bus.shared

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    def _stale(self, row: InstanceRow) -> bool:
        return self._now_ms() - row.seen_at_ms > self.ttl_seconds * 1000

    # membership --------------------------------------------------------------------------------------
    def beat(self, held: list[str]) -> None:
        """Heartbeat: this replica and the instances its streams hold are alive (every TTL/3)."""
        now = self._now_ms()
        with self._db.write() as session:
            self._store.beat(session, replica_id=self.replica_id, held=held, now_ms=now)
            self._store.prune(session, before_ms=now - PRUNE_AFTER_MS)

    def leave(self) -> None:
        with self._db.write() as session:
            self._store.forget_replica(session, replica_id=self.replica_id, now_ms=self._now_ms())

    def peers(self) -> set[str]:
        """The replicas that must answer a reload: every one seen within the TTL, and this one."""
        if not self.shared:
            return {self.replica_id}
        since = self._now_ms() - int(self.ttl_seconds * 1000)
        with self._db.read() as session:
            return self._store.live_replicas(session, since_ms=since) | {self.replica_id}

    def view(self, limit: int = VIEW_INSTANCES) -> FleetView:
        """The replicas alive (seen within the TTL, as a reload counts them) and the SDK instances they
        hold (seen within the TTL too), from the store: the same answer whichever replica is asked.
        This replica is always listed; without its own row (no heartbeat yet, or they fail) with no times."""
        since = self._now_ms() - int(self.ttl_seconds * 1000)
        with self._db.read() as session:
            replicas = self._store.replica_rows(session, since_ms=since)
            held = self._store.held_instances(session, since_ms=since, limit=limit + 1)
        seen = [
            ReplicaSeen(
                r.replica_id, r.started_at_ms / 1000, r.seen_at_ms / 1000, r.replica_id == self.replica_id
            )
            for r in replicas
        ]
        if not any(r.this for r in seen):
            seen.append(ReplicaSeen(self.replica_id, None, None, True))
        instances = [
            InstanceSeen(
                row.instance_id,
                row.user_id,
                tuple(e for e in row.engines.split(",") if e),
                row.replica_id or "",
                row.attached_at_ms / 1000,
                row.seen_at_ms / 1000,
            )
            for row in held[:limit]
        ]
        return FleetView(seen, instances, len(held) > limit)

    # instance identity -------------------------------------------------------------------------------
    def attach(self, *, instance_id: str, user_id: str, engines: list[str]) -> bool:
        """Hold `instance_id` on this replica for `user_id`. False: another user owns the id."""
        with self._db.write() as session:
            row = self._store.find_instance(session, instance_id)
            if row is not None and row.user_id != user_id and not self._stale(row):
                return False
            self._store.put_instance(
                session,
                instance_id=instance_id,
                user_id=user_id,
                engines=",".join(engines),
                replica_id=self.replica_id,
                now_ms=self._now_ms(),
            )
        return True

    def owner(self, instance_id: str) -> str | None:
        """The user an instance id is bound to; None when nobody holds it (never, or gone stale)."""
        with self._db.read() as session:
            row = self._store.find_instance(session, instance_id)
            if row is None or self._stale(row):
                return None
            return row.user_id

    # epochs and the reload lock ----------------------------------------------------------------------
    def next_epoch(self) -> int:
        """Strictly increasing across the fleet: an instance keeps the newest command it was sent."""
        if not self.shared:
            return next(self._counter)
        with self._db.guarded(), self._db.engine.connect() as connection:
            epoch = self._store.next_epoch(connection)
            connection.commit()
        return epoch

    @contextlib.contextmanager
    def lock(self, engines: list[str]) -> Iterator[None]:
        """One reload per engine in the whole fleet: a second one anywhere is refused (409)."""
        if not self.shared:
            yield
            return
        # Only the calls are bounded (ADR 0016), not the round between them: the lock is held idle.
        with self._db.guarded():
            connection = self._db.engine.connect()
        taken: list[str] = []
        try:
            with self._db.guarded():
                for engine in engines:
                    if not self._store.try_lock(connection, engine):
                        raise Conflict(
                            "engines.reload_in_progress",
                            f"a reload of {engine} is in progress on another replica; retry when it has "
                            "finished",
                        )
                    taken.append(engine)
                connection.commit()  # session-level locks: no transaction stays open while held
            yield
        finally:
            try:
                with self._db.guarded():
                    for engine in taken:
                        self._store.unlock(connection, engine)
                    connection.commit()
            except Exception:
                connection.invalidate()  # never hand a connection that may still hold a lock to the pool
            connection.close()
