"""parse_body: content type (415), empty or broken JSON (400), not an object or bad fields (422)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import Request

from trainer_ops.errors import BadRequest, Invalid, TrainerOpsError, UnsupportedMediaType
from trainer_ops.http.body import parse_body
from trainer_ops.limits.schemas import LimitsUpdate
from trainer_ops.modelconfig.schemas import ModelConfigUpdate


def request(body: bytes, content_type: str | None = "application/json") -> Request:
    headers = [(b"content-type", content_type.encode())] if content_type is not None else []
    scope = {"type": "http", "method": "PATCH", "path": "/x", "headers": headers, "query_string": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def parse(body: bytes, content_type: str | None = "application/json") -> ModelConfigUpdate:
    return asyncio.run(parse_body(request(body, content_type), ModelConfigUpdate))


def failure(body: bytes, content_type: str | None = "application/json") -> TrainerOpsError:
    with pytest.raises(TrainerOpsError) as caught:
        parse(body, content_type)
    return caught.value


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
        "application/vnd.trainer+json",
    ],
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    assert parse(b'{"temperature": 0.2}', content_type).changes() == {"temperature": 0.2}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_other_media_types_are_415(content_type: str | None) -> None:
    error = failure(b'{"temperature": 0.2}', content_type)

    assert isinstance(error, UnsupportedMediaType)
    assert error.status == 415


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_is_400(body: bytes) -> None:
    error = failure(body)

    assert isinstance(error, BadRequest)
    assert error.code == "http.empty_body"


@pytest.mark.parametrize("body", [b"{", b"{'temperature': 0.2}", b'{"temperature": 0.2,}'])
def test_broken_json_is_400(body: bytes) -> None:
    error = failure(body)

    assert isinstance(error, BadRequest)
    assert error.code == "http.bad_json"


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"3", b"null"])
def test_json_that_is_not_an_object_is_422(body: bytes) -> None:
    error = failure(body)

    assert isinstance(error, Invalid)
    assert error.code == "http.not_an_object"


def test_bad_fields_are_422_with_one_error_per_field() -> None:
    error = failure(b'{"temperature": "0.2", "topP": 1}')

    assert isinstance(error, Invalid)
    assert error.code == "http.invalid_body"
    assert {e["field"] for e in error.errors} == {"temperature", "topP"}
    assert {"field": "topP", "message": "unknown field"} in error.errors


def test_strictness_applies_to_every_model_read_through_the_edge() -> None:
    with pytest.raises(Invalid):
        asyncio.run(parse_body(request(b'{"aiCallsPerMinute": "60"}'), LimitsUpdate))
