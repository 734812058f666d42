"""Model config (spec section 1): defaults, partial updates, validation, ETags, history, audit."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

from .support import (
    MODEL_CONFIG,
    SPEC_MODEL_CONFIG,
    assert_problem,
    check_each,
    document_state,
    entries_after,
    newest_seq,
)

SPEC_PATCH = {"model": "gpt-5.1", "temperature": 0.2, "toneProfile": "coaching", "language": "ko"}


def test_model_config_starts_at_spec_defaults_and_spec_patch_returns_merged_document_and_new_etag(
    client: TestClient,
) -> None:
    before = client.get(MODEL_CONFIG)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("application/json")
    assert before.json() == SPEC_MODEL_CONFIG
    assert before.headers["etag"]

    response = client.patch(MODEL_CONFIG, json=SPEC_PATCH)

    assert response.status_code == 200, response.text
    assert response.json() == {**SPEC_MODEL_CONFIG, **SPEC_PATCH}
    assert response.headers["etag"] != before.headers["etag"]
    again = client.get(MODEL_CONFIG)
    assert again.json() == response.json()
    assert again.headers["etag"] == response.headers["etag"]


def test_patch_model_config_accepts_boundary_values_and_merge_patch_content_type(client: TestClient) -> None:
    accepted = [
        ({"temperature": 0}, "application/json"),
        ({"temperature": 2}, "application/json"),
        ({"maxTokens": 128_000}, "application/json"),  # exactly gpt-5.1's ceiling
        ({"maxTokens": 1}, "application/json"),
        ({"language": "en-US"}, "application/json"),
        ({"language": "auto"}, "application/json"),
        ({"enabled": False}, "application/merge-patch+json"),
    ]

    def check(case: tuple[dict[str, Any], str]) -> None:
        body, content_type = case
        response = client.patch(
            MODEL_CONFIG, content=orjson.dumps(body), headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, response.text
        assert response.json().items() >= body.items()

    check_each(((str(body), (body, ct)) for body, ct in accepted), check)


def test_patch_model_config_that_changes_nothing_keeps_version_and_writes_no_audit(
    client: TestClient,
) -> None:
    before = document_state(client, MODEL_CONFIG)

    response = client.patch(MODEL_CONFIG, json={"temperature": SPEC_MODEL_CONFIG["temperature"]})

    assert response.status_code == 200
    assert response.headers["etag"] == before[1]
    assert document_state(client, MODEL_CONFIG) == before


# (case, body (a dict sent as JSON, or raw bytes), the field the 422 must name)
INVALID_PATCHES: list[tuple[str, Any, str]] = [
    ("unknown-field", {"temperature": 0.3, "topP": 0.9}, "topP"),
    ("temperature-as-string", {"temperature": "0.2"}, "temperature"),
    ("max-tokens-fraction", {"maxTokens": 1.5}, "maxTokens"),
    ("max-tokens-as-string", {"maxTokens": "4096"}, "maxTokens"),
    ("enabled-as-number", {"enabled": 1}, "enabled"),
    ("temperature-below-range", {"temperature": -0.01}, "temperature"),
    ("temperature-above-range", {"temperature": 2.01}, "temperature"),
    ("max-tokens-zero", {"maxTokens": 0}, "maxTokens"),
    ("max-tokens-negative", {"maxTokens": -5}, "maxTokens"),
    ("max-tokens-above-model-ceiling", {"maxTokens": 200_000}, "maxTokens"),
    ("model-switch-below-current-max-tokens", {"model": "gpt-4o", "maxTokens": 16_385}, "maxTokens"),
    ("unknown-model", {"model": "gpt-0-nonexistent"}, "model"),
    ("unknown-tone-profile", {"toneProfile": "sarcastic"}, "toneProfile"),
    ("language-not-a-language", {"language": "xx-123"}, "language"),
    ("language-with-punctuation", {"language": "english!"}, "language"),
    ("language-empty", {"language": ""}, "language"),
    ("temperature-null", {"temperature": None}, "temperature"),
    ("model-null", {"model": None}, "model"),
    ("enabled-null", {"enabled": None}, "enabled"),
    ("temperature-nan", b'{"temperature": NaN}', "temperature"),
    ("temperature-infinite", b'{"temperature": Infinity}', "temperature"),
]


def test_patch_model_config_with_any_invalid_value_is_422_naming_field_and_changes_nothing(
    client: TestClient,
) -> None:
    before = document_state(client, MODEL_CONFIG)

    def check(case: tuple[Any, str]) -> None:
        body, field = case
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        response = client.patch(MODEL_CONFIG, content=raw, headers={"Content-Type": "application/json"})
        assert_problem(response, 422, code="VALIDATION_ERROR", field=field)
        assert document_state(client, MODEL_CONFIG) == before

    check_each(((name, (body, field)) for name, body, field in INVALID_PATCHES), check)


def test_patch_model_config_with_if_match_applies_only_on_the_current_etag(client: TestClient) -> None:
    stale = client.get(MODEL_CONFIG).headers["etag"]
    assert client.patch(MODEL_CONFIG, json={"temperature": 0.7}).status_code == 200
    before = document_state(client, MODEL_CONFIG)

    refused = client.patch(MODEL_CONFIG, json={"temperature": 1.1}, headers={"If-Match": stale})
    unchanged = document_state(client, MODEL_CONFIG)
    applied = client.patch(MODEL_CONFIG, json={"temperature": 1.1}, headers={"If-Match": before[1]})

    assert_problem(refused, 412, code="CONFLICT")
    assert unchanged == before
    assert before[0]["temperature"] == 0.7
    assert applied.status_code == 200, applied.text
    assert applied.json()["temperature"] == 1.1
    assert applied.headers["etag"] not in (stale, before[1])


def test_patch_model_config_with_if_match_list_is_applied_when_any_strong_tag_is_current(
    client: TestClient,
) -> None:
    current = client.get(MODEL_CONFIG).headers["etag"]
    before = document_state(client, MODEL_CONFIG)

    # RFC 9110 13.1.1: If-Match compares strongly, so a weak tag never matches, even the current one.
    weak = client.patch(MODEL_CONFIG, json={"temperature": 1.3}, headers={"If-Match": f"W/{current}"})
    unchanged = document_state(client, MODEL_CONFIG)
    listed = client.patch(MODEL_CONFIG, json={"temperature": 1.3}, headers={"If-Match": f'"999", {current}'})

    assert_problem(weak, 412, code="CONFLICT")
    assert unchanged == before
    assert listed.status_code == 200, listed.text
    assert listed.json()["temperature"] == 1.3


def test_get_model_config_with_if_none_match_is_304_only_for_the_current_etag(client: TestClient) -> None:
    old = client.get(MODEL_CONFIG).headers["etag"]
    unchanged = client.get(MODEL_CONFIG, headers={"If-None-Match": old})
    client.patch(MODEL_CONFIG, json={"temperature": 0.9})

    outdated = client.get(MODEL_CONFIG, headers={"If-None-Match": old})

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == old
    assert outdated.status_code == 200
    assert outdated.json()["temperature"] == 0.9
    assert outdated.headers["etag"] != old


def test_get_model_config_with_weak_or_listed_if_none_match_is_304(client: TestClient) -> None:
    # RFC 9110 13.1.2: If-None-Match compares weakly and takes a list or '*' (once a plain string compare).
    etag = client.get(MODEL_CONFIG).headers["etag"]

    weak = client.get(MODEL_CONFIG, headers={"If-None-Match": f"W/{etag}"})
    listed = client.get(MODEL_CONFIG, headers={"If-None-Match": f'"0", {etag}'})
    star = client.get(MODEL_CONFIG, headers={"If-None-Match": "*"})

    assert (weak.status_code, listed.status_code, star.status_code) == (304, 304, 304)


def test_successful_model_config_patch_writes_one_update_config_audit_entry(client: TestClient) -> None:
    start = newest_seq(client)

    response = client.patch(MODEL_CONFIG, json=SPEC_PATCH, headers={"X-Request-Id": "req-model-1"})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-model-1"
    entries = entries_after(client, start)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "update_config"
    assert entry["actor"] == {"userId": "bootstrap-admin", "role": "admin", "scope": {}}
    assert entry["target"] == "model-config"
    # Only the touched fields; the spec example repeats the model, which did not change.
    assert entry["before"] == {"temperature": 0.4, "toneProfile": "professional", "language": "auto"}
    assert entry["after"] == {"temperature": 0.2, "toneProfile": "coaching", "language": "ko"}
    assert entry["requestId"] == "req-model-1"
    assert entry["outcome"] == "success"


def test_model_config_history_lists_versions_newest_first_and_pages_with_next_cursor(
    client: TestClient,
) -> None:
    for temperature in (0.5, 0.6, 0.7, 0.8):
        assert client.patch(MODEL_CONFIG, json={"temperature": temperature}).status_code == 200

    whole = client.get(f"{MODEL_CONFIG}/history")
    paged: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"{MODEL_CONFIG}/history", params=params).json()
        assert len(page["items"]) <= 2
        paged += [item["version"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    assert whole.status_code == 200
    items = whole.json()["items"]
    assert [item["version"] for item in items] == [5, 4, 3, 2, 1]  # the default and four changes
    assert whole.json()["nextCursor"] is None
    newest = items[0]
    assert (newest["before"], newest["after"]) == ({"temperature": 0.7}, {"temperature": 0.8})
    assert newest["document"] == {**SPEC_MODEL_CONFIG, "temperature": 0.8}
    assert newest["actor"]["userId"] == "bootstrap-admin"
    assert items[-1]["document"] == SPEC_MODEL_CONFIG
    assert paged == [5, 4, 3, 2, 1]


def test_model_config_history_with_bad_paging_parameter_is_422(client: TestClient) -> None:
    def check(params: dict[str, Any]) -> None:
        assert_problem(client.get(f"{MODEL_CONFIG}/history", params=params), 422, code="VALIDATION_ERROR")

    check_each(
        ((str(p), p) for p in [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "abc"}]), check
    )
