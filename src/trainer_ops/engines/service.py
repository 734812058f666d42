"""Engine use cases: hot reload with rollback, all-or-none activation (release rollback), the overview."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action, Actor
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.activations import Activations
from trainer_ops.engines.instances import Command
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import Observer, Outcome, ReloadCoordinator
from trainer_ops.engines.rulesets import RulesetLibrary, StoredRuleset
from trainer_ops.engines.store import RulesetStore
from trainer_ops.engines.types import SYSTEM, canonical_engine
from trainer_ops.engines.validation import ruleset_errors
from trainer_ops.errors import Conflict, Invalid
from trainer_ops.infra.clock import Clock


class EngineService:
    """What routes and releases call. Storing and reading rulesets lives in `RulesetLibrary`, following
    the store's activations in `Activations`; this class decides reloads and delegates the rest."""

    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        audit: AuditService,
        registry: EngineRegistry,
        coordinator: ReloadCoordinator,
        clock: Clock,
        system_reload: Callable[[], dict[str, Any]],
        store: RulesetStore | None = None,
        fleet_lock: Callable[[list[str]], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._db = database
        self._writer = writer
        self._audit = audit
        self.registry = registry
        self._coordinator = coordinator
        self._clock = clock
        self._system_reload = system_reload
        store = store or RulesetStore()
        self._store = store
        self._rulesets = RulesetLibrary(
            database=database, writer=writer, audit=audit, registry=registry, clock=clock, store=store
        )
        self._activations = Activations(
            database=database,
            writer=writer,
            registry=registry,
            coordinator=coordinator,
            clock=clock,
            store=store,
            rulesets=self._rulesets,
        )
        # One reload per engine in the whole fleet (engines/fleet.py); this process's locks come first.
        self._fleet_lock = fleet_lock or (lambda _engines: contextlib.nullcontext())
        coordinator.participant.resolve = self._rulesets.ruleset_for

    # names --------------------------------------------------------------------------------------------
    def engine_name(self, name: str, *, allow_system: bool = False) -> str:
        if allow_system and name == SYSTEM:
            return SYSTEM
        engine = canonical_engine(name, known=self.registry.names())
        if engine is None:
            known = ", ".join([*self.registry.names(), *([SYSTEM] if allow_system else [])])
            raise Invalid(
                "engines.unknown_type",
                f"unknown engine type {name!r}; known: {known} ('mission' is accepted for 'missions')",
                errors=[{"field": "type", "message": f"unknown engine type {name!r}"}],
            )
        return engine

    # rulesets -----------------------------------------------------------------------------------------
    def upload(
        self, *, principal: Principal, engine: str, target_id: str, raw: bytes, request_id: str
    ) -> tuple[StoredRuleset, bool]:
        """Store a ruleset under (engine, targetId). The same content again is a no-op (created False);
        other content under a stored name is refused: rulesets are immutable."""
        return self._rulesets.upload(
            principal=principal,
            engine=self.engine_name(engine),
            target_id=target_id,
            raw=raw,
            request_id=request_id,
        )

    def list_rulesets(self, engine: str) -> list[StoredRuleset]:
        return self._rulesets.list_for(self.engine_name(engine))

    def get_ruleset(self, engine: str, target_id: str) -> StoredRuleset:
        return self._rulesets.get(self.engine_name(engine), target_id)

    # activations --------------------------------------------------------------------------------------
    def load_active(self) -> None:
        """Load every engine's active ruleset; an engine never activated starts on its built-in one."""
        self._activations.load_active()

    def sync_from_store(self) -> list[str]:
        """Follow reloads made by other replicas (the refresher's poll); returns the engines it changed."""
        return self._activations.sync_from_store()

    def settle_orphans(self) -> list[str]:
        """Put engines whose reload was never decided back on the store's active ruleset (heartbeat)."""
        return self._activations.settle_orphans()

    # reload -------------------------------------------------------------------------------------------
    def hot_reload(
        self,
        *,
        principal: Principal,
        engine: str,
        target_id: str,
        request_id: str,
        observer: Observer | None = None,
    ) -> dict[str, Any]:
        """Spec 3.1 with rollback: 200 applied (or unchanged), else a 409 problem (engines.rolled_back).
        `observer` hears each instance's answer and the rollback as they happen (ReloadCoordinator)."""
        engine = self.engine_name(engine, allow_system=True)
        actor = actor_of(principal)
        if engine == SYSTEM:
            result = self._system_reload()
            self._writer.run(
                lambda session: self._audit.append(
                    session,
                    actor=actor,
                    action=Action.RELOAD,
                    target=SYSTEM,
                    after=result,
                    request_id=request_id,
                    details={"targetId": target_id},
                )
            )
            return {"status": "applied", "type": SYSTEM, "targetId": target_id, **result}
        with self._db.read() as session:
            stored = self._rulesets.resolve(session, engine, target_id)
        validated = self.registry.slot(engine).local.validated
        if stored.digest not in validated:
            errors = ruleset_errors(self.registry.types[engine], stored.ruleset)
            if errors:
                raise Invalid(
                    "engines.invalid_ruleset",
                    f"{engine} ruleset {target_id!r} does not validate; nothing changed",
                    errors=errors,
                )
            validated.add(stored.digest)
        with self._locked([engine]):
            self._activations.catch_up([engine])
            active = self.registry.slot(engine).active
            if active is not None and active.target_id == target_id:
                return {
                    "status": "unchanged",
                    "type": engine,
                    "targetId": target_id,
                    "previousTargetId": target_id,
                    "version": active.version,
                    "durationMs": 0.0,
                    "instances": [],
                }
            version = (active.version if active else 0) + 1
            command = Command(
                engine, target_id, stored.digest, version, stored.ruleset or {}, self.registry.next_epoch()
            )
            outcome = self._coordinator.apply({engine: command}, observer=observer)
            previous = active.target_id if active else None
            self._finish(
                outcome,
                actor=actor,
                plan={engine: (command, previous)},
                request_id=request_id,
                action=Action.RELOAD,
            )
            return {
                "status": "applied",
                "type": engine,
                "targetId": target_id,
                "previousTargetId": previous,
                "version": version,
                "durationMs": round(outcome.duration_ms, 2),
                "instances": [r.as_json() for r in outcome.replies[engine]],
            }

    def activate_many(
        self, *, principal: Principal, plan: dict[str, str], request_id: str, details: dict[str, Any]
    ) -> Outcome:
        """Make `plan` ({engine: targetId}) active on every engine at once, or change nothing."""
        actor = actor_of(principal)
        with self._db.read() as session:
            stored = {
                engine: self._rulesets.resolve(session, engine, target) for engine, target in plan.items()
            }
        with self._locked(sorted(plan)):
            self._activations.catch_up(sorted(plan))
            commands: dict[str, tuple[Command, str | None]] = {}
            for engine, ruleset in stored.items():
                active = self.registry.slot(engine).active
                if active is not None and active.target_id == ruleset.target_id:
                    continue
                version = (active.version if active else 0) + 1
                commands[engine] = (
                    Command(
                        engine,
                        ruleset.target_id,
                        ruleset.digest,
                        version,
                        ruleset.ruleset or {},
                        self.registry.next_epoch(),
                    ),
                    active.target_id if active else None,
                )
            outcome = self._coordinator.apply({e: c for e, (c, _) in commands.items()})
            self._finish(
                outcome,
                actor=actor,
                plan=commands,
                request_id=request_id,
                action=Action.PUBLISH,
                details=details,
            )
            return outcome

    def _finish(
        self,
        outcome: Outcome,
        *,
        actor: Actor,
        plan: dict[str, tuple[Command, str | None]],
        request_id: str,
        action: Action,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record what happened; a failed reload is audited with the NACKs and answered 409."""
        targets = {
            e: {"targetId": c.target_id, "version": c.version, "previousTargetId": p}
            for e, (c, p) in plan.items()
        }
        if not outcome.applied:
            failing = [r.as_json() for r in outcome.failing()]
            self._writer.run(
                lambda session: self._audit.append(
                    session,
                    actor=actor,
                    action=action,
                    target=",".join(plan) or "engines",
                    after=targets,
                    outcome="rolled_back",
                    request_id=request_id,
                    details={**(details or {}), "reason": outcome.reason(), "failingInstances": failing},
                )
            )
            # RFC 9457: `status` is the HTTP status and `reason` our stable token; the state is
            # `outcome` and the free text (which instance failed, and why) is in `detail`.
            raise Conflict(
                "engines.rolled_back",
                f"reload failed and was rolled back: {outcome.reason()}",
                extra={"outcome": "rolled_back", "engines": sorted(plan), "failingInstances": failing},
            )

        def unit(session: Session) -> None:
            for engine, (command, previous) in plan.items():
                self._activations.record(
                    session,
                    actor=actor,
                    engine=engine,
                    version=command.version,
                    target_id=command.target_id,
                    digest=command.digest,
                    previous=previous,
                    request_id=request_id,
                )
            if action is Action.PUBLISH:
                return  # the release service writes the publish entry, with the release
            for engine, target in targets.items():
                self._audit.append(
                    session,
                    actor=actor,
                    action=action,
                    target=engine,
                    after=target,
                    request_id=request_id,
                    details={"durationMs": round(outcome.duration_ms, 2)},
                )

        try:
            self._writer.run(unit)
        except Exception as exc:
            # Not recorded, so not applied: put every instance back where the store says it is.
            self._coordinator.apply({e: self._restore_command(p, c) for e, (c, p) in plan.items() if p})
            if isinstance(exc, IntegrityError):
                raise Conflict(
                    "engines.concurrent_reload",
                    "another replica changed this engine at the same time; nothing changed here, retry",
                ) from None
            raise

    def _restore_command(self, previous: str, failed: Command) -> Command:
        with self._db.read() as session:
            stored = self._rulesets.resolve(session, failed.engine, previous)
        return Command(
            failed.engine,
            previous,
            stored.digest,
            failed.version - 1,
            stored.ruleset or {},
            self.registry.next_epoch(),
        )

    @contextlib.contextmanager
    def _locked(self, engines: list[str]) -> Iterator[None]:
        """One reload at a time per engine: a second one is refused (409), not queued."""
        taken = []
        try:
            for engine in engines:
                lock = self.registry.slot(engine).lock
                if not lock.acquire(blocking=False):
                    raise Conflict(
                        "engines.reload_in_progress",
                        f"a reload of {engine} is in progress; retry when it has finished",
                    )
                taken.append(lock)
            with self._fleet_lock(engines):
                yield
        finally:
            for lock in taken:
                lock.release()

    def latest_activations(self) -> dict[str, dict[str, Any]]:
        """Each engine's latest recorded activation: which ruleset, at which version, when, by whom."""
        out: dict[str, dict[str, Any]] = {}
        with self._db.read() as session:
            for engine in self.registry.names():
                row = self._store.latest_activation(session, engine)
                if row is not None:
                    out[engine] = {
                        "targetId": row.target_id,
                        "version": row.version,
                        "digest": row.digest,
                        "at": row.created_at_ms / 1000,
                        "by": row.actor_user_id,
                    }
        return out

    def overview(self) -> list[dict[str, Any]]:
        now = self._clock.now()
        out = []
        for name in self.registry.names():
            slot = self.registry.slot(name)
            out.append(
                {
                    "type": name,
                    "status": slot.status(now),
                    "activeTargetId": slot.active.target_id if slot.active else None,
                    "version": slot.active.version if slot.active else 0,
                    "digest": slot.active.digest if slot.active else None,
                    "appliedAt": int(slot.applied_at) if slot.applied_at else None,
                    "lastRollbackAt": int(slot.last_rollback_at) if slot.last_rollback_at else None,
                    "lastRollbackReason": slot.last_rollback_reason or None,
                    "instances": [i.instance_id for i in slot.instances()],
                }
            )
        return out
