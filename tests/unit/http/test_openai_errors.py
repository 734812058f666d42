"""OpenAI's error object: type by status, `param` naming the field or header, the detail in `message`."""

from __future__ import annotations

import pytest

from trainer_ops.errors import (
    BadRequest,
    Forbidden,
    Invalid,
    NotFound,
    TooManyRequests,
    TrainerOpsError,
    Unauthorized,
    Unavailable,
)
from trainer_ops.http.openai_errors import openai_error_body, speaks_openai
from trainer_ops.http.problems import error_payload


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (BadRequest("http.bad_json", "x"), "invalid_request_error"),
        (Unauthorized("auth.unauthorized", "x"), "authentication_error"),
        (Forbidden("access.denied", "x"), "permission_error"),
        (NotFound("http.not_found", "x"), "invalid_request_error"),
        (Invalid("http.invalid_body", "x"), "invalid_request_error"),
        (TooManyRequests("gateway.rate_limited", "x"), "rate_limit_error"),
        (TrainerOpsError("http.internal", "x"), "server_error"),
        (Unavailable("store.unavailable", "x"), "server_error"),
    ],
)
def test_the_type_follows_openais_status_conventions(error: TrainerOpsError, kind: str) -> None:
    assert openai_error_body(error)["error"]["type"] == kind


def test_a_validation_error_names_its_first_field_and_lists_every_complaint() -> None:
    error = Invalid(
        "http.invalid_body",
        "invalid field(s): max_tokens, messages.0",
        errors=[{"field": "max_tokens", "message": "must be >= 1"}, {"field": "messages.0", "message": "no"}],
    )
    assert openai_error_body(error) == {
        "error": {
            "message": "invalid field(s): max_tokens, messages.0 (max_tokens: must be >= 1; messages.0: no)",
            "type": "invalid_request_error",
            "param": "max_tokens",
            "code": "http.invalid_body",
        }
    }


def test_the_whole_body_is_no_param_and_a_header_refusal_names_the_header() -> None:
    body = Invalid("http.not_an_object", "x", errors=[{"field": "body", "message": "must be a JSON object"}])
    assert openai_error_body(body)["error"]["param"] is None
    assert openai_error_body(Forbidden("gateway.feature_off", "x"))["error"]["param"] == "X-Trainer-Feature"
    assert openai_error_body(Forbidden("access.denied", "x"))["error"]["param"] is None


def test_only_paths_under_v1_speak_openai() -> None:
    assert [speaks_openai(p) for p in ("/v1", "/v1/chat/completions", "/v1x", "/operator/ops/v1")] == [
        True,
        True,
        False,
        False,
    ]
    assert error_payload(NotFound("http.not_found", "x"), instance="/v1/nope", request_id="r")[1] == (
        "application/json"
    )
    assert error_payload(NotFound("http.not_found", "x"), instance="/operator/ops/nope", request_id="r")[
        1
    ] == ("application/problem+json")
