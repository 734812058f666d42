"""Activations: recording which ruleset is active, and putting this process's engines where the store says."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trainer_ops.audit.types import SYSTEM_ACTOR, Actor
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.instances import Command, holds
from trainer_ops.engines.models import ActivationRow
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import ReloadCoordinator
from trainer_ops.engines.rulesets import RulesetLibrary, StoredRuleset, content_address
from trainer_ops.engines.store import RulesetStore
from trainer_ops.infra.clock import Clock

INITIAL = "initial"


class Activations:
    """The store decides what is active; this follows it without an ACK round, because the decision was
    already made (by this process's reload or another replica's) and recorded."""

    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        registry: EngineRegistry,
        coordinator: ReloadCoordinator,
        clock: Clock,
        store: RulesetStore,
        rulesets: RulesetLibrary,
    ) -> None:
        self._db = database
        self._writer = writer
        self._registry = registry
        self._coordinator = coordinator
        self._clock = clock
        self._store = store
        self._rulesets = rulesets

    # start --------------------------------------------------------------------------------------------
    def load_active(self) -> None:
        """Load every engine's active ruleset; an engine never activated starts on its built-in one."""
        for engine in self._registry.names():
            with self._db.read() as session:
                activation = self._store.latest_activation(session, engine)
                stored = self._rulesets.resolve(session, engine, activation.target_id) if activation else None
            if activation is None or stored is None:
                stored, version = self._activate_initial(engine), 1
            else:
                version = activation.version
            self._install(engine, stored, version)

    def _activate_initial(self, engine: str) -> StoredRuleset:
        body, digest = content_address(self._registry.types[engine].initial)

        def unit(session: Session) -> None:
            if self._store.latest_activation(session, engine) is not None:
                return  # another process got there first
            self._rulesets.store(
                session,
                actor=SYSTEM_ACTOR,
                engine=engine,
                target_id=INITIAL,
                body=body,
                digest=digest,
                request_id="bootstrap",
            )
            self.record(
                session,
                actor=SYSTEM_ACTOR,
                engine=engine,
                version=1,
                target_id=INITIAL,
                digest=digest,
                previous=None,
                request_id="bootstrap",
            )

        self._writer.run(unit)
        with self._db.read() as session:
            return self._rulesets.resolve(session, engine, INITIAL)

    # following ----------------------------------------------------------------------------------------
    def sync_from_store(self) -> list[str]:
        """Follow reloads made by other replicas: load any engine whose stored activation is newer than
        what this process runs (called by the refresher's poll). Returns the engines it changed."""
        with self._db.read() as session:
            latest = self._store.latest_versions(session)
        changed = []
        for engine, version in latest.items():
            if engine not in self._registry.names():
                continue
            slot = self._registry.slot(engine)
            if slot.active is not None and slot.active.version >= version:
                continue
            if not slot.lock.acquire(blocking=False):
                continue  # a reload here is under way; the next poll looks again
            try:
                if self._install_latest(engine):
                    changed.append(engine)
            finally:
                slot.lock.release()
        return changed

    def catch_up(self, engines: list[str]) -> None:
        """Under the reload lock: start from the store's latest activation, even if this replica has
        not heard of it yet (its notification is in flight), so versions never collide."""
        with self._db.read() as session:
            latest = self._store.latest_versions(session)
        for engine in engines:
            active = self._registry.slot(engine).active
            if engine in latest and (active is None or active.version < latest[engine]):
                self._install_latest(engine)

    def settle_orphans(self) -> list[str]:
        """Engines whose reload was applied here but never decided (its replica died mid-reload) go
        back to the store's active ruleset. Called by the fleet's heartbeat."""
        reinstalled = []
        for engine in self._coordinator.participant.orphans():
            slot = self._registry.slot(engine)
            if not slot.lock.acquire(blocking=False):
                continue  # a reload here decides it
            try:
                if self._install_latest(engine):
                    reinstalled.append(engine)
            finally:
                slot.lock.release()
        return reinstalled

    def _install_latest(self, engine: str) -> bool:
        """Put `engine` on the store's latest activation (the caller holds the engine's lock)."""
        with self._db.read() as session:
            row = self._store.latest_activation(session, engine)
            stored = self._rulesets.resolve(session, engine, row.target_id) if row else None
        if row is None or stored is None:
            return False
        self._install(engine, stored, row.version)
        return True

    def _install(self, engine: str, stored: StoredRuleset, version: int) -> None:
        """Put every instance of `engine` on a ruleset the store already records as active (at start,
        or when another replica activated it): no ACK round, the decision was made and recorded."""
        command = Command(
            engine,
            stored.target_id,
            stored.digest,
            version,
            stored.ruleset or {},
            self._registry.next_epoch(),
        )
        slot = self._registry.slot(engine)
        for instance in slot.instances():
            if not holds(instance, command):  # a reload from another replica already put it there
                instance.restore(command)
        slot.active, slot.applied_at = command, self._clock.now()
        self._coordinator.participant.settle(engine)
        self._registry.notify(engine)

    # recording ----------------------------------------------------------------------------------------
    def record(
        self,
        session: Session,
        *,
        actor: Actor,
        engine: str,
        version: int,
        target_id: str,
        digest: str,
        previous: str | None,
        request_id: str,
    ) -> None:
        """Inside a writer unit: the activation row that makes `target_id` active at `version`. The
        store's unique (engine, version) refuses a second row, so two replicas cannot both win."""
        self._store.add_activation(
            session,
            ActivationRow(
                engine=engine,
                version=version,
                target_id=target_id,
                digest=digest,
                previous_target_id=previous,
                actor_user_id=actor.user_id,
                request_id=request_id,
                created_at_ms=int(self._clock.now() * 1000),
            ),
        )
