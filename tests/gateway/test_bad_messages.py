"""A chat message the model cannot take is the caller's mistake: 422 naming it, never a 500 (both paths)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


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
