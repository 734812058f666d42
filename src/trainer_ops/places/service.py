"""Replace the places catalogue (If-Match, audited, versioned), refusing duplicates and removals of
places still in use; read it and its history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from trainer_ops.access.places import KIND, PlaceIndex, duplicate_errors
from trainer_ops.access.service import actor_of
from trainer_ops.access.types import Principal
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Conflict, Invalid
from trainer_ops.versions.service import Change, DocumentService, HistoryPage
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument

# How many users a 409 names per place: enough to act on, never a list of every trainee.
USERS_SHOWN = 10


@dataclass(frozen=True)
class PlaceUse:
    """Something that names places: a live token (`user`), a feature override of a region, ..."""

    what: str  # "token of user alice", "feature overrides of region EU"
    region: str | None = None
    country: str | None = None
    branch: str | None = None
    code: str | None = None  # a place of any level (a scoped activation's scope, ADR 0025)


# Reads, in the writer's transaction, every use of places the store holds. app.py composes them
# (tokens, feature overrides, scoped activations), so this package imports no other domain.
Uses = Callable[[Session], list[PlaceUse]]


class PlacesService:
    def __init__(
        self,
        *,
        database: Database,
        writer: BatchWriter,
        documents: DocumentService,
        holder: SnapshotHolder,
        uses: list[Uses],
    ) -> None:
        self._db = database
        self._writer = writer
        self._documents = documents
        self._holder = holder
        self._uses = uses

    def current(self) -> VersionedDocument:
        return self._holder.current.get(KIND)

    def replace(
        self,
        *,
        principal: Principal,
        document: dict[str, Any],
        if_match: frozenset[int] | None,
        request_id: str,
    ) -> VersionedDocument:
        """Store `document` (validated and normalised by its schema) as the next version."""
        self._refuse_duplicates(document)
        apply = self.change_of
        doc = self._writer.run(
            lambda session: self._documents.change(
                session,
                kind=KIND,
                actor=actor_of(principal),
                if_match=if_match,
                apply=lambda current: apply(session, current, document),
                request_id=request_id,
            )
        )
        self._holder.publish(doc)
        return doc

    def change_of(self, session: Session, current: dict[str, Any], document: dict[str, Any]) -> Change:
        """The catalogue replaced by `document` (already in its schema's shape), refusing duplicates and
        removals of places in use: reads the uses in `session`, writes nothing."""
        self._refuse_duplicates(document)
        self._refuse_removals(session, PlaceIndex.from_document(document, version=0))
        return Change(document, "places", current, document)

    @staticmethod
    def _refuse_duplicates(document: dict[str, Any]) -> None:
        duplicates, errors = duplicate_errors(document)
        if errors:
            message = f"codes must be unique across all levels; used twice: {', '.join(duplicates)}"
            raise Invalid("places.duplicate_code", message, errors=errors)

    def _refuse_removals(self, session: Session, index: PlaceIndex) -> None:
        """409 when, under the new catalogue, something in use would name an unknown place (or one under
        another parent). An empty catalogue checks only shapes, so emptying it never strands anything."""
        if index.empty:
            return
        stranded: dict[str, list[str]] = {}
        for uses in self._uses:
            for use in uses(session):
                failure = index.scope_problem(region=use.region, country=use.country, branch=use.branch)
                if failure is None and use.code is not None:
                    failure = index.code_problem(use.code)
                if failure is not None:
                    stranded.setdefault(failure.code, []).append(use.what)
        if not stranded:
            return
        parts = []
        for code, users in sorted(stranded.items()):
            shown = ", ".join(sorted(set(users))[:USERS_SHOWN])
            more = f" and {len(set(users)) - USERS_SHOWN} more" if len(set(users)) > USERS_SHOWN else ""
            parts.append(f"{code} (used by {shown}{more})")
        raise Conflict(
            "places.in_use",
            "the new catalogue removes or moves places still in use: "
            + "; ".join(parts)
            + ". Revoke those tokens or remove those overrides first, or keep the places",
            extra={"inUse": [{"code": c, "usedBy": sorted(set(u))} for c, u in sorted(stranded.items())]},
        )

    def history(self, *, cursor: int | None, limit: int) -> HistoryPage:
        with self._db.read() as session:
            return self._documents.history(session, KIND, cursor=cursor, limit=limit)
