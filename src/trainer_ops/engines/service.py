"""Engine use cases: hot reload with rollback, all-or-none activation (release rollback), the overview."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action, Actor
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.activations import Activations
from trainer_ops.engines.instances import Command
from trainer_ops.engines.recording import Recorder
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import Observer, Outcome, ReloadCoordinator
from trainer_ops.engines.rulesets import RulesetLibrary, StoredRuleset
from trainer_ops.engines.scopes import lane, resolve
from trainer_ops.engines.store import RulesetStore
from trainer_ops.engines.types import SYSTEM, canonical_engine
from trainer_ops.engines.validation import ruleset_errors
from trainer_ops.errors import Conflict, Invalid, NotFound
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
        self._recorder = Recorder(
            writer=writer,
            audit=audit,
            registry=registry,
            coordinator=coordinator,
            activations=self._activations,
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

    def ruleset_schema(self, name: str) -> dict[str, Any]:
        """The JSON Schema (2020-12) an engine type's rulesets must match; 404 for an unknown type, as
        for any resource that does not exist (`mission` is accepted for `missions`)."""
        engine = canonical_engine(name, known=self.registry.names())
        if engine is None:
            raise NotFound(
                "engines.no_such_type",
                f"no engine type {name!r}; known: {', '.join(self.registry.names())}",
            )
        return self.registry.types[engine].schema

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
        scope: str | None = None,
        expect_version: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Spec 3.1 with rollback: 200 applied (or unchanged), else a 409 problem (engines.rolled_back).
        With `scope` (a place code the caller was allowed), the ruleset becomes active for that place
        only, and only the instances it reaches are asked (ADR 0025). `observer` hears each instance's
        answer and the rollback as they happen (ReloadCoordinator). `expect_version`: refuse (409
        engines.activation_moved) unless the lane's activation is still that version (0: none), checked
        under the engine's lock (a change request's base, ADR 0026); `details` go into the audit entry."""
        engine = self.engine_name(engine, allow_system=True)
        actor = actor_of(principal)
        if engine == SYSTEM:
            return self._reload_system(actor, target_id, request_id, details)
        stored = self._valid_ruleset(engine, target_id)
        with self._locked([engine]):
            self._activations.catch_up([engine])
            slot = self.registry.slot(engine)
            active = slot.command_for(scope)
            found = active.version if active else 0
            if expect_version is not None and found != expect_version:
                raise Conflict(
                    "engines.activation_moved",
                    f"{lane(engine, scope)} is at activation {found}, no longer {expect_version}: "
                    "another reload landed since; nothing changed",
                    extra={"currentVersion": found},
                )
            if active is not None and active.target_id == target_id:
                return {
                    "status": "unchanged",
                    "type": engine,
                    "scope": scope,
                    "targetId": target_id,
                    "previousTargetId": target_id,
                    "version": active.version,
                    "durationMs": 0.0,
                    "instances": [],
                }
            command = Command(
                engine,
                target_id,
                stored.digest,
                slot.latest_version() + 1,
                stored.ruleset or {},
                self.registry.next_epoch(),
                scope,
            )
            key = lane(engine, scope)
            outcome = self._coordinator.apply({key: command}, observer=observer)
            plan = {key: (command, active)}
            self._recorder.finish(
                outcome, actor=actor, plan=plan, request_id=request_id, action=Action.RELOAD, details=details
            )
            return {
                "status": "applied",
                "type": engine,
                "scope": scope,
                "targetId": target_id,
                "previousTargetId": active.target_id if active else None,
                "version": command.version,
                "durationMs": round(outcome.duration_ms, 2),
                "instances": [r.as_json() for r in outcome.replies[key]],
            }

    def reload_base(self, engine: str, target_id: str, scope: str | None) -> tuple[str, Command | None]:
        """The checks a reload would meet before its round (422 unknown type or invalid ruleset, 404 no
        such ruleset), and the lane's activation now: what a held reload is asked against (ADR 0026)."""
        engine = self.engine_name(engine, allow_system=True)
        if engine == SYSTEM:
            return engine, None
        self._valid_ruleset(engine, target_id)
        return engine, self.registry.slot(engine).command_for(scope)

    def _valid_ruleset(self, engine: str, target_id: str) -> StoredRuleset:
        """The stored ruleset (404), validated unless this process validated its digest before (422)."""
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
        return stored

    def _reload_system(
        self, actor: Actor, target_id: str, request_id: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        result = self._system_reload()
        self._writer.run(
            lambda session: self._audit.append(
                session,
                actor=actor,
                action=Action.RELOAD,
                target=SYSTEM,
                after=result,
                request_id=request_id,
                details={"targetId": target_id, **(details or {})},
            )
        )
        return {"status": "applied", "type": SYSTEM, "targetId": target_id, **result}

    def activate_many(
        self,
        *,
        principal: Principal,
        plan: dict[str, str],
        request_id: str,
        details: dict[str, Any],
        scoped: dict[str, dict[str, str]] | None = None,
    ) -> Outcome:
        """Make `plan` ({engine: targetId}, global) and `scoped` ({engine: {scope: targetId}}) active
        at once, every instance each reaches, or change nothing."""
        actor = actor_of(principal)
        wanted: list[tuple[str, str | None, str]] = [(e, None, t) for e, t in plan.items()]
        wanted += [(e, scope, t) for e, targets in (scoped or {}).items() for scope, t in targets.items()]
        with self._db.read() as session:
            stored = [(e, scope, self._rulesets.resolve(session, e, t)) for e, scope, t in wanted]
        engines = sorted({e for e, _, _ in wanted})
        with self._locked(engines):
            self._activations.catch_up(engines)
            commands: dict[str, tuple[Command, Command | None]] = {}
            versions = {e: self.registry.slot(e).latest_version() for e in engines}
            for engine, scope, ruleset in stored:
                active = self.registry.slot(engine).command_for(scope)
                if active is not None and active.target_id == ruleset.target_id:
                    continue
                versions[engine] += 1
                commands[lane(engine, scope)] = (
                    Command(
                        engine,
                        ruleset.target_id,
                        ruleset.digest,
                        versions[engine],
                        ruleset.ruleset or {},
                        self.registry.next_epoch(),
                        scope,
                    ),
                    active,
                )
            outcome = self._coordinator.apply({key: c for key, (c, _) in commands.items()})
            self._recorder.finish(
                outcome,
                actor=actor,
                plan=commands,
                request_id=request_id,
                action=Action.PUBLISH,
                details=details,
            )
            return outcome

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

    def scoped_activations(self, engine: str) -> list[dict[str, Any]]:
        """The engine's activations for one place each (ADR 0025), as latest_activations says them,
        with the place: the latest per place, in place-code order."""
        engine = self.engine_name(engine)
        with self._db.read() as session:
            rows = self._store.scoped_activations(session, engine)
        return [
            {
                "scope": row.scope,
                "targetId": row.target_id,
                "version": row.version,
                "digest": row.digest,
                "at": row.created_at_ms / 1000,
                "by": row.actor_user_id,
            }
            for row in rows
        ]

    def active_at(self, engine: str, place: str | None) -> dict[str, Any]:
        """What an instance at `place` runs (None: a global instance), and which activation that is:
        its most specific place's with one, else the global one (ADR 0025)."""
        engine = self.engine_name(engine)
        slot = self.registry.slot(engine)
        command = slot.resolve(place, self.registry.places())
        if command is None:
            raise NotFound("engines.nothing_loaded", f"{engine} has no ruleset loaded")
        return {
            "type": engine,
            "scope": place,
            "targetId": command.target_id,
            "digest": command.digest,
            "version": command.version,
            "activation": {"scope": command.scope, "targetId": command.target_id, "version": command.version},
            "ruleset": command.ruleset,
        }

    def scoped_targets(self, engine: str) -> dict[str, str]:
        """The scoped activations in force for `engine`: place code -> targetId."""
        return {scope: c.target_id for scope, c in self.registry.slot(engine).scoped.items()}

    def scoped_restore_plan(
        self, engine: str, *, recorded: dict[str, str], global_target: str
    ) -> dict[str, str]:
        """The scoped targets that put every place of `engine` back on what it ran when `recorded` (scope
        -> targetId) and `global_target` were in force: the recorded ones, and for a place activated
        since, what it resolved to then (scoped activations are never removed, ADR 0025)."""
        index = self.registry.places()
        plan = dict(recorded)
        for scope in self.registry.slot(engine).scoped:
            if scope not in plan:
                plan[scope] = resolve(scope, index, recorded, global_target)
        return plan

    def scoped_uses(self, session: Session) -> list[tuple[str, str]]:
        """(engine, place code) of every scoped activation in force: places in use (ADR 0023)."""
        return [(r.engine, r.scope) for r in self._store.scoped_activations(session) if r.scope]

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
                    "scoped": [
                        {"scope": scope, "targetId": c.target_id, "version": c.version}
                        for scope, c in sorted(slot.scoped.items())
                    ],
                }
            )
        return out
