"""Rate limits and safety (spec section 6): defaults, partial updates, refusals that change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from .support import (
    DEFAULT_LIMITS,
    LIMITS,
    SPEC_LIMITS,
    assert_problem,
    bearer,
    check_each,
    document_state,
    entries_after,
    newest_seq,
    store_document,
    store_rows,
)


def test_get_limits_on_fresh_store_returns_spec_defaults(client: TestClient) -> None:
    response = client.get(LIMITS)

    assert response.status_code == 200
    assert response.json() == DEFAULT_LIMITS
    assert {k: response.json()[k] for k in SPEC_LIMITS} == SPEC_LIMITS
    assert response.headers["etag"]


def test_patch_limits_partially_updates_writes_one_audit_entry_and_a_version(client: TestClient) -> None:
    before_etag = client.get(LIMITS).headers["etag"]
    start = newest_seq(client)

    response = client.patch(LIMITS, json={"aiCallsPerMinute": 120})

    assert response.status_code == 200, response.text
    assert response.json() == {**DEFAULT_LIMITS, "aiCallsPerMinute": 120}
    assert response.headers["etag"] != before_etag
    assert client.get(LIMITS).json() == response.json()
    client.patch(LIMITS, json={"maxConcurrentSessions": 45})
    [entry, _] = entries_after(client, start)
    assert entry["action"] == "update_config"
    assert entry["target"] == "limits"
    assert (entry["before"], entry["after"]) == ({"aiCallsPerMinute": 60}, {"aiCallsPerMinute": 120})
    assert entry["requestId"] == response.headers["x-request-id"]
    history = client.get(f"{LIMITS}/history").json()["items"]
    assert [i["version"] for i in history] == [3, 2, 1]
    assert (history[0]["before"], history[0]["after"]) == (
        {"maxConcurrentSessions": 30},
        {"maxConcurrentSessions": 45},
    )
    assert history[0]["document"] == {
        **DEFAULT_LIMITS,
        "aiCallsPerMinute": 120,
        "maxConcurrentSessions": 45,
    }


def test_patch_limits_at_the_ceilings_and_floors_is_accepted(client: TestClient) -> None:
    top = {
        "aiCallsPerMinute": 100_000,
        "fileUploadLimitMb": 10_240,
        "maxConcurrentSessions": 1_000_000,
        "maxSessionsPerUser": 1_000,
    }
    bottom = {
        "aiCallsPerMinute": 1,
        "fileUploadLimitMb": 1,
        "maxConcurrentSessions": 1,
        "maxSessionsPerUser": 1,
    }

    high = client.patch(LIMITS, json=top)
    low = client.patch(LIMITS, json=bottom)

    assert (high.status_code, low.status_code) == (200, 200), (high.text, low.text)
    assert (high.json(), low.json()) == (top, bottom)


INVALID_LIMITS: list[tuple[str, dict[str, Any], str]] = [
    ("zero", {"aiCallsPerMinute": 0}, "aiCallsPerMinute"),
    ("negative", {"fileUploadLimitMb": -1}, "fileUploadLimitMb"),
    ("fraction", {"maxConcurrentSessions": 2.5}, "maxConcurrentSessions"),
    ("whole-float", {"aiCallsPerMinute": 60.0}, "aiCallsPerMinute"),
    ("string", {"aiCallsPerMinute": "60"}, "aiCallsPerMinute"),
    ("boolean", {"fileUploadLimitMb": True}, "fileUploadLimitMb"),
    ("null", {"maxConcurrentSessions": None}, "maxConcurrentSessions"),
    ("calls-above-ceiling", {"aiCallsPerMinute": 100_001}, "aiCallsPerMinute"),
    ("upload-above-ceiling", {"fileUploadLimitMb": 10_241}, "fileUploadLimitMb"),
    ("sessions-above-ceiling", {"maxConcurrentSessions": 1_000_001}, "maxConcurrentSessions"),
    ("huge", {"aiCallsPerMinute": 10**30}, "aiCallsPerMinute"),
    ("per-user-zero", {"maxSessionsPerUser": 0}, "maxSessionsPerUser"),
    ("per-user-above-ceiling", {"maxSessionsPerUser": 1_001}, "maxSessionsPerUser"),
    ("per-user-string", {"maxSessionsPerUser": "3"}, "maxSessionsPerUser"),
    ("per-user-null", {"maxSessionsPerUser": None}, "maxSessionsPerUser"),
    ("unknown-field", {"aiCallsPerHour": 10}, "aiCallsPerHour"),
    ("one-bad-among-good", {"aiCallsPerMinute": 90, "fileUploadLimitMb": 0}, "fileUploadLimitMb"),
]


def test_patch_limits_with_any_invalid_value_is_422_naming_field_and_changes_nothing(
    client: TestClient,
) -> None:
    before = document_state(client, LIMITS)

    def check(case: tuple[dict[str, Any], str]) -> None:
        body, field = case
        assert_problem(client.patch(LIMITS, json=body), 422, code="VALIDATION_ERROR", field=field)
        assert document_state(client, LIMITS) == before

    check_each(((name, (body, field)) for name, body, field in INVALID_LIMITS), check)


def test_region_operator_may_not_read_or_change_limits(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    eu = token_for("region", region="EU")
    before = document_state(client, LIMITS)

    read = client.get(LIMITS, headers=bearer(eu))
    change = client.patch(LIMITS, json={"aiCallsPerMinute": 1}, headers=bearer(eu))

    assert_problem(read, 403, code="INVALID_SCOPE")
    assert_problem(change, 403, code="INVALID_SCOPE")
    assert document_state(client, LIMITS)[:3] == before[:3]


def test_max_sessions_per_user_is_changed_versioned_and_audited_like_the_other_limits(
    client: TestClient,
) -> None:
    start = newest_seq(client)

    response = client.patch(LIMITS, json={"maxSessionsPerUser": 5})

    assert response.status_code == 200, response.text
    assert response.json() == {**DEFAULT_LIMITS, "maxSessionsPerUser": 5}
    assert response.headers["etag"] == '"2"'
    assert client.get(LIMITS).json()["maxSessionsPerUser"] == 5
    [entry] = entries_after(client, start)
    assert (entry["action"], entry["target"]) == ("update_config", "limits")
    assert (entry["before"], entry["after"]) == ({"maxSessionsPerUser": 3}, {"maxSessionsPerUser": 5})
    [latest, _] = client.get(f"{LIMITS}/history").json()["items"]
    assert (latest["version"], latest["after"]) == (2, {"maxSessionsPerUser": 5})


def test_a_stored_limits_document_without_max_sessions_per_user_reads_its_default(
    client: TestClient, ops: Ops
) -> None:
    # As a release before maxSessionsPerUser wrote it.
    store_document(ops, "limits", {**SPEC_LIMITS, "aiCallsPerMinute": 90}, request_id="older-release")
    stored = store_rows(ops, "SELECT document FROM document_versions WHERE kind = 'limits' AND version = 2")
    assert "maxSessionsPerUser" not in stored[0][0]

    read = client.get(LIMITS)
    sessions = [client.post("/v1/sessions").status_code for _ in range(4)]
    changed = client.patch(LIMITS, json={"aiCallsPerMinute": 100})

    assert (read.status_code, read.headers["etag"]) == (200, '"2"')
    assert read.json() == {**DEFAULT_LIMITS, "aiCallsPerMinute": 90}
    assert sessions == [201, 201, 201, 429]
    assert changed.status_code == 200, changed.text
    # The next change stores the field, so the document is whole again from then on.
    assert changed.json() == {**DEFAULT_LIMITS, "aiCallsPerMinute": 100}
    history = client.get(f"{LIMITS}/history", params={"limit": 1}).json()["items"]
    assert history[0]["document"] == changed.json()
