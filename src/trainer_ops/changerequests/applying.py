"""Applying a change request that is not a document write (a hot reload, a release create or rollback):
claimed into `applying` in one writer unit, run as the author outside any transaction (a fleet round
takes seconds and the writer must not wait for it), then its outcome recorded in a second unit. A
request left `applying` by a replica that stopped is settled by the scheduler, never run twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.types import Principal, Role
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action as AuditAction
from trainer_ops.audit.types import Actor
from trainer_ops.changerequests import types
from trainer_ops.changerequests.actions import APPLYING_LEASE_MS, TRANSIENT, Action, Base
from trainer_ops.changerequests.models import ChangeRequestRow
from trainer_ops.changerequests.store import ChangeRequestStore
from trainer_ops.changerequests.types import State
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import TrainerOpsError

log = logging.getLogger("trainer_ops.changerequests")
INTERRUPTED = "change_requests.interrupted"


@dataclass(frozen=True)
class Claimed:
    """A request taken into `applying` (its row committed so), with what running it needs."""

    id: str
    operation: str
    body: Any
    params: dict[str, Any]
    base: Base
    author: Principal
    bypass_reason: str | None


@dataclass(frozen=True)
class Ran:
    """How running a claimed request ended: its view, and the operation's answer or its refusal."""

    view: dict[str, Any]
    result: dict[str, Any] | None = None
    error: TrainerOpsError | None = None


def record(
    audit: AuditService,
    session: Session,
    row: ChangeRequestRow,
    actor: Actor,
    event: str,
    req: str,
    details: Any,
) -> None:
    """A change request's own audit entry (action `change_request`, `details.event`)."""
    audit.append(
        session,
        actor=actor,
        action=AuditAction.CHANGE_REQUEST,
        target=f"change-request:{row.id}",
        after={"state": row.state},
        request_id=req,
        details={"event": event, "kind": row.kind, **{k: v for k, v in details.items() if v is not None}},
    )


def author_of(row: ChangeRequestRow) -> Principal:
    scope = types.loads(row.author_scope) or {}
    return Principal(
        row.author_user_id,
        Role(row.author_role),
        region=scope.get("region"),
        country=scope.get("country"),
        branch=scope.get("branch"),
    )


def actor_of_author(row: ChangeRequestRow) -> Actor:
    return Actor(row.author_user_id, row.author_role, types.loads(row.author_scope))


