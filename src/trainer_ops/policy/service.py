"""Policy use cases: the policy in force, replacing it (validated, lock-out guarded), its history."""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Conflict, Invalid
from trainer_ops.policy import types
from trainer_ops.versions.service import Change, DocumentService, HistoryPage
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument


class PolicyEditor:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        documents: DocumentService,
        holder: SnapshotHolder,
        engine_types: Collection[str],
    ) -> None:
        self._db = database
        self._writer = writer
        self._documents = documents
        self._holder = holder
        self._engine_types = tuple(engine_types)
        self._cached: VersionedDocument | None = None

    def current(self) -> VersionedDocument:
        """The policy in force (what Ops.policy() decides with), serialised once per version."""
        stored = self._holder.current.get(types.KIND)
        cached = self._cached
        if cached is None or cached.version != stored.version:
            cached = VersionedDocument.of(types.KIND, stored.version, types.in_force(stored.document))
            self._cached = cached
        return cached

    def schema(self) -> dict[str, Any]:
        return types.schema(self._engine_types)

    def replace(
        self, *, principal: Principal, document: Any, if_match: frozenset[int] | None, request_id: str
    ) -> VersionedDocument:
        """Store `document` as the policy (422 naming each bad path, 409 on lock-out, 412 when stale).

        The operations it leaves out keep their default rule, and the whole policy in force is stored,
        so what is stored is exactly what is decided with, and no later change of a default changes
        an edited policy behind its operators' backs (new operations still get their default).
        """
        new = self.checked(document)

        def apply(stored: dict[str, Any]) -> Change:
            return self.change_of(stored, new)

        doc = self._writer.run(
            lambda session: self._documents.change(
                session,
                kind=types.KIND,
                actor=actor_of(principal),
                if_match=if_match,
                apply=apply,
                request_id=request_id,
            )
        )
        self._holder.publish(doc)
        # What this change made (or, for a no-op, what was already there), even if a newer one follows.
        return VersionedDocument.of(types.KIND, doc.version, types.in_force(doc.document))

    def checked(self, document: Any) -> dict[str, Any]:
        """`document` as the policy in force it would make: 422 naming each bad path, 409 on lock-out."""
        document = types.normalise(copy.deepcopy(document))
        problems = types.errors(document, self._engine_types)
        if problems:
            names = ", ".join(p["field"] for p in problems[:5])
            raise Invalid("policy.invalid", f"the policy is invalid at {names}", errors=problems)
        new = types.in_force(document)
        refusal = types.lockout(new)
        if refusal:
            raise Conflict("policy.lockout", refusal)
        return new

    def change_of(self, stored: dict[str, Any], document: Any) -> Change:
        """The stored policy replaced by `document` (checked): pure, so a change request can preview it."""
        new = self.checked(document)
        before, after = types.changed_operations(types.in_force(stored), new)
        return Change(new, types.KIND, before, after)

    def history(self, *, cursor: int | None, limit: int) -> HistoryPage:
        with self._db.read() as session:
            return self._documents.history(session, types.KIND, cursor=cursor, limit=limit)
