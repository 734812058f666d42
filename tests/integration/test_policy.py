"""The editable policy (issue #13, item 4; ADR 0024): read in force, replaced with If-Match, validated
at each JSON path, guarded against lock-out, audited, in history, and in force on every replica."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import DEFAULT_POLICY
from trainer_ops.app import Ops
from trainer_ops.config import Settings

from .support import (
    LIMITS,
    app_client,
    assert_problem,
    bearer,
    check_each,
    document_state,
    entries_after,
    newest_seq,
    store_document,
)

POLICY = "/operator/ops/policy"


def with_rule(client: TestClient, operation: str, role: str, rule: dict[str, Any] | None) -> dict[str, Any]:
    """The policy in force with `role`'s rule for `operation` set (None: removed)."""
    document: dict[str, Any] = client.get(POLICY).json()
    if rule is None:
        document["operations"][operation].pop(role, None)
    else:
        document["operations"][operation][role] = rule
    return document


def test_get_returns_the_stored_policy_over_the_defaults_with_its_version(
    client: TestClient, ops: Ops
) -> None:
    older = copy.deepcopy(DEFAULT_POLICY["operations"])
    del older["gateway.upload"]  # a policy stored before this operation existed
    older["limits.read"] = {"admin": {}, "country": {}}
    store_document(ops, "policy", {"operations": older}, request_id="older")

    response = client.get(POLICY)

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    operations = response.json()["operations"]
    assert operations["limits.read"] == {"admin": {}, "country": {}}
    assert operations["gateway.upload"] == DEFAULT_POLICY["operations"]["gateway.upload"]
    assert set(operations) == set(DEFAULT_POLICY["operations"])
    assert client.get(POLICY, headers={"If-None-Match": '"2"'}).status_code == 304


