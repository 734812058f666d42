"""For the middlewares that answer before FastAPI's routing: who may be served there, and answers
written straight to ASGI (the same bytes a routed answer carries)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Send

from trainer_ops.access.service import Authenticator
from trainer_ops.access.types import Decision, Policy, Principal
from trainer_ops.errors import TrainerOpsError
from trainer_ops.http.problems import error_payload, mark_fault

Headers = Sequence[tuple[bytes, bytes]]


def cached_caller(
    authenticator: Authenticator,
    policy: Callable[[], Policy],
    authorization: str | None,
    operation: str,
) -> tuple[Principal, Decision] | None:
    """The caller and the policy's decision, when the token is already in the cache and the policy
    allows `operation`. None sends the request on to the routes: they authenticate (401), and audit
    a denial (403), in the one place that does."""
    who = authenticator.from_cache(authorization)
    if who is None:
        return None
    decision = policy().decide(who, operation)
    return (who, decision) if decision.allowed else None


async def read_body(receive: Receive) -> bytes:
    """The whole request body; a client gone before it ends raises ClientDisconnect, as Starlette's
    Request.body does."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_response(send: Send, status: int, headers: Headers, body: bytes = b"") -> None:
    """One whole answer; a body gets its Content-Length."""
    if body:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


async def send_problem(
    send: Send,
    error: TrainerOpsError,
    *,
    instance: str,
    request_id: str,
    headers: Headers = (),
    state: dict[str, Any] | None = None,
) -> None:
    """`error` as problems.problem_response renders it for the routes (OpenAI's error object under
    `/v1`, RFC 9457 problem+json elsewhere). `state` (the scope's) carries whether it is a server
    fault to the edge's error rate."""
    if state is not None:
        mark_fault(state, error)
    body, media_type = error_payload(error, instance=instance, request_id=request_id)
    own = [(name.lower().encode(), value.encode()) for name, value in error.headers.items()]
    await send_response(send, error.status, [(b"content-type", media_type.encode()), *own, *headers], body)
