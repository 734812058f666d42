"""The snapshot and the change stream (server-sent events) that engines and the SDK follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import NoReturn

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from trainer_ops.access.places import normal
from trainer_ops.access.types import Principal
from trainer_ops.engines.types import canonical_engine
from trainer_ops.errors import Invalid
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.guard import authorize, deny, known_scope, principal
from trainer_ops.http.responses import (
    at_least,
    json_response,
    parse_min_versions,
)
from trainer_ops.sync.broadcaster import CLOSED, Event, reconnect_notice
from trainer_ops.sync.service import DOCUMENT_KEYS, SyncService

router = APIRouter(prefix="/operator/ops", tags=["sync"])
KEEPALIVE_SECONDS = 15.0


class InstanceReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=0)
    ok: bool
    error: str = Field("", max_length=2000)


def _service(request: Request) -> SyncService:
    service: SyncService = request.app.state.sync
    return service


MIN_VERSIONS_QUERY = Query(
    None,
    max_length=200,
    examples=["model_config:7,features:3"],
    description="Read-your-writes, per document: `kind:version` pairs (kinds `model_config`, `features`, "
    "`limits`, `places`, as in `versions`). Each named document is at that version or newer, never "
    "older; the others are as this replica holds them. A replica that is behind reads the store "
    "first; a version the store does not have within `TRAINER_OPS_MIN_VERSION_WAIT_SECONDS` (3 s by "
    "default) is answered 504 `versions.not_yet`.",
)


PLACE_QUERY = Query(
    None,
    max_length=64,
    description="the region, country or branch code of the engine instance asking: `rulesets` are then "
    "what that place runs (its most specific place's activation, else the global one). Checked against "
    "the places catalogue (422).",
)


@router.get("/snapshot", responses=openapi.problems(422, e422="A `place` that is not a known place"))
async def get_snapshot(
    request: Request,
    who: Principal = Depends(principal),
    minVersion: str | None = MIN_VERSIONS_QUERY,
    place: str | None = PLACE_QUERY,
) -> Response:
    """Everything engines obey, with versions: model config, features (defaults and region overrides),
    limits, the places catalogue, and each engine's active ruleset (for `place`, that place's), with
    every scoped activation in `scopedRulesets`. `id` is the stream position this snapshot is at."""
    await authorize(request, who, "snapshot.read")
    where = normal(place)
    known_scope(request, where, field="place")
    wanted = parse_min_versions(minVersion, DOCUMENT_KEYS)
    if wanted:
        await at_least(request, wanted)
    return json_response(_service(request).snapshot(where))


STREAM_EVENTS = [
    "snapshot",
    "resync",
    "document",
    "places",
    "policy",
    "ruleset",
    "scoped_ruleset",
    "reload",
    "restore",
]


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events, until the client leaves or the replica stops",
            "content": openapi.event_stream(STREAM_EVENTS, "`data` is the event's JSON"),
        }
    },
    openapi_extra=openapi.headers(
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "resume after this event: the missed events, or a `resync` snapshot",
            "schema": {"type": "string"},
        }
    ),
)
async def stream(
    request: Request,
    who: Principal = Depends(principal),
    instance: str | None = Query(None, max_length=128, description="register as an engine instance"),
    engines: str | None = Query(None, description="engines this instance runs (comma list)"),
    place: str | None = PLACE_QUERY,
) -> Response:
    """Server-sent events: `snapshot` first (or, resuming with `Last-Event-ID`, the missed events, or a
    `resync` snapshot when they cannot be replayed), then `document`, `policy` and `ruleset` changes as
    they happen (`scoped_ruleset` for an activation that holds for one place, with its `scope`). With
    `instance` and `engines`, the caller is also an engine instance: it receives `reload` and `restore`
    commands and answers each reload at .../instances/{instance}/replies. With `place`, the instance
    runs that place's activations and is asked only by reloads that reach it; the snapshot it starts
    with holds that place's rulesets."""
    await authorize(request, who, "snapshot.read")
    where = normal(place)
    known_scope(request, where, field="place")
    service = _service(request)
    names: list[str] = []
    if instance:
        await authorize(request, who, "engines.instance")
        for name in (engines or "").split(","):
            if name.strip():
                engine = canonical_engine(name.strip(), known=request.app.state.ops.engines.names())
                if engine is None:
                    raise Invalid(
                        "sync.unknown_engine",
                        f"unknown engine {name!r}",
                        errors=[{"field": "engines", "message": f"unknown engine {name!r}"}],
                    )
                names.append(engine)
        claimed = await run_in_threadpool(service.claim, instance, user_id=who.user_id, engines=names)
        if not claimed:
            await _refuse_instance(request, who, instance)
    last_id = request.headers.get("last-event-id")
    subscriber = service.subscribe()
    remote = service.attach(instance, names, subscriber, where) if instance else None

    async def events() -> AsyncIterator[bytes]:
        try:
            if subscriber.closed:  # this replica is shutting down: reconnect to another one
                yield reconnect_notice()
                return
            yield b"retry: 1000\n\n"
            missed = service.broadcaster.since(last_id) if last_id else None
            if missed is None:
                kind = "resync" if last_id else "snapshot"
                snap = service.snapshot(where)
                yield Event(snap["id"], kind, snap).encode()
            else:
                for event in missed:
                    yield event.encode()
            while not subscriber.overflowed:
                try:
                    event = await asyncio.wait_for(subscriber.queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event is CLOSED:  # shutdown (ADR 0018): end the stream; the client reconnects
                    yield reconnect_notice()
                    return
                yield event.encode()
        finally:
            service.broadcaster.unsubscribe(subscriber)
            if instance:
                service.detach(instance, remote)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/engines/{type}/instances/{instanceId}/replies",
    status_code=204,
    responses=openapi.problems(404, e404="No replica holds this instance's stream"),
    openapi_extra=body_doc(InstanceReplyBody),
)
async def instance_reply(
    request: Request, type: str = Path(...), instanceId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """An engine instance's ACK (`ok: true`) or NACK (`ok: false` with `error`) of reload `epoch`.

    Any replica takes it, whichever holds the instance's stream. Only the user whose token attached the
    instance may answer for it (403 otherwise); 404 when no replica holds the instance."""
    await authorize(request, who, "engines.instance")
    body = await parse_body(request, InstanceReplyBody)
    service = _service(request)
    engine = request.app.state.engines.engine_name(type)
    taken = await run_in_threadpool(
        service.reply,
        instanceId,
        user_id=who.user_id,
        engine=engine,
        epoch=body.epoch,
        ok=body.ok,
        error=body.error,
    )
    if not taken:
        await _refuse_instance(request, who, instanceId)
    return Response(status_code=204)


async def _refuse_instance(request: Request, who: Principal, instance: str) -> NoReturn:
    await deny(
        request,
        who,
        "engines.instance",
        f"engine instance {instance!r} belongs to another user; choose an instance id of your own",
        instance=instance,
    )
