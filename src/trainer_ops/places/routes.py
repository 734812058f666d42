"""Places catalogue endpoints (issue #13): read and replace the whole catalogue, and its history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.etag import parse_if_match
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, write_unless_governed
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import (
    MIN_VERSION_QUERY,
    at_least,
    document_response,
    history_response,
    parse_version_cursor,
)
from trainer_ops.places.schemas import PlacesDocument
from trainer_ops.places.service import PlacesService

router = APIRouter(prefix="/operator/ops", tags=["places"])


def _service(request: Request) -> PlacesService:
    service: PlacesService = request.app.state.places
    return service


@router.get(
    "/places",
    responses={200: {"model": PlacesDocument}, **openapi.not_modified()},
    openapi_extra=openapi.headers(openapi.IF_NONE_MATCH),
)
async def get_places(
    request: Request, who: Principal = Depends(principal), minVersion: int | None = MIN_VERSION_QUERY
) -> Response:
    """The places catalogue: regions, the countries under each, the branches under each country. A new
    store starts with none (`{"regions": []}`); while it is empty, region, country and branch codes are
    checked for their shape only. Once it has places, every code the service accepts (tokens, JWT
    claims, identity headers, `?region=`, a reload's `scope`) must be in it, under the parents named
    beside it. The `ETag` is its version."""
    await authorize(request, who, "places.read")
    service = _service(request)
    if minVersion is not None:
        await at_least(request, {service.current().kind: minVersion})
    return document_response(request, service.current())


@router.put(
    "/places",
    responses={
        200: {"model": PlacesDocument},
        **accepted(),
        **openapi.problems(
            409, e409="A place still in use (live tokens, feature overrides) would be removed"
        ),
    },
    openapi_extra={**body_doc(PlacesDocument), **openapi.headers(openapi.IF_MATCH, *GOVERNED_PARAMETERS)},
)
async def put_places(request: Request, who: Principal = Depends(principal)) -> Response:
    """Replace the whole catalogue (admins). Codes are stored in upper case and must be unique across
    regions, countries and branches; a bad shape or a duplicate is a 422 whose `errors` name its path
    (`regions.0.countries.1.code`). A catalogue that would remove or move a place still in use is a 409
    naming the place and who uses it (live tokens' users, feature overrides of a region): revoke or
    remove those first. `If-Match` (the ETag of your read) refuses a stale replacement with 412. Every
    change is a new version and an audit entry. Where the policy requires approvals, or with `applyAt`,
    the answer is 202 and a change request (`Location`)."""
    await authorize(request, who, "places.update")
    body = await parse_body(request, PlacesDocument)
    document: dict[str, Any] = body.model_dump(mode="json")
    if_match = parse_if_match(request.headers.get("if-match"))
    kind = _service(request).current().kind
    proposal = Proposal("places.update", kind, document, if_match=if_match)
    written = await write_unless_governed(
        request,
        who,
        proposal,
        lambda: run_in_threadpool(
            _service(request).replace,
            principal=who,
            document=document,
            if_match=if_match,
            request_id=request_id_of(request),
        ),
    )
    if isinstance(written, Response):
        return written
    doc = written
    return document_response(request, doc)


@router.get("/places/history")
async def places_history(
    request: Request,
    who: Principal = Depends(principal),
    cursor: str | None = Query(None, description="nextCursor of the previous page"),
    limit: int = Query(50, description="page size, 1 to 200"),
) -> Response:
    """Every version of the catalogue, newest first: who, when, before and after, the whole document."""
    await authorize(request, who, "places.read")
    page = await run_in_threadpool(
        _service(request).history, cursor=parse_version_cursor(cursor), limit=limit
    )
    return history_response(page.items, page.next_cursor)
