"""The audit log as written: one entry per change or denial, hash-chained, append-only in the store."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from trainer_ops.app import Ops

from .support import (
    FEATURES,
    LIMITS,
    MODEL_CONFIG,
    assert_problem,
    bearer,
    check_each,
    entries_after,
    first_broken_link,
    newest_seq,
    store_rows,
    tamper,
)

TokenFor = Callable[..., str]

# (id, method, path, query, body, audit target, before, after)
CHANGES: list[tuple[str, str, str, dict[str, str], dict[str, Any], str, Any, Any]] = [
    (
        "model-config",
        "PATCH",
        MODEL_CONFIG,
        {},
        {"maxTokens": 2048},
        "model-config",
        {"maxTokens": 4096},
        {"maxTokens": 2048},
    ),
    (
        "limits",
        "PATCH",
        LIMITS,
        {},
        {"fileUploadLimitMb": 50},
        "limits",
        {"fileUploadLimitMb": 200},
        {"fileUploadLimitMb": 50},
    ),
    (
        "feature-global",
        "PATCH",
        f"{FEATURES}/content_ai_transform",
        {},
        {"enabled": False},
        "feature:content_ai_transform",
        {"enabled": True},
        {"enabled": False},
    ),
    (
        "feature-region",
        "PATCH",
        f"{FEATURES}/content_ai_transform",
        {"region": "APAC"},
        {"enabled": False},
        "feature:content_ai_transform@APAC",
        {"enabled": None},
        {"enabled": False},
    ),
    (
        "feature-create",
        "POST",
        FEATURES,
        {},
        {"key": "peer_review", "enabled": False},
        "feature:peer_review",
        None,
        {"enabled": False, "regionOverridable": False, "description": ""},
    ),
]


def test_every_successful_change_writes_exactly_one_update_config_entry_with_request_id(
    client: TestClient,
) -> None:
    def check(case: tuple[str, str, dict[str, str], dict[str, Any], str, Any, Any]) -> None:
        method, path, query, body, target, before, after = case
        start = newest_seq(client)
        response = client.request(method, path, params=query, json=body)
        assert response.status_code in (200, 201), response.text
        entries = entries_after(client, start)
        assert len(entries) == 1, entries
        [entry] = entries
        assert entry["action"] == "update_config"
        assert entry["outcome"] == "success"
        assert entry["actor"] == {"userId": "bootstrap-admin", "role": "admin", "scope": {}}
        assert (entry["target"], entry["before"], entry["after"]) == (target, before, after)
        assert entry["requestId"]
        assert entry["requestId"] == response.headers["x-request-id"]

    check_each(((c[0], c[1:]) for c in CHANGES), check)


def test_client_request_id_is_echoed_and_recorded_and_an_unsafe_one_replaced(client: TestClient) -> None:
    start = newest_seq(client)

    kept = client.patch(LIMITS, json={"aiCallsPerMinute": 75}, headers={"X-Request-Id": "console-42.a"})
    replaced = client.patch(LIMITS, json={"aiCallsPerMinute": 76}, headers={"X-Request-Id": "bad id\u0007"})

    assert kept.headers["x-request-id"] == "console-42.a"
    generated = replaced.headers["x-request-id"]
    assert generated
    assert generated != "bad id\u0007"
    assert [e["requestId"] for e in entries_after(client, start)] == ["console-42.a", generated]


def test_denied_change_writes_one_access_denied_entry_and_no_update(
    client: TestClient, token_for: TokenFor
) -> None:
    country = token_for("country", country="KR", user="kim")
    start = newest_seq(client)

    response = client.patch(MODEL_CONFIG, json={"temperature": 1.5}, headers=bearer(country))

    problem = assert_problem(response, 403, code="INVALID_SCOPE")
    [entry] = entries_after(client, start)
    assert entry["action"] == "access_denied"
    assert entry["outcome"] == "denied"
    assert entry["actor"] == {"userId": "kim", "role": "country", "scope": {"country": "KR"}}
    assert entry["target"] == "model_config.update"
    assert entry["requestId"] == problem["requestId"] == response.headers["x-request-id"]
    assert entry["details"]["method"] == "PATCH"
    assert entry["details"]["path"] == MODEL_CONFIG
    assert entry["details"]["reason"]
    assert client.get(MODEL_CONFIG).json()["temperature"] == 0.4


def test_refused_change_writes_no_audit_entry(client: TestClient) -> None:
    start = newest_seq(client)

    invalid = client.patch(MODEL_CONFIG, json={"temperature": 9})
    stale = client.patch(MODEL_CONFIG, json={"temperature": 1.0}, headers={"If-Match": '"77"'})
    unknown = client.patch(f"{FEATURES}/nope", json={"enabled": True})

    assert (invalid.status_code, stale.status_code, unknown.status_code) == (422, 412, 404)
    assert entries_after(client, start) == []


def test_concurrent_changes_each_get_their_own_version_and_entry(client: TestClient) -> None:
    start = newest_seq(client)
    temperatures = [round(0.5 + i / 10, 1) for i in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda t: client.patch(MODEL_CONFIG, json={"temperature": t}), temperatures)
        )

    assert [r.status_code for r in responses] == [200] * 8
    assert sorted(r.headers["etag"] for r in responses) == sorted({r.headers["etag"] for r in responses})
    history = client.get(f"{MODEL_CONFIG}/history", params={"limit": 20}).json()["items"]
    assert [h["version"] for h in history] == list(range(9, 0, -1))
    entries = entries_after(client, start)
    assert len(entries) == 8
    assert sorted(e["after"]["temperature"] for e in entries) == temperatures


def test_audit_chain_is_intact_after_a_series_of_changes(
    client: TestClient, ops: Ops, token_for: TokenFor
) -> None:
    eu = token_for("region", region="EU")
    branch = token_for("branch", branch="B-7")
    client.patch(MODEL_CONFIG, json={"temperature": 0.9, "toneProfile": "friendly"})
    client.patch(LIMITS, json={"maxConcurrentSessions": 300})
    client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False}, headers=bearer(eu))
    client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False}, headers=bearer(branch))
    client.patch(MODEL_CONFIG, json={"temperature": 5})  # refused, leaves no entry
    client.post(FEATURES, json={"key": "shadowing", "enabled": True})

    rows = store_rows(ops, "SELECT count(*) FROM audit_entries")
    assert rows[0][0] >= 10
    assert first_broken_link(ops) is None
    verdict = ops.checkpoints.verify()
    assert verdict.status == "intact", verdict.as_json()
    assert verdict.size == rows[0][0]
    api = client.get("/operator/ops/audit/verify")
    assert api.status_code == 200
    assert api.json()["status"] == "intact"


def test_changed_audit_entry_is_named_by_the_verifiers(client: TestClient, ops: Ops) -> None:
    client.patch(MODEL_CONFIG, json={"temperature": 0.8})
    client.patch(MODEL_CONFIG, json={"temperature": 0.9})
    victim = newest_seq(client) - 1
    assert first_broken_link(ops) is None

    tamper(ops, f"UPDATE audit_entries SET body = replace(body, '0.8', '0.1') WHERE seq = {victim}")

    assert first_broken_link(ops) == (victim, "hash does not cover prevHash and the body")
    verdict = ops.checkpoints.verify()
    assert verdict.status == "tampered"
    assert verdict.first_bad_seq == victim


def test_store_refuses_update_delete_and_truncate_on_append_only_tables(client: TestClient, ops: Ops) -> None:
    client.patch(MODEL_CONFIG, json={"temperature": 0.6})
    statements = ["UPDATE {table} SET request_id = 'forged'", "DELETE FROM {table}"]
    if ops.database.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE {table}")  # SQLite has no TRUNCATE
    cases = [
        (f"{s.split()[0]} {t}", (t, s)) for t in ("audit_entries", "document_versions") for s in statements
    ]

    def check(case: tuple[str, str]) -> None:
        table, statement = case
        before = store_rows(ops, f"SELECT * FROM {table} ORDER BY 1")
        assert before
        with pytest.raises(DBAPIError, match="append-only"), ops.database.engine.begin() as connection:
            connection.execute(text(statement.format(table=table)))
        assert store_rows(ops, f"SELECT * FROM {table} ORDER BY 1") == before

    check_each(cases, check)
    assert first_broken_link(ops) is None
