"""Engines & hot reload: each engine's status and active ruleset with the reload controls the policy
grants the caller, and each engine's rulesets (list, view, upload by file or by paste). The reload
itself, streamed live, is in views/engines_reload.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from trainer_ops.access.places import normal, own_place
from trainer_ops.console.governed import Asked, offer
from trainer_ops.console.places_reach import reachable
from trainer_ops.console.web import SignedIn, checked_form, field, page_router, redirect, render, signed_in
from trainer_ops.engines.service import EngineService
from trainer_ops.errors import BadRequest, Conflict, Invalid, TrainerOpsError
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize, known_scope

router = page_router()


def allows(request: Request, me: SignedIn, operation: str, **attrs: Any) -> bool:
    """Whether the policy lets the caller do `operation`: decides which controls the page shows (the
    server still authorizes every write)."""
    return edge_of(request).policy().decide(me.who, operation, **attrs).allowed


async def reloadable(request: Request, me: SignedIn) -> list[str]:
    """The engine types the caller may reload (the policy's `engineIn`); none at all is a denial."""
    names = me.console.engine_service.registry.names()
    allowed = [name for name in names if allows(request, me, "hot_reload", engine=name)]
    if not allowed:
        await authorize(request, me.who, "hot_reload")  # records the denial and answers 403
    return allowed


def place_choice(request: Request, me: SignedIn) -> dict[str, Any]:
    """What the reload forms offer as places (ADR 0025): the places the caller may reach, or None for
    a code typed in (empty catalogue); the engines "every place" is allowed for; the caller's own place."""
    policy = edge_of(request).policy()
    who = me.who
    return {
        "places": reachable(who, policy.places),
        # The engines the caller may reload for every place at once (no `scope`).
        "everywhere": [
            n
            for n in me.console.engine_service.registry.names()
            if allows(request, me, "hot_reload", engine=n)
        ],
        "own_place": own_place(who.role.value, region=who.region, country=who.country, branch=who.branch),
    }


@dataclass(frozen=True)
class EngineRow:
    name: str
    status: str | None  # None: the caller's health view has no engines
    active: dict[str, Any] | None  # the latest activation, for callers who may read artifacts
    instances: list[str]
    rulesets: list[str]  # what the reload control offers (artifact readers only)
    scoped: int = 0  # how many places have an activation of their own (artifact readers only)


def _rows(service: EngineService, *, statuses: bool, details: bool, reload: list[str]) -> list[EngineRow]:
    overview = {item["type"]: item for item in service.overview()}
    activations = service.latest_activations() if details else {}
    rows = []
    for name in service.registry.names():
        item = overview[name]
        active = None
        if details and item["activeTargetId"] is not None:
            made = activations.get(name, {})
            active = {**made, "targetId": item["activeTargetId"], "version": item["version"]}
            active["digest"] = item["digest"]
        offered = [r.target_id for r in service.list_rulesets(name)] if details and name in reload else []
        rows.append(
            EngineRow(
                name,
                item["status"] if statuses else None,
                active,
                item["instances"] if details else [],
                offered,
                len(item["scoped"]) if details else 0,
            )
        )
    return rows


@router.get("/console/engines")
async def engines_page(request: Request) -> Response:
    me = await signed_in(request)
    allowed = await reloadable(request, me)
    health = edge_of(request).policy().decide(me.who, "health.read")
    details = allows(request, me, "artifacts.read")
    rows = await run_in_threadpool(
        _rows,
        me.console.engine_service,
        statuses=health.allowed and health.view != "status",
        details=details,
        reload=allowed,
    )
    return render(
        request,
        me,
        "engines/page.html",
        rows=rows,
        reloadable=allowed,
        details=details,
        **place_choice(request, me),
        **reload_governance(request, me, allowed),
    )


def reload_governance(request: Request, me: SignedIn, allowed: list[str]) -> dict[str, Any]:
    """What the reload forms offer of governance (ADR 0026): the approvals a reload waits for, "apply
    at" and the bypass; and the change request a reload just became (for those who cannot open it)."""
    return {
        "gov": offer(request, me, "hot_reload") if allowed else None,
        "wanted": Asked(),
        "requested": request.query_params.get("requested", "")[:40],
    }


# one engine: its activations, global and per place, and what runs at a place --------------------------
@router.get("/console/engines/{engine}")
async def engine_page(request: Request, engine: str, at: str = "") -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "artifacts.read")
    service = me.console.engine_service
    name = service.engine_name(engine)
    allowed = [n for n in service.registry.names() if allows(request, me, "hot_reload", engine=n)]
    rows = await run_in_threadpool(_rows, service, statuses=True, details=True, reload=allowed)
    row = next(r for r in rows if r.name == name)
    scoped = await run_in_threadpool(service.scoped_activations, name)
    place = normal(at.strip() or None)
    runs, status = (await _runs_at(request, me, name, place)) if place else (None, 200)
    return render(
        request,
        me,
        "engines/engine.html",
        status=status,
        row=row,
        scoped=scoped,
        at=at.strip(),
        runs=runs,
        may_reload=name in allowed,
        **place_choice(request, me),
        **reload_governance(request, me, allowed),
    )


