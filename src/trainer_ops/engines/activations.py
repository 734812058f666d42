"""Activations: recording which ruleset is active, and putting this process's engines where the store says."""

from __future__ import annotations

from sqlalchemy.orm import Session

from trainer_ops.audit.types import SYSTEM_ACTOR, Actor
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.instances import Command, holds, place_of
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
        """Load every engine's active rulesets; an engine never activated starts on its built-in one."""
        for engine in self._registry.names():
            with self._db.read() as session:
                activation = self._store.latest_activation(session, engine)
                stored = self._rulesets.resolve(session, engine, activation.target_id) if activation else None
            if activation is None or stored is None:
                initial = self._activate_initial(engine)
                if not self._install_latest(engine):  # its recorded ruleset is unreadable: the built-in
                    self._install(self._command(engine, initial, 1, None), {})
                continue
            self._install_latest(engine)

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
            if slot.active is not None and slot.latest_version() >= version:
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
            slot = self._registry.slot(engine)
            if engine in latest and (slot.active is None or slot.latest_version() < latest[engine]):
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
        """Put `engine` on the store's latest activations, global and scoped (the caller holds the
        engine's lock, or runs at start)."""
        with self._db.read() as session:
            row = self._store.latest_activation(session, engine)
            stored = self._rulesets.resolve(session, engine, row.target_id) if row else None
            scoped = [
                (r, self._rulesets.resolve(session, engine, r.target_id))
                for r in self._store.scoped_activations(session, engine)
            ]
        if row is None or stored is None:
            return False
        self._install(
            self._command(engine, stored, row.version, None),
            {r.scope: self._command(engine, s, r.version, r.scope) for r, s in scoped if r.scope},
        )
        return True

    def _command(self, engine: str, stored: StoredRuleset, version: int, scope: str | None) -> Command:
        return Command(
            engine,
            stored.target_id,
            stored.digest,
            version,
            stored.ruleset or {},
            self._registry.next_epoch(),
            scope,
        )

    def _install(self, active: Command, scoped: dict[str, Command]) -> None:
        """Put every instance of the engine on what the store records as active for its place (at start,
        or when another replica activated it): no ACK round, the decision was made and recorded."""
        engine = active.engine
        slot = self._registry.slot(engine)
        before = slot.scoped
        slot.active, slot.scoped, slot.applied_at = active, scoped, self._clock.now()
        index = self._registry.places()
        for instance in slot.instances():
            command = slot.resolve(place_of(instance), index)
            # An instance a reload from another replica already put there is not sent it again.
            if command is not None and not holds(instance, command):
                instance.restore(command)
        self._coordinator.participant.settle_engine(engine)
        self._registry.notify(engine)
        for scope, command in scoped.items():
            old = before.get(scope)
            if old is None or (old.digest, old.version) != (command.digest, command.version):
                self._registry.notify(engine, command)

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
        scope: str | None = None,
    ) -> None:
        """Inside a writer unit: the activation row that makes `target_id` active at `version`, for
        every place (`scope` None) or for `scope` only. The store's unique (engine, version) refuses a
        second row, so two replicas cannot both win."""
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
                scope=scope,
            ),
        )
