"""Step 1 compatibility: wrap JSON answers in the Foundation envelope for consoles that expect it.

Bare bodies are the default (Step 10's examples). With TRAINER_OPS_ENVELOPE=step1, or the request
header `X-Envelope: step1` for one call, a JSON success becomes
`{"success": true, "data": <body>, "meta": {"version": "v2", "timestamp": <epoch s>}}` and a problem
`{"success": false, "error": {"code", "message", ...problem}, "meta": ...}` (same status code).
Streams (server-sent events), non-JSON answers and everything under `/v1` (OpenAI's API, whose
clients cannot read an envelope) pass through untouched.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer_ops.http.openai_errors import speaks_openai

JSON_TYPES = (b"application/json", b"application/problem+json")


def wrap(body: bytes, *, problem: bool) -> bytes:
    meta = {"version": "v2", "timestamp": int(time.time())}
    data: Any = orjson.loads(body) if body else None
    if problem:
        error = {"code": data.get("code", "INTERNAL_ERROR"), "message": data.get("detail", ""), **data}
        return orjson.dumps({"success": False, "error": error, "meta": meta})
    return orjson.dumps({"success": True, "data": data, "meta": meta})


class EnvelopeMiddleware:
    def __init__(self, app: ASGIApp, *, default: str = "bare") -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or speaks_openai(scope["path"]):
            # `/v1` speaks OpenAI's API to OpenAI clients, which cannot read an envelope.
            await self.app(scope, receive, send)
            return
        wanted = self.default
        for name, value in scope["headers"]:
            if name == b"x-envelope":
                # Compared as bytes: a header value is any octets (RFC 9110), not necessarily UTF-8.
                wanted = "step1" if value.strip().lower() == b"step1" else "bare"
        if wanted != "step1":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_wrapper(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if content_type.split(b";")[0].strip() not in JSON_TYPES:
                    start = None
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            problem = dict(start["headers"]).get(b"content-type", b"").startswith(b"application/problem")
            body = wrap(b"".join(chunks), problem=problem)
            headers = [(k, v) for k, v in start["headers"] if k not in (b"content-length", b"content-type")]
            headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_wrapper)
