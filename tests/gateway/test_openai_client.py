"""The official `openai` package against the gateway: ops settings win over what the caller sends."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from .conftest import ai
from .upstream import FakeUpstream

USER = [{"role": "user", "content": "How do I greet a customer?"}]


def test_ops_config_wins_over_the_caller(server, upstream: FakeUpstream) -> None:
    client = ai(server)
    result = client.chat.completions.create(
        model="gpt-4o", temperature=1.9, max_tokens=100_000, messages=USER
    )
    sent = upstream.requests[-1]
    assert sent["model"] == "gpt-5.1"
    assert result.model == "gpt-5.1"
    assert sent["temperature"] == 0.4
    assert sent["max_tokens"] == 4096
    assert sent["messages"][0]["role"] == "system"
    assert "professional" in sent["messages"][0]["content"]
    assert sent["messages"][1:] == USER
    assert upstream.headers[-1]["authorization"] == "Bearer upstream-secret"
    assert result.choices[0].message.content == "echo from gpt-5.1"


def test_small_max_tokens_is_kept_and_tone_and_language_are_applied(server, upstream, admin) -> None:
    admin.patch("/operator/ops/model-config", json={"toneProfile": "coaching", "language": "ko"})
    ai(server).chat.completions.create(model="x", max_tokens=50, messages=USER)
    sent = upstream.requests[-1]
    assert sent["max_tokens"] == 50
    system = sent["messages"][0]["content"]
    assert "coach" in system
    assert "Korean" in system
    assert "language tag ko" in system


def test_streaming_obeys_ops_too(server, upstream: FakeUpstream) -> None:
    stream = ai(server).chat.completions.create(model="gpt-4o", temperature=2, messages=USER, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.strip() == "echo from gpt-5.1"
    assert upstream.requests[-1]["stream"] is True
    assert upstream.requests[-1]["temperature"] == 0.4


def test_a_patch_is_seen_by_the_very_next_call(server, upstream, admin) -> None:
    client = ai(server)
    client.chat.completions.create(model="x", messages=USER)
    assert (
        admin.patch(
            "/operator/ops/model-config", json={"temperature": 0.9, "model": "gpt-4o-mini", "maxTokens": 2000}
        ).status_code
        == 200
    )
    raw = client.chat.completions.with_raw_response.create(model="x", messages=USER)
    sent = upstream.requests[-1]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("gpt-4o-mini", 0.9, 2000)
    assert "model_config=2" in raw.headers["x-trainer-config-version"]


def test_disabled_ai_answers_503_and_never_calls_upstream(server, upstream, admin) -> None:
    admin.patch("/operator/ops/model-config", json={"enabled": False})
    with pytest.raises(openai.APIStatusError) as caught:
        ai(server).chat.completions.create(model="x", messages=USER)
    assert caught.value.status_code == 503
    assert upstream.requests == []


def test_feature_off_for_the_callers_region_is_403(server, upstream, admin, token_for) -> None:
    admin.patch("/operator/ops/features/quiz_auto_generate?region=EU", json={"enabled": True})
    header = {"X-Trainer-Feature": "quiz_auto_generate"}
    eu = ai(server, token_for("service", region="EU"))
    us = ai(server, token_for("service", user="svc-us", region="US"))
    eu.chat.completions.create(model="x", messages=USER, extra_headers=header)
    with pytest.raises(openai.PermissionDeniedError):
        us.chat.completions.create(model="x", messages=USER, extra_headers=header)
    assert len(upstream.requests) == 1


def test_rate_limit_is_exact_per_user_with_retry_after(server, upstream, admin, token_for) -> None:
    admin.patch("/operator/ops/limits", json={"aiCallsPerMinute": 3})
    first = ai(server, token_for("service", user="engine-a"))
    other = ai(server, token_for("service", user="engine-b"))
    for _ in range(3):
        first.chat.completions.create(model="x", messages=USER)
    with pytest.raises(openai.RateLimitError) as caught:
        first.chat.completions.create(model="x", messages=USER)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    other.chat.completions.create(model="x", messages=USER)  # another user has a budget of their own
    assert len(upstream.requests) == 4


def test_upstream_errors_and_timeouts_are_problems(server, upstream, admin) -> None:
    upstream.mode = "error"
    with pytest.raises(openai.APIStatusError) as caught:
        ai(server).chat.completions.create(model="x", messages=USER)
    assert caught.value.status_code == 502
    upstream.mode = "slow"
    before = admin.get("/operator/ops/diagnostics").json()["timeouts"]
    with pytest.raises(openai.APIStatusError) as caught:
        ai(server).chat.completions.create(model="x", messages=USER)
    assert caught.value.status_code == 504
    assert admin.get("/operator/ops/diagnostics").json()["timeouts"] == before + 1


def test_every_call_is_audited_as_predict_without_content(server, upstream, admin) -> None:
    ai(server).chat.completions.create(model="x", messages=USER)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        items = admin.get("/operator/ops/audit", params={"action": "predict"}).json()["items"]
        if items:
            break
        time.sleep(0.05)
    entry = items[0]
    assert entry["outcome"] == "success"
    assert entry["details"]["model"] == "gpt-5.1"
    assert entry["details"]["tokens"]["total_tokens"] == 10
    assert entry["details"]["configVersions"]["model_config"] == 1
    assert "messages" not in entry["details"]
    assert "How do I greet" not in str(entry)


def test_sessions_hold_the_concurrent_limit_and_expire(server, admin, token_for) -> None:
    admin.patch("/operator/ops/limits", json={"maxConcurrentSessions": 2})
    opened = [admin.post("/v1/sessions") for _ in range(3)]
    assert [r.status_code for r in opened] == [201, 201, 429]
    assert "retry-after" in opened[2].headers
    assert admin.delete(f"/v1/sessions/{opened[0].json()['id']}").status_code == 204
    assert admin.post("/v1/sessions").status_code == 201
    client = ai(server)
    with pytest.raises(openai.NotFoundError):  # closed above: well-formed, but not open
        client.chat.completions.create(
            model="x", messages=USER, extra_headers={"X-Trainer-Session": opened[0].json()["id"]}
        )
    client.chat.completions.create(
        model="x", messages=USER, extra_headers={"X-Trainer-Session": opened[1].json()["id"]}
    )


def test_upload_over_the_limit_is_413(server, admin) -> None:
    admin.patch("/operator/ops/limits", json={"fileUploadLimitMb": 1})
    client = ai(server)
    small = client.files.create(file=("notes.md", b"# Returns policy\n" * 100), purpose="user_data")
    assert small.bytes == 1700
    with pytest.raises(openai.APIStatusError) as caught:
        client.files.create(file=("big.bin", b"x" * (1024 * 1024 + 10)), purpose="user_data")
    assert caught.value.status_code == 413


def test_gateway_refuses_unauthenticated_and_bad_bodies(server) -> None:
    with pytest.raises(openai.AuthenticationError):
        ai(server, "tops_not-a-token").chat.completions.create(model="x", messages=USER)
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": []},
        headers={"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["param"] == "messages"


def test_a_stream_whose_upstream_fails_at_once_is_a_502_problem(server, upstream: FakeUpstream) -> None:
    upstream.mode = "error"
    with pytest.raises(openai.APIStatusError) as caught:
        list(ai(server).chat.completions.create(model="x", messages=USER, stream=True))
    assert caught.value.status_code == 502


def test_a_session_belongs_to_the_user_who_opened_it(server, token_for) -> None:
    alice, bob = token_for("service", user="alice"), token_for("service", user="bob")
    opened = httpx.post(f"{server.url}/v1/sessions", headers={"Authorization": f"Bearer {alice}"})
    session = opened.json()["id"]
    with pytest.raises(openai.NotFoundError):
        ai(server, bob).chat.completions.create(
            model="x", messages=USER, extra_headers={"X-Trainer-Session": session}
        )
    closed = httpx.delete(f"{server.url}/v1/sessions/{session}", headers={"Authorization": f"Bearer {bob}"})
    assert closed.status_code == 404
    ai(server, alice).chat.completions.create(
        model="x", messages=USER, extra_headers={"X-Trainer-Session": session}
    )
