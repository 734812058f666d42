"""Change requests that hold a document write (ADR 0026): applied on the version they were asked
against, never over a newer one, and shown with their diff against the current version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import Actor
from trainer_ops.changerequests import types
from trainer_ops.changerequests.applying import record
from trainer_ops.changerequests.models import ChangeRequestRow
from trainer_ops.changerequests.types import OPEN, State
from trainer_ops.errors import Invalid, TrainerOpsError
from trainer_ops.versions.service import Change, DocumentService
from trainer_ops.versions.snapshot import VersionedDocument

# (session, current document, body, params) -> the change: the same pure rule the direct write runs.
Target = Callable[[Session, dict[str, Any], Any, dict[str, Any]], Change]


class DocumentWrites:
    def __init__(
        self,
        *,
        documents: DocumentService,
        audit: AuditService,
        targets: dict[str, Target],
        now_ms: Callable[[], int],
    ) -> None:
        self._documents = documents
        self._audit = audit
        self._targets = targets
        self._now_ms = now_ms

    def apply(
        self, session: Session, row: ChangeRequestRow, req: str, *, on_conflict: State
    ) -> VersionedDocument | None:
        """The change on the version it was asked against, or nothing: if the document moved (or the
        change no longer passes its checks), the request ends `on_conflict`, never overwriting."""
        target = self._targets[row.operation]
        body, params = types.loads(row.body), types.loads(row.params)
        details: dict[str, Any] = {"changeRequest": row.id}
        if row.bypass_reason is not None:
            details["bypassReason"] = row.bypass_reason
        author = Actor(row.author_user_id, row.author_role, types.loads(row.author_scope))
        try:
            # Every check of the change runs before its first write, so a refusal leaves nothing to undo.
            document = self._documents.change(
                session,
                kind=row.kind,
                actor=author,
                if_match=frozenset({row.base_version}),
                apply=lambda current: target(session, current, body, params),
                request_id=req,
                details=details,
            )
        except TrainerOpsError as error:
            row.state = on_conflict
            row.outcome = orjson.dumps({"reason": error.code, "detail": error.message}).decode()
            row.updated_at_ms = self._now_ms()
            record(self._audit, session, row, author, on_conflict.value, req, {"reason": error.code})
            return None
        row.state = State.APPLIED
        row.applied_version = document.version
        row.updated_at_ms = self._now_ms()
        record(self._audit, session, row, author, "applied", req, {"version": document.version})
        return document

    def current(self, session: Session, kind: str) -> VersionedDocument:
        loaded = self._documents.load(session, [kind])
        if not loaded:
            raise Invalid("change_requests.no_document", f"the store has no {kind} document")
        return loaded[0]

    def diff(self, session: Session, row: ChangeRequestRow) -> dict[str, Any]:
        """What the change would do to the current version: `before` and `after` of what it touches."""
        current = self.current(session, row.kind)
        diff: dict[str, Any] = {"baseVersion": row.base_version, "currentVersion": current.version}
        if row.state not in OPEN:
            return diff
        try:
            change = self._targets[row.operation](
                session, current.document, types.loads(row.body), types.loads(row.params)
            )
        except TrainerOpsError as error:
            diff["error"] = {"reason": error.code, "detail": error.message}
            return diff
        diff.update(target=change.target, before=change.before, after=change.after)
        return diff
