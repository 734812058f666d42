"""Feature toggles (spec section 2): global defaults, region overrides, scope, create, history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from .support import (
    FEATURES,
    SPEC_FEATURES,
    assert_problem,
    bearer,
    check_each,
    entries_after,
    newest_seq,
)

TokenFor = Callable[..., str]


def features_state(client: TestClient) -> tuple[Any, ...]:
    """Everything a refused feature change must leave alone: values per region, ETag, history, audit."""
    globals_ = client.get(FEATURES)
    regions = {region: client.get(FEATURES, params={"region": region}).json() for region in ("EU", "US")}
    history = client.get(f"{FEATURES}/history", params={"limit": 1}).json()["items"][0]["version"]
    return globals_.json(), globals_.headers["etag"], regions, history


def test_admin_get_features_returns_spec_defaults_and_304_for_current_etag(client: TestClient) -> None:
    response = client.get(FEATURES)
    cached = client.get(FEATURES, headers={"If-None-Match": response.headers["etag"]})

    assert response.status_code == 200
    assert response.json() == SPEC_FEATURES
    assert cached.status_code == 304
    assert cached.content == b""


def test_admin_patch_feature_with_spec_example_turns_it_off_globally(client: TestClient) -> None:
    start = newest_seq(client)

    response = client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False})

    assert response.status_code == 200, response.text
    assert response.json()["key"] == "mission_auto_assign"
    assert response.json()["enabled"] is False
    assert client.get(FEATURES).json() == {**SPEC_FEATURES, "mission_auto_assign": False}
    assert client.get(FEATURES, params={"region": "EU"}).json()["mission_auto_assign"] is False
    [entry] = entries_after(client, start)
    assert entry["action"] == "update_config"
    assert entry["target"] == "feature:mission_auto_assign"
    assert entry["before"] == {"enabled": True}
    assert entry["after"] == {"enabled": False}


def test_patch_feature_with_stale_if_match_is_412_and_changes_nothing(client: TestClient) -> None:
    stale = client.get(FEATURES).headers["etag"]
    assert client.patch(f"{FEATURES}/quiz_auto_generate", json={"enabled": True}).status_code == 200
    before = features_state(client)
    seq = newest_seq(client)

    response = client.patch(
        f"{FEATURES}/quiz_auto_generate", json={"enabled": False}, headers={"If-Match": stale}
    )

    assert_problem(response, 412, code="CONFLICT")
    assert features_state(client) == before
    assert newest_seq(client) == seq


def test_region_operator_get_features_returns_effective_values_of_own_region(
    client: TestClient, token_for: TokenFor
) -> None:
    override = client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": True})
    other = client.patch(f"{FEATURES}/content_ai_transform", params={"region": "US"}, json={"enabled": False})
    assert (override.status_code, other.status_code) == (200, 200)
    eu = token_for("region", region="EU")

    response = client.get(FEATURES, headers=bearer(eu))
    explicit = client.get(FEATURES, params={"region": "EU"}, headers=bearer(eu))

    assert response.status_code == 200
    assert response.json() == {**SPEC_FEATURES, "quiz_auto_generate": True}
    assert explicit.json() == response.json()


def test_region_operator_patch_overridable_feature_sets_override_for_own_region_only(
    client: TestClient, token_for: TokenFor
) -> None:
    eu = token_for("region", region="EU", user="eu-ops")
    start = newest_seq(client)

    response = client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False}, headers=bearer(eu))

    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is False
    assert response.json()["region"] == "EU"
    assert client.get(FEATURES, headers=bearer(eu)).json()["mission_auto_assign"] is False
    assert client.get(FEATURES).json() == SPEC_FEATURES
    assert client.get(FEATURES, params={"region": "US"}).json() == SPEC_FEATURES
    [entry] = entries_after(client, start)
    assert entry["action"] == "update_config"
    assert entry["actor"] == {"userId": "eu-ops", "role": "region", "scope": {"region": "EU"}}
    assert entry["target"] == "feature:mission_auto_assign@EU"
    assert entry["before"] == {"enabled": None}
    assert entry["after"] == {"enabled": False}


def test_region_operator_patch_non_overridable_feature_is_403_and_audited_as_denied(
    client: TestClient, token_for: TokenFor
) -> None:
    eu = token_for("region", region="EU", user="eu-ops")
    before = features_state(client)
    start = newest_seq(client)

    response = client.patch(f"{FEATURES}/insight_generation", json={"enabled": False}, headers=bearer(eu))

    body = assert_problem(response, 403, code="INVALID_SCOPE")
    assert features_state(client) == before
    [entry] = entries_after(client, start)
    assert entry["action"] == "access_denied"
    assert entry["outcome"] == "denied"
    assert entry["actor"] == {"userId": "eu-ops", "role": "region", "scope": {"region": "EU"}}
    assert entry["target"] == "features.update"
    assert entry["requestId"] == body["requestId"]


def test_region_operator_naming_another_region_is_403_for_read_and_change(
    client: TestClient, token_for: TokenFor
) -> None:
    eu = token_for("region", region="EU")
    before = features_state(client)
    start = newest_seq(client)

    read = client.get(FEATURES, params={"region": "US"}, headers=bearer(eu))
    change = client.patch(
        f"{FEATURES}/mission_auto_assign",
        params={"region": "US"},
        json={"enabled": False},
        headers=bearer(eu),
    )

    assert_problem(read, 403, code="INVALID_SCOPE")
    assert_problem(change, 403, code="INVALID_SCOPE")
    assert features_state(client) == before
    assert [e["action"] for e in entries_after(client, start)] == ["access_denied", "access_denied"]


def test_admin_override_applies_to_its_region_only_and_enabled_null_removes_it(client: TestClient) -> None:
    response = client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": True})

    assert response.status_code == 200, response.text
    assert response.json()["overridden"] is True
    assert response.json()["overrides"] == {"EU": True}
    assert client.get(FEATURES, params={"region": "EU"}).json()["quiz_auto_generate"] is True
    assert client.get(FEATURES, params={"region": "US"}).json()["quiz_auto_generate"] is False
    assert client.get(FEATURES).json() == SPEC_FEATURES
    start = newest_seq(client)

    removed = client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": None})

    assert removed.status_code == 200, removed.text
    assert removed.json()["overridden"] is False
    assert client.get(FEATURES, params={"region": "EU"}).json()["quiz_auto_generate"] is False
    # The region follows the global default again, also when it changes later.
    client.patch(f"{FEATURES}/quiz_auto_generate", json={"enabled": True})
    assert client.get(FEATURES, params={"region": "EU"}).json()["quiz_auto_generate"] is True
    removal = entries_after(client, start)[0]
    assert (removal["before"], removal["after"]) == ({"enabled": True}, {"enabled": None})


def test_patch_feature_with_invalid_body_or_global_null_is_422_and_changes_nothing(
    client: TestClient,
) -> None:
    before = features_state(client)
    seq = newest_seq(client)
    bodies = {
        "string": {"enabled": "false"},
        "number": {"enabled": 0},
        "unknown-field": {"enabled": False, "colour": "red"},
        "empty": {},
        "null-description": {"description": None},
        # null only removes a region's override; without ?region= there is nothing to remove
        "null-without-region": {"enabled": None},
    }

    def check(body: dict[str, Any]) -> None:
        response = client.patch(f"{FEATURES}/mission_auto_assign", json=body)
        assert_problem(response, 422, code="VALIDATION_ERROR")
        assert features_state(client) == before
        assert newest_seq(client) == seq

    check_each(bodies.items(), check)


def test_unknown_feature_is_404_and_malformed_region_is_422(client: TestClient) -> None:
    read = client.get(f"{FEATURES}/no_such_feature")
    change = client.patch(f"{FEATURES}/no_such_feature", json={"enabled": True})
    bad_region = client.get(FEATURES, params={"region": "E U!"})

    assert_problem(read, 404, code="NOT_FOUND")
    assert_problem(change, 404, code="NOT_FOUND")
    assert_problem(bad_region, 422, field="region")
    assert "no_such_feature" not in client.get(FEATURES).json()


def test_post_feature_creates_it_with_201_duplicate_is_409_bad_key_is_422(client: TestClient) -> None:
    new = {"key": "voice_coaching", "enabled": True, "regionOverridable": True, "description": "Voice tips."}
    start = newest_seq(client)

    created = client.post(FEATURES, json=new)
    duplicate = client.post(FEATURES, json={**new, "enabled": False})
    bad_key = client.post(FEATURES, json={**new, "key": "Bad Key"})

    assert created.status_code == 201, created.text
    assert created.json()["key"] == "voice_coaching"
    assert created.json()["enabled"] is True
    assert created.json()["regionOverridable"] is True
    assert client.get(FEATURES).json() == {**SPEC_FEATURES, "voice_coaching": True}
    assert_problem(duplicate, 409, code="CONFLICT")
    assert_problem(bad_key, 422, field="key")
    assert client.get(FEATURES).json() == {**SPEC_FEATURES, "voice_coaching": True}
    [entry] = entries_after(client, start)
    assert entry["action"] == "update_config"
    assert entry["target"] == "feature:voice_coaching"


def test_region_operator_may_not_change_global_settings_create_features_or_read_history(
    client: TestClient, token_for: TokenFor
) -> None:
    eu = token_for("region", region="EU")
    before = features_state(client)

    setting = client.patch(
        f"{FEATURES}/mission_auto_assign", json={"regionOverridable": False}, headers=bearer(eu)
    )
    create = client.post(FEATURES, json={"key": "regional_thing", "enabled": True}, headers=bearer(eu))
    history = client.get(f"{FEATURES}/history", headers=bearer(eu))

    assert_problem(setting, 422, field="regionOverridable")
    assert_problem(create, 403, code="INVALID_SCOPE")
    assert_problem(history, 403, code="INVALID_SCOPE")
    assert features_state(client) == before


def test_branch_operator_patch_of_unknown_feature_is_403_and_audited(
    client: TestClient, token_for: TokenFor
) -> None:
    # Authorisation comes before the lookup: a caller without the right learns nothing about which
    # keys exist, and the attempt is recorded like any other denial.
    branch = token_for("branch", branch="B-001")
    start = newest_seq(client)

    response = client.patch(f"{FEATURES}/no_such_feature", json={"enabled": True}, headers=bearer(branch))

    assert_problem(response, 403, code="INVALID_SCOPE")
    assert [e["action"] for e in entries_after(client, start)] == ["access_denied"]


def test_features_history_lists_changes_newest_first_and_pages(client: TestClient) -> None:
    client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False})
    client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": True})
    client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": True})

    first = client.get(f"{FEATURES}/history", params={"limit": 2}).json()
    second = client.get(f"{FEATURES}/history", params={"limit": 2, "cursor": first["nextCursor"]}).json()

    items = first["items"] + second["items"]
    assert [i["version"] for i in items] == [4, 3, 2, 1]
    assert second["nextCursor"] is None
    assert [i["target"] for i in items[:3]] == [
        "feature:mission_auto_assign",
        "feature:quiz_auto_generate@EU",
        "feature:mission_auto_assign",
    ]
    assert (items[0]["before"], items[0]["after"]) == ({"enabled": False}, {"enabled": True})
    assert items[1]["document"]["overrides"] == {"EU": {"quiz_auto_generate": True}}
