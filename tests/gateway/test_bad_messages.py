"""A chat message the model cannot take is the caller's mistake: 422 naming it, never a 500 (both paths)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .upstream import FakeUpstream


@pytest.mark.parametrize(
    "message",
    [{"role": "user"}, {"role": "user", "content": None}, {"role": "system", "content": None}],
)
def test_a_message_without_content_is_422_naming_it(admin: httpx.Client, message: dict[str, Any]) -> None:
    for _ in range(2):  # the second call is answered by the fast path where the settings cache the caller
        response = admin.post("/v1/chat/completions", json={"model": "x", "messages": [message]})
        assert response.status_code == 422, response.text
        assert "content" in response.text


def test_an_assistant_message_may_go_without_content(admin: httpx.Client) -> None:
    messages = [{"role": "assistant", "content": None}, {"role": "user", "content": "hi"}]
    assert admin.post("/v1/chat/completions", json={"model": "x", "messages": messages}).status_code == 200


@pytest.mark.parametrize("options", ["yes", [1], 3, {"include_usage": "maybe"}])
def test_bad_stream_options_are_422_before_any_stream_starts(admin: httpx.Client, options: Any) -> None:
    body = {
        "model": "x",
        "stream": True,
        "stream_options": options,
        "messages": [{"role": "user", "content": "hi"}],
    }
    for _ in range(2):
        response = admin.post("/v1/chat/completions", json=body)
        assert response.status_code == 422, response.text
        assert "stream_options" in response.text


def test_good_stream_options_still_reach_the_model(admin: httpx.Client, upstream: FakeUpstream) -> None:
    body = {
        "model": "x",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    with admin.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert text.rstrip().endswith("data: [DONE]")
    assert upstream.requests[-1]["stream_options"] == {"include_usage": True}
