"""Release endpoints (spec section 4): list, create, roll back. Admins only, as the policy says."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import request_id_of
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, run_unless_governed
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response
from trainer_ops.releases.service import NewRelease, ReleaseService

router = APIRouter(prefix="/operator/ops", tags=["releases"])


class ReleaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=5, max_length=64, description="semantic version, greater than the latest")
    notes: str = Field("", max_length=5000)
    includedEngines: list[str] = Field(default_factory=list, max_length=16)


class ReleaseRollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targetVersion: str = Field(min_length=1, max_length=64)


class ReleaseRead(BaseModel):
    version: str
    notes: str
    date: int
    includedEngines: list[str]
    current: bool


def _service(request: Request) -> ReleaseService:
    service: ReleaseService = request.app.state.releases
    return service


@router.get("/releases", responses={200: {"model": list[ReleaseRead]}})
async def list_releases(request: Request, who: Principal = Depends(principal)) -> Response:
    """Every release, oldest first (spec 4.1), with `current: true` on the one in force."""
    await authorize(request, who, "releases.read")
    return json_response(await run_in_threadpool(_service(request).list_releases))


@router.post(
    "/releases",
    status_code=201,
    responses={
        201: {"model": ReleaseRead},
        **accepted(),
        **openapi.problems(e409="The version is not greater than the latest release"),
    },
    openapi_extra={**body_doc(ReleaseCreate), **openapi.headers(*GOVERNED_PARAMETERS)},
)
async def create_release(request: Request, who: Principal = Depends(principal)) -> Response:
    """Spec 4.2: record a release (semver, strictly greater than the latest, else 409) with a snapshot of
    the included engines' active rulesets and the config versions in force. `date` is set by the server.
    Releases are immutable. Where the policy requires approvals, or with `applyAt`, the answer is 202 and
    a change request (`Location`), created once approved or due if no release was created meanwhile."""
    await authorize(request, who, "release.create")
    body = await parse_body(request, ReleaseCreate)
    service = _service(request)
    new = NewRelease(body.version, body.notes, body.includedEngines)
    release = await run_unless_governed(
        request,
        who,
        Proposal("release.create", "releases", body.model_dump()),
        lambda: service.create(principal=who, new=new, request_id=request_id_of(request)),
    )
    return release if isinstance(release, Response) else json_response(release, status=201)


@router.post(
    "/releases/rollback",
    responses={
        **accepted(),
        **openapi.problems(e404="No such release", e409="An engine refused; nothing changed"),
    },
    openapi_extra={**body_doc(ReleaseRollback), **openapi.headers(*GOVERNED_PARAMETERS)},
)
async def rollback_release(request: Request, who: Principal = Depends(principal)) -> Response:
    """Spec 4.3: put the target release's engines (through hot reload) and config back, all or nothing.
    404 for an unknown version; 409 (nothing changed) if an engine refuses. Where the policy requires
    approvals, or with `applyAt`, the answer is 202 and a change request (`Location`), run once approved
    or due if no release was created or rolled back meanwhile."""
    await authorize(request, who, "release.rollback")
    body = await parse_body(request, ReleaseRollback)
    service = _service(request)
    result = await run_unless_governed(
        request,
        who,
        Proposal("release.rollback", "releases", body.model_dump()),
        lambda: service.rollback(
            principal=who, target_version=body.targetVersion, request_id=request_id_of(request)
        ),
    )
    return result if isinstance(result, Response) else json_response(result)