class Applier:
    def __init__(
        self,
        *,
        writer: BatchWriter,
        audit: AuditService,
        store: ChangeRequestStore,
        now_ms: Callable[[], int],
        actions: dict[str, Action],
        view: Callable[[ChangeRequestRow], dict[str, Any]],
    ) -> None:
        self._writer = writer
        self._audit = audit
        self._store = store
        self._now_ms = now_ms
        self.actions = actions
        self._view = view

    def base_of(self, row: ChangeRequestRow) -> Base:
        return Base(row.base_version, types.loads(row.base) or {})

    def claim(self, row: ChangeRequestRow) -> Claimed:
        """In the caller's unit, under the row's lock: from now on no other caller or replica runs it."""
        row.state = State.APPLYING
        row.updated_at_ms = self._now_ms()
        return Claimed(
            id=row.id,
            operation=row.operation,
            body=types.loads(row.body),
            params=types.loads(row.params),
            base=self.base_of(row),
            author=author_of(row),
            bypass_reason=row.bypass_reason,
        )

    def run(self, claimed: Claimed, req: str, *, on_conflict: State, retry: bool) -> Ran:
        """Run the operation as its author and record how it ended. A round refused only because another
        holds the engine (TRANSIENT) goes back to `approved`, due now, when `retry`: the scheduler tries
        it again within a second; otherwise it ends `on_conflict` like any refusal."""
        details: dict[str, Any] = {"changeRequest": claimed.id}
        if claimed.bypass_reason is not None:
            details["bypassReason"] = claimed.bypass_reason
        try:
            result = self.actions[claimed.operation].run(
                author=claimed.author,
                base=claimed.base,
                body=claimed.body,
                params=claimed.params,
                request_id=req,
                details=details,
            )
        except TrainerOpsError as error:
            failed = error
            again = retry and failed.code in TRANSIENT
            view = self._writer.run(lambda s: self._refused(s, claimed.id, failed, req, on_conflict, again))
            return Ran(view=view, error=failed)
        view = self._writer.run(lambda s: self._applied(s, claimed.id, result, req))
        return Ran(view=view, result=result)

    def _applied(self, session: Session, request_id: str, result: dict[str, Any], req: str) -> dict[str, Any]:
        row = self._still_applying(session, request_id)
        if row is None:
            return {}
        version = result.get("version")
        row.state = State.APPLIED
        row.applied_version = version if isinstance(version, int) else None
        row.outcome = orjson.dumps({"status": result.get("status", "applied")}).decode()
        row.updated_at_ms = self._now_ms()
        record(
            self._audit, session, row, actor_of_author(row), "applied", req, {"version": row.applied_version}
        )
        return self._view(row)

    def _refused(
        self,
        session: Session,
        request_id: str,
        error: TrainerOpsError,
        req: str,
        on_conflict: State,
        again: bool,
    ) -> dict[str, Any]:
        row = self._still_applying(session, request_id)
        if row is None:
            return {}
        outcome = {"reason": error.code, "detail": error.message}
        row.updated_at_ms = self._now_ms()
        if again:
            # Nothing was tried (the engine was busy): not an event of the request, so not audited.
            row.state = State.APPROVED
            row.apply_at_ms = row.apply_at_ms or self._now_ms()
            row.outcome = orjson.dumps({**outcome, "retry": True}).decode()
            return self._view(row)
        row.state = on_conflict
        row.outcome = orjson.dumps(outcome).decode()
        record(
            self._audit, session, row, actor_of_author(row), on_conflict.value, req, {"reason": error.code}
        )
        return self._view(row)

    def _still_applying(self, session: Session, request_id: str) -> ChangeRequestRow | None:
        row = self._store.find_for_update(session, request_id)
        if row is None or row.state != State.APPLYING:
            # Settled as interrupted meanwhile: only if this round outlived the lease by far.
            log.warning("change request %s was no longer applying when its round ended", request_id)
            return None
        return row

    def settle_interrupted(self) -> int:
        """Requests left `applying` past the lease (their replica stopped mid-round) end `suspended`
        with reason change_requests.interrupted. Never run again: the round may have landed; the audit
        log says (its entries carry `details.changeRequest`), and the author asks again if it did not."""

        def unit(session: Session) -> int:
            rows = self._store.take_stale_applying(session, self._now_ms() - APPLYING_LEASE_MS)
            for row in rows:
                row.state = State.SUSPENDED
                row.outcome = orjson.dumps(
                    {
                        "reason": INTERRUPTED,
                        "detail": "the replica applying it stopped before recording how it ended; the "
                        "audit log shows whether it landed (details.changeRequest)",
                    }
                ).decode()
                row.updated_at_ms = self._now_ms()
                record(
                    self._audit,
                    session,
                    row,
                    actor_of_author(row),
                    "suspended",
                    f"scheduled:{row.id}",
                    {"reason": INTERRUPTED},
                )
            return len(rows)

        return self._writer.run(unit)

    def diff(self, row: ChangeRequestRow) -> dict[str, Any]:
        base = self.base_of(row)
        diff: dict[str, Any] = {"baseVersion": row.base_version, "base": base.detail}
        try:
            now = self.actions[row.operation].diff(base, types.loads(row.body), types.loads(row.params))
        except TrainerOpsError as error:
            now = {"error": {"reason": error.code, "detail": error.message}}
        # A closed request shows where the world is now, not what it would still change.
        diff.update(now if row.state in types.OPEN else {"currentVersion": now.get("currentVersion")})
        diff.setdefault("currentVersion", row.base_version)
        if diff["currentVersion"] is None:
            diff["currentVersion"] = row.base_version
        return diff
