"""OpenAI-compatible endpoints: chat completions (plain and streaming), training sessions, file uploads."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response, StreamingResponse

from trainer_ops.access.types import Principal
from trainer_ops.errors import BadRequest, NotFound, TooManyRequests
from trainer_ops.gateway.headers import check_call_headers
from trainer_ops.gateway.service import CallContext, GatewayService
from trainer_ops.gateway.types import ChatRequest
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response

router = APIRouter(prefix="/v1", tags=["gateway"])


def _service(request: Request) -> GatewayService:
    service: GatewayService = request.app.state.gateway
    return service


@router.post("/chat/completions", openapi_extra=body_doc(ChatRequest))
async def chat_completions(request: Request, who: Principal = Depends(principal)) -> Response:
    """OpenAI-compatible chat completion, plain or streaming (`stream: true`, server-sent events).

    The ops settings win over the request: the model, temperature and tone come from the model config,
    `max_tokens` is capped at `maxTokens`, `language` other than `auto` adds an instruction. 503 while
    `enabled` is false; 403 when the feature named in `X-Trainer-Feature` is off for the caller's
    region (422 when it names no feature); 429 (with Retry-After) past `aiCallsPerMinute`;
    `X-Trainer-Session` names an open training session (422 when it is not a session id, 404 when
    that session is not open). `X-Trainer-Config-Version` tells which config versions the call ran with.
    """
    await authorize(request, who, "gateway.call")
    body = await parse_body(request, ChatRequest)
    service = _service(request)
    feature, session = request.headers.get("x-trainer-feature"), request.headers.get("x-trainer-session")
    check_call_headers(feature, session, features=service.feature_keys)
    context = await service.admit(
        principal=who,
        request=body,
        feature=feature,
        session=session,
        request_id=request_id_of(request),
    )
    if body.stream:
        return event_stream(context, await service.started_stream(context))
    return json_response(
        await service.complete(context), headers={"X-Trainer-Config-Version": context.version_header}
    )


def event_stream(context: CallContext, chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """A call's server-sent events, with the config versions it runs with."""
    return StreamingResponse(
        chunks,
        media_type="text/event-stream",
        headers={"X-Trainer-Config-Version": context.version_header, "Cache-Control": "no-cache"},
    )


@router.post("/sessions", status_code=201)
async def open_session(request: Request, who: Principal = Depends(principal)) -> Response:
    """Open a training session. At most `maxConcurrentSessions` are open across the deployment (429
    past that); a session closes when idle for the configured time, or with DELETE."""
    await authorize(request, who, "gateway.call")
    service = _service(request)
    limit = int(request.app.state.ops.holder.current.get("limits").document["maxConcurrentSessions"])
    idle = request.app.state.ops.settings.session_idle_seconds
    session_id = await service.sessions.open(owner=who.user_id, limit=limit, idle_seconds=idle)
    if session_id is None:
        raise TooManyRequests(
            "gateway.sessions_full",
            f"{limit} training sessions are open already (maxConcurrentSessions); close one or retry later",
            headers={"Retry-After": "30"},
            extra={"limit": limit},
        )
    return json_response(
        {
            "id": session_id,
            "object": "training.session",
            "idleTimeoutSeconds": idle,
            "createdAt": int(time.time()),
            "userId": who.user_id,
        },
        status=201,
    )


@router.delete("/sessions/{sessionId}", status_code=204)
async def close_session(
    request: Request, sessionId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """Close a training session (its place is free at once)."""
    await authorize(request, who, "gateway.call")
    if not await _service(request).sessions.close(sessionId, owner=who.user_id):
        raise NotFound("gateway.session_unknown", f"session {sessionId!r} is unknown or expired")
    return Response(status_code=204)


@router.post("/files", status_code=200)
async def upload_file(request: Request, who: Principal = Depends(principal)) -> Response:
    """OpenAI-compatible file upload (multipart: `file`, `purpose`) of content to transform. Bodies over
    `fileUploadLimitMb` are refused with 413 while they stream in, never read whole."""
    await authorize(request, who, "gateway.call")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise BadRequest(
            "gateway.multipart_required", "send the file as multipart/form-data (Content-Type), field `file`"
        )
    uploads = edge_of(request).settings.home / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("gateway.no_file", "send the file in the multipart field `file`")
        file_id = "file-" + secrets.token_hex(12)
        digest = hashlib.sha256()
        size = 0
        with (uploads / file_id).open("wb") as out:
            while chunk := await upload.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        purpose = form.get("purpose")
        meta = {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "created_at": int(time.time()),
            "filename": upload.filename or file_id,
            "purpose": purpose if isinstance(purpose, str) else "user_data",
            "sha256": digest.hexdigest(),
        }
    (uploads / f"{file_id}.json").write_bytes(orjson.dumps(meta))
    return json_response(meta)


@router.get("/models")
async def list_models(request: Request, who: Principal = Depends(principal)) -> Response:
    """The model every call runs on (the one in the model config), OpenAI-style."""
    await authorize(request, who, "gateway.call")
    config = request.app.state.ops.holder.current.get("model_config").document
    return json_response(
        {
            "object": "list",
            "data": [{"id": config["model"], "object": "model", "created": 0, "owned_by": "trainer-ops"}],
        }
    )
