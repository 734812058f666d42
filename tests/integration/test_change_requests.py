"""Change requests (issue #13, item 5; ADR 0026): a governed write waits for approvals, is applied on
its base version or ends `conflicted`, can be rejected or cancelled, and an emergency bypass applies at
once with its reason in the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops

from .support import (
    FEATURES,
    LIMITS,
    MODEL_CONFIG,
    SPEC_MODEL_CONFIG,
    assert_problem,
    bearer,
    entries_after,
    newest_seq,
)

POLICY = "/operator/ops/policy"
PLACES = "/operator/ops/places"
CHANGE_REQUESTS = "/operator/ops/change-requests"
TWO_ADMINS = {"minApprovals": 2, "approvers": ["admin"], "selfApproval": False}


def require(client: TestClient, operation: str, approvals: dict[str, Any]) -> None:
    """The policy in force, with the admin's `operation` waiting for `approvals`."""
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"][operation]["admin"] = {"approvals": approvals}
    response = client.put(POLICY, json=document)
    assert response.status_code == 200, response.text


def grant_bypass(client: TestClient) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"]["change_requests.bypass"] = {"admin": {}}
    assert client.put(POLICY, json=document).status_code == 200


def admins(token_for: Callable[..., str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    return tuple(bearer(token_for("admin", user=name)) for name in ("alice", "bob", "carol"))  # type: ignore[return-value]


def test_two_approvals_by_others_apply_the_change_and_the_authors_own_is_refused(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    require(client, "model_config.update", TWO_ADMINS)
    alice, bob, carol = admins(token_for)
    before = client.get(MODEL_CONFIG)
    start = newest_seq(client)

    asked = client.patch(MODEL_CONFIG, json={"temperature": 0.2}, headers=alice)

    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert asked.headers["location"] == f"{CHANGE_REQUESTS}/{request['id']}"
    assert (request["state"], request["baseVersion"]) == ("pending", int(before.headers["etag"].strip('"')))
    unchanged = client.get(MODEL_CONFIG)
    assert (unchanged.json(), unchanged.headers["etag"]) == (before.json(), before.headers["etag"])
    shown = client.get(asked.headers["location"]).json()
    assert shown["diff"]["before"] == {"temperature": 0.4}
    assert shown["diff"]["after"] == {"temperature": 0.2}

    own = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", headers=alice)
    body = assert_problem(own, 403, code="INVALID_SCOPE")
    assert body["reason"] == "change_requests.self_approval"

    first = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", json={"comment": "ok"}, headers=bob)
    assert first.status_code == 200, first.text
    assert (first.json()["state"], first.json()["approvals"]["given"]) == ("pending", 1)
    assert client.get(MODEL_CONFIG).json()["temperature"] == 0.4
    second = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", headers=carol)

    assert second.status_code == 200, second.text
    assert second.json()["state"] == "applied"
    after = client.get(MODEL_CONFIG)
    assert after.json() == {**SPEC_MODEL_CONFIG, "temperature": 0.2}
    assert after.headers["etag"] == f'"{request["baseVersion"] + 1}"'
    assert second.json()["appliedVersion"] == request["baseVersion"] + 1
    entries = entries_after(client, start)
    events = [e["details"].get("event") for e in entries if e["action"] == "change_request"]
    assert events == ["created", "approved", "approved", "applied"]
    denied = [e for e in entries if e["action"] == "access_denied"]
    assert [e["actor"]["userId"] for e in denied] == ["alice"]
    [update] = [e for e in entries if e["action"] == "update_config"]
    assert update["actor"]["userId"] == "alice"  # the author's change, made when approved
    assert update["details"]["changeRequest"] == request["id"]
    assert (update["before"], update["after"]) == ({"temperature": 0.4}, {"temperature": 0.2})


def test_a_request_whose_document_moved_becomes_conflicted_and_overwrites_nothing(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    require(client, "model_config.update", {"minApprovals": 1})
    alice, bob, _ = admins(token_for)
    asked = client.patch(MODEL_CONFIG, json={"temperature": 0.2}, headers=alice).json()
    # Another change lands first (the CLI, another replica, an approved request).
    ops.model_config.update(
        principal=Principal("dave", Role.ADMIN), changes={"temperature": 0.9}, if_match=None, request_id="x"
    )

    shown = client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()
    assert shown["diff"]["currentVersion"] == asked["baseVersion"] + 1
    approved = client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve", headers=bob)

    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "conflicted"
    assert approved.json()["outcome"]["reason"] == "model_config.stale"
    current = client.get(MODEL_CONFIG)
    assert current.json()["temperature"] == 0.9
    assert current.headers["etag"] == f'"{asked["baseVersion"] + 1}"'
    again = client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve", headers=bob)
    assert assert_problem(again, 409)["reason"] == "change_requests.not_open"


def test_reject_needs_a_comment_and_only_the_author_may_cancel(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    require(client, "model_config.update", TWO_ADMINS)
    alice, bob, _ = admins(token_for)
    first = client.patch(MODEL_CONFIG, json={"maxTokens": 1024}, headers=alice).json()["id"]
    second = client.patch(MODEL_CONFIG, json={"maxTokens": 2048}, headers=alice).json()["id"]

    assert_problem(client.post(f"{CHANGE_REQUESTS}/{first}/reject", json={}, headers=bob), 422)
    blank = client.post(f"{CHANGE_REQUESTS}/{first}/reject", json={"comment": "  "}, headers=bob)
    assert assert_problem(blank, 422, field="comment")["reason"] == "change_requests.comment_required"
    rejected = client.post(f"{CHANGE_REQUESTS}/{first}/reject", json={"comment": "too small"}, headers=bob)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["outcome"] == {"by": "bob", "comment": "too small"}

    not_theirs = client.post(f"{CHANGE_REQUESTS}/{second}/cancel", headers=bob)
    assert assert_problem(not_theirs, 403)["reason"] == "change_requests.not_author"
    cancelled = client.post(f"{CHANGE_REQUESTS}/{second}/cancel", headers=alice)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"

    assert client.get(MODEL_CONFIG).json()["maxTokens"] == SPEC_MODEL_CONFIG["maxTokens"]
    listed = client.get(CHANGE_REQUESTS, params={"state": "cancelled"}).json()
    assert [item["id"] for item in listed] == [second]
    assert {item["id"] for item in client.get(CHANGE_REQUESTS).json()} == {first, second}
    assert_problem(client.get(CHANGE_REQUESTS, params={"state": "lost"}), 422)
    assert_problem(client.get(f"{CHANGE_REQUESTS}/cr_nothing"), 404)


def test_an_emergency_bypass_applies_at_once_with_its_reason_audited_and_needs_a_reason_and_a_grant(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    require(client, "model_config.update", TWO_ADMINS)
    alice, _, _ = admins(token_for)
    reason = {"X-Trainer-Bypass-Reason": "incident 42: the model answers in the wrong language"}
    not_granted = client.patch(MODEL_CONFIG, json={"language": "ko"}, headers={**alice, **reason})
    assert assert_problem(not_granted, 403)["operation"] == "change_requests.bypass"
    grant_bypass(client)
    start = newest_seq(client)

    blank = client.patch(
        MODEL_CONFIG, json={"language": "ko"}, headers={**alice, "X-Trainer-Bypass-Reason": " "}
    )
    assert assert_problem(blank, 422)["reason"] == "change_requests.bypass_reason_required"
    applied = client.patch(MODEL_CONFIG, json={"language": "ko"}, headers={**alice, **reason})

    assert applied.status_code == 200, applied.text
    assert applied.json()["language"] == "ko"
    assert client.get(MODEL_CONFIG).json()["language"] == "ko"
    entries = entries_after(client, start)
    [update] = [e for e in entries if e["action"] == "update_config"]
    assert update["details"]["bypassReason"] == reason["X-Trainer-Bypass-Reason"]
    events = [
        (e["details"]["event"], e["details"].get("bypassReason"))
        for e in entries
        if e["action"] == "change_request"
    ]
    assert events == [("created", reason["X-Trainer-Bypass-Reason"]), ("applied", None)]


def test_feature_policy_and_places_writes_wait_for_approval_too(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    for operation in ("features.update", "places.update", "policy.update"):
        require(client, operation, {"minApprovals": 1})
    alice, bob, _ = admins(token_for)

    feature = client.patch(f"{FEATURES}/quiz_auto_generate", json={"enabled": True}, headers=alice)
    assert feature.status_code == 202, feature.text
    assert feature.json()["params"] == {"featureKey": "quiz_auto_generate", "place": None}
    catalogue = {"regions": [{"code": "apac", "name": "Asia Pacific", "countries": []}]}
    places = client.put(PLACES, json=catalogue, headers=alice)
    assert places.status_code == 202, places.text
    assert client.get(PLACES).json() == {"regions": []}
    policy: dict[str, Any] = client.get(POLICY).json()
    policy["operations"]["limits.read"]["region"] = {}
    held = client.put(POLICY, json=policy, headers=alice)
    assert held.status_code == 202, held.text
    assert "region" not in client.get(POLICY).json()["operations"]["limits.read"]

    for asked in (feature, places, held):
        approved = client.post(f"{CHANGE_REQUESTS}/{asked.json()['id']}/approve", headers=bob)
        assert approved.json()["state"] == "applied", approved.text
    assert client.get(f"{FEATURES}/quiz_auto_generate").json()["enabled"] is True
    assert [r["code"] for r in client.get(PLACES).json()["regions"]] == ["APAC"]
    assert client.get(POLICY).json()["operations"]["limits.read"]["region"] == {}


def test_a_policy_whose_changes_need_approvals_nobody_may_give_is_a_lockout(client: TestClient) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"]["policy.update"] = {
        "admin": {"approvals": {"minApprovals": 1, "approvers": ["region"]}}
    }

    refused = client.put(POLICY, json=document)

    assert assert_problem(refused, 409)["reason"] == "policy.lockout"
    document["operations"]["change_requests.review"] = {"admin": {}, "region": {}}
    assert client.put(POLICY, json=document).status_code == 200


def test_bad_approvals_in_the_policy_are_refused_at_their_path(client: TestClient) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"]["limits.update"]["admin"] = {
        "approvals": {"minApprovals": 0, "approvers": ["boss"]}
    }
    # Reading the audit log is not a write a change request can hold: approvals there would never apply.
    document["operations"]["audit.read"]["admin"] = {"approvals": {"minApprovals": 1}}

    refused = client.put(POLICY, json=document)

    body = assert_problem(refused, 422)
    fields = {error["field"] for error in body["errors"]}
    assert "operations/limits.update/admin/approvals/minApprovals" in fields
    assert "operations/limits.update/admin/approvals/approvers/0" in fields
    assert "operations/audit.read/admin/approvals" in fields


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_postgres_service_role_may_read_add_and_update_change_requests_but_never_delete(
    client: TestClient, ops: Ops
) -> None:
    require(client, "limits.update", {"minApprovals": 1})
    assert client.patch(LIMITS, json={"aiCallsPerMinute": 61}).status_code == 202
    with ops.database.engine.connect() as connection:
        connection.execute(text("SET ROLE trainer_ops_service"))
        assert connection.execute(text("SELECT count(*) FROM change_requests")).scalar() == 1
        connection.execute(text("UPDATE change_requests SET updated_at_ms = updated_at_ms"))
        with pytest.raises(DBAPIError, match="permission denied"):
            connection.execute(text("DELETE FROM change_requests"))
