"""Change-request endpoints (ADR 0026): list, show with the diff, approve, reject, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.changerequests.service import ChangeRequestService
from trainer_ops.changerequests.types import OPERATION_READ, OPERATION_REVIEW
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response

router = APIRouter(prefix="/operator/ops", tags=["change-requests"])
ID = Path(..., description="the change request's id (`cr_...`)")


class Review(BaseModel):
    """An optional comment on an approval or a cancellation."""

    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=2000)


class Rejection(BaseModel):
    """Why the change is rejected (required)."""

    model_config = ConfigDict(extra="forbid")
    comment: str = Field(..., min_length=1, max_length=2000)


class ChangeRequestRead(BaseModel):
    id: str
    state: str = Field(
        description="pending, approved, applying, applied, rejected, cancelled, conflicted, suspended"
    )
    operation: str
    kind: str
    params: dict[str, Any]
    body: Any
    baseVersion: int
    base: dict[str, Any] | None = Field(
        None,
        description="what a hot reload or release was asked against (its lane's activation, the "
        "releases then); null for document writes, whose baseVersion says it all",
    )
    author: dict[str, Any]
    approvals: dict[str, Any]
    reviews: list[dict[str, Any]]
    applyAt: int | None
    bypassReason: str | None
    appliedVersion: int | None
    outcome: dict[str, Any] | None
    createdAt: int
    updatedAt: int
    diff: dict[str, Any] | None = None


def _service(request: Request) -> ChangeRequestService:
    service: ChangeRequestService = request.app.state.change_requests
    return service


async def _optional_review(request: Request) -> Review:
    """The body is optional here: no body is no comment."""
    if not await request.body():
        return Review()
    return await parse_body(request, Review)


@router.get("/change-requests", responses={200: {"model": list[ChangeRequestRead]}})
async def list_change_requests(
    request: Request,
    who: Principal = Depends(principal),
    state: str | None = Query(None, description="only requests in this state"),
    limit: int = Query(100, description="at most this many, newest first (1 to 500)"),
) -> Response:
    """Change requests, newest first: writes waiting for approvals, scheduled changes (`applyAt`), and
    those already applied, rejected, cancelled, conflicted or suspended."""
    await authorize(request, who, OPERATION_READ)
    items = await run_in_threadpool(_service(request).list, state=state, limit=limit)
    return json_response(items)


@router.get(
    "/change-requests/{requestId}",
    responses={200: {"model": ChangeRequestRead}, **openapi.problems(e404="No such change request")},
)
async def get_change_request(
    request: Request, requestId: str = ID, who: Principal = Depends(principal)
) -> Response:
    """One change request, with `diff`: the version it was asked against, the current version, and while
    it is open what it would change now (`before` and `after`, or the `error` it would meet)."""
    await authorize(request, who, OPERATION_READ)
    return json_response(await run_in_threadpool(_service(request).show, requestId))


@router.post(
    "/change-requests/{requestId}/approve",
    responses={
        200: {"model": ChangeRequestRead},
        **openapi.problems(e404="No such change request", e409="Not pending, or approved by you already"),
    },
    openapi_extra=body_doc(Review),
)
async def approve_change_request(
    request: Request, requestId: str = ID, who: Principal = Depends(principal)
) -> Response:
    """Approve (optional `comment`). With enough approvals the change is applied at once (or at its
    `applyAt`), on the version it was asked against: if the document moved meanwhile, the request
    becomes `conflicted` and nothing is overwritten. The author may not approve their own request
    unless the policy says `selfApproval`, and only the roles the policy names may approve (403)."""
    await authorize(request, who, OPERATION_REVIEW)
    review = await _optional_review(request)
    view = await run_in_threadpool(
        _service(request).approve,
        who=who,
        request_id=requestId,
        comment=review.comment,
        req=request_id_of(request),
    )
    return json_response(view)


@router.post(
    "/change-requests/{requestId}/reject",
    responses={
        200: {"model": ChangeRequestRead},
        **openapi.problems(e404="No such change request", e409="Already applied or closed"),
    },
    openapi_extra=body_doc(Rejection),
)
async def reject_change_request(
    request: Request, requestId: str = ID, who: Principal = Depends(principal)
) -> Response:
    """Reject, saying why (`comment`, required). Nothing is applied."""
    await authorize(request, who, OPERATION_REVIEW)
    rejection = await parse_body(request, Rejection)
    view = await run_in_threadpool(
        _service(request).reject,
        who=who,
        request_id=requestId,
        comment=rejection.comment,
        req=request_id_of(request),
    )
    return json_response(view)


@router.post(
    "/change-requests/{requestId}/cancel",
    responses={
        200: {"model": ChangeRequestRead},
        **openapi.problems(e404="No such change request", e409="Already applied or closed"),
    },
    openapi_extra=body_doc(Review),
)
async def cancel_change_request(
    request: Request, requestId: str = ID, who: Principal = Depends(principal)
) -> Response:
    """Withdraw your own change request (optional `comment`); only its author may (403)."""
    review = await _optional_review(request)
    view = await run_in_threadpool(
        _service(request).cancel,
        who=who,
        request_id=requestId,
        comment=review.comment,
        req=request_id_of(request),
    )
    return json_response(view)
