"""POST /v1/chat/completions answered without FastAPI's routing and dependency injection.

The gateway's own work is a few dictionary lookups, a rate-limit hit and one upstream call; FastAPI's
request machinery cost more CPU than all of it (bench/gateway_bench.py). For a caller already in the
token cache whom the policy allows to call, this middleware runs the very same steps as the route
(`gateway/routes.py`): body checks (parse_json), GatewayService.admit, complete or stream, and answers
problems the same way. Anyone else (an unknown token: 401; a denial, which must be audited: 403) goes
on to the route. tests/gateway checks that both paths answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Policy
from trainer_ops.errors import TrainerOpsError
from trainer_ops.gateway.headers import check_call_headers
from trainer_ops.gateway.routes import event_stream
from trainer_ops.gateway.service import GatewayService
from trainer_ops.gateway.types import ChatRequest
from trainer_ops.http.accesslog import CALLER
from trainer_ops.http.asgi import cached_caller, read_body, send_problem, send_response
from trainer_ops.http.body import check_json_type, parse_json

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
        allowed = cached_caller(self._auth, self._policy, authorization, OPERATION)
        if allowed is None:
            await self.app(scope, receive, send)  # the route answers 401, or audits the 403
            return
        who = allowed[0]
        scope["route"] = ROUTE
        state = scope.setdefault("state", {})
        state[CALLER] = who.user_id
        request_id = str(state.get("request_id", ""))
        try:
            check_json_type(content_type)
            body = parse_json(await read_body(receive), ChatRequest)
            check_call_headers(feature, session, features=self._gateway.feature_keys)
            context = await self._gateway.admit(
                principal=who, request=body, feature=feature, session=session, request_id=request_id
            )
            if body.stream:
                chunks = await self._gateway.started_stream(context)
            else:
                answer = orjson.dumps(await self._gateway.complete(context))
                own = [(name.lower().encode(), value.encode()) for name, value in context.headers.items()]
                await send_response(send, 200, [(b"content-type", b"application/json"), *own], answer)
                return
        except TrainerOpsError as error:
            await send_problem(send, error, instance=PATH, request_id=request_id, state=state)
            return
        await event_stream(context, chunks)(scope, receive, send)
