"""A change request's row as it is first stored, and its public view (no I/O)."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from trainer_ops.access.types import Approvals, Principal
from trainer_ops.changerequests import types
from trainer_ops.changerequests.models import ChangeRequestRow
from trainer_ops.changerequests.types import State
from trainer_ops.http.governance import Proposal


def new_row(
    who: Principal,
    proposal: Proposal,
    approvals: Approvals | None,
    apply_at_ms: int | None,
    bypass_reason: str | None,
    base_version: int,
    *,
    now_ms: int,
) -> ChangeRequestRow:
    """Pending when it waits for approvals (and no bypass), else approved: due now or at `applyAt`."""
    waits = approvals is not None and bypass_reason is None
    return ChangeRequestRow(
        id="cr_" + secrets.token_hex(8),
        operation=proposal.operation,
        kind=proposal.kind,
        body=orjson.dumps(proposal.body).decode(),
        params=orjson.dumps(proposal.params).decode(),
        base_version=base_version,
        state=State.PENDING if waits else State.APPROVED,
        author_user_id=who.user_id,
        author_role=who.role.value,
        author_scope=orjson.dumps(who.scope).decode(),
        # A change that needs no approvals (scheduled only) may still be rejected by an admin.
        min_approvals=approvals.min_approvals if approvals else 0,
        approvers=orjson.dumps(sorted(approvals.approvers) if approvals else ["admin"]).decode(),
        self_approval=approvals.self_approval if approvals else False,
        reviews="[]",
        apply_at_ms=apply_at_ms,
        bypass_reason=bypass_reason,
        created_at_ms=now_ms,
        updated_at_ms=now_ms,
    )


def review(who: Principal, verdict: str, comment: str | None, now_ms: int) -> dict[str, Any]:
    """One entry of a request's reviews: an approval, a rejection or a cancellation."""
    return {
        "userId": who.user_id,
        "role": who.role.value,
        "verdict": {"approved": "approve"}.get(verdict, verdict),
        "comment": comment,
        "at": now_ms // 1000,
    }


def view(row: ChangeRequestRow) -> dict[str, Any]:
    """The public view: what the API, the console and the CLI show."""
    reviews = types.loads(row.reviews)
    return {
        "id": row.id,
        "state": row.state,
        "operation": row.operation,
        "kind": row.kind,
        "params": types.loads(row.params),
        "body": types.loads(row.body),
        "baseVersion": row.base_version,
        "base": types.loads(row.base),
        "author": {
            "userId": row.author_user_id,
            "role": row.author_role,
            "scope": types.loads(row.author_scope),
        },
        "approvals": {
            "required": row.min_approvals,
            "approvers": types.loads(row.approvers),
            "selfApproval": row.self_approval,
            "given": sum(r["verdict"] == "approve" for r in reviews),
        },
        "reviews": reviews,
        "applyAt": row.apply_at_ms // 1000 if row.apply_at_ms is not None else None,
        "bypassReason": row.bypass_reason,
        "appliedVersion": row.applied_version,
        "outcome": types.loads(row.outcome),
        "createdAt": row.created_at_ms // 1000,
        "updatedAt": row.updated_at_ms // 1000,
    }
