"""Engine endpoints: rulesets (upload, list, read), the active ruleset, and hot reload (spec 3.1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.places import is_code, normal
from trainer_ops.access.types import Principal
from trainer_ops.engines.schemas import (
    ActiveRead,
    HotReloadRequest,
    HotReloadResult,
    RulesetRead,
    ruleset_upload_body,
)
from trainer_ops.engines.service import EngineService
from trainer_ops.engines.types import ALIASES
from trainer_ops.errors import BadRequest, NotFound
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body, require_json_type
from trainer_ops.http.context import request_id_of
from trainer_ops.http.governance import GOVERNED_PARAMETERS, Proposal, accepted, run_unless_governed
from trainer_ops.http.guard import authorize, known_scope, principal
from trainer_ops.http.responses import json_response

router = APIRouter(prefix="/operator/ops", tags=["engines"])
TYPE = Path(
    ...,
    description="engine type: scenario, prompt, difficulty, content, gamification, missions, upm, "
    "insights ('mission' is accepted)",
)


def _service(request: Request) -> EngineService:
    service: EngineService = request.app.state.engines
    return service


@router.get("/engines")
async def list_engines(request: Request, who: Principal = Depends(principal)) -> Response:
    """Every engine: its status, the active ruleset and version, the last rollback and its reason."""
    await authorize(request, who, "artifacts.read")
    return json_response(_service(request).overview())


@router.get(
    "/engines/{type}/active",
    responses={
        200: {"model": ActiveRead},
        **openapi.problems(
            404,
            422,
            e404="No ruleset loaded",
            e422="Unknown engine type, or a scope that is not a known place",
        ),
    },
)
async def active_ruleset(
    request: Request,
    type: str = TYPE,
    scope: str | None = Query(
        None,
        max_length=64,
        description="a region, country or branch code: what an instance of that place runs",
    ),
    who: Principal = Depends(principal),
) -> Response:
    """The ruleset an engine instance runs, whole: one version, never half of two.

    Without `scope`, what this server's own instance runs now (the global activation). With `scope`,
    what an instance of that place runs: the activation of its most specific place that has one (the
    branch, then its country, then its region), else the global one. `activation` names which
    (`scope` null for the global one)."""
    await authorize(request, who, "snapshot.read")
    service = _service(request)
    engine = service.engine_name(type)
    place = normal(scope)
    if place is not None:
        known_scope(request, place, field="scope")
        return json_response(service.active_at(engine, place))
    loaded = service.registry.current(engine)
    if loaded is None:
        raise NotFound("engines.nothing_loaded", f"{engine} has no ruleset loaded")
    return json_response(
        {
            "type": engine,
            "scope": None,
            "targetId": loaded.target_id,
            "digest": loaded.digest,
            "version": loaded.version,
            "activation": {"scope": None, "targetId": loaded.target_id, "version": loaded.version},
            "ruleset": dict(loaded.state),
        }
    )


@router.get(
    "/engines/{type}/schema",
    summary="JSON Schema of an engine type's rulesets",
    responses={
        200: {
            "description": "A JSON Schema (2020-12)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        **openapi.problems(404, e404="No such engine type"),
    },
)
async def ruleset_schema(request: Request, type: str = TYPE, who: Principal = Depends(principal)) -> Response:
    """The JSON Schema (2020-12) a ruleset of this engine type must match, built-in and plugin types
    alike: what an upload to `.../rulesets/{targetId}` is checked against before the engine's own
    checks (unique ids and the like). An unknown type is 404."""
    await authorize(request, who, "artifacts.read")
    return json_response(_service(request).ruleset_schema(type))


@router.get(
    "/engines/{type}/rulesets",
    responses={200: {"model": list[RulesetRead]}, **openapi.problems(422, e422="Unknown engine type")},
)
async def list_rulesets(request: Request, type: str = TYPE, who: Principal = Depends(principal)) -> Response:
    """The rulesets stored for an engine, oldest first, marking the active one."""
    await authorize(request, who, "artifacts.read")
    service = _service(request)
    engine = service.engine_name(type)
    active = service.registry.slot(engine).active
    rulesets = await run_in_threadpool(service.list_rulesets, engine)
    return json_response([r.as_json(active=active.target_id if active else None) for r in rulesets])


@router.get(
    "/engines/{type}/rulesets/{targetId}",
    responses={
        200: {"model": RulesetRead},
        **openapi.problems(404, 422, e404="No such ruleset", e422="Unknown engine type"),
    },
)
async def get_ruleset(
    request: Request, type: str = TYPE, targetId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """One stored ruleset with its content."""
    await authorize(request, who, "artifacts.read")
    service = _service(request)
    stored = await run_in_threadpool(service.get_ruleset, type, targetId)
    active = service.registry.slot(stored.engine).active
    return json_response(stored.as_json(active=active.target_id if active else None))


@router.put(
    "/engines/{type}/rulesets/{targetId}",
    status_code=201,
    responses={
        201: {"model": RulesetRead},
        200: {"model": RulesetRead},
        **openapi.problems(
            409,
            e400="Bad JSON, or a multipart body without the field `file`",
            e409="Other content is stored under this targetId",
        ),
    },
    openapi_extra={"requestBody": ruleset_upload_body()},
)
async def upload_ruleset(
    request: Request, type: str = TYPE, targetId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """Store a ruleset: a JSON body, or a multipart upload with the file in field `file`.

    Rulesets are immutable and content-addressed: the same content under the same targetId again
    answers 200, other content under a stored targetId 409. Bodies over `fileUploadLimitMb` are refused
    with 413 as soon as they pass the limit; a ruleset that does not validate, 422 with the errors.
    """
    await authorize(request, who, "artifacts.write")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=5) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise BadRequest("engines.no_file", "send the ruleset in the multipart field `file`")
            raw = await upload.read()
    else:
        raw = await _json_bytes(request)
    stored, created = await run_in_threadpool(
        _service(request).upload,
        principal=who,
        engine=type,
        target_id=targetId,
        raw=raw,
        request_id=request_id_of(request),
    )
    return json_response(stored.as_json(), status=201 if created else 200)


async def _json_bytes(request: Request) -> bytes:
    require_json_type(request)
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


@router.post(
    "/hot-reload",
    responses={
        200: {"model": HotReloadResult},
        **accepted(),
        **openapi.problems(
            404,
            409,
            e404="No such ruleset",
            e409="An instance refused or timed out (`rolled_back`), or a reload of this engine is under way",
        ),
    },
    openapi_extra={**body_doc(HotReloadRequest), **openapi.headers(*GOVERNED_PARAMETERS)},
)
async def hot_reload(request: Request, who: Principal = Depends(principal)) -> Response:
    """Spec 3.1: make `targetId` the active ruleset of every instance of engine `type`.

    With `scope` (a region, country or branch code), the ruleset becomes active for that place only:
    only the instances under it that have no activation of a more specific place are asked, and a NACK
    rolls back that place alone. Instances elsewhere keep running theirs.

    Every instance validates, builds and swaps in the ruleset, then ACKs; when all ACK within the
    deadline: 200 `applied`. Any NACK or timeout puts every instance back on the previous ruleset: a
    409 problem with `reason: engines.rolled_back`, `outcome: rolled_back`, the `engines`, the
    `failingInstances`, and in `detail` which instance failed and why. 404 for an unknown ruleset, 422 for
    an unknown type or an invalid ruleset (nothing changes). `type: system` re-reads the ops layer's own
    documents (policy, model config, features, limits) from the store; the catalogs come from settings.
    Reloading the active ruleset changes nothing (`unchanged`).

    Where the policy requires approvals, or with `applyAt`, the answer is 202 and a change request
    (`Location`): its round runs once approved or due, as its author, only if the engine's activation
    at `scope` is still the one it was asked against (else the request ends `conflicted`/`suspended`).
    """
    body = await parse_body(request, HotReloadRequest)
    engine = ALIASES.get(body.type, body.type)
    # The scope is a place code: its shape first (422), then containment in the caller's own place
    # (403, audited; access.places.within), then, for a caller allowed it, the catalogue (422).
    scope = normal(body.scope)
    if scope is not None and not is_code(scope):
        known_scope(request, scope)
    await authorize(request, who, "hot_reload", engine=engine, scope=scope)
    known_scope(request, scope)
    service = _service(request)
    asked = {"type": engine, "targetId": body.target_id, "scope": scope}
    result = await run_unless_governed(
        request,
        who,
        Proposal("hot_reload", "engines", asked),
        lambda: service.hot_reload(
            principal=who,
            engine=body.type,
            target_id=body.target_id,
            request_id=request_id_of(request),
            scope=scope,
        ),
    )
    return result if isinstance(result, Response) else json_response(result)
