"""Change requests (issue #13, ADR 0026): the list by state, and one request with what it would change
now, its reviews and the Approve, Reject and Cancel forms. Each form is the API route's service call
(`ChangeRequestService`, from app.state) with the signed-in principal; a button is shown only when that
call would accept this caller. Admin-only under the default policy (`change_requests.read` /
`change_requests.review`; cancelling is the author's, as in the API)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.changerequests.service import ChangeRequestService
from trainer_ops.changerequests.types import OPEN, OPERATION_READ, OPERATION_REVIEW, State, approval_refusal
from trainer_ops.console.diffs import side_by_side
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, redirect, render, signed_in
from trainer_ops.errors import Invalid
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize

router = page_router()

PAGE = "/console/change-requests"
STATES = tuple(State)
DEFAULT_STATE = State.PENDING
LISTED = 100  # newest first; the API pages no further either (no cursor yet)
MAX_COMMENT = 2000  # the API's Review/Rejection bodies: max_length
DONE = ("approved", "rejected", "cancelled")  # what a form's redirect says it did (?done=)


def _service(request: Request) -> ChangeRequestService:
    # The service the API's routes use (app.state, set by create_app), called in-process.
    service: ChangeRequestService = request.app.state.change_requests
    return service


@router.get(PAGE)
async def change_requests_page(request: Request, state: str = DEFAULT_STATE) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, OPERATION_READ)
    # An unknown state from a hand-edited address is the list's own 422 (change_requests.bad_state).
    items = await run_in_threadpool(_service(request).list, state=state, limit=LISTED)
    return render(
        request, me, "change_requests/list.html", items=items, states=STATES, chosen=state, limit=LISTED
    )


def _controls(request: Request, me: SignedIn, view: dict[str, Any]) -> dict[str, bool]:
    """Which forms the service would accept from this caller: the same checks it runs, asked first."""
    open_ = view["state"] in OPEN
    author = view["author"]
    is_author = (me.who.user_id, me.who.role.value) == (author["userId"], author["role"])
    policy = edge_of(request).policy()
    reviewer = open_ and policy.decide(me.who, OPERATION_REVIEW).allowed
    refusal = approval_refusal(
        me.who,
        author=(author["userId"], author["role"]),
        author_scope=author["scope"],
        approvers=view["approvals"]["approvers"],
        self_approval=view["approvals"]["selfApproval"],
        places=policy.places,
    )
    may_review = reviewer and refusal is None
    approved_already = any(
        r["userId"] == me.who.user_id and r["verdict"] == "approve" for r in view["reviews"]
    )
    return {
        "approve": may_review and view["state"] == State.PENDING and not approved_already,
        "reject": may_review,
        "cancel": open_ and is_author,
    }


async def _detail(
    request: Request,
    me: SignedIn,
    request_id: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    comments: dict[str, str] | None = None,
) -> Response:
    view = await run_in_threadpool(_service(request).show, request_id)
    diff = view.get("diff") or {}
    rows = side_by_side(diff["before"], diff["after"], only_changes=True) if "before" in diff else None
    done = request.query_params.get("done", "")
    return render(
        request,
        me,
        "change_requests/detail.html",
        status=status,
        cr=view,
        diff=diff,
        rows=rows,
        body_json=json.dumps(view["body"], indent=2, ensure_ascii=False),
        params_json=json.dumps(view["params"], ensure_ascii=False),
        controls=_controls(request, me, view),
        done=done if done in DONE else "",
        sent=_sent(view) if request.query_params.get("sent") == "1" else None,
        errors=errors or {},
        comments=comments or {},
        max_comment=MAX_COMMENT,
    )


def _sent(view: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The notice after a console form sent this request (`?sent=1`): what it waits for now."""
    state, apply_at = view["state"], view["applyAt"]
    fill = {
        "count": view["approvals"]["required"] - view["approvals"]["given"],
        "at": apply_at,
        "state": state,
    }
    if state == State.PENDING:
        return (
            "change_requests.sent.pending" if apply_at is None else "change_requests.sent.pending_at"
        ), fill
    if state == State.APPROVED and apply_at is not None:
        return "change_requests.sent.scheduled", fill
    return "change_requests.sent.other", fill


@router.get(PAGE + "/{request_id}")
async def change_request_page(request: Request, request_id: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, OPERATION_READ)
    return await _detail(request, me, request_id)


async def _comment(request: Request, me: SignedIn) -> tuple[str, str | None]:
    """The form's comment, and the message key of its error (too long for the API's body)."""
    comment = field(await checked_form(request, me), "comment")
    return comment, "change_requests.comment_too_long" if len(comment) > MAX_COMMENT else None


@router.post(PAGE + "/{request_id}/approve")
async def approve(request: Request, request_id: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, OPERATION_REVIEW)
    comment, error = await _comment(request, me)
    if error:
        return await _detail(
            request, me, request_id, status=422, errors={"approve": error}, comments={"approve": comment}
        )
    await run_in_threadpool(
        _service(request).approve,
        who=me.who,
        request_id=request_id,
        comment=comment.strip() or None,
        req=me.request_id,
    )
    return redirect(f"{PAGE}/{request_id}?done=approved")


@router.post(PAGE + "/{request_id}/reject")
async def reject(request: Request, request_id: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, OPERATION_REVIEW)
    comment, error = await _comment(request, me)
    if not error:
        try:
            await run_in_threadpool(
                _service(request).reject,
                who=me.who,
                request_id=request_id,
                comment=comment,
                req=me.request_id,
            )
        except Invalid as exc:
            # change_requests.comment_required: shown at the field, the page kept as it was.
            if exc.code != "change_requests.comment_required":
                raise
            error = "change_requests.comment_required"
    if error:
        return await _detail(
            request, me, request_id, status=422, errors={"reject": error}, comments={"reject": comment}
        )
    return redirect(f"{PAGE}/{request_id}?done=rejected")


@router.post(PAGE + "/{request_id}/cancel")
async def cancel(request: Request, request_id: str) -> Response:
    # No operation to authorize, as in the API: only the author may cancel, and the service refuses
    # (and audits) anyone else.
    me = await signed_in(request)
    comment, error = await _comment(request, me)
    if error:
        await authorize(request, me.who, OPERATION_READ)  # the page shown again is the read's
        return await _detail(
            request, me, request_id, status=422, errors={"cancel": error}, comments={"cancel": comment}
        )
    await run_in_threadpool(
        _service(request).cancel,
        who=me.who,
        request_id=request_id,
        comment=comment.strip() or None,
        req=me.request_id,
    )
    return redirect(f"{PAGE}/{request_id}?done=cancelled")
