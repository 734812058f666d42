"""Pure ASGI middleware (no BaseHTTPMiddleware: it would cost more than the hot reads themselves).

One pass per request: a request id, the body size limit, the latency measurement and the access log
line (http/accesslog.py). Only server faults count as errors in the measurement (health's error
rate): a 4xx never does, a client that left before its answer is recorded as 499, and a 5xx that a
problem marked as no fault (a deliberate refusal) is not one either. Problems mark themselves in the
scope state (`problems.FAULT`).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer_ops.errors import PayloadTooLarge
from trainer_ops.http.accesslog import CALLER, AccessLog
from trainer_ops.http.asgi import send_problem
from trainer_ops.http.problems import FAULT
from trainer_ops.infra.metrics import RequestMetrics

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_PREFIX = os.urandom(4).hex() + "-"
_COUNTER = itertools.count(1)
# nginx's "client closed request": the client left before its answer; no server fault.
CLIENT_CLOSED = 499


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: RequestMetrics,
        body_limit: Callable[[str, str], int],
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        # Every request passes here, the fast paths' too: the one place that sees them all ends.
        self.access_log = access_log
        # body_limit(method, path) -> the most bytes that request's body may have.
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = b""
        length = -1
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value
            elif name == b"content-length" and value.isdigit():
                length = int(value)
        if not request_id:
            # Unique per process start and request; not a secret, so no system call for randomness.
            request_id = f"{_PREFIX}{next(_COUNTER):x}".encode()
        rid = request_id.decode()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        status_holder = [0]  # 0 until the answer starts; an exception before that is a 500
        # An event stream (the SDK's, the console's) lasts as long as its client stays: it is timed to
        # its start, or one open tab would count as an hour-long request in latency and slowQueries.
        streamed_at: list[float] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                if _is_event_stream(message):
                    streamed_at.append(time.perf_counter())
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id)]
            await send(message)

        try:
            limit = self.body_limit(scope["method"], scope["path"])
            if length > limit:
                await self._too_large(scope, send_wrapper, rid, limit)
                return
            bodiless = scope["method"] in ("GET", "HEAD") and length < 0
            await self.app(
                scope, receive if bodiless or length >= 0 else _limited(receive, limit), send_wrapper
            )
        except ClientDisconnect:
            # Nobody is left to answer; not an unhandled error (no 500, no stack trace in the log).
            status_holder[0] = status_holder[0] or CLIENT_CLOSED
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            status = status_holder[0] or 500
            ended = time.perf_counter()
            self.metrics.observe(
                method=scope["method"],
                route=path,
                status=status,
                seconds=(streamed_at[0] if streamed_at else ended) - started,
                fault=status >= 500 and state.get(FAULT, True),
            )
            if self.access_log is not None:  # a stream's line comes when it closes, with its whole time
                self.access_log.record(
                    request_id=rid,
                    user=state.get(CALLER),
                    method=scope["method"],
                    route=path,
                    status=status,
                    seconds=ended - started,
                )

    async def _too_large(self, scope: Scope, send: Send, request_id: str, limit: int) -> None:
        error = PayloadTooLarge("http.too_large", f"the body is larger than {limit} bytes")
        # The rest of the body is never read, so the connection cannot carry another request.
        await send_problem(
            send, error, instance=scope["path"], request_id=request_id, headers=[(b"connection", b"close")]
        )


def _is_event_stream(message: Message) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/event-stream")
        for name, value in message.get("headers", [])
    )


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that refuses a chunked body once it passes the limit, before reading the rest."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge("http.too_large", f"the body is larger than {limit} bytes")
        return message

    return wrapped
