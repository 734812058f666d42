"""Audit use cases: append an entry inside the caller's transaction, query, check the chain."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from trainer_ops.audit.models import AuditEntryRow
from trainer_ops.audit.store import AuditStore
from trainer_ops.audit.types import Action, Actor, canonical, chain_hash, entry_body, entry_mac, leaf_hash
from trainer_ops.db.libpq import send_now
from trainer_ops.errors import Invalid, NotFound
from trainer_ops.infra.clock import Clock

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditQuery:
    user_id: str | None = None
    actions: tuple[str, ...] = ()
    from_ms: int | None = None
    to_ms: int | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


class AuditService:
    """Appends entries to the chain. It is the writer's batch hooks: at the start of each batch it locks
    the chain and reads the head; appends then chain onto the head it holds (one writer thread)."""

    def __init__(self, *, clock: Clock, mac_key: bytes, store: AuditStore | None = None) -> None:
        self._clock = clock
        self._mac_key = mac_key
        self._store = store or AuditStore()
        self._head: tuple[int, str, int] | None = None
        # Inside a batch (from `begin` to `abort`): only there may a missing head still be on its way.
        self._started = False
        # Entries of the running unit of work, inserted together by `flush` (one executemany).
        self._pending: list[dict[str, Any]] = []

    # BatchHooks -------------------------------------------------------------------------------------
    def begin(self, session: Session) -> None:
        # On PostgreSQL the head arrives with the batch's first statement (audit/store.py).
        self._head = None
        self._started = True
        self._store.lock_and_read_head(session, self._has_head)

    def _has_head(self, head: tuple[int, str, int]) -> None:
        self._head = head

    def mark(self) -> tuple[int, str, int] | None:
        return self._head

    def flush(self, session: Session) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._store.append_many(session, pending)

    def reset(self, mark: tuple[int, str, int] | None) -> None:
        # Only the failed unit's entries are pending here: whatever came before was flushed.
        self._pending = []
        self._head = mark

    def abort(self) -> None:
        self._pending = []
        self._head = None
        self._started = False

    # ------------------------------------------------------------------------------------------------
    def append(
        self,
        session: Session,
        *,
        actor: Actor,
        action: Action,
        target: str,
        before: Any = None,
        after: Any = None,
        outcome: str = "success",
        request_id: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        """Chain one entry onto the head, in the caller's unit of work (inserted when the unit ends,
        before its savepoint is released, so it commits or rolls back with the unit). Returns its seq."""
        head_seq, head_hash, head_ts = self._current_head(session)
        if actor.via is not None:
            details = {**(details or {}), "via": actor.via}
        seq = head_seq + 1
        # Never earlier than the entry before (clocks of replicas differ): time is monotonic in seq.
        ts_ms = max(int(self._clock.now() * 1000), head_ts)
        body = entry_body(
            seq=seq,
            ts_ms=ts_ms,
            actor=actor,
            action=action.value,
            target=target,
            before=before,
            after=after,
            outcome=outcome,
            request_id=request_id,
            details=details,
        )
        raw = canonical(body)
        digest = chain_hash(head_hash, raw)
        self._pending.append(
            {
                "seq": seq,
                "ts_ms": ts_ms,
                "user_id": actor.user_id,
                "role": actor.role,
                "action": action.value,
                "target": target,
                "request_id": request_id,
                "body": raw.decode(),
                "prev_hash": head_hash,
                "hash": digest,
                "leaf_hash": leaf_hash(raw),
                "mac": entry_mac(self._mac_key, seq, digest),
            }
        )
        self._head = (seq, digest, ts_ms)
        return seq

    def _current_head(self, session: Session) -> tuple[int, str, int]:
        if self._head is None and self._started:  # the batch start is still deferred: send it now
            send_now(session)
        if self._head is None:
            raise RuntimeError("audit entries are appended through the batch writer only")
        return self._head

    def _check(self, query: AuditQuery) -> None:
        if not 1 <= query.limit <= MAX_PAGE:
            raise Invalid(
                "audit.bad_limit",
                f"limit must be between 1 and {MAX_PAGE}",
                errors=[{"field": "limit", "message": f"must be between 1 and {MAX_PAGE}"}],
            )
        unknown = [a for a in query.actions if a not in Action.__members__.values()]
        if unknown:
            known = ", ".join(a.value for a in Action)
            raise Invalid(
                "audit.unknown_action",
                f"unknown action {unknown[0]!r}; known actions: {known}",
                errors=[{"field": "action", "message": f"unknown action {unknown[0]!r}"}],
            )

    def query(self, session: Session, query: AuditQuery) -> AuditPage:
        self._check(query)
        rows = self._store.query(
            session,
            user_id=query.user_id,
            actions=query.actions,
            from_ms=query.from_ms,
            to_ms=query.to_ms,
            before_seq=decode_cursor(query.cursor) if query.cursor else None,
            limit=query.limit + 1,
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1].seq) if more and rows else None
        return AuditPage(items=[entry_view(row) for row in rows], next_cursor=next_cursor)

    def previous_cursor(self, session: Session, query: AuditQuery, newest_seq: int) -> str | None:
        """The cursor of the page before (newer than) the one whose newest entry is `newest_seq`, for
        paging back: None when that page is the first one (no cursor)."""
        self._check(query)
        newer = self._store.seqs_after(
            session,
            user_id=query.user_id,
            actions=query.actions,
            from_ms=query.from_ms,
            to_ms=query.to_ms,
            after_seq=newest_seq,
            limit=query.limit + 1,
        )
        if len(newer) <= query.limit:
            return None
        return encode_cursor(newer[query.limit - 1] + 1)

    def entry(self, session: Session, seq: int) -> AuditEntryRow:
        """The stored entry `seq` (404 audit.no_entry when the log has none)."""
        row = self._store.entry(session, seq) if 0 < seq < 2**63 else None
        if row is None:
            raise NotFound("audit.no_entry", f"the audit log has no entry {seq}")
        return row


def entry_view(row: AuditEntryRow) -> dict[str, Any]:
    """What the API shows of an entry: ours, plus Step 1's actor/action/targetId/scope/timestamp/details."""
    body = orjson.loads(row.body)
    ts_ms = body["tsMs"]
    return {
        "seq": row.seq,
        "timestamp": ts_ms // 1000,
        "time": datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds"),
        "actor": body["actor"],
        "userId": body["actor"]["userId"],
        "action": body["action"],
        "target": body["target"],
        "targetId": body["target"],
        "scope": _scope(body),
        "before": body["before"],
        "after": body["after"],
        "outcome": body["outcome"],
        "requestId": body["requestId"],
        "details": body["details"],
        "prevHash": row.prev_hash,
        "hash": row.hash,
    }


def _scope(body: dict[str, Any]) -> dict[str, str]:
    """Step 1's `scope`: the place the action was limited to, when it was (a scoped hot reload, or its
    denial: `details.scope`, ADR 0025), else the actor's own places (also under `actor.scope`)."""
    place = body["details"].get("scope") if isinstance(body["details"], dict) else None
    return {"place": place} if isinstance(place, str) else dict(body["actor"]["scope"])


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s:") or not raw[2:].isascii() or not raw[2:].isdigit() or len(raw) > 20:
            raise ValueError(raw)
        return int(raw[2:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid(
            "audit.bad_cursor",
            "cursor is not one this server handed out; start again without it",
            errors=[{"field": "cursor", "message": "not a valid cursor"}],
        ) from None
