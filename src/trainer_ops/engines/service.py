"""Engine use cases: store rulesets (immutable, content-addressed), load the active ones at start, hot
reload with automatic rollback, and all-or-none activation of several engines (release rollback)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import SYSTEM_ACTOR, Action, Actor, canonical
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.instances import Command
from trainer_ops.engines.models import ActivationRow, RulesetBlobRow, RulesetRow
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import Outcome, ReloadCoordinator
from trainer_ops.engines.store import RulesetStore
from trainer_ops.engines.types import SYSTEM, canonical_engine
from trainer_ops.engines.validation import ruleset_errors
from trainer_ops.errors import BadRequest, Conflict, Invalid, NotFound
from trainer_ops.infra.clock import Clock

TARGET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
INITIAL = "initial"
RULESET_CACHE_SIZE = 64


@dataclass(frozen=True)
class StoredRuleset:
    engine: str
    target_id: str
    digest: str
    size_bytes: int
    created_at_ms: int
    created_by: str
    ruleset: dict[str, Any] | None = None

    def as_json(self, *, active: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.engine,
            "targetId": self.target_id,
            "digest": self.digest,
            "sizeBytes": self.size_bytes,
            "createdAt": self.created_at_ms // 1000,
            "createdBy": self.created_by,
            "active": self.target_id == active,
        }
        if self.ruleset is not None:
            out["ruleset"] = self.ruleset
        return out


class EngineService:
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
    ) -> None:
        self._db = database
        self._writer = writer
        self._audit = audit
        self.registry = registry
        self._coordinator = coordinator
        self._clock = clock
        self._system_reload = system_reload
        self._store = store or RulesetStore()
        # Rulesets never change once stored: keep the recently used ones parsed.
        self._cache: OrderedDict[tuple[str, str], StoredRuleset] = OrderedDict()
        self._cache_lock = threading.Lock()

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
        engine = self.engine_name(engine)
        if not TARGET_ID.fullmatch(target_id):
            raise Invalid(
                "engines.bad_target_id",
                "targetId: letters, digits, '.', '_', '-', up to 128",
                errors=[{"field": "targetId", "message": "letters, digits, '.', '_' and '-'"}],
            )
        try:
            ruleset = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("engines.bad_json", "the ruleset is not valid JSON") from None
        errors = ruleset_errors(self.registry.types[engine], ruleset)
        if errors:
            raise Invalid(
                "engines.invalid_ruleset",
                f"the {engine} ruleset does not validate ({len(errors)} error(s))",
                errors=errors,
            )
        body = canonical(ruleset)
        digest = hashlib.sha256(body).hexdigest()
        self.registry.slot(engine).local.validated.add(digest)
        return self._writer.run(
            lambda session: self._store_ruleset(
                session,
                actor=actor_of(principal),
                engine=engine,
                target_id=target_id,
                body=body,
                digest=digest,
                request_id=request_id,
            )
        )

    def _store_ruleset(
        self,
        session: Session,
        *,
        actor: Actor,
        engine: str,
        target_id: str,
        body: bytes,
        digest: str,
        request_id: str,
    ) -> tuple[StoredRuleset, bool]:
        now_ms = int(self._clock.now() * 1000)
        existing = self._store.find(session, engine, target_id)
        if existing is not None:
            if existing.digest != digest:
                raise Conflict(
                    "engines.ruleset_immutable",
                    f"{engine} ruleset {target_id!r} exists with other "
                    "content; rulesets are immutable, upload it under a new targetId",
                )
            return self._stored(existing, len(body)), False
        if self._store.blob(session, digest) is None:
            self._store.add_blob(
                session,
                RulesetBlobRow(
                    digest=digest, content=body.decode(), size_bytes=len(body), created_at_ms=now_ms
                ),
            )
        row = RulesetRow(
            engine=engine, target_id=target_id, digest=digest, created_at_ms=now_ms, created_by=actor.user_id
        )
        self._store.add(session, row)
        self._audit.append(
            session,
            actor=actor,
            action=Action.RULESET_UPLOADED,
            target=f"{engine}/{target_id}",
            after={"digest": digest, "sizeBytes": len(body)},
            request_id=request_id,
        )
        return self._stored(row, len(body)), True

    @staticmethod
    def _stored(row: RulesetRow, size: int, ruleset: dict[str, Any] | None = None) -> StoredRuleset:
        return StoredRuleset(
            row.engine, row.target_id, row.digest, size, row.created_at_ms, row.created_by, ruleset
        )

    def list_rulesets(self, engine: str) -> list[StoredRuleset]:
        engine = self.engine_name(engine)
        with self._db.read() as session:
            return [self._stored(row, size) for row, size in self._store.list_for(session, engine)]

    def get_ruleset(self, engine: str, target_id: str) -> StoredRuleset:
        engine = self.engine_name(engine)
        with self._db.read() as session:
            found = self._resolve(session, engine, target_id)
        return found

    def _resolve(self, session: Session, engine: str, target_id: str) -> StoredRuleset:
        key = (engine, target_id)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        found = self._load(session, engine, target_id)
        with self._cache_lock:
            self._cache[key] = found
            while len(self._cache) > RULESET_CACHE_SIZE:
                self._cache.popitem(last=False)
        return found

    def _load(self, session: Session, engine: str, target_id: str) -> StoredRuleset:
        row = self._store.find(session, engine, target_id)
        blob = self._store.blob(session, row.digest) if row else None
        if row is None or blob is None:
            raise NotFound(
                "engines.ruleset_not_found",
                f"no {engine} ruleset {target_id!r}; upload it with "
                f"PUT /operator/ops/engines/{engine}/rulesets/{target_id}",
            )
        return self._stored(row, blob.size_bytes, orjson.loads(blob.content))

    # start --------------------------------------------------------------------------------------------
    def load_active(self) -> None:
        """Load every engine's active ruleset; an engine never activated starts on its built-in one."""
        for engine in self.registry.names():
            with self._db.read() as session:
                activation = self._store.latest_activation(session, engine)
                stored = self._resolve(session, engine, activation.target_id) if activation else None
            if activation is None or stored is None:
                stored, version = self._activate_initial(engine), 1
            else:
                version = activation.version
            self._install(engine, stored, version)

    def _install(self, engine: str, stored: StoredRuleset, version: int) -> None:
        """Put every instance of `engine` on a ruleset the store already records as active (at start,
        or when another replica activated it): no ACK round, the decision was made and recorded."""
        command = Command(
            engine, stored.target_id, stored.digest, version, stored.ruleset or {}, self.registry.next_epoch()
        )
        slot = self.registry.slot(engine)
        for instance in slot.instances():
            instance.restore(command)
        slot.active, slot.applied_at = command, self._clock.now()
        self.registry.notify(engine)

    def _activate_initial(self, engine: str) -> StoredRuleset:
        initial = self.registry.types[engine].initial
        body = canonical(initial)
        digest = hashlib.sha256(body).hexdigest()

        def unit(session: Session) -> None:
            if self._store.latest_activation(session, engine) is not None:
                return  # another process got there first
            self._store_ruleset(
                session,
                actor=SYSTEM_ACTOR,
                engine=engine,
                target_id=INITIAL,
                body=body,
                digest=digest,
                request_id="bootstrap",
            )
            self._record(
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
            return self._resolve(session, engine, INITIAL)

    def sync_from_store(self) -> list[str]:
        """Follow reloads made by other replicas: load any engine whose stored activation is newer than
        what this process runs (called by the refresher's poll). Returns the engines it changed."""
        with self._db.read() as session:
            latest = self._store.latest_versions(session)
        changed = []
        for engine, version in latest.items():
            if engine not in self.registry.names():
                continue
            slot = self.registry.slot(engine)
            if slot.active is not None and slot.active.version >= version:
                continue
            if not slot.lock.acquire(blocking=False):
                continue  # a reload here is under way; the next poll looks again
            try:
                with self._db.read() as session:
                    row = self._store.latest_activation(session, engine)
                    stored = self._resolve(session, engine, row.target_id) if row else None
                if row is None or stored is None:
                    continue
                self._install(engine, stored, row.version)
                changed.append(engine)
            finally:
                slot.lock.release()
        return changed

    # reload -------------------------------------------------------------------------------------------
    def hot_reload(
        self, *, principal: Principal, engine: str, target_id: str, request_id: str
    ) -> dict[str, Any]:
        """Spec 3.1 with rollback: 200 applied (or unchanged), else 409 rolled_back with the reasons."""
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
            stored = self._resolve(session, engine, target_id)
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
            outcome = self._coordinator.apply({engine: command})
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
            stored = {engine: self._resolve(session, engine, target) for engine, target in plan.items()}
        with self._locked(sorted(plan)):
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
            raise Conflict(
                "engines.rolled_back",
                f"reload failed and was rolled back: {outcome.reason()}",
                extra={
                    "status": "rolled_back",
                    "engines": sorted(plan),
                    "reason": outcome.reason(),
                    "failingInstances": failing,
                },
            )

        def unit(session: Session) -> None:
            for engine, (command, previous) in plan.items():
                self._record(
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
            stored = self._resolve(session, failed.engine, previous)
        return Command(
            failed.engine,
            previous,
            stored.digest,
            failed.version - 1,
            stored.ruleset or {},
            self.registry.next_epoch(),
        )

    def _record(
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
            yield
        finally:
            for lock in taken:
                lock.release()

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
