"""EdgeMiddleware's measurement: only server faults count toward the error rate. A 4xx never does, a
client that leaves before its answer is a 499, a 5xx marked as a deliberate refusal is no fault;
an unhandled exception and an unmarked 5xx still are."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from trainer_ops.errors import Unavailable
from trainer_ops.http.asgi import send_problem
from trainer_ops.http.middleware import EdgeMiddleware
from trainer_ops.http.problems import problem_response
from trainer_ops.infra.metrics import RequestMetrics

App = Callable[[Scope, Receive, Send], Awaitable[None]]


def run(app: App, *, method: str = "GET", body: bytes = b"") -> tuple[RequestMetrics, list[Message]]:
    """One request through EdgeMiddleware around `app`; the metrics it recorded and what was sent."""
    metrics = RequestMetrics()
    edge = EdgeMiddleware(app, metrics=metrics, body_limit=lambda _m, _p: 1 << 20)
    headers = [(b"content-length", str(len(body)).encode())] if body else []
    scope: dict[str, Any] = {"type": "http", "method": method, "path": "/x", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}  # the client is gone before its body arrives

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        with contextlib.suppress(RuntimeError):  # the server's 500 handler, outside the edge, answers it
            await edge(scope, receive, send)

    asyncio.run(call())
    return metrics, sent


def answer(status: int, **state: Any) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"].update(state)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def reads_its_body(scope: Scope, receive: Receive, send: Send) -> None:
    await Request(scope, receive).body()  # raises ClientDisconnect, as any route reading a body does


async def crashes(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def errors_and_statuses(metrics: RequestMetrics) -> tuple[int, int]:
    stats = metrics.window()
    return stats.errors, stats.count


@pytest.mark.parametrize("status", [400, 401, 404, 405, 413, 429])
def test_a_4xx_is_never_a_fault_even_if_marked_as_one(status: int) -> None:
    metrics, _ = run(answer(status, fault=True))
    assert errors_and_statuses(metrics) == (0, 1)


def test_a_client_that_disconnects_before_its_answer_is_a_499_and_no_fault() -> None:
    metrics, sent = run(reads_its_body, method="POST", body=b'{"a": 1}')

    assert errors_and_statuses(metrics) == (0, 1)
    assert sent == []
    assert metrics.registry.get_sample_value(
        "trainer_ops_http_request_duration_seconds_count",
        {"method": "POST", "route": "unmatched", "status": "499"},
    )


def test_a_5xx_marked_as_a_deliberate_refusal_is_no_fault_and_an_unmarked_one_is() -> None:
    assert errors_and_statuses(run(answer(503, fault=False))[0]) == (0, 1)
    assert errors_and_statuses(run(answer(503))[0]) == (1, 1)
    assert errors_and_statuses(run(answer(502, fault=True))[0]) == (1, 1)


def test_an_unhandled_exception_is_still_a_fault() -> None:
    assert errors_and_statuses(run(crashes)[0]) == (1, 1)


def test_both_problem_renderers_mark_the_fault_for_the_edge() -> None:
    refusal = Unavailable("gateway.disabled", "AI calls are switched off", fault=False)

    async def fast_path(scope: Scope, receive: Receive, send: Send) -> None:
        await send_problem(send, refusal, instance="/x", request_id="r", state=scope["state"])

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        await problem_response(refusal, Request(scope, receive))(scope, receive, send)

    async def store_down(scope: Scope, receive: Receive, send: Send) -> None:
        down = Unavailable("store.unavailable", "the store does not answer")
        await problem_response(down, Request(scope, receive))(scope, receive, send)

    assert errors_and_statuses(run(fast_path)[0]) == (0, 1)
    assert errors_and_statuses(run(routed)[0]) == (0, 1)
    assert errors_and_statuses(run(store_down)[0]) == (1, 1)
