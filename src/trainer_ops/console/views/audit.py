"""The Audit page: the log filtered and paged by cursor, the log's state (newest entry, last signed
checkpoint), one entry with its canonical JSON and inclusion proof, and signing a checkpoint now.
Verification and export stream from console/views/audit_streams.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.audit.checkpoint import Checkpoint, signer_key_ids
from trainer_ops.audit.merkle import verify_inclusion
from trainer_ops.audit.models import AuditEntryRow
from trainer_ops.audit.service import AuditPage, decode_cursor, entry_view
from trainer_ops.audit.types import leaf_hash
from trainer_ops.console import timefmt
from trainer_ops.console.audit_filter import KNOWN_ACTIONS, AuditFilter, local_input, read_filter
from trainer_ops.console.diffs import side_by_side
from trainer_ops.console.web import SignedIn, checked_form, page_router, redirect, render, signed_in
from trainer_ops.errors import Conflict, Invalid
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize

router = page_router()

HOME = "/console/audit"
PAGE_SIZE = 50


@dataclass(frozen=True)
class LogState:
    newest: int
    checkpoint: Checkpoint | None
    key_ids: list[str]
    problem: str  # why the stored checkpoint does not verify ("" when it does, or there is none)


@dataclass(frozen=True)
class InclusionView:
    """An entry's inclusion proof against the latest signed checkpoint, checked here."""

    checkpoint: Checkpoint | None
    path: list[str]
    leaf: str
    leaf_matches: bool  # the proof's leaf is the hash of the canonical JSON shown
    verified: bool  # ... and the path leads from it to the signed root
    problem: str  # audit.not_checkpointed, audit.tampered, or ""


def zone_of(request: Request) -> tzinfo:
    return timefmt.zone_of(request.cookies.get(timefmt.COOKIE))


def _allowed(request: Request, me: SignedIn, operation: str) -> bool:
    # Which controls to show is the policy's call; the routes behind them authorize again.
    return edge_of(request).policy().decide(me.who, operation).allowed


def log_state(me: SignedIn) -> LogState:
    checkpoints = me.console.checkpoints
    newest = checkpoints.size()
    try:
        latest = checkpoints.latest()
    except Conflict as exc:
        return LogState(newest, None, [], exc.message)
    return LogState(newest, latest, signer_key_ids(latest.note) if latest else [], "")


@router.get("/console/audit")
async def audit_log(request: Request) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "audit.read")
    chosen = read_filter(request.query_params, zone_of(request))
    page, previous = AuditPage([], None), None
    if not chosen.errors:
        try:
            page, previous = await run_in_threadpool(_page, me, chosen)
        except Invalid as exc:
            # A cursor or filter the service refuses is named at its field, not as an error page.
            fields = {str(e.get("field")): f"audit.error.{e.get('field')}" for e in exc.errors or []}
            chosen = chosen.with_errors(fields or {"cursor": "audit.error.cursor"})
    state = await run_in_threadpool(log_state, me)
    return render(
        request,
        me,
        "audit/page.html",
        status=422 if chosen.errors else 200,
        chosen=chosen,
        page=page,
        previous=previous,
        state=state,
        known_actions=KNOWN_ACTIONS,
        from_value=local_input(chosen.from_text, chosen.from_ms, zone_of(request)),
        to_value=local_input(chosen.to_text, chosen.to_ms, zone_of(request)),
        may_verify=_allowed(request, me, "audit.verify"),
        may_sign=_allowed(request, me, "audit.checkpoint"),
    )


def _page(me: SignedIn, chosen: AuditFilter) -> tuple[AuditPage, str | None]:
    """One page of the filtered log, and the link back to the newer page before it (None on the first)."""
    audit = me.console.audit
    query = chosen.query(PAGE_SIZE, chosen.cursor or None)
    with me.console.database.read() as session:
        page = audit.query(session, query)
        if not chosen.cursor:
            return page, None
        newest = int(page.items[0]["seq"]) if page.items else decode_cursor(chosen.cursor) - 1
        back = audit.previous_cursor(session, query, newest)
    return page, chosen.link(HOME, cursor=back)


@router.get("/console/audit/{seq:int}")
async def audit_entry(request: Request, seq: int) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "audit.read")
    row, newest = await run_in_threadpool(_entry, me, seq)
    view = entry_view(row)
    inclusion = await run_in_threadpool(_inclusion, me, seq, row.body)
    changes = side_by_side(view["before"], view["after"]) if view["before"] or view["after"] else []
    return render(
        request,
        me,
        "audit/entry.html",
        entry=view,
        body=row.body,
        leaf=row.leaf_hash,
        mac=row.mac,
        newest=newest,
        inclusion=inclusion,
        changes=changes,
        may_sign=_allowed(request, me, "audit.checkpoint"),
    )


def _entry(me: SignedIn, seq: int) -> tuple[AuditEntryRow, int]:
    with me.console.database.read() as session:
        row = me.console.audit.entry(session, seq)
    return row, me.console.checkpoints.size()


def _inclusion(me: SignedIn, seq: int, body: str) -> InclusionView:
    """The API's proof (GET /operator/ops/audit/proof), checked with the verifier's own RFC 9162 code,
    and its leaf compared with the hash of the entry's canonical JSON as stored now."""
    try:
        proof = me.console.checkpoints.proof(seq)
    except Conflict as exc:
        return InclusionView(None, [], "", False, False, exc.code)
    leaf_matches = leaf_hash(body.encode()) == proof.leaf_hash
    path_holds = verify_inclusion(
        bytes.fromhex(proof.leaf_hash),
        seq - 1,
        proof.checkpoint.size,
        [bytes.fromhex(step) for step in proof.path],
        proof.checkpoint.root,
    )
    return InclusionView(
        proof.checkpoint, proof.path, proof.leaf_hash, leaf_matches, leaf_matches and path_holds, ""
    )


@router.post("/console/audit/checkpoint")
async def sign_checkpoint(request: Request) -> Response:
    """Sign a checkpoint now, as POST /operator/ops/audit/checkpoint does (a log that does not verify
    is refused, 409), then back to the page the operator came from."""
    me = await signed_in(request)
    form = await checked_form(request, me)
    await authorize(request, me.who, "audit.checkpoint")
    await run_in_threadpool(me.console.checkpoints.make)
    back = form.get("next")
    if isinstance(back, str) and back.startswith(HOME) and "//" not in back and "\\" not in back:
        return redirect(back)
    return redirect(HOME)
