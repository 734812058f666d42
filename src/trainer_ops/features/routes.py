"""Feature toggle endpoints (spec section 2), with overrides by place (region, country, branch; ADR 0027)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.features.places import PLACE_QUERY, REGION_QUERY, Asked, asked_place, authorized, visible_to
from trainer_ops.features.schemas import FeatureCreate, FeatureRead, FeaturesRead, FeatureUpdate
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import KIND
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.etag import parse_if_match
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, write_unless_governed
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import (
    MIN_VERSION_QUERY,
    at_least,
    history_response,
    parse_version_cursor,
    serialised_response,
    versioned_json,
)

router = APIRouter(prefix="/operator/ops", tags=["features"])


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
    place: str | None = PLACE_QUERY,
    minVersion: int | None = MIN_VERSION_QUERY,
) -> Response:
    """Every feature and whether it is on: the global defaults, or with `?place=` (a region, country
    or branch) the values in force there: the place's own override, else its country's, else its
    region's, else the default. `?region=` does the same for a region. Operators the policy limits to
    their own place (by default region operators, their region) get its values when they name none.
    The `ETag` is the version of the feature toggles; with `minVersion` the answer is at that version or
    newer (read-your-writes)."""
    asked = await authorized(request, who, "features.read", asked_place(region, place))
    if minVersion is not None:
        await at_least(request, {KIND: minVersion})
    body, version = _service(request).values_body(asked.place)
    return serialised_response(request, body, version)


@router.post(
    "/features",
    status_code=201,
    responses={
        201: {"model": FeatureRead},
        **accepted(),
        **openapi.problems(e409="The feature exists already"),
    },
    openapi_extra={**body_doc(FeatureCreate), **openapi.headers(*GOVERNED_PARAMETERS)},
)
async def create_feature(request: Request, who: Principal = Depends(principal)) -> Response:
    """Add a new feature toggle (admins). 409 if the key exists. Where the policy requires approvals,
    or with `applyAt`, the answer is 202 and a change request (`Location`), applied once approved or
    due, on the feature toggles' version it was asked against."""
    await authorize(request, who, "features.create")
    new = await parse_body(request, FeatureCreate)
    service = _service(request)
    spec = {
        "enabled": new.enabled,
        "regionOverridable": new.regionOverridable,
        "description": new.description,
    }
    written = await write_unless_governed(
        request,
        who,
        Proposal("features.create", KIND, {"key": new.key, **spec}),
        lambda: run_in_threadpool(
            service.create,
            principal=who,
            key=new.key,
            enabled=new.enabled,
            region_overridable=new.regionOverridable,
            description=new.description,
            request_id=request_id_of(request),
        ),
    )
    if isinstance(written, Response):
        return written
    doc = written
    view, _ = service.detail(new.key, place=None, all_overrides=True)
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
    place: str | None = PLACE_QUERY,
    minVersion: int | None = MIN_VERSION_QUERY,
) -> Response:
    """One feature: its global default, whether operators may override it, and its overrides by place.
    With `?place=` (or `?region=`): its value there and `overrideFrom`, the place whose override decides
    it (null: the default)."""
    asked = await authorized(request, who, "features.read", asked_place(region, place))
    if minVersion is not None:
        await at_least(request, {KIND: minVersion})
    return versioned_json(*_detail(request, who, featureKey, asked))


def _detail(request: Request, who: Principal, key: str, asked: Asked) -> tuple[dict[str, Any], int]:
    # A caller limited to its own place sees the overrides that decide its values and those under it.
    return _service(request).detail(
        key,
        place=asked.place,
        all_overrides=asked.full,
        visible=None if asked.full else visible_to(request, who),
        as_region=asked.via_region,
    )


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
    place: str | None = PLACE_QUERY,
) -> Response:
    """Turn a feature on or off (spec 2.2: `{"enabled": false}`).

    Without a place, admins change the global default. With `?place=` (a region, country or branch;
    `?region=` for a region) the change is that place's override, which wins over its country's and
    region's; `{"enabled": null}` removes it, so the place follows its parent again. Who may set an
    override where is the policy's: by default admins anywhere, region operators in their region and
    the countries and branches under it, on features marked `regionOverridable` only. `If-Match` (the
    ETag of your last read) refuses a stale change with 412. Where the policy requires approvals, or
    with `applyAt`, the answer is 202 and a change request (`Location`), applied once approved or due.
    """
    # The plain toggle of a global default is answered by features/fastpath.py (FastToggle) with these
    # same steps in this order; a change here belongs there too (tests/contract/test_fast_toggle.py).
    service = _service(request)
    overridable = service.is_region_overridable(featureKey)
    asked = await authorized(
        request, who, "features.update", asked_place(region, place), overridable=overridable
    )
    update = await parse_body(request, FeatureUpdate)
    changes = {name: getattr(update, name) for name in update.model_fields_set}
    if_match = parse_if_match(request.headers.get("if-match"))
    params = {"featureKey": featureKey, "place": asked.place}
    written = await write_unless_governed(
        request,
        who,
        Proposal("features.update", KIND, changes, params, if_match),
        lambda: service.update_async(
            principal=who,
            key=featureKey,
            place=asked.place,
            changes=changes,
            if_match=if_match,
            request_id=request_id_of(request),
        ),
    )
    if isinstance(written, Response):
        return written
    view, _ = _detail(request, who, featureKey, asked)
    return versioned_json(view, written.version)
