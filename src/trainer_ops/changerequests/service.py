"""Change-request use cases: submit, approve, reject, cancel, apply (checking the base version), show
with the diff against the current version, and apply what is due exactly once across replicas. Document
writes apply in one writer unit here, through `documents.DocumentWrites`; fleet operations (reloads,
releases) through `applying.Applier`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Approvals, Policy, Principal
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Action as AuditAction
from trainer_ops.audit.types import Actor
from trainer_ops.changerequests import types, views
from trainer_ops.changerequests.actions import Action
from trainer_ops.changerequests.applying import Applier, Claimed, record
from trainer_ops.changerequests.documents import DocumentWrites, Target
from trainer_ops.changerequests.models import ChangeRequestRow
from trainer_ops.changerequests.store import ChangeRequestStore
from trainer_ops.changerequests.types import OPEN, State
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Conflict, Forbidden, Invalid, NotFound, PreconditionFailed
from trainer_ops.http.governance import Proposal, Submitted
from trainer_ops.infra.clock import Clock
from trainer_ops.versions.service import DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument

MAX_PAGE = 500
# Why a reviewer is refused (403, audited as access_denied): each a stable reason (ADR 0002).
REFUSALS = {
    "self_approval": "change_requests.self_approval",
    "not_approver": "change_requests.not_approver",
    "not_author": "change_requests.not_author",
}


@dataclass(frozen=True)
class _Done:
    view: dict[str, Any]
    document: VersionedDocument | None = None
    refused: tuple[str, str] | None = None  # (reason, message): audited as a denial, then a 403
    claimed: Claimed | None = None  # a fleet operation to run once this unit has committed


class ChangeRequestService:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        audit: AuditService,
        documents: DocumentService,
        holder: SnapshotHolder,
        clock: Clock,
        policy: Callable[[], Policy],
        targets: dict[str, Target],
        actions: dict[str, Action] | None = None,
    ) -> None:
        self._db = database
        self._writer = writer
        self._audit = audit
        self._documents = documents
        self._holder = holder
        self._clock = clock
        self._policy = policy
        self._targets = targets
        self._store = ChangeRequestStore()
        # False in the CLI: its process is no member of the fleet, so an approved reload or release is
        # left due now for a server's scheduler (within a second) rather than run from there.
        self.rounds_here = True
        self._writes = DocumentWrites(documents=documents, audit=audit, targets=targets, now_ms=self._now_ms)
        self._applier = Applier(
            writer=writer,
            audit=audit,
            store=self._store,
            now_ms=self._now_ms,
            actions=actions or {},
            view=self.view,
        )

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)

    # The Governor protocol (http/governance.py): every governed write comes in here.
    def submit(
        self,
        *,
        who: Principal,
        proposal: Proposal,
        approvals: Approvals | None,
        apply_at_ms: int | None,
        bypass_reason: str | None,
        request_id: str,
    ) -> Submitted:
        if proposal.operation in self._applier.actions:
            return self._submit_action(who, proposal, approvals, apply_at_ms, bypass_reason, request_id)
        target = self._targets[proposal.operation]

        def unit(session: Session) -> _Done:
            current = self._writes.current(session, proposal.kind)
            if proposal.if_match is not None and current.version not in proposal.if_match:
                raise PreconditionFailed(
                    "change_requests.stale",
                    f"If-Match does not name the current version {current.version}; read it again",
                    extra={"currentVersion": current.version},
                )
            # Refused now (422, 409) rather than approved by people and refused later.
            target(session, copy.deepcopy(current.document), proposal.body, proposal.params)
            row = self._new(
                session, who, proposal, approvals, apply_at_ms, bypass_reason, request_id, current.version
            )
            document = None
            if row.state == State.APPROVED and (apply_at_ms is None or apply_at_ms <= self._now_ms()):
                document = self._writes.apply(session, row, request_id, on_conflict=State.CONFLICTED)
            return _Done(self.view(row), document)

        done = self._writer.run(unit)
        if done.document is not None:
            self._holder.publish(done.document)
        return Submitted(view=done.view, document=done.document)

    def _submit_action(
        self,
        who: Principal,
        proposal: Proposal,
        approvals: Approvals | None,
        apply_at_ms: int | None,
        bypass_reason: str | None,
        request_id: str,
    ) -> Submitted:
        """A fleet operation: checked and based now (404, 409, 422 at once), stored, and when nothing
        holds it (a bypass, or applyAt already past) claimed and run like the route runs it."""
        action = self._applier.actions[proposal.operation]
        base = action.base(proposal.body, proposal.params)
        waits = approvals is not None and bypass_reason is None

        def unit(session: Session) -> _Done:
            row = self._new(
                session, who, proposal, approvals, apply_at_ms, bypass_reason, request_id, base.version
            )
            row.kind = action.kind
            row.base = orjson.dumps(base.detail).decode()
            claimed = None
            if not waits and (apply_at_ms is None or apply_at_ms <= self._now_ms()):
                claimed = self._applier.claim(row)
            return _Done(self.view(row), claimed=claimed)

        done = self._writer.run(unit)
        if done.claimed is None:
            return Submitted(view=done.view)
        # Run at once, as the route would: a refusal is the route's own answer (a rolled-back reload
        # is its 409), and a busy engine too: the caller retries as without a change request.
        ran = self._applier.run(done.claimed, request_id, on_conflict=State.CONFLICTED, retry=False)
        if ran.error is not None:
            raise ran.error
        return Submitted(view=ran.view, result=ran.result)

    def _new(
        self,
        session: Session,
        who: Principal,
        proposal: Proposal,
        approvals: Approvals | None,
        apply_at_ms: int | None,
        bypass_reason: str | None,
        request_id: str,
        base_version: int,
    ) -> ChangeRequestRow:
        """The request's row, stored and audited (`created`)."""
        row = views.new_row(
            who, proposal, approvals, apply_at_ms, bypass_reason, base_version, now_ms=self._now_ms()
        )
        self._store.add(session, row)
        details: dict[str, Any] = {"operation": row.operation, "baseVersion": row.base_version}
        if apply_at_ms is not None:
            details["applyAt"] = apply_at_ms // 1000
        if bypass_reason is not None:
            details["bypassReason"] = bypass_reason
        self._record(session, row, actor_of(who), "created", request_id, details)
        return row

    def approve(self, *, who: Principal, request_id: str, comment: str | None, req: str) -> dict[str, Any]:
        def unit(session: Session) -> _Done:
            row = self._open(session, request_id)
            refused = self._refusal(who, row)
            if refused:
                return self._refuse(session, who, row, refused, req)
            reviews = types.loads(row.reviews)
            if any(r["userId"] == who.user_id and r["verdict"] == "approve" for r in reviews):
                raise Conflict("change_requests.already_approved", f"you approved {row.id} already")
            if row.state != State.PENDING:
                raise Conflict("change_requests.not_pending", f"{row.id} needs no more approvals")
            reviews.append(views.review(who, "approve", comment, self._now_ms()))
            row.reviews = orjson.dumps(reviews).decode()
            row.updated_at_ms = self._now_ms()
            self._record(session, row, actor_of(who), "approved", req, {"comment": comment})
            document, claimed = None, None
            if sum(r["verdict"] == "approve" for r in reviews) >= row.min_approvals:
                row.state = State.APPROVED
                if row.apply_at_ms is None or row.apply_at_ms <= self._now_ms():
                    if row.operation in self._applier.actions and not self.rounds_here:
                        row.apply_at_ms = row.apply_at_ms or self._now_ms()
                    elif row.operation in self._applier.actions:
                        claimed = self._applier.claim(row)
                    else:
                        document = self._writes.apply(session, row, req, on_conflict=State.CONFLICTED)
            return _Done(self.view(row), document, claimed=claimed)

        done = self._writer.run(unit)
        if done.claimed is not None:
            # Approved: the round runs now, as the author. A busy engine is no reason to lose the
            # approvals: the request goes back to `approved`, due now, and the scheduler retries it.
            ran = self._applier.run(done.claimed, req, on_conflict=State.CONFLICTED, retry=True)
            return ran.view or done.view
        return self._finish(done)

    def reject(self, *, who: Principal, request_id: str, comment: str, req: str) -> dict[str, Any]:
        if not comment.strip():
            raise Invalid(
                "change_requests.comment_required",
                "say why the change is rejected: a comment is required",
                errors=[{"field": "comment", "message": "must not be empty"}],
            )

        def unit(session: Session) -> _Done:
            row = self._open(session, request_id)
            refused = self._refusal(who, row)
            if refused:
                return self._refuse(session, who, row, refused, req)
            self._close(session, row, who, State.REJECTED, "rejected", comment, req)
            return _Done(self.view(row))

        return self._finish(self._writer.run(unit))

    def cancel(self, *, who: Principal, request_id: str, comment: str | None, req: str) -> dict[str, Any]:
        def unit(session: Session) -> _Done:
            row = self._open(session, request_id)
            if (who.user_id, who.role.value) != (row.author_user_id, row.author_role):
                refused = ("not_author", "only the author may cancel a change request")
                return self._refuse(session, who, row, refused, req)
            self._close(session, row, who, State.CANCELLED, "cancelled", comment, req)
            return _Done(self.view(row))

        return self._finish(self._writer.run(unit))

    def apply_due(self) -> int:
        """Apply every approved change whose applyAt has come; each in a unit of its own, taken under
        a row lock that another replica skips, and applied only if still approved: exactly once."""
        self._applier.settle_interrupted()
        with self._db.read() as session:
            due = self._store.due_ids(session, self._now_ms())
        applied = 0
        for request_id in due:
            done = self._writer.run(self._due_unit(request_id))
            if isinstance(done, Claimed):
                # Claimed (committed `applying`): this replica alone runs the round, outside the unit.
                ran = self._applier.run(done, f"scheduled:{done.id}", on_conflict=State.SUSPENDED, retry=True)
                applied += ran.result is not None
            elif done is not None:
                self._holder.publish(done)
                applied += 1
        return applied

    def _due_unit(self, request_id: str) -> Callable[[Session], VersionedDocument | Claimed | None]:
        def unit(session: Session) -> VersionedDocument | Claimed | None:
            row = self._store.take_due(session, request_id, self._now_ms())
            if row is None:  # another replica applied it, or holds it now
                return None
            if row.operation in self._applier.actions:
                return self._applier.claim(row)
            return self._writes.apply(session, row, f"scheduled:{row.id}", on_conflict=State.SUSPENDED)

        return unit

    def show(self, request_id: str) -> dict[str, Any]:
        with self._db.read() as session:
            row = self._store.find(session, request_id)
            if row is None:
                raise NotFound("change_requests.not_found", f"no change request {request_id!r}")
            view = self.view(row)
            if row.operation in self._applier.actions:
                view["diff"] = self._applier.diff(row)
            else:
                view["diff"] = self._writes.diff(session, row)
            return view

    def list(self, *, state: str | None, limit: int) -> list[dict[str, Any]]:
        if state is not None and state not in set(State):
            raise Invalid(
                "change_requests.bad_state",
                f"unknown state {state!r}; known: {', '.join(State)}",
                errors=[{"field": "state", "message": "unknown state"}],
            )
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(
                "change_requests.bad_limit",
                f"limit must be between 1 and {MAX_PAGE}",
                errors=[{"field": "limit", "message": f"must be 1 to {MAX_PAGE}"}],
            )
        with self._db.read() as session:
            return [self.view(row) for row in self._store.newest(session, state=state, limit=limit)]

    # --- the parts -------------------------------------------------------------------------------

    def _open(self, session: Session, request_id: str) -> ChangeRequestRow:
        row = self._store.find_for_update(session, request_id)
        if row is None:
            raise NotFound("change_requests.not_found", f"no change request {request_id!r}")
        if row.state not in OPEN:
            raise Conflict(
                "change_requests.not_open",
                f"{row.id} is {row.state}; only pending or approved requests can change",
                extra={"state": row.state},
            )
        return row

    def _refusal(self, who: Principal, row: ChangeRequestRow) -> tuple[str, str] | None:
        return types.approval_refusal(
            who,
            author=(row.author_user_id, row.author_role),
            author_scope=types.loads(row.author_scope),
            approvers=types.loads(row.approvers),
            self_approval=row.self_approval,
            places=self._policy().places,
        )

    def _refuse(
        self, session: Session, who: Principal, row: ChangeRequestRow, refused: tuple[str, str], req: str
    ) -> _Done:
        """Record the denial in this unit (it commits), then the caller answers 403."""
        self._audit.append(
            session,
            actor=actor_of(who),
            action=AuditAction.ACCESS_DENIED,
            target=f"change-request:{row.id}",
            outcome="denied",
            request_id=req,
            details={"reason": refused[1], "refusal": REFUSALS[refused[0]]},
        )
        return _Done(self.view(row), refused=refused)

    def _close(
        self,
        session: Session,
        row: ChangeRequestRow,
        who: Principal,
        state: State,
        event: str,
        comment: str | None,
        req: str,
    ) -> None:
        reviews = types.loads(row.reviews)
        reviews.append(views.review(who, event, comment, self._now_ms()))
        row.reviews = orjson.dumps(reviews).decode()
        row.state = state
        row.outcome = orjson.dumps({"by": who.user_id, "comment": comment}).decode()
        row.updated_at_ms = self._now_ms()
        self._record(session, row, actor_of(who), event, req, {"comment": comment})

    def _record(
        self, session: Session, row: ChangeRequestRow, actor: Actor, event: str, req: str, details: Any
    ) -> None:
        record(self._audit, session, row, actor, event, req, details)

    def _finish(self, done: _Done) -> dict[str, Any]:
        if done.document is not None:
            self._holder.publish(done.document)
        if done.refused is not None:
            raise Forbidden(
                REFUSALS[done.refused[0]], done.refused[1], extra={"operation": types.OPERATION_REVIEW}
            )
        return done.view

    view = staticmethod(views.view)
