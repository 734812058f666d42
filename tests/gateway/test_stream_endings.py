"""A stream that has started always ends properly, on the routed and the fast path: the model server
dropping the connection or stopping early ends it with an error event in OpenAI's shape and
`data: [DONE]`, which the official client raises as an APIError carrying the detail."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

from .conftest import ai
from .upstream import FakeUpstream

USER = [{"role": "user", "content": "How do I greet a customer?"}]
BODY = {"model": "x", "stream": True, "messages": USER}


def events(admin: httpx.Client) -> list[bytes]:
    """The raw server-sent events of one streamed call (status 200, read to the end)."""
    with admin.stream("POST", "/v1/chat/completions", json=BODY) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    return [event for event in raw.split(b"\n\n") if event]


@pytest.mark.parametrize(
    ("mode", "code"), [("cut", "gateway.upstream_unreachable"), ("unfinished", "gateway.upstream_incomplete")]
)
def test_a_stream_the_upstream_breaks_ends_with_an_error_event_and_done(
    admin: httpx.Client, upstream: FakeUpstream, mode: str, code: str
) -> None:
    upstream.mode = mode
    for _ in range(2):  # the second call is answered by the fast path where the settings cache the caller
        sent = events(admin)
        assert orjson.loads(sent[0].removeprefix(b"data: "))["choices"][0]["delta"]["content"] == "echo "
        assert sent[-1] == b"data: [DONE]"
        error = orjson.loads(sent[-2].removeprefix(b"data: "))["error"]
        assert error["type"] == "server_error"
        assert error["code"] == code
        assert "model server" in error["message"]


def test_the_openai_client_raises_the_error_event_with_its_detail(server, upstream: FakeUpstream) -> None:
    upstream.mode = "unfinished"
    client = ai(server)
    for _ in range(2):
        stream = client.chat.completions.create(model="x", messages=USER, stream=True)
        received: list[str | None] = []
        with pytest.raises(openai.APIError) as caught:
            received.extend(chunk.choices[0].delta.content for chunk in stream)
        assert received == ["echo "]
        assert "ended the stream before it was complete" in caught.value.message
        assert caught.value.code == "gateway.upstream_incomplete"
        assert caught.value.type == "server_error"


def test_a_whole_stream_still_ends_with_the_upstreams_own_done(admin: httpx.Client) -> None:
    sent = events(admin)
    assert sent[-1] == b"data: [DONE]"
    assert b'"error"' not in b"".join(sent)
    assert orjson.loads(sent[-2].removeprefix(b"data: "))["choices"][0]["finish_reason"] == "stop"
