"""The snapshot and the change stream (server-sent events) that engines and the SDK follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from trainer_ops.access.types import Principal
from trainer_ops.engines.types import canonical_engine
from trainer_ops.errors import Invalid
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response
from trainer_ops.sync.broadcaster import Event
from trainer_ops.sync.service import SyncService

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


@router.get("/snapshot")
async def get_snapshot(request: Request, who: Principal = Depends(principal)) -> Response:
    """Everything engines obey, with versions: model config, features (defaults and region overrides),
    limits, and each engine's active ruleset. `id` is the stream position this snapshot is at."""
    await authorize(request, who, "snapshot.read")
    return json_response(_service(request).snapshot())


@router.get("/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    who: Principal = Depends(principal),
    instance: str | None = Query(None, max_length=128, description="register as an engine instance"),
    engines: str | None = Query(None, description="engines this instance runs (comma list)"),
) -> Response:
    """Server-sent events: `snapshot` first (or, resuming with `Last-Event-ID`, the missed events, or a
    `resync` snapshot when they cannot be replayed), then `document` and `ruleset` changes as they
    happen. With `instance` and `engines`, the caller is also an engine instance: it receives `reload`
    and `restore` commands and answers each reload at .../instances/{instance}/replies."""
    await authorize(request, who, "snapshot.read")
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
    last_id = request.headers.get("last-event-id")
    subscriber = service.subscribe()
    if instance:
        service.attach(instance, names, subscriber)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 1000\n\n"
            missed = service.broadcaster.since(last_id) if last_id else None
            if missed is None:
                kind = "resync" if last_id else "snapshot"
                snap = service.snapshot()
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
                yield event.encode()
        finally:
            service.broadcaster.unsubscribe(subscriber)
            if instance:
                service.detach(instance)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/engines/{type}/instances/{instanceId}/replies",
    status_code=204,
    openapi_extra=body_doc(InstanceReplyBody),
)
async def instance_reply(
    request: Request, type: str = Path(...), instanceId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """An engine instance's ACK (`ok: true`) or NACK (`ok: false` with `error`) of reload `epoch`."""
    await authorize(request, who, "engines.instance")
    body = await parse_body(request, InstanceReplyBody)
    _service(request).reply(instanceId, epoch=body.epoch, ok=body.ok, error=body.error)
    return Response(status_code=204)
