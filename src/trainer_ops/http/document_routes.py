"""GET, PATCH and history for a whole-document setting (model config, limits): one implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.etag import parse_if_match, refuse_none_match
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, write_unless_governed
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import (
    MIN_VERSION_QUERY,
    at_least,
    document_response,
    history_response,
    parse_version_cursor,
)
from trainer_ops.versions.service import DocumentEditor


class Changes(Protocol):
    def changes(self) -> dict[str, Any]: ...


def add_document_routes(
    router: APIRouter,
    *,
    path: str,
    editor: Callable[[Request], DocumentEditor],
    read_model: type[BaseModel],
    update_model: type[BaseModel],
    read_operation: str,
    update_operation: str,
    what: str,
) -> None:
    async def get_document(
        request: Request, who: Principal = Depends(principal), minVersion: int | None = MIN_VERSION_QUERY
    ) -> Response:
        await authorize(request, who, read_operation)
        if minVersion is not None:
            await at_least(request, {editor(request).kind: minVersion})
        return document_response(request, editor(request).current())

    async def patch_document(request: Request, who: Principal = Depends(principal)) -> Response:
        await authorize(request, who, update_operation)
        update: Any = await parse_body(request, update_model)
        if_match = parse_if_match(request.headers.get("if-match"))
        refuse_none_match(request.headers.get("if-none-match"), editor(request).current().version)
        changes = update.changes()
        proposal = Proposal(update_operation, editor(request).kind, changes, if_match=if_match)
        written = await write_unless_governed(
            request,
            who,
            proposal,
            lambda: editor(request).update_async(
                principal=who, changes=changes, if_match=if_match, request_id=request_id_of(request)
            ),
        )
        if isinstance(written, Response):
            return written
        return document_response(request, written)

    async def document_history(
        request: Request,
        who: Principal = Depends(principal),
        cursor: str | None = Query(None, description="nextCursor of the previous page"),
        limit: int = Query(50, description="page size, 1 to 200"),
    ) -> Response:
        await authorize(request, who, read_operation)
        page = await run_in_threadpool(
            editor(request).history, cursor=parse_version_cursor(cursor), limit=limit
        )
        return history_response(page.items, page.next_cursor)

    router.add_api_route(
        path,
        get_document,
        methods=["GET"],
        responses={200: {"model": read_model}, **openapi.not_modified()},
        openapi_extra=openapi.headers(openapi.IF_NONE_MATCH),
        summary=f"Get the {what}",
        name=f"get {what}",
        description=f"The {what} in force now. The `ETag` header is its version; send it back in "
        "`If-None-Match` for a cheap 304, or in `If-Match` on PATCH. After a change, send the version it "
        "answered as `minVersion` to read that change back from any replica.",
    )
    router.add_api_route(
        path,
        patch_document,
        methods=["PATCH"],
        responses={200: {"model": read_model}, **accepted()},
        openapi_extra={**body_doc(update_model), **openapi.headers(openapi.IF_MATCH, *GOVERNED_PARAMETERS)},
        summary=f"Change the {what}",
        name=f"patch {what}",
        description="A partial update: send only the fields to change. Unknown fields, wrong types and "
        "out-of-range values are refused (422) and change nothing. With `If-Match`, a stale version is "
        "refused (412). Every change becomes a new version and an audit entry. Where the policy requires "
        "approvals, or with `applyAt`, the answer is 202 and a change request (ADR 0026).",
    )
    router.add_api_route(
        f"{path}/history",
        document_history,
        methods=["GET"],
        summary=f"History of the {what}",
        name=f"{what} history",
        description="Every version, newest first: who, when, what changed (before and after) and the whole "
        "document. Page with `limit` and `cursor` (the `nextCursor` of the previous page).",
    )
