"""The gate every governed write passes (ADR 0026): at once as today, as a change request waiting for
approvals or for its `applyAt`, or at once through the audited emergency bypass."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Approvals, Principal
from trainer_ops.errors import Invalid
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.guard import authorize
from trainer_ops.http.responses import json_response
from trainer_ops.versions.snapshot import VersionedDocument

BYPASS = "change_requests.bypass"
BYPASS_HEADER = "X-Trainer-Bypass-Reason"
APPLY_AT = "applyAt"
CHANGE_REQUESTS = "/operator/ops/change-requests"
# Ten years: further than any operator plans a change; a bigger number is a typo.
MAX_AHEAD_MS = 10 * 366 * 86400 * 1000


@dataclass(frozen=True)
class Proposal:
    """A write as its route parsed it, ready to be stored and replayed: the document it changes, the
    body (JSON) and the route's parameters (a feature's key and place)."""

    operation: str
    kind: str
    body: Any
    params: dict[str, Any] = field(default_factory=dict)
    if_match: frozenset[int] | None = None


@dataclass(frozen=True)
class Submitted:
    """A stored change request (its public view) and, when it was applied at once, the new version (a
    document write) or the operation's own answer (a reload, a release)."""

    view: dict[str, Any]
    document: VersionedDocument | None = None
    result: dict[str, Any] | None = None


class Governor(Protocol):
    """Stores and applies change requests; built in app.py from the change-requests package."""

    def submit(
        self,
        *,
        who: Principal,
        proposal: Proposal,
        approvals: Approvals | None,
        apply_at_ms: int | None,
        bypass_reason: str | None,
        request_id: str,
    ) -> Submitted: ...


@dataclass(frozen=True)
class Governed:
    """What the gate decided: a 202 to send as it is, or what a bypass did: the version it wrote, or the
    operation's answer (the route renders either as it renders its own write)."""

    response: Response | None = None
    document: VersionedDocument | None = None
    result: dict[str, Any] | None = None


async def submit_governed(
    request: Request,
    who: Principal,
    proposal: Proposal,
    *,
    apply_at_ms: int | None,
    bypass_reason: str | None,
    request_id: str,
) -> Submitted | None:
    """The one submit step of every face (the API's `govern`, the console's forms), after each has
    parsed its own `applyAt` and bypass reason (None: not asked; else stripped and not empty).

    None: no approvals, no `applyAt`, no bypass; the caller writes as it always has. Otherwise the
    bypass is authorized (403 and an audit entry when refused) and the Governor stores the change
    request, or applies it at once (`Submitted.document` or `Submitted.result`)."""
    edge = edge_of(request)
    approvals = edge.policy().approvals_for(who, proposal.operation)
    if bypass_reason is None and approvals is None and apply_at_ms is None:
        return None
    if bypass_reason is not None:
        await authorize(request, who, BYPASS, governed=proposal.operation)
    governor = edge.governor
    if governor is None:  # a programming error: create_app always sets one
        raise RuntimeError("no governor on the edge")
    return await run_in_threadpool(
        governor.submit,
        who=who,
        proposal=proposal,
        approvals=approvals,
        apply_at_ms=apply_at_ms,
        bypass_reason=bypass_reason,
        request_id=request_id,
    )


