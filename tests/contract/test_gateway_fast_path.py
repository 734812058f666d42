"""The gateway's fast path answers exactly what the route answers, and only for callers it may serve."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import build_ops, create_app
from trainer_ops.config import Settings
from trainer_ops.gateway.fastpath import GatewayFastPath

PATH = "/v1/chat/completions"
HELLO = {"model": "mine", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 5}


@contextmanager
def gateway(settings: Settings, *, cached: bool) -> Iterator[TestClient]:
    """A client of the whole app on a store of its own. cached=False: no token cache, so every call
    takes the route."""
    name = "fast" if cached else "routed"
    tuned = settings.model_copy(
        update={
            "token_cache_seconds": 60 if cached else 0,
            "home": settings.home / name,
            "database_url": f"sqlite:///{settings.home / name / 'store.db'}",
        }
    )
    ops = build_ops(tuned)
    try:
        with TestClient(create_app(tuned, ops=ops)) as client:
            client.headers["Authorization"] = f"Bearer {tuned.bootstrap_admin_token}"
            client.get("/v1/models")  # a first call puts the token in the cache (when there is one)
            yield client
    finally:
        ops.close()


JSON_TYPE = {"content-type": "application/json"}
# The shape POST /v1/sessions mints, but never minted: a session that is not open.
UNKNOWN_SESSION = "sess_" + "A" * 22 + "." + "0" * 16


def client_limit(client: TestClient) -> int:
    limit: int = client.app.state.ops.settings.max_json_body_bytes  # type: ignore[attr-defined]
    return limit


def calls(client: TestClient) -> list[tuple[str, Any]]:
    """The same series on both paths: success, streaming, every kind of refusal."""
    post = client.post
    out: list[tuple[str, Any]] = [
        ("ok", post(PATH, json=HELLO)),
        ("stream", post(PATH, json={**HELLO, "stream": True})),
        ("bad json", post(PATH, content=b"{nope", headers={"content-type": "application/json"})),
        ("empty", post(PATH, content=b"", headers={"content-type": "application/json"})),
        ("not an object", post(PATH, json=[1])),
        ("bad field", post(PATH, json={**HELLO, "max_tokens": 0})),
        ("no messages", post(PATH, json={"messages": []})),
        ("form", post(PATH, content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"})),
        ("unknown feature", post(PATH, json=HELLO, headers={"X-Trainer-Feature": "no_such_feature"})),
        ("malformed session", post(PATH, json=HELLO, headers={"X-Trainer-Session": "sess_nope"})),
        ("unknown session", post(PATH, json=HELLO, headers={"X-Trainer-Session": UNKNOWN_SESSION})),
        ("too large", post(PATH, content=b" " * (client_limit(client) + 1), headers=JSON_TYPE)),
    ]
    client.patch("/operator/ops/model-config", json={"enabled": False})
    out.append(("disabled", post(PATH, json=HELLO)))
    client.patch("/operator/ops/model-config", json={"enabled": True})
    client.patch("/operator/ops/limits", json={"aiCallsPerMinute": 1})
    post(PATH, json=HELLO)
    out.append(("rate limited", post(PATH, json=HELLO)))
    return out


def comparable(response: Any) -> dict[str, Any]:
    """What must be equal on both paths (ids, timestamps and latencies differ by nature)."""
    content_type = response.headers["content-type"]
    seen: dict[str, Any] = {
        "status": response.status_code,
        "content-type": content_type,
        "config-version": response.headers.get("x-trainer-config-version"),
        "retry-after": response.headers.get("retry-after"),
        "rate limit": [
            response.headers.get(f"x-ratelimit-{what}-requests") for what in ("limit", "remaining")
        ],
        "request id": "x-request-id" in response.headers,
    }
    if response.status_code >= 400:
        seen["error"] = response.json()  # OpenAI's error object: no request id or time in it
    elif content_type.startswith("text/event-stream"):
        seen["events"] = [
            orjson.loads(line[6:])["choices"] if line != "data: [DONE]" else line
            for line in response.text.split("\n\n")
            if line
        ]
    else:
        answer = response.json()
        seen["answer"] = (answer["object"], answer["model"], answer["choices"], answer["usage"])
    return seen


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fast_path_and_route_answer_alike(settings: Settings) -> None:
    with gateway(settings, cached=False) as routed_client:
        routed = calls(routed_client)
    with gateway(settings, cached=True) as fast_client:
        fast = calls(fast_client)
    for (name, by_route), (_, by_fast_path) in zip(routed, fast, strict=True):
        assert comparable(by_fast_path) == comparable(by_route), name
    statuses = {name: response.status_code for name, response in fast}
    assert statuses == {
        "ok": 200,
        "stream": 200,
        "bad json": 400,
        "empty": 400,
        "not an object": 422,
        "bad field": 422,
        "no messages": 422,
        "form": 415,
        "unknown feature": 422,
        "malformed session": 422,
        "unknown session": 404,
        "too large": 413,
        "disabled": 503,
        "rate limited": 429,
    }


class Inner:
    """The rest of the app, as the fast path sees it: records what it is handed."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def asgi_post(app: Any, token: str) -> int:
    body = orjson.dumps(HELLO)
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
        "state": {"request_id": "r-1"},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_only_a_cached_caller_is_answered_by_the_fast_path(settings: Settings) -> None:
    tuned = settings.model_copy(update={"token_cache_seconds": 60})
    ops = build_ops(tuned)
    try:
        ops.prepare()
        inner = Inner()
        fast = GatewayFastPath(inner, gateway=ops.gateway, authenticator=ops.authenticator, policy=ops.policy)
        token = tuned.bootstrap_admin_token or ""
        assert asgi_post(fast, token) == 299  # not in the cache yet: the route answers (401 or 200)
        ops.authenticator.authenticate(f"Bearer {token}")  # what the route's first call does
        assert asgi_post(fast, token) == 200
        assert inner.calls == 1
        assert asgi_post(fast, "tops_unknown") == 299
        assert inner.calls == 2
    finally:
        ops.close()
