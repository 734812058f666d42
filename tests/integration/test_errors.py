"""HTTP errors: every one is RFC 9457 problem+json with a Step 1 code; bad input never yields a 500."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import create_app
from trainer_ops.config import Settings

from .support import (
    ADMIN_TOKEN,
    AUDIT,
    FEATURES,
    LIMITS,
    MODEL_CONFIG,
    app_client,
    assert_problem,
    check_each,
    document_state,
    lenient,
    serving,
)

JSON = {"Content-Type": "application/json"}
BODY_ENDPOINTS = [
    ("PATCH", MODEL_CONFIG),
    ("PATCH", LIMITS),
    ("PATCH", f"{FEATURES}/mission_auto_assign"),
    ("POST", FEATURES),
]
BODY_IDS = ["model-config", "limits", "feature", "feature-create"]


def test_body_that_is_not_json_is_400_and_text_plain_is_415_on_every_body_endpoint(
    client: TestClient,
) -> None:
    def check(endpoint: tuple[str, str]) -> None:
        method, path = endpoint
        not_json = client.request(method, path, content=b'{"enabled": false,', headers=JSON)
        text = client.request(
            method, path, content=b'{"enabled": false}', headers={"Content-Type": "text/plain"}
        )
        assert_problem(not_json, 400, code="VALIDATION_ERROR")
        assert_problem(text, 415, code="VALIDATION_ERROR")

    check_each(zip(BODY_IDS, BODY_ENDPOINTS, strict=True), check)
    assert client.get(FEATURES).json()["mission_auto_assign"] is True


def test_malformed_body_is_4xx_problem_and_changes_nothing(client: TestClient) -> None:
    cases: dict[str, tuple[bytes, dict[str, str], int]] = {
        "empty": (b"", JSON, 400),
        "blank": (b"   ", JSON, 400),
        "bad-utf8": (b'{"model": "\xff"}', JSON, 400),
        "deeply-nested": (b"[" * 100_000, JSON, 400),
        "array": (b"[]", JSON, 422),
        "string": (b'"temperature"', JSON, 422),
        "null": (b"null", JSON, 422),
        "no-content-type": (b'{"temperature": 0.3}', {}, 415),
        "form": (b'{"temperature": 0.3}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        "bad-if-match": (b'{"temperature": 0.3}', {**JSON, "If-Match": "not-an-etag"}, 400),
    }
    before = document_state(client, MODEL_CONFIG)

    def check(case: tuple[bytes, dict[str, str], int]) -> None:
        content, headers, status = case
        assert_problem(client.patch(MODEL_CONFIG, content=content, headers=headers), status)
        assert document_state(client, MODEL_CONFIG) == before

    check_each(cases.items(), check)


@pytest.fixture
def small_body_client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings.model_copy(update={"max_json_body_bytes": 1024})) as client:
        yield client


def padded(size: int) -> bytes:
    """A valid model-config patch of exactly `size` bytes (whitespace padding)."""
    body = b'{"temperature": 0.3}'
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_body_over_limit_with_content_length_is_413_and_at_limit_is_accepted(
    small_body_client: TestClient,
) -> None:
    before = document_state(small_body_client, MODEL_CONFIG)

    over = small_body_client.patch(MODEL_CONFIG, content=padded(1025), headers=JSON)
    unchanged = document_state(small_body_client, MODEL_CONFIG)
    at_limit = small_body_client.patch(MODEL_CONFIG, content=padded(1024), headers=JSON)

    assert over.request.headers["content-length"] == "1025"
    assert_problem(over, 413, code="VALIDATION_ERROR")
    assert unchanged == before
    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["temperature"] == 0.3


def test_chunked_body_over_limit_is_413_and_under_limit_is_accepted(small_body_client: TestClient) -> None:
    before = document_state(small_body_client, MODEL_CONFIG)
    big, small = padded(3000), padded(900)

    over = small_body_client.patch(
        MODEL_CONFIG, content=iter([big[:1000], big[1000:2000], big[2000:]]), headers=JSON
    )
    unchanged = document_state(small_body_client, MODEL_CONFIG)
    under = small_body_client.patch(MODEL_CONFIG, content=iter([small[:450], small[450:]]), headers=JSON)

    assert "content-length" not in over.request.headers
    assert over.request.headers["transfer-encoding"] == "chunked"
    assert_problem(over, 413, code="VALIDATION_ERROR")
    assert unchanged == before
    assert under.status_code == 200, under.text


@pytest.fixture
def live_server(settings: Settings) -> Iterator[tuple[str, int]]:
    """The app under uvicorn on a free port of 127.0.0.1, with a 1 KiB body limit."""
    app = create_app(settings.model_copy(update={"max_json_body_bytes": 1024}))
    with serving(app) as address:
        yield address


def test_chunked_body_over_limit_on_a_real_server_is_413_before_the_rest_is_sent(
    live_server: tuple[str, int],
) -> None:
    host, port = live_server
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.putrequest("PATCH", MODEL_CONFIG)
        connection.putheader("Authorization", f"Bearer {ADMIN_TOKEN}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        chunk = b'{"model": "' + b"x" * 2000
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))  # over the limit; the body never ends
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()

    assert response.status == 413
    assert response.getheader("content-type") == "application/problem+json"
    assert b'"code":"VALIDATION_ERROR"' in body


def test_unknown_route_is_404_and_wrong_method_is_405_problem_with_allow(client: TestClient) -> None:
    assert_problem(client.get("/operator/ops/no-such-thing"), 404, code="NOT_FOUND")

    def check(endpoint: tuple[str, str]) -> None:
        response = client.request(*endpoint)
        assert_problem(response, 405)
        assert "GET" in response.headers["allow"]

    check_each(
        ((f"{m} {p}", (m, p)) for m, p in [("DELETE", MODEL_CONFIG), ("PUT", LIMITS), ("POST", AUDIT)]), check
    )


def test_wrong_method_on_patchable_document_lists_patch_in_allow(client: TestClient) -> None:
    response = client.delete(MODEL_CONFIG)

    assert {m.strip() for m in response.headers["allow"].split(",")} >= {"GET", "PATCH"}


BAD_INPUTS: list[tuple[str, str, dict[str, Any], dict[str, str], bytes | None]] = [
    ("GET", MODEL_CONFIG, {}, {"If-None-Match": "garbage, W/"}, None),
    ("PATCH", MODEL_CONFIG, {}, {**JSON, "If-Match": "W/"}, b'{"temperature": 0.3}'),
    ("PATCH", MODEL_CONFIG, {}, JSON, b'{"temperature": 1e999}'),
    ("PATCH", MODEL_CONFIG, {}, JSON, b'{"maxTokens": 99999999999999999999999999999}'),
    ("PATCH", MODEL_CONFIG, {}, JSON, b'{"language": "' + b"a" * 5000 + b'"}'),
    ("PATCH", MODEL_CONFIG, {}, JSON, b'{"temperature": 0.3, "temperature": "x"}'),
    ("PATCH", LIMITS, {}, JSON, b'{"aiCallsPerMinute": -99999999999999999999999}'),
    ("PATCH", f"{FEATURES}/{'k' * 3000}", {}, JSON, b'{"enabled": true}'),
    ("PATCH", f"{FEATURES}/mission_auto_assign", {"region": "x" * 500}, JSON, b'{"enabled": true}'),
    ("PATCH", f"{FEATURES}/mission_auto_assign", {}, JSON, b'{"description": "' + b"d" * 600 + b'"}'),
    ("POST", FEATURES, {}, JSON, b'{"key": "' + b"k" * 300 + b'", "enabled": true}'),
    ("GET", AUDIT, {"limit": "99999999999999999999"}, {}, None),
    ("GET", AUDIT, {"from": "2024-02-30"}, {}, None),
    ("GET", AUDIT, {"to": "nan"}, {}, None),
    ("GET", AUDIT, {"cursor": "%%%"}, {}, None),
    ("GET", f"{MODEL_CONFIG}/history", {"limit": "-1"}, {}, None),
    ("GET", f"{LIMITS}/history", {"cursor": "-5"}, {}, None),
]


def test_bad_input_never_yields_a_server_error(client: TestClient) -> None:
    server = lenient(client)

    def check(case: tuple[str, str, dict[str, Any], dict[str, str], bytes | None]) -> None:
        method, path, params, headers, content = case
        response = server.request(method, path, params=params, headers=headers, content=content)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_problem(response, response.status_code)

    check_each(((f"{c[0]} {c[1][:40]} {c[2]}", c) for c in BAD_INPUTS), check)


# Inputs that only the PostgreSQL leg once turned into a 500 (SQLite took them): (id, path, params, why).
PG_SENSITIVE_INPUTS = [
    (
        "audit-user-id-with-nul",
        AUDIT,
        {"userId": "a\u0000b"},
        "PostgreSQL refuses NUL in text ('text fields cannot contain NUL'); audit/routes.py must refuse "
        "such a userId with 422 (or answer an empty page) before it reaches the store",
    ),
    (
        "history-cursor-past-int32",
        f"{MODEL_CONFIG}/history",
        {"cursor": "3000000000"},
        "document_versions.version is INTEGER, so PostgreSQL answers 'integer out of range' unless "
        "http/responses.py parse_version_cursor bounds the cursor",
    ),
]


@pytest.mark.parametrize(
    ("path", "params", "why"),
    [c[1:] for c in PG_SENSITIVE_INPUTS],
    ids=[c[0] for c in PG_SENSITIVE_INPUTS],
)
def test_bad_query_parameter_never_yields_a_server_error_on_either_store(
    client: TestClient, path: str, params: dict[str, str], why: str
) -> None:
    response = lenient(client).get(path, params=params)

    assert response.status_code < 500, f"{why}: {response.text}"


def test_history_with_out_of_range_cursor_is_422_not_500(client: TestClient) -> None:
    # parse_version_cursor once took '²' (str.isdigit) and cursors past the INTEGER range: 500.
    def check(cursor: str) -> None:
        assert_problem(
            lenient(client).get(f"{MODEL_CONFIG}/history", params={"cursor": cursor}), 422, field="cursor"
        )

    check_each(((c, c) for c in ["\u00b2", "99999999999999999999999"]), check)


def test_openapi_document_is_served_and_lists_the_contract_paths(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    for path in (MODEL_CONFIG, FEATURES, f"{FEATURES}/{{featureKey}}", LIMITS, AUDIT, "/operator/ops/health"):
        assert path in spec["paths"], path


def test_a_chat_message_without_content_is_422_with_the_offline_provider_too(client: TestClient) -> None:
    for message in ({"role": "user"}, {"role": "user", "content": None}):
        response = client.post("/v1/chat/completions", json={"messages": [message]})
        assert response.status_code == 422, response.text