async def govern(request: Request, who: Principal, proposal: Proposal) -> Governed | None:
    """None: no approvals, no `applyAt`, no bypass; the route writes as it always has.

    Called after the route's own `authorize` and body checks, so a change request only ever holds a
    write its author was allowed to ask for, in a shape the route accepts."""
    edge = edge_of(request)
    apply_at_ms = parse_apply_at(request.query_params.get(APPLY_AT), int(edge.now() * 1000))
    reason = request.headers.get(BYPASS_HEADER)
    if reason is not None:
        reason = reason.strip()
        if not reason:
            raise Invalid(
                "change_requests.bypass_reason_required",
                f"an emergency bypass needs a reason: say why in {BYPASS_HEADER}",
                errors=[{"field": BYPASS_HEADER, "message": "must not be empty"}],
            )
    submitted = await submit_governed(
        request,
        who,
        proposal,
        apply_at_ms=apply_at_ms,
        bypass_reason=reason,
        request_id=request_id_of(request),
    )
    if submitted is None:
        return None
    if submitted.document is not None:
        return Governed(document=submitted.document)
    if submitted.result is not None:
        return Governed(result=submitted.result)
    location = f"{CHANGE_REQUESTS}/{submitted.view['id']}"
    return Governed(response=json_response(submitted.view, status=202, headers={"Location": location}))


async def write_unless_governed(
    request: Request,
    who: Principal,
    proposal: Proposal,
    write: Callable[[], Awaitable[VersionedDocument]],
) -> Response | VersionedDocument:
    """The gate, then the route's own write: the 202 of a change request as it is, the version a bypass
    wrote, or `await write()` when nothing governs the change (a service's `update_async`, which
    awaits the writer on the loop, or a sync call sent to the thread pool)."""
    gated = await govern(request, who, proposal)
    if gated is not None and gated.response is not None:
        return gated.response
    if gated is not None and gated.document is not None:
        return gated.document
    return await write()


async def run_unless_governed(
    request: Request, who: Principal, proposal: Proposal, run: Callable[[], dict[str, Any]]
) -> Response | dict[str, Any]:
    """The gate for an operation that is not a document (a reload, a release): the 202 of a change
    request as it is, the answer of a bypass, or `run()` off the event loop when nothing governs it."""
    gated = await govern(request, who, proposal)
    if gated is not None and gated.response is not None:
        return gated.response
    if gated is not None and gated.result is not None:
        return gated.result
    return await run_in_threadpool(run)


def parse_apply_at(value: str | None, now_ms: int) -> int | None:
    """ISO-8601 with an offset (`2026-12-01T06:00:00Z`) or epoch seconds, as the contract writes times.
    A naive time is refused: whose 06:00 would it be?"""
    if value is None:
        return None
    moment_ms: int | None = None
    try:
        seconds = float(value)
        if math.isfinite(seconds):
            moment_ms = int(seconds * 1000)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            moment_ms = int(moment.astimezone(UTC).timestamp() * 1000)
    if moment_ms is None or not 0 <= moment_ms <= now_ms + MAX_AHEAD_MS:
        raise Invalid(
            "change_requests.bad_apply_at",
            f"applyAt must be ISO-8601 with a time zone (2026-12-01T06:00:00Z) or epoch seconds, "
            f"at most ten years ahead; got {value!r}",
            errors=[{"field": APPLY_AT, "message": "ISO-8601 with a time zone, or epoch seconds"}],
        )
    return moment_ms


APPLY_AT_QUERY = {
    "name": APPLY_AT,
    "in": "query",
    "required": False,
    "description": "Apply the change at this time (ISO-8601 with a time zone, or epoch seconds) instead "
    "of now: the answer is 202 with `Location` naming the scheduled change request.",
    "schema": {"type": "string"},
}
BYPASS_REASON = {
    "name": BYPASS_HEADER,
    "in": "header",
    "required": False,
    "description": "An emergency bypass of the approvals the policy asks for (operation "
    "`change_requests.bypass`): applied at once, audited with this reason (required, not empty).",
    "schema": {"type": "string"},
}
GOVERNED_PARAMETERS = (APPLY_AT_QUERY, BYPASS_REASON)


def accepted() -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a governed write: what a 202 says."""
    return {
        202: {
            "description": "Not applied yet: the policy requires approvals for this change, or it is "
            "scheduled (`applyAt`). The body is the change request; `Location` names it.",
            "headers": {"Location": {"description": "the change request", "schema": {"type": "string"}}},
        }
    }
