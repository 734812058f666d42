"""Policy endpoints: read the policy in force, replace it, its history and its JSON Schema (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.http import openapi
from trainer_ops.http.body import parse_object
from trainer_ops.http.context import request_id_of
from trainer_ops.http.etag import parse_if_match, refuse_none_match
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, govern
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import (
    MIN_VERSION_QUERY,
    at_least,
    document_response,
    history_response,
    json_response,
    parse_version_cursor,
)
from trainer_ops.policy import types
from trainer_ops.policy.service import PolicyEditor

router = APIRouter(prefix="/operator/ops", tags=["policy"])


def _editor(request: Request) -> PolicyEditor:
    editor: PolicyEditor = request.app.state.policy_editor
    return editor


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# OpenAPI is built without the engine registry: engine types are any string there, and exactly the
# server's in GET /policy/schema. `$schema` is the JSON Schema dialect, which OpenAPI 3.1 already says.
_DOC_SCHEMA = {k: v for k, v in types.schema(None).items() if k != "$schema"}


@router.get(
    "/policy",
    responses={200: {"content": _json(_DOC_SCHEMA)}, **openapi.not_modified()},
    openapi_extra=openapi.headers(openapi.IF_NONE_MATCH),
    summary="Get the policy",
)
async def get_policy(
    request: Request, who: Principal = Depends(principal), minVersion: int | None = MIN_VERSION_QUERY
) -> Response:
    """The policy in force: who may do what (operation -> role -> rule), the stored policy over the
    built-in defaults, so every operation this server knows is listed. The `ETag` is its version: send
    it back in `If-Match` on PUT. Every rule's `view`, `conditions` and `engineIn` are described by
    `GET /operator/ops/policy/schema`."""
    await authorize(request, who, types.READ)
    if minVersion is not None:
        await at_least(request, {types.KIND: minVersion})
    return document_response(request, _editor(request).current())


@router.put(
    "/policy",
    responses={
        200: {"content": _json(_DOC_SCHEMA)},
        **accepted(),
        **openapi.problems(
            e409="The policy would leave no role able both to change and to read it (`policy.lockout`)"
        ),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": _json(_DOC_SCHEMA)},
        **openapi.headers(openapi.IF_MATCH, *GOVERNED_PARAMETERS),
    },
    summary="Replace the policy",
)
async def put_policy(request: Request, who: Principal = Depends(principal)) -> Response:
    """Replace the policy. It takes effect at once on every replica and is sent to SDK clients.

    An operation left out keeps its built-in default rule; `{}` denies it to everyone. An unknown
    operation, role, condition, view or engine type is refused (422, `errors` names each JSON path,
    e.g. `operations/limits.read/region`), and so is a policy under which no role could both change and
    read the policy (409 `policy.lockout`); neither changes anything. With `If-Match`, a stale version is
    refused (412). Every change is a new version and an `update_config` audit entry whose `before` and
    `after` are the operations it changed. Where the policy requires approvals for it, or with
    `applyAt`, the answer is 202 and a change request (`Location`)."""
    await authorize(request, who, types.UPDATE)
    document = await parse_object(request)
    if_match = parse_if_match(request.headers.get("if-match"))
    refuse_none_match(request.headers.get("if-none-match"), _editor(request).current().version)
    gated = await govern(request, who, Proposal(types.UPDATE, types.KIND, document, if_match=if_match))
    if gated is not None and gated.response is not None:
        return gated.response
    if gated is not None and gated.document is not None:
        return document_response(request, _editor(request).current())
    doc = await run_in_threadpool(
        _editor(request).replace,
        principal=who,
        document=document,
        if_match=if_match,
        request_id=request_id_of(request),
    )
    return document_response(request, doc)


@router.get("/policy/history", summary="History of the policy")
async def policy_history(
    request: Request,
    who: Principal = Depends(principal),
    cursor: str | None = Query(None, description="nextCursor of the previous page"),
    limit: int = Query(50, description="page size, 1 to 200"),
) -> Response:
    """Every version of the policy, newest first: who, when, the operations changed (`before` and
    `after`, ready to diff) and the whole policy. Page with `limit` and `cursor` (the `nextCursor` of
    the previous page)."""
    await authorize(request, who, types.READ)
    page = await run_in_threadpool(_editor(request).history, cursor=parse_version_cursor(cursor), limit=limit)
    return history_response(page.items, page.next_cursor)


@router.get("/policy/schema", summary="JSON Schema of the policy")
async def policy_schema(request: Request, who: Principal = Depends(principal)) -> Response:
    """The JSON Schema (2020-12) a policy must match: the operations, roles, conditions and views this
    server knows, and its engine types (built-in and plugins)."""
    await authorize(request, who, types.READ)
    return json_response(_editor(request).schema())
