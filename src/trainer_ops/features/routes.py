"""Feature toggle endpoints (spec section 2), with region overrides for region operators."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.features.schemas import FeatureCreate, FeatureRead, FeaturesRead, FeatureUpdate
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import KIND, checked_region
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.etag import parse_if_match
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, write_unless_governed
from trainer_ops.http.guard import authorize, known_region, principal, scoped_region
from trainer_ops.http.responses import (
    MIN_VERSION_QUERY,
    at_least,
    history_response,
    parse_version_cursor,
    serialised_response,
    versioned_json,
)

router = APIRouter(prefix="/operator/ops", tags=["features"])

REGION_QUERY = Query(None, description="a region: read or change that region's effective values")


def _service(request: Request) -> FeaturesService:
    service: FeaturesService = request.app.state.features
    return service


@router.get(
    "/features",
    responses={200: {"model": FeaturesRead}, **openapi.not_modified()},
    openapi_extra=openapi.headers(openapi.IF_NONE_MATCH),
)
async def get_features(
    request: Request,
    who: Principal = Depends(principal),
    region: str | None = REGION_QUERY,
    minVersion: int | None = MIN_VERSION_QUERY,
) -> Response:
    """Every feature and whether it is on: the global defaults, or with `?region=` the effective values
    for that region (its overrides applied). Region operators always get their own region's values.
    The `ETag` is the version of the feature toggles; with `minVersion` the answer is at that version or
    newer (read-your-writes)."""
    region = scoped_region(request, who, "features.read", checked_region(region))
    await authorize(request, who, "features.read", region=region)
    known_region(request, region)
    if minVersion is not None:
        await at_least(request, {KIND: minVersion})
    body, version = _service(request).values_body(region)
    return serialised_response(request, body, version)


@router.post(
    "/features",
    status_code=201,
    responses={201: {"model": FeatureRead}, **openapi.problems(e409="The feature exists already")},
    openapi_extra=body_doc(FeatureCreate),
)
async def create_feature(request: Request, who: Principal = Depends(principal)) -> Response:
    """Add a new feature toggle (admins). 409 if the key exists."""
    await authorize(request, who, "features.create")
    new = await parse_body(request, FeatureCreate)
    service = _service(request)
    doc = await run_in_threadpool(
        service.create,
        principal=who,
        key=new.key,
        enabled=new.enabled,
        region_overridable=new.regionOverridable,
        description=new.description,
        request_id=request_id_of(request),
    )
    view, _ = service.detail(new.key, region=None, all_overrides=True)
    return versioned_json(view, doc.version, status=201)


@router.get("/features/history")
async def features_history(
    request: Request,
    who: Principal = Depends(principal),
    cursor: str | None = Query(None, description="nextCursor of the previous page"),
    limit: int = Query(50, description="page size, 1 to 200"),
) -> Response:
    """Every version of the feature toggles, newest first: who changed which feature, before and after."""
    await authorize(request, who, "features.history")
    page = await run_in_threadpool(
        _service(request).history, cursor=parse_version_cursor(cursor), limit=limit
    )
    return history_response(page.items, page.next_cursor)


@router.get(
    "/features/{featureKey}",
    responses={200: {"model": FeatureRead}, **openapi.problems(e404="No such feature")},
)
async def get_feature(
    request: Request,
    featureKey: str = Path(...),
    who: Principal = Depends(principal),
    region: str | None = REGION_QUERY,
    minVersion: int | None = MIN_VERSION_QUERY,
) -> Response:
    """One feature: its global default, whether regions may override it, and its region overrides."""
    region = scoped_region(request, who, "features.read", checked_region(region))
    decision = await authorize(request, who, "features.read", region=region)
    known_region(request, region)
    if minVersion is not None:
        await at_least(request, {KIND: minVersion})
    view, version = _service(request).detail(
        featureKey, region=region, all_overrides=decision.view != "own_region"
    )
    return versioned_json(view, version)


@router.patch(
    "/features/{featureKey}",
    responses={200: {"model": FeatureRead}, **accepted(), **openapi.problems(e404="No such feature")},
    openapi_extra={**body_doc(FeatureUpdate), **openapi.headers(openapi.IF_MATCH, *GOVERNED_PARAMETERS)},
)
async def patch_feature(
    request: Request,
    featureKey: str = Path(...),
    who: Principal = Depends(principal),
    region: str | None = REGION_QUERY,
) -> Response:
    """Turn a feature on or off (spec 2.2: `{"enabled": false}`).

    Admins change the global default, or with `?region=` set that region's override. Region operators
    set their own region's override, on features marked `regionOverridable` only. With a region,
    `{"enabled": null}` removes the override. `If-Match` (the ETag of your last read) refuses a stale
    change with 412. Where the policy requires approvals, or with `applyAt`, the answer is 202 and a
    change request (`Location`), applied once approved or due.
    """
    service = _service(request)
    region = scoped_region(request, who, "features.update", checked_region(region))
    overridable = service.is_region_overridable(featureKey)
    decision = await authorize(request, who, "features.update", region=region, overridable=overridable)
    known_region(request, region)
    update = await parse_body(request, FeatureUpdate)
    changes = {name: getattr(update, name) for name in update.model_fields_set}
    if_match = parse_if_match(request.headers.get("if-match"))
    params = {"featureKey": featureKey, "region": region}
    written = await write_unless_governed(
        request,
        who,
        Proposal("features.update", KIND, changes, params, if_match),
        lambda: service.update_async(
            principal=who,
            key=featureKey,
            region=region,
            changes=changes,
            if_match=if_match,
            request_id=request_id_of(request),
        ),
    )
    if isinstance(written, Response):
        return written
    doc = written
    view, _ = service.detail(featureKey, region=region, all_overrides=decision.view != "own_region")
    return versioned_json(view, doc.version)
