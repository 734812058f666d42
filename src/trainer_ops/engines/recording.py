"""After a reload round: record the activations and the audit entry, or audit the rollback and refuse.

`plan` is lane -> (the command, the activation it replaces at its scope; None: the first there). A
round that was applied but cannot be recorded is put back: unrecorded means not applied (ADR 0011).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action, Actor
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.activations import Activations
from trainer_ops.engines.instances import Command
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import Outcome, ReloadCoordinator
from trainer_ops.errors import Conflict

Plan = dict[str, tuple[Command, Command | None]]


def _targets(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        key: {
            "targetId": c.target_id,
            "version": c.version,
            "previousTargetId": p.target_id if p else None,
            **({"scope": c.scope} if c.scope else {}),
        }
        for key, (c, p) in plan.items()
    }


class Recorder:
    def __init__(
        self,
        *,
        writer: BatchWriter,
        audit: AuditService,
        registry: EngineRegistry,
        coordinator: ReloadCoordinator,
        activations: Activations,
    ) -> None:
        self._writer = writer
        self._audit = audit
        self._registry = registry
        self._coordinator = coordinator
        self._activations = activations

    def finish(
        self,
        outcome: Outcome,
        *,
        actor: Actor,
        plan: Plan,
        request_id: str,
        action: Action,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record what happened; a failed reload is audited with the NACKs and answered 409."""
        if not outcome.applied:
            self._refuse(
                outcome, actor=actor, plan=plan, request_id=request_id, action=action, details=details
            )
        try:
            self._writer.run(
                lambda session: self._record(session, outcome, actor, plan, request_id, action, details)
            )
        except Exception as exc:
            self._put_back(plan)
            if isinstance(exc, IntegrityError):
                raise Conflict(
                    "engines.concurrent_reload",
                    "another replica changed this engine at the same time; nothing changed here, retry",
                ) from None
            raise

    def _refuse(
        self,
        outcome: Outcome,
        *,
        actor: Actor,
        plan: Plan,
        request_id: str,
        action: Action,
        details: dict[str, Any] | None,
    ) -> None:
        scopes = sorted({c.scope for c, _ in plan.values() if c.scope})
        engines = sorted({c.engine for c, _ in plan.values()})
        failing = [r.as_json() for r in outcome.failing()]
        self._writer.run(
            lambda session: self._audit.append(
                session,
                actor=actor,
                action=action,
                target=",".join(engines) or "engines",
                after=_targets(plan),
                outcome="rolled_back",
                request_id=request_id,
                details={
                    **(details or {}),
                    **({"scope": scopes[0]} if len(scopes) == 1 else {}),
                    "reason": outcome.reason(),
                    "failingInstances": failing,
                },
            )
        )
        # RFC 9457: `status` is the HTTP status and `reason` our stable token; the state is
        # `outcome` and the free text (which instance failed, and why) is in `detail`.
        extra: dict[str, Any] = {"outcome": "rolled_back", "engines": engines, "failingInstances": failing}
        if scopes:
            extra["scopes"] = scopes
        raise Conflict(
            "engines.rolled_back", f"reload failed and was rolled back: {outcome.reason()}", extra=extra
        )

    def _record(
        self,
        session: Session,
        outcome: Outcome,
        actor: Actor,
        plan: Plan,
        request_id: str,
        action: Action,
        details: dict[str, Any] | None = None,
    ) -> None:
        for command, previous in plan.values():
            self._activations.record(
                session,
                actor=actor,
                engine=command.engine,
                version=command.version,
                target_id=command.target_id,
                digest=command.digest,
                previous=previous.target_id if previous else None,
                request_id=request_id,
                scope=command.scope,
            )
        if action is Action.PUBLISH:
            return  # the release service writes the publish entry, with the release
        for key, target in _targets(plan).items():
            command = plan[key][0]
            self._audit.append(
                session,
                actor=actor,
                action=action,
                target=command.engine,
                after=target,
                request_id=request_id,
                # The place the activation holds for: Step 1's audit `scope` (audit/service.py).
                details={
                    **(details or {}),
                    "durationMs": round(outcome.duration_ms, 2),
                    **({"scope": command.scope} if command.scope else {}),
                },
            )

    def _put_back(self, plan: Plan) -> None:
        """Not recorded, so not applied: every slot and instance goes back to what the store says."""
        for command, previous in plan.values():
            slot = self._registry.slot(command.engine)
            if previous is not None:
                slot.set_command(previous)
            elif command.scope:
                slot.scoped = {k: v for k, v in slot.scoped.items() if k != command.scope}
        self._coordinator.put_back([(c.engine, c.scope) for c, _ in plan.values()])
