"""The hot reads (features, model config, limits) answered straight from the snapshot.

FastAPI's routing and dependency injection cost more than the read itself (a dictionary lookup and
pre-serialised bytes). For the plain case (GET, no query or only `minVersion=N` that the snapshot
already holds, a caller already in the token cache whom the policy gives the full view) this middleware
answers at once (304 included); anything else (a region's view, an envelope, an unknown token, a denial,
a snapshot older than `minVersion`) goes on to the routes, which define the behaviour. Both answer the
same bytes and headers; tests/contract checks that they do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Policy
from trainer_ops.http.accesslog import CALLER
from trainer_ops.http.asgi import cached_caller, send_response
from trainer_ops.http.etag import none_match
from trainer_ops.versions.snapshot import make_etag

JSON = (b"content-type", b"application/json")
NO_CACHE = (b"cache-control", b"no-cache")
MIN_VERSION = b"minVersion="


@dataclass(frozen=True)
class FastRoute:
    path: str
    operation: str
    body: Callable[[], tuple[bytes, int]]  # the serialised answer and its version


class FastReadsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: list[FastRoute],
        authenticator: Authenticator,
        policy: Callable[[], Policy],
    ) -> None:
        self.app = app
        self._routes = {route.path: route for route in routes}
        self._auth = authenticator
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        wanted = 0
        if query := scope["query_string"]:
            wanted = _min_version(query)
            if wanted < 0:
                await self.app(scope, receive, send)
                return
        authorization = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"x-envelope":
                await self.app(scope, receive, send)
                return
        allowed = cached_caller(self._auth, self._policy, authorization, route.operation)
        if allowed is None or allowed[1].view != "full":
            await self.app(scope, receive, send)
            return
        body, version = route.body()
        if version < wanted:  # behind the caller's write: the route reads the store first
            await self.app(scope, receive, send)
            return
        scope["route"] = route  # the metrics label: the route's path, as for any routed request
        scope.setdefault("state", {})[CALLER] = allowed[0].user_id
        etag = (b"etag", make_etag(version).encode())
        if none_match(if_none_match, version):  # the cheap polling answer
            await send_response(send, 304, [etag, NO_CACHE])
            return
        await send_response(send, 200, [JSON, etag, NO_CACHE], body)


def _min_version(query: bytes) -> int:
    """N when the query is exactly `minVersion=N` (1 to 9 ASCII digits), else -1: anything else, a bad
    value included, is the routes' to answer."""
    digits = query[len(MIN_VERSION) :]
    if query.startswith(MIN_VERSION) and 0 < len(digits) <= 9 and digits.isdigit():
        return int(digits)
    return -1