def test_a_put_changes_who_may_do_what_at_once_and_back(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    region = bearer(token_for("region", region="EU"))
    assert client.get(LIMITS, headers=region).status_code == 403

    granted = client.put(
        POLICY, json=with_rule(client, "limits.read", "region", {}), headers={"If-Match": '"1"'}
    )

    assert granted.status_code == 200, granted.text
    assert granted.headers["etag"] == '"2"'
    assert granted.json()["operations"]["limits.read"] == {"admin": {}, "region": {}}
    assert client.get(LIMITS, headers=region).status_code == 200
    taken = client.put(
        POLICY, json=with_rule(client, "limits.read", "region", None), headers={"If-Match": '"2"'}
    )
    assert taken.status_code == 200, taken.text
    assert_problem(client.get(LIMITS, headers=region), 403, code="INVALID_SCOPE")


def test_operations_left_out_keep_their_default_and_an_empty_one_denies_everyone(
    client: TestClient,
) -> None:
    response = client.put(POLICY, json={"operations": {"diagnostics.read": {}}})

    assert response.status_code == 200, response.text
    operations = response.json()["operations"]
    assert operations["diagnostics.read"] == {}
    assert operations["limits.read"] == DEFAULT_POLICY["operations"]["limits.read"]
    assert_problem(client.get("/operator/ops/diagnostics"), 403, code="INVALID_SCOPE")


def test_unknown_names_are_refused_at_their_path_and_change_nothing(client: TestClient) -> None:
    before = document_state(client, POLICY)
    cases = [
        ("operation", ({"limits.raed": {"admin": {}}}, "operations/limits.raed")),
        ("role", ({"limits.read": {"admin": {}, "regoin": {}}}, "operations/limits.read/regoin")),
        ("team role", ({"limits.read": {"admin": {}, "team": {}}}, "operations/limits.read/team")),
        (
            "condition",
            (
                {"limits.read": {"admin": {}, "region": {"conditions": ["own_regoin"]}}},
                "operations/limits.read/region/conditions/0",
            ),
        ),
        (
            "engine type",
            (
                {"hot_reload": {"admin": {}, "region": {"engineIn": ["content", "warp-drive"]}}},
                "operations/hot_reload/region/engineIn/1",
            ),
        ),
        (
            "view of another operation",
            ({"limits.read": {"admin": {"view": "own_region"}}}, "operations/limits.read/admin/view"),
        ),
        ("rule field", ({"limits.read": {"admin": {"when": "always"}}}, "operations/limits.read/admin/when")),
        ("rule type", ({"limits.read": {"admin": []}}, "operations/limits.read/admin")),
    ]

    def check(case: tuple[dict[str, Any], str]) -> None:
        operations, path = case
        body = assert_problem(
            client.put(POLICY, json={"operations": operations}), 422, code="VALIDATION_ERROR", field=path
        )
        assert body["reason"] == "policy.invalid"
        assert document_state(client, POLICY) == before

    check_each(cases, check)
    assert_problem(client.put(POLICY, json={"rules": {}}), 422, field="rules")
    assert_problem(client.put(POLICY, json=[1]), 422, field="body")
    for shapeless in ([None, None], "all", None, True, 3):  # found by schemathesis: each was a 500
        assert_problem(client.put(POLICY, json={"operations": shapeless}), 422, field="operations")
    assert_problem(client.put(POLICY, content=b"{", headers={"content-type": "application/json"}), 400)
    assert document_state(client, POLICY) == before


def test_the_schema_names_the_known_operations_roles_and_engine_types(client: TestClient) -> None:
    response = client.get(f"{POLICY}/schema")

    assert response.status_code == 200, response.text
    operations = response.json()["properties"]["operations"]
    assert set(operations["propertyNames"]["enum"]) == set(DEFAULT_POLICY["operations"])
    rule = operations["properties"]["hot_reload"]["additionalProperties"]
    assert "missions" in rule["properties"]["engineIn"]["items"]["enum"]
    assert "team" not in operations["properties"]["hot_reload"]["propertyNames"]["enum"]


def test_a_stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    client.put(POLICY, json=with_rule(client, "limits.read", "country", {}))
    before = document_state(client, POLICY)

    response = client.put(
        POLICY, json=with_rule(client, "limits.read", "region", {}), headers={"If-Match": '"1"'}
    )

    body = assert_problem(response, 412, code="CONFLICT")
    assert (body["reason"], body["currentVersion"]) == ("policy.stale", 2)
    assert document_state(client, POLICY) == before


def test_a_policy_that_locks_everyone_out_of_changing_it_is_409_and_changes_nothing(
    client: TestClient,
) -> None:
    before = document_state(client, POLICY)
    cases = [
        ("nobody may update", {"policy.update": {}}),
        ("nobody may read", {"policy.read": {}}),
        ("updaters cannot read", {"policy.update": {"region": {}}, "policy.read": {"admin": {}}}),
        ("a condition never met", {"policy.update": {"admin": {"conditions": ["region_overridable"]}}}),
        ("engineIn never met", {"policy.update": {"admin": {"engineIn": ["content"]}}}),
    ]

    def check(operations: dict[str, Any]) -> None:
        body = assert_problem(client.put(POLICY, json={"operations": operations}), 409, code="CONFLICT")
        assert body["reason"] == "policy.lockout"
        assert document_state(client, POLICY) == before

    check_each(cases, check)
    handed_over = {"policy.update": {"region": {}}, "policy.read": {"region": {}}}
    assert client.put(POLICY, json={"operations": handed_over}).status_code == 200


def test_a_change_is_audited_with_operator_before_and_after_and_listed_in_history(
    client: TestClient,
) -> None:
    start = newest_seq(client)

    response = client.put(POLICY, json=with_rule(client, "limits.read", "region", {}))

    [entry] = entries_after(client, start)
    assert entry["action"] == "update_config"
    assert entry["target"] == "policy"
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert entry["before"] == {"limits.read": {"admin": {}}}
    assert entry["after"] == {"limits.read": {"admin": {}, "region": {}}}
    assert entry["details"] == {"kind": "policy", "version": 2}
    assert entry["requestId"] == response.headers["x-request-id"]
    history = client.get(f"{POLICY}/history").json()["items"]
    assert [item["version"] for item in history] == [2, 1]
    assert (history[0]["before"], history[0]["after"]) == (entry["before"], entry["after"])
    assert history[0]["actor"] == {"userId": "bootstrap-admin", "role": "admin"}
    assert history[0]["document"] == response.json()
    assert client.get(f"{POLICY}/history", params={"limit": 1}).json()["nextCursor"] == "2"


def test_a_region_operator_put_is_403_audited_and_changes_nothing(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    before = document_state(client, POLICY)
    region = bearer(token_for("region", region="EU", user="eu-op"))

    response = client.put(POLICY, json=with_rule(client, "policy.update", "region", {}), headers=region)

    body = assert_problem(response, 403, code="INVALID_SCOPE")
    assert body["operation"] == "policy.update"
    [denial] = entries_after(client, before[3], action="access_denied")
    assert (denial["action"], denial["target"], denial["actor"]["userId"]) == (
        "access_denied",
        "policy.update",
        "eu-op",
    )
    for path in (POLICY, f"{POLICY}/history", f"{POLICY}/schema"):
        assert_problem(client.get(path, headers=region), 403)
    assert document_state(client, POLICY)[:3] == before[:3]  # the audit grew: the token, the denials


def test_a_change_reaches_another_replica_on_the_same_store(
    settings: Settings, client: TestClient, token_for: Callable[..., str]
) -> None:
    region = bearer(token_for("region", region="EU"))
    polling = settings.model_copy(update={"snapshot_poll_seconds": 0.1})
    with app_client(polling) as other, app_client(settings) as quiet:
        assert other.get(LIMITS, headers=region).status_code == 403

        assert client.put(POLICY, json=with_rule(client, "limits.read", "region", {})).status_code == 200

        # A replica that polls follows by itself; one that does not follows a `system` hot reload.
        deadline = time.monotonic() + 10
        while other.get(LIMITS, headers=region).status_code != 200:
            assert time.monotonic() < deadline, "the other replica never applied the new policy"
            time.sleep(0.05)
        assert quiet.get(LIMITS, headers=region).status_code == 403  # it has not heard: the test can fail
        reload = quiet.post("/operator/ops/hot-reload", json={"type": "system", "targetId": "policy"})
        assert reload.status_code == 200, reload.text
        assert quiet.get(LIMITS, headers=region).status_code == 200
        assert quiet.get(POLICY).headers["etag"] == '"2"'


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_put_without_content_type_json_is_415(client: TestClient) -> None:
    response = client.put(POLICY, content=b"{}", headers={"content-type": "text/plain"})

    assert_problem(response, 415)
