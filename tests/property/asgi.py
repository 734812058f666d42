"""A raw ASGI client: the request's header bytes reach the app exactly as generated (TestClient
re-encodes header values as UTF-8), in process, on the event loop of a started TestClient."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi.testclient import TestClient

RawHeaders = Sequence[tuple[bytes, bytes]]


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    # An exception the app let escape (after or instead of its answer): always a fault.
    raised: str | None = None
    chunks: list[bytes] = field(default_factory=list)
    # Who answered: a FastAPI route, or a fast path (what it put in the scope as its route).
    answered_by: str = ""

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    @property
    def media_type(self) -> str:
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        return json.loads(self.body)

    def describe(self) -> str:
        return f"{self.status} {self.media_type} {self.body[:600]!r} raised={self.raised}"


async def _call(app: Any, scope: dict[str, Any], body: bytes, stop_after_chunks: int | None) -> Reply:
    reply = Reply(status=0, headers=[], body=b"")
    finished = anyio.Event()
    sent_body = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                reply.chunks.append(chunk)
            if not message.get("more_body", False) or (
                stop_after_chunks is not None and len(reply.chunks) >= stop_after_chunks
            ):
                finished.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:  # an exception out of the app is what the tests look for
        reply.raised = f"{type(exc).__name__}: {exc}"
    finished.set()
    reply.body = b"".join(reply.chunks)
    reply.answered_by = type(scope.get("route")).__name__
    return reply


def request(
    client: TestClient,
    method: str,
    path: str,
    *,
    headers: RawHeaders = (),
    query: bytes = b"",
    body: bytes = b"",
    peer: tuple[str, int] = ("testclient", 50000),
    stop_after_chunks: int | None = None,
) -> Reply:
    """One request through the whole app (every middleware), with exactly these header bytes.
    `stop_after_chunks` disconnects an endless stream after that many body chunks."""
    raw = [(b"host", b"testserver"), *headers]
    if body and not any(name == b"content-length" for name, _ in raw):
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "root_path": "",
        "query_string": query,
        "headers": raw,
        "client": peer,
        "server": ("testserver", 80),
        "state": {},
    }
    assert client.portal is not None, "the TestClient must be started (with ... as client)"
    reply: Reply = client.portal.call(_call, client.app, scope, body, stop_after_chunks)
    return reply
