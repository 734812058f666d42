"""OpenAI's rate-limit headers from the real limiter: `x-ratelimit-*-requests` on every admitted call
(plain and streamed) and on a 429, with `retry-after`, which the official client obeys before it
retries. Routed and fast path alike."""

from __future__ import annotations

import re
import time

import httpx
import openai
import pytest

from conftest import LiveServer
from trainer_ops.app import build_ops
from trainer_ops.config import Settings

from .conftest import _OPEN, ai

USER = [{"role": "user", "content": "How do I greet a customer?"}]


def seconds(duration: str) -> float:
    """OpenAI's reset duration (`20ms`, `1.5s`, `6m0s`) in seconds."""
    match = re.fullmatch(r"(?:(\d+)m)?(?:([\d.]+)s)?|(\d+)ms", duration)
    assert match, duration
    minutes, secs, millis = match.groups()
    return int(minutes or 0) * 60 + float(secs or 0) + int(millis or 0) / 1000


def budget(headers: httpx.Headers) -> tuple[str, str, str]:
    return (
        headers["x-ratelimit-limit-requests"],
        headers["x-ratelimit-remaining-requests"],
        headers["x-ratelimit-reset-requests"],
    )


def test_every_admitted_call_carries_the_callers_budget(server, admin: httpx.Client, token_for) -> None:
    admin.patch("/operator/ops/limits", json={"aiCallsPerMinute": 5})
    client = ai(server, token_for("service", user="engine-budget"))
    plain = client.chat.completions.with_raw_response.create(model="x", messages=USER)
    limit, remaining, reset = budget(plain.headers)
    assert (limit, remaining) == ("5", "4")
    assert 59 <= seconds(reset) <= 60
    streamed = client.chat.completions.with_raw_response.create(model="x", messages=USER, stream=True)
    assert budget(streamed.headers)[:2] == ("5", "3")
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices).strip()


def test_a_429_is_a_rate_limit_error_with_the_detail_and_the_budget(server, admin, token_for) -> None:
    admin.patch("/operator/ops/limits", json={"aiCallsPerMinute": 2})
    client = ai(server, token_for("service", user="engine-429"))
    for _ in range(2):
        client.chat.completions.create(model="x", messages=USER)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="x", messages=USER)
    error = caught.value
    assert (error.type, error.code, error.param) == ("rate_limit_error", "gateway.rate_limited", None)
    assert "more than 2 AI calls in a minute for engine-429" in error.message
    headers = error.response.headers
    assert budget(headers)[:2] == ("2", "0")
    assert 1 <= int(headers["retry-after"]) <= 60
    assert seconds(headers["x-ratelimit-reset-requests"]) <= int(headers["retry-after"])


@pytest.fixture
def one_second_window(live_server: LiveServer, settings: Settings) -> LiveServer:
    """The gateway with the real limiter counting calls over one second instead of a minute."""
    return live_server.start(build_ops(settings, call_window_seconds=1))


def test_the_client_retries_a_429_after_retry_after_and_succeeds(one_second_window, token_for) -> None:
    server = one_second_window
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    httpx.patch(f"{server.url}/operator/ops/limits", json={"aiCallsPerMinute": 1}, headers=headers)
    token = token_for("service", user="engine-retry")
    patient = openai.OpenAI(api_key=token, base_url=f"{server.url}/v1", max_retries=2)
    _OPEN.append(patient)
    patient.chat.completions.create(model="x", messages=USER)
    started = time.monotonic()
    raw = patient.chat.completions.with_raw_response.create(model="x", messages=USER)
    assert raw.retries_taken == 1
    assert time.monotonic() - started >= 0.9  # it waited for retry-after (1 s), not its own backoff
    assert raw.parse().choices[0].message.content
    assert budget(raw.headers)[:2] == ("1", "0")
