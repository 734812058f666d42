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
from trainer_ops.errors import BadRequest, NotFound, UnsupportedMediaType
from trainer_ops.gateway.headers import check_call_headers
from trainer_ops.gateway.service import CallContext, GatewayService
from trainer_ops.gateway.types import ChatRequest
from trainer_ops.http import openapi
from trainer_ops.http.body import body_doc, parse_body
from trainer_ops.http.context import edge_of, request_id_of
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response

router = APIRouter(prefix="/v1", tags=["gateway"])


def _service(request: Request) -> GatewayService:
    service: GatewayService = request.app.state.gateway
    return service


TRAINER_HEADERS = openapi.headers(
    {
        "name": "X-Trainer-Feature",
        "in": "header",
        "required": False,
        "description": "a feature the call belongs to: 403 while it is off at the caller's place",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Trainer-Session",
        "in": "header",
        "required": False,
        "description": "an open training session of the caller (404 when unknown or expired)",
        "schema": {"type": "string"},
    },
)
COMPLETION_RESPONSES = {
    200: {
        "description": "The completion: one JSON object, or with `stream: true` server-sent events, "
        "each `data` a chunk as JSON, the last `[DONE]`",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            **openapi.event_stream(["message"], "a completion chunk (JSON) or `[DONE]` in `data`"),
        },
    },
    **openapi.problems(
        502,
        e403="The policy refuses the caller, or the feature (`X-Trainer-Feature`) is off at their place",
        e404="The training session (`X-Trainer-Session`) is unknown or expired",
        e429="More than `aiCallsPerMinute` calls; `Retry-After` says when to try again",
        e503="AI calls are off (`enabled: false` in the model config), or the store does not answer",
        e504="The model server did not answer in time",
    ),
}


@router.post(
    "/chat/completions",
    responses=COMPLETION_RESPONSES,
    openapi_extra={**body_doc(ChatRequest), **TRAINER_HEADERS},
)
async def chat_completions(request: Request, who: Principal = Depends(principal)) -> Response:
    """OpenAI-compatible chat completion, plain or streaming (`stream: true`, server-sent events).

    The ops settings win over the request: the model, temperature and tone come from the model config,
    `max_tokens` is capped at `maxTokens`, `language` other than `auto` adds an instruction. 503 while
    `enabled` is false; 403 when the feature named in `X-Trainer-Feature` is off at the caller's
    place (its branch's override, else its country's, else its region's; 422 when it names no feature);
    429 (with Retry-After) past `aiCallsPerMinute`;
    `X-Trainer-Session` names an open training session (422 when it is not a session id, 404 when
    that session is not open). `X-Trainer-Config-Version` tells which config versions the call ran
    with, and `x-ratelimit-limit-requests`, `-remaining-requests`, `-reset-requests` the caller's
    budget. Errors are OpenAI's error object; a stream that fails once started ends with an error
    event and [DONE].
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
    return json_response(await service.complete(context), headers=context.headers)


def event_stream(context: CallContext, chunks: AsyncIterator[bytes]) -> StreamingResponse:
    """A call's server-sent events, with the config versions it runs with and the caller's budget."""
    return StreamingResponse(
        chunks, media_type="text/event-stream", headers={**context.headers, "Cache-Control": "no-cache"}
    )


@router.post(
    "/sessions",
    status_code=201,
    responses=openapi.problems(429, e429="`maxConcurrentSessions` sessions are open; retry later"),
)
async def open_session(request: Request, who: Principal = Depends(principal)) -> Response:
    """Open a training session; send its `id` as `X-Trainer-Session` on chat completions.

    Two caps apply, both across every replica: one user may hold at most `maxSessionsPerUser` open
    sessions (429 `gateway.user_sessions_full`: close one with `DELETE /v1/sessions/{id}`), and the
    deployment at most `maxConcurrentSessions` (429 `gateway.sessions_full`). `Retry-After` says when the
    first place frees by itself: a session closes when idle for `idleTimeoutSeconds`, or with DELETE."""
    await authorize(request, who, "gateway.call")
    session_id = await _service(request).open_session(who)
    idle = request.app.state.ops.settings.session_idle_seconds
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


@router.delete(
    "/sessions/{sessionId}",
    status_code=204,
    responses=openapi.problems(404, e404="No open session of the caller with this id"),
)
async def close_session(
    request: Request, sessionId: str = Path(...), who: Principal = Depends(principal)
) -> Response:
    """Close a training session (its place is free at once)."""
    await authorize(request, who, "gateway.call")
    if not await _service(request).sessions.close(sessionId, owner=who.user_id):
        raise NotFound("gateway.session_unknown", f"session {sessionId!r} is unknown or expired")
    return Response(status_code=204)


@router.post(
    "/files",
    status_code=200,
    responses=openapi.problems(e400="No `file` field in the form", e415="Not multipart/form-data"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "purpose": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def upload_file(request: Request, who: Principal = Depends(principal)) -> Response:
    """OpenAI-compatible file upload (multipart: `file`, `purpose`) of content to transform. Bodies over
    `fileUploadLimitMb` are refused with 413 while they stream in, never read whole.

    Uploading is the policy operation `gateway.upload`, apart from calling the model: by default admins
    and engines (`service` tokens) may upload; any other role gets 403 (audited as `access_denied`)."""
    await authorize(request, who, "gateway.upload")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType(
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