async def _runs_at(request: Request, me: SignedIn, engine: str, place: str) -> tuple[dict[str, Any], int]:
    """What an instance at `place` runs (the API's `GET .../active?scope=`, same operation and checks),
    or the refusal to show at the field: ({"error": reason, "detail": message}, status)."""
    await authorize(request, me.who, "snapshot.read")
    try:
        known_scope(request, place, field="at")
        found = await run_in_threadpool(me.console.engine_service.active_at, engine, place)
    except TrainerOpsError as exc:
        return {"error": exc.code, "detail": exc.message}, exc.status
    return found, 200


# rulesets ---------------------------------------------------------------------------------------------
@router.get("/console/engines/{engine}/rulesets")
async def rulesets_page(request: Request, engine: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "artifacts.read")
    name = me.console.engine_service.engine_name(engine)
    return await _rulesets(request, me, name, Upload())


@router.get("/console/engines/{engine}/rulesets/{target_id}")
async def ruleset_page(request: Request, engine: str, target_id: str) -> Response:
    me = await signed_in(request)
    await authorize(request, me.who, "artifacts.read")
    service = me.console.engine_service
    stored = await run_in_threadpool(service.get_ruleset, engine, target_id)
    active = service.registry.slot(stored.engine).active
    pretty = json.dumps(stored.ruleset, indent=2, ensure_ascii=False, sort_keys=True)
    return render(
        request,
        me,
        "engines/ruleset.html",
        stored=stored,
        pretty=pretty,
        active=active is not None and active.target_id == stored.target_id,
        uploaded=request.query_params.get("uploaded") == "1",
    )


@dataclass
class Upload:
    """The upload form as posted, and what was wrong with it, field by field."""

    target_id: str = ""
    pasted: str = ""
    source: str = "pasted"  # the field the ruleset came from: `pasted` or `file`
    target_errors: list[str] | None = None
    errors: list[dict[str, str]] | None = None  # the ruleset's own problems (path, message, value)
    message: str = ""  # a message key for the ruleset field as a whole (no ruleset, not JSON)


@router.post("/console/engines/{engine}/rulesets")
async def upload_ruleset(request: Request, engine: str) -> Response:
    me = await signed_in(request)
    form = await checked_form(request, me)
    try:
        raw, upload = await _posted(form)
    finally:
        await form.close()  # an uploaded file is spooled to disk: let it go now, not at collection
    await authorize(request, me.who, "artifacts.write")
    service = me.console.engine_service
    name = service.engine_name(engine)
    if not raw.strip():
        upload.message = "engines.upload.empty"
        return await _rulesets(request, me, name, upload, status=422)
    try:
        await run_in_threadpool(
            service.upload,
            principal=me.who,
            engine=name,
            target_id=upload.target_id,
            raw=raw,
            request_id=me.request_id,
        )
    except Invalid as exc:
        if exc.code == "engines.bad_target_id":
            upload.target_errors = ["engines.upload.bad_target_id"]
        else:
            upload.errors = _located(exc.errors, raw)
        return await _rulesets(request, me, name, upload, status=422)
    except BadRequest:
        upload.message = "engines.upload.bad_json"
        return await _rulesets(request, me, name, upload, status=400)
    except Conflict:
        upload.target_errors = ["engines.upload.immutable"]
        return await _rulesets(request, me, name, upload, status=409)
    return redirect(f"/console/engines/{name}/rulesets/{upload.target_id}?uploaded=1")


async def _posted(form: FormData) -> tuple[bytes, Upload]:
    """The ruleset's bytes (the file when one was chosen, else the pasted text) and the form's values."""
    upload = Upload(target_id=field(form, "targetId").strip(), pasted=field(form, "pasted"))
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        upload.source = "file"
        return await file.read(), upload
    return upload.pasted.encode(), upload


def _located(errors: list[dict[str, str]], raw: bytes) -> list[dict[str, str]]:
    """Each validation error with the offending value, found by its path in the posted document."""
    document = json.loads(raw)
    out = []
    for error in errors:
        value: Any = document
        for part in [] if error["field"].startswith("(") else error["field"].split("/"):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
                value = value[part]
            else:
                value = None
                break
        shown = "" if value is document else json.dumps(value, ensure_ascii=False)[:200]
        out.append({"field": error["field"], "message": error["message"], "value": shown})
    return out


async def _rulesets(
    request: Request, me: SignedIn, engine: str, upload: Upload, *, status: int = 200
) -> Response:
    service = me.console.engine_service
    stored = await run_in_threadpool(service.list_rulesets, engine)
    active = service.registry.slot(engine).active
    return render(
        request,
        me,
        "engines/rulesets.html",
        status=status,
        engine=engine,
        rulesets=stored,
        active=active.target_id if active else None,
        may_upload=allows(request, me, "artifacts.write"),
        upload=upload,
    )
