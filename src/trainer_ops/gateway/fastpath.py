"""POST /v1/chat/completions answered without FastAPI's routing and dependency injection.

The gateway's own work is a few dictionary lookups, a rate-limit hit and one upstream call; FastAPI's
request machinery cost more CPU than all of it (bench/gateway_bench.py). For a caller already in the
token cache whom the policy allows to call, this middleware runs the very same steps as the route
(`gateway/routes.py`): body checks (parse_json), GatewayService.admit, complete or stream, and answers
problems the same way. Anyone else (an unknown token: 401; a denial, which must be audited: 403) goes
on to the route. tests/gateway checks that both paths answer alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Policy
from trainer_ops.errors import TrainerOpsError
from trainer_ops.gateway.service import GatewayService
from trainer_ops.gateway.types import ChatRequest
from trainer_ops.http.body import check_json_type, parse_json
from trainer_ops.http.problems import PROBLEM_JSON, problem_body

PATH = "/v1/chat/completions"
OPERATION = "gateway.call"


@dataclass(frozen=True)
class _Route:
    """What the edge middleware labels the request's metrics with, as for a routed request."""

    path: str = PATH


ROUTE = _Route()


class GatewayFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        gateway: GatewayService,
        authenticator: Authenticator,
        policy: Callable[[], Policy],
    ) -> None:
        self.app = app
        self._gateway = gateway
        self._auth = authenticator
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        authorization = feature = session = None
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"x-trainer-feature":
                feature = value.decode("latin-1")
            elif name == b"x-trainer-session":
                session = value.decode("latin-1")
        who = self._auth.from_cache(authorization)
        if who is None or not self._policy().decide(who, OPERATION).allowed:
            await self.app(scope, receive, send)  # the route answers 401, or audits the 403
            return
        scope["route"] = ROUTE
        request_id = str(scope.get("state", {}).get("request_id", ""))
        try:
            check_json_type(content_type)
            body = parse_json(await _read_body(receive), ChatRequest)
            context = await self._gateway.admit(
                principal=who, request=body, feature=feature, session=session, request_id=request_id
            )
            version = (b"x-trainer-config-version", context.version_header.encode())
            if not body.stream:
                answer = orjson.dumps(await self._gateway.complete(context))
                await _send(send, 200, b"application/json", answer, [version])
                return
            chunks = self._gateway.stream(context)
            # The first chunk before the 200: an upstream that fails at once still gets a 502/504.
            first = await anext(chunks)
        except TrainerOpsError as error:
            problem = orjson.dumps(problem_body(error, instance=PATH, request_id=request_id))
            headers = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
            await _send(send, error.status, PROBLEM_JSON.encode(), problem, headers)
            return

        async def relay() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        response = StreamingResponse(
            relay(),
            media_type="text/event-stream",
            headers={"X-Trainer-Config-Version": context.version_header, "Cache-Control": "no-cache"},
        )
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(
    send: Send, status: int, content_type: bytes, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
