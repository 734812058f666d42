"""Feature overrides by place (issue #13 item 3, ADR 0027): overrides at a region, country or branch, the
most specific wins; who may set one where is the policy's; places in use; governance; the gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .support import FEATURES, SPEC_FEATURES, assert_problem, bearer, entries_after, newest_seq

TokenFor = Callable[..., str]
PLACES = "/operator/ops/places"
POLICY = "/operator/ops/policy"
QUIZ = f"{FEATURES}/quiz_auto_generate"  # region-overridable, off by default
INSIGHT = f"{FEATURES}/insight_generation"  # not overridable
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {
                    "code": "KR",
                    "name": "Korea",
                    "branches": [{"code": "KR-0012", "name": "Gangnam"}, {"code": "KR-0013", "name": "Mapo"}],
                },
                {"code": "JP", "name": "Japan", "branches": [{"code": "JP-0001", "name": "Shibuya"}]},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


@pytest.fixture
def placed(client: TestClient) -> TestClient:
    assert client.put(PLACES, json=CATALOGUE).status_code == 200
    return client


def quiz_at(client: TestClient, place: str, **headers: str) -> bool:
    response = client.get(FEATURES, params={"place": place}, headers=headers)
    assert response.status_code == 200, response.text
    value: bool = response.json()["quiz_auto_generate"]
    return value


def test_overrides_at_each_level_resolve_most_specific_first(placed: TestClient) -> None:
    for place, enabled in (("APAC", True), ("KR", False), ("kr-0012", True)):
        response = placed.patch(QUIZ, params={"place": place}, json={"enabled": enabled})
        assert response.status_code == 200, response.text

    values = {p: quiz_at(placed, p) for p in ("KR-0012", "KR-0013", "KR", "JP-0001", "JP", "APAC", "EU")}

    assert values == {
        "KR-0012": True,  # its own
        "KR-0013": False,  # its country's
        "KR": False,
        "JP-0001": True,  # its region's
        "JP": True,
        "APAC": True,
        "EU": False,  # the default
    }
    assert placed.get(FEATURES).json() == SPEC_FEATURES
    detail = placed.get(QUIZ, params={"place": "KR-0013"}).json()
    assert (detail["place"], detail["enabled"], detail["overridden"]) == ("KR-0013", False, False)
    assert detail["overrideFrom"] == "KR"
    assert "region" not in detail
    assert detail["overrides"] == {"APAC": True, "KR": False, "KR-0012": True}


def test_removing_an_override_lets_the_place_follow_its_parent_again_and_is_audited(
    placed: TestClient,
) -> None:
    assert placed.patch(QUIZ, params={"place": "KR"}, json={"enabled": True}).status_code == 200
    assert placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": False}).status_code == 200
    assert quiz_at(placed, "KR-0012") is False
    start = newest_seq(placed)

    removed = placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": None})

    assert removed.status_code == 200, removed.text
    assert (removed.json()["enabled"], removed.json()["overrideFrom"]) == (True, "KR")
    assert quiz_at(placed, "KR-0012") is True
    [entry] = entries_after(placed, start)
    assert entry["target"] == "feature:quiz_auto_generate@KR-0012"
    assert (entry["before"], entry["after"]) == ({"enabled": False}, {"enabled": None})
    assert entry["details"]["scope"] == "KR-0012"
    assert entry["scope"] == {"place": "KR-0012"}


def test_a_place_query_is_checked_against_the_catalogue_and_region_names_only_regions(
    placed: TestClient,
) -> None:
    unknown = placed.patch(QUIZ, params={"place": "XX"}, json={"enabled": True})
    malformed = placed.get(FEATURES, params={"place": "no such place"})
    country_as_region = placed.get(FEATURES, params={"region": "KR"})
    both = placed.get(FEATURES, params={"region": "APAC", "place": "KR"})

    assert assert_problem(unknown, 422)["reason"] == "places.unknown"
    assert assert_problem(malformed, 422)["reason"] == "places.bad_code"
    body = assert_problem(country_as_region, 422)
    assert body["reason"] == "places.unknown"
    assert "?place=KR" in body["detail"]
    assert assert_problem(both, 422)["reason"] == "features.place_and_region"
    assert placed.get(FEATURES, params={"region": "apac"}).status_code == 200
    assert "XX" not in placed.get(QUIZ).json()["overrides"]


def test_a_region_operator_sets_a_branch_override_inside_its_region_and_is_refused_outside(
    placed: TestClient, token_for: TokenFor
) -> None:
    apac = bearer(token_for("region", region="APAC", user="apac-ops"))
    start = newest_seq(placed)

    inside = placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": True}, headers=apac)
    outside = placed.patch(QUIZ, params={"place": "DE"}, json={"enabled": True}, headers=apac)
    not_overridable = placed.patch(INSIGHT, params={"place": "KR"}, json={"enabled": False}, headers=apac)
    read_outside = placed.get(FEATURES, params={"place": "EU"}, headers=apac)

    assert inside.status_code == 200, inside.text
    assert inside.json()["place"] == "KR-0012"
    assert quiz_at(placed, "KR-0012") is True
    assert quiz_at(placed, "KR-0012", **apac) is True  # a region operator reads places under it
    for refused in (outside, not_overridable, read_outside):
        assert_problem(refused, 403, code="INVALID_SCOPE")
    assert quiz_at(placed, "DE") is False
    entries = entries_after(placed, start)
    assert [e["action"] for e in entries] == [
        "update_config",
        "access_denied",
        "access_denied",
        "access_denied",
    ]
    assert entries[1]["details"]["scope"] == "DE"
    # Its own view: the values of its region, with the overrides of the places under it.
    own = placed.get(QUIZ, headers=apac).json()
    assert (own["region"], own["place"], own["overrides"]) == ("APAC", "APAC", {"KR-0012": True})


def test_a_country_operator_is_refused_by_default_then_allowed_for_its_country_by_a_policy_put(
    placed: TestClient, token_for: TokenFor
) -> None:
    kim = bearer(token_for("country", region="APAC", country="KR", user="kim"))
    refused = placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": True}, headers=kim)
    assert_problem(refused, 403, code="INVALID_SCOPE")
    assert_problem(placed.get(FEATURES, headers=kim), 403, code="INVALID_SCOPE")
    policy = placed.get(POLICY)
    document = policy.json()
    rule = {"view": "own_place", "conditions": ["own_scope", "region_overridable"]}
    document["operations"]["features.update"]["country"] = rule
    document["operations"]["features.read"]["country"] = {"view": "own_place", "conditions": ["own_scope"]}
    put = placed.put(POLICY, json=document, headers={"If-Match": policy.headers["etag"]})
    assert put.status_code == 200, put.text

    branch = placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": True}, headers=kim)
    own = placed.patch(QUIZ, json={"enabled": True}, headers=kim)  # no place: its own country
    region = placed.patch(QUIZ, params={"place": "APAC"}, json={"enabled": True}, headers=kim)
    sibling = placed.patch(QUIZ, params={"place": "JP"}, json={"enabled": True}, headers=kim)
    not_overridable = placed.patch(INSIGHT, json={"enabled": False}, headers=kim)

    assert (branch.status_code, own.status_code) == (200, 200), (branch.text, own.text)
    assert own.json()["place"] == "KR"
    for denied in (region, sibling, not_overridable):
        assert_problem(denied, 403, code="INVALID_SCOPE")
    assert placed.get(FEATURES, headers=kim).json()["quiz_auto_generate"] is True
    assert placed.get(QUIZ).json()["overrides"] == {"KR": True, "KR-0012": True}
    assert placed.get(FEATURES).json() == SPEC_FEATURES


def test_a_place_with_an_override_is_in_use_for_the_catalogue(placed: TestClient) -> None:
    assert placed.patch(QUIZ, params={"place": "JP-0001"}, json={"enabled": True}).status_code == 200
    without = {
        "regions": [{"code": "APAC", "name": "Asia Pacific", "countries": [{"code": "JP", "name": "J"}]}]
    }

    body = assert_problem(placed.put(PLACES, json=without), 409, code="CONFLICT")

    assert body["reason"] == "places.in_use"
    assert {"code": "JP-0001", "usedBy": ["feature overrides at JP-0001"]} in body["inUse"]
    assert placed.patch(QUIZ, params={"place": "JP-0001"}, json={"enabled": None}).status_code == 200
    assert placed.put(PLACES, json=without).status_code == 200


def test_a_governed_branch_override_waits_for_approval_then_applies(
    placed: TestClient, token_for: TokenFor
) -> None:
    policy = placed.get(POLICY)
    document = policy.json()
    document["operations"]["features.update"]["admin"] = {"approvals": {"minApprovals": 1}}
    assert placed.put(POLICY, json=document, headers={"If-Match": policy.headers["etag"]}).status_code == 200
    bob = bearer(token_for("admin", user="bob"))

    held = placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": True})

    assert held.status_code == 202, held.text
    assert held.json()["params"] == {"featureKey": "quiz_auto_generate", "place": "KR-0012"}
    assert quiz_at(placed, "KR-0012") is False
    approved = placed.post(f"{held.headers['location']}/approve", json={}, headers=bob)
    assert approved.status_code == 200, approved.text
    assert quiz_at(placed, "KR-0012") is True
    assert quiz_at(placed, "KR") is False


def test_the_gateway_honours_a_branch_override_for_a_branch_caller(
    placed: TestClient, token_for: TokenFor
) -> None:
    gangnam = bearer(token_for("branch", region="APAC", country="KR", branch="KR-0012"))
    mapo = bearer(token_for("branch", region="APAC", country="KR", branch="KR-0013"))
    call = {"messages": [{"role": "user", "content": "hello"}]}
    feature = {"X-Trainer-Feature": "quiz_auto_generate"}
    assert placed.patch(QUIZ, params={"place": "KR-0012"}, json={"enabled": True}).status_code == 200

    on = placed.post("/v1/chat/completions", json=call, headers={**gangnam, **feature})
    off = placed.post("/v1/chat/completions", json=call, headers={**mapo, **feature})

    assert on.status_code == 200, on.text
    assert off.status_code == 403
    assert "at KR-0013" in off.json()["error"]["message"]
    assert placed.patch(QUIZ, params={"place": "KR"}, json={"enabled": True}).status_code == 200
    assert placed.post("/v1/chat/completions", json=call, headers={**mapo, **feature}).status_code == 200
