"""Errors under /v1 are OpenAI's error object, so the official client's exceptions carry our detail:
the class by status, `.message` with the detail, `.type`, `.param` and `.code` (our reason) from the
body, and `.request_id` from our X-Request-Id. Routed and fast path alike; /operator/ops keeps
problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from .conftest import ai
from .upstream import FakeUpstream

USER = [{"role": "user", "content": "How do I greet a customer?"}]
# Shaped like the ids POST /v1/sessions mints (gateway/headers.SESSION_ID), but never opened.
UNKNOWN_SESSION = "sess_" + "A" * 22 + "." + "0" * 16


def raised(call: Any, kind: type[openai.APIStatusError]) -> openai.APIStatusError:
    with pytest.raises(kind) as caught:
        call()
    error = caught.value
    assert error.response.headers["content-type"] == "application/json"
    assert error.request_id == error.response.headers["x-request-id"]
    assert set(error.response.json()) == {"error"}
    assert error.body == error.response.json()["error"]
    return error


def test_401_names_the_authorization_header(server) -> None:
    client = ai(server, "tops_not-a-token")
    error = raised(
        lambda: client.chat.completions.create(model="x", messages=USER), openai.AuthenticationError
    )
    assert (error.type, error.code, error.param) == (
        "authentication_error",
        "auth.unauthorized",
        "Authorization",
    )
    assert error.message.startswith("Error code: 401 - ")
    assert len(error.message) > len("Error code: 401 - ")
    assert "www-authenticate" in error.response.headers


def test_403_and_404_name_the_header_to_fix(server, admin) -> None:
    admin.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": False})
    client = ai(server)
    for _ in range(2):  # the second call is answered by the fast path where the settings cache the caller
        off = raised(
            lambda: client.chat.completions.create(
                model="x", messages=USER, extra_headers={"X-Trainer-Feature": "quiz_auto_generate"}
            ),
            openai.PermissionDeniedError,
        )
        assert (off.type, off.code, off.param) == (
            "permission_error",
            "gateway.feature_off",
            "X-Trainer-Feature",
        )
        assert "feature 'quiz_auto_generate' is off" in off.message
        unknown = raised(
            lambda: client.chat.completions.create(
                model="x", messages=USER, extra_headers={"X-Trainer-Session": UNKNOWN_SESSION}
            ),
            openai.NotFoundError,
        )
        assert (unknown.type, unknown.param) == ("invalid_request_error", "X-Trainer-Session")
        assert f"session {UNKNOWN_SESSION!r} is unknown or expired" in unknown.message


def test_unknown_path_and_method_under_v1_are_openai_errors(server, admin: httpx.Client) -> None:
    error = raised(lambda: ai(server).models.retrieve("gpt-5.1"), openai.NotFoundError)
    assert (error.type, error.code) == ("invalid_request_error", "http.not_found")
    assert "/v1/models/gpt-5.1" in error.message
    wrong = admin.get("/v1/chat/completions")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/json"
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"


def test_422_names_the_field_in_param_and_message(server) -> None:
    client = ai(server)
    for _ in range(2):
        error = raised(
            lambda: client.chat.completions.create(model="x", messages=USER, max_tokens=0),
            openai.UnprocessableEntityError,
        )
        assert (error.type, error.code, error.param) == (
            "invalid_request_error",
            "http.invalid_body",
            "max_tokens",
        )
        assert "max_tokens: Input should be greater than or equal to 1" in error.message
        missing = raised(
            lambda: client.chat.completions.create(model="x", messages=[{"role": "user"}]),  # type: ignore[typeddict-item]
            openai.UnprocessableEntityError,
        )
        assert missing.param == "messages.0"
        assert "needs content" in missing.message


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{nope", {"content-type": "application/json"}, 400, "http.bad_json"),
        (b"a=1", {"content-type": "application/x-www-form-urlencoded"}, 415, "http.unsupported_media_type"),
        (b" " * 1_048_577, {"content-type": "application/json"}, 413, "http.too_large"),
    ],
)
def test_body_errors_and_the_edges_413_are_openai_errors(
    admin: httpx.Client, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    for _ in range(2):
        response = admin.post("/v1/chat/completions", content=content, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/json"
        assert "x-request-id" in response.headers
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("invalid_request_error", code)
        assert error["message"]


def test_5xx_are_server_errors_with_the_detail(server, admin, upstream: FakeUpstream) -> None:
    client = ai(server)
    upstream.mode = "error"
    bad = raised(lambda: client.chat.completions.create(model="x", messages=USER), openai.InternalServerError)
    assert (bad.status_code, bad.type, bad.code) == (502, "server_error", "gateway.upstream_error")
    assert "model overloaded" in bad.message
    admin.patch("/operator/ops/model-config", json={"enabled": False})
    off = raised(lambda: client.chat.completions.create(model="x", messages=USER), openai.InternalServerError)
    assert (off.status_code, off.type, off.code) == (503, "server_error", "gateway.disabled")
    assert "enabled: false" in off.message


def test_operator_ops_keeps_problem_json_and_v1_is_never_enveloped(admin: httpx.Client) -> None:
    ops = admin.get("/operator/ops/no-such-thing")
    assert ops.headers["content-type"] == "application/problem+json"
    assert ops.json()["status"] == 404
    # OpenAI clients cannot read Step 1's envelope: /v1 answers bare even when one is asked for.
    models = admin.get("/v1/models", headers={"X-Envelope": "step1"})
    assert models.json()["object"] == "list"
    refused = admin.post("/v1/chat/completions", json={"messages": []}, headers={"X-Envelope": "step1"})
    assert set(refused.json()) == {"error"}
