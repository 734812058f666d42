"""The places catalogue (issue #13, ADR 0023): versioned, If-Match-guarded, audited; every entry point
that accepts a place code checks it against the catalogue and its parents; a place in use cannot be
removed; a reload's scope must lie inside the caller's own place."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Role
from trainer_ops.app import Ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.errors import TrainerOpsError

from .support import assert_problem, bearer, document_state, entries_after, newest_seq

PLACES = "/operator/ops/places"
RELOAD = "/operator/ops/hot-reload"
FEATURE = "/operator/ops/features/quiz_auto_generate"
PROXY = "10.9.8.7"
# Lower case on purpose: the stored catalogue is upper case.
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "apac",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "kr-0012", "name": "Gangnam"}]},
                {"code": "JP", "name": "Japan"},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}
STORED: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]},
                {"code": "JP", "name": "Japan", "branches": []},
            ],
        },
        {
            "code": "EU",
            "name": "Europe",
            "countries": [{"code": "DE", "name": "Germany", "branches": []}],
        },
    ]
}
TokenFor = Callable[..., str]


def put(client: TestClient, document: dict[str, Any], **headers: str) -> Any:
    return client.put(PLACES, json=document, headers=headers)


@pytest.fixture
def placed(client: TestClient) -> TestClient:
    """The app with CATALOGUE in force."""
    response = put(client, CATALOGUE)
    assert response.status_code == 200, response.text
    return client


def test_a_new_store_has_an_empty_catalogue_and_a_put_round_trips_normalised_versioned_and_audited(
    client: TestClient,
) -> None:
    fresh = client.get(PLACES)
    assert fresh.status_code == 200
    assert fresh.json() == {"regions": []}
    seq = newest_seq(client)
    stored = put(client, CATALOGUE, **{"If-Match": fresh.headers["etag"]})
    assert stored.status_code == 200, stored.text
    assert stored.json() == STORED
    assert stored.headers["etag"] == '"2"'
    again = client.get(PLACES)
    assert (again.json(), again.headers["etag"]) == (STORED, '"2"')
    newest = client.get(f"{PLACES}/history", params={"limit": 1}).json()["items"][0]
    assert (newest["version"], newest["document"], newest["after"]) == (2, STORED, STORED)
    assert newest["before"] == {"regions": []}
    [entry] = entries_after(client, seq, action="update_config")
    assert entry["targetId"] == "places"
    assert entry["details"] == {"kind": "places", "version": 2}
    assert put(client, STORED).headers["etag"] == '"2"'  # the same catalogue again: no new version


@pytest.mark.parametrize(
    ("document", "reason", "field"),
    [
        ({"regions": [{"code": "A PAC", "name": "x"}]}, "http.invalid_body", "regions.0.code"),
        ({"regions": [{"code": "-AP", "name": "x"}]}, "http.invalid_body", "regions.0.code"),
        ({"regions": [{"code": "A" * 33, "name": "x"}]}, "http.invalid_body", "regions.0.code"),
        ({"regions": [{"code": "AP", "name": ""}]}, "http.invalid_body", "regions.0.name"),
        ({"regions": [{"code": "AP", "name": "x" * 201}]}, "http.invalid_body", "regions.0.name"),
        ({"regions": [{"code": "AP", "name": "x", "cities": []}]}, "http.invalid_body", "regions.0.cities"),
        ({"regions": [{"code": "AP"}]}, "http.invalid_body", "regions.0.name"),
        ({}, "http.invalid_body", "regions"),
        (
            {"regions": [{"code": "AP", "name": "x", "countries": [{"code": "ap", "name": "y"}]}]},
            "places.duplicate_code",
            "regions.0.countries.0.code",
        ),
        (
            {
                "regions": [
                    {"code": "AP", "name": "x", "countries": [{"code": "KR", "name": "y"}]},
                    {
                        "code": "EU",
                        "name": "z",
                        "countries": [{"code": "DE", "name": "d", "branches": [{"code": "kr", "name": "b"}]}],
                    },
                ]
            },
            "places.duplicate_code",
            "regions.1.countries.0.branches.0.code",
        ),
    ],
)
def test_bad_shapes_and_duplicates_are_refused_at_their_path_and_change_nothing(
    client: TestClient, document: dict[str, Any], reason: str, field: str
) -> None:
    before = document_state(client, PLACES)
    body = assert_problem(put(client, document), 422, code="VALIDATION_ERROR", field=field)
    assert body["reason"] == reason
    assert document_state(client, PLACES) == before


def test_a_stale_if_match_is_412_and_operators_may_not_read_or_change_places(
    placed: TestClient, token_for: TokenFor
) -> None:
    body = assert_problem(put(placed, {"regions": []}, **{"If-Match": '"1"'}), 412, code="CONFLICT")
    assert (body["reason"], body["currentVersion"]) == ("places.stale", 2)
    operator = bearer(token_for("region", region="EU"))
    assert_problem(placed.get(PLACES, headers=operator), 403, code="INVALID_SCOPE")
    assert_problem(placed.put(PLACES, json=CATALOGUE, headers=operator), 403, code="INVALID_SCOPE")


def create_token(ops: Ops, role: str, **places: str) -> str:
    return ops.write(
        lambda session: ops.tokens.create(
            session, actor=SYSTEM_ACTOR, role=Role(role), user_id="someone", **places
        )
    ).token


def refusal(call: Callable[[], object]) -> TrainerOpsError:
    with pytest.raises(TrainerOpsError) as caught:
        call()
    return caught.value


def test_token_creation_checks_codes_for_shape_then_against_the_catalogue_and_parents(
    client: TestClient, ops: Ops
) -> None:
    empty = refusal(lambda: create_token(ops, "country", country="K R!"))
    assert empty.code == "places.bad_code"
    create_token(ops, "country", country="ZZ")  # an empty catalogue checks only the shape
    # ...and a catalogue without ZZ then strands that live token: refused until it is revoked.
    assert "ZZ (used by token of user someone)" in put(client, CATALOGUE).json()["detail"]
    with ops.database.read() as session:
        [row] = [row for row in ops.tokens.list_tokens(session) if row.country == "ZZ"]
    ops.write(lambda session: ops.tokens.revoke(session, actor=SYSTEM_ACTOR, token_id=row.id))
    assert put(client, CATALOGUE).status_code == 200
    unknown = refusal(lambda: create_token(ops, "country", country="ZZ"))
    assert unknown.code == "places.unknown"
    assert "'ZZ'" in unknown.message
    assert "known countries: DE, JP, KR" in unknown.message
    assert unknown.errors == [{"field": "country", "message": unknown.message}]
    wrong = refusal(lambda: create_token(ops, "country", country="KR", region="EU"))
    assert wrong.code == "places.wrong_parent"
    assert "under region 'APAC', not 'EU'" in wrong.message
    assert "known regions: APAC, EU" in wrong.message
    branch = refusal(lambda: create_token(ops, "branch", branch="KR-0012", country="JP"))
    assert branch.code == "places.wrong_parent"
    level = refusal(lambda: create_token(ops, "region", region="KR"))
    assert level.code == "places.unknown"
    assert "(it is a country)" in level.message
    token = create_token(ops, "country", country="kr", region="apac")  # normalised, then accepted
    assert client.get(RELOAD.replace("hot-reload", "health"), headers=bearer(token)).status_code == 200


def signed(settings: Settings, **claims: Any) -> str:
    secret = settings.jwt_secret or (settings.home / "jwt-secret").read_text().strip()
    body = {"sub": "jwt-user", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def test_jwt_claims_naming_an_unknown_place_or_another_parent_are_401(
    placed: TestClient, settings: Settings
) -> None:
    health = "/operator/ops/health"
    unknown = placed.get(health, headers=bearer(signed(settings, role="country", country="ZZ")))
    body = assert_problem(unknown, 401, code="UNAUTHORIZED")
    assert body["reason"] == "auth.unknown_place"
    assert "known countries: DE, JP, KR" in body["detail"]
    assert "www-authenticate" in unknown.headers
    moved = placed.get(health, headers=bearer(signed(settings, role="country", country="KR", region="EU")))
    body = assert_problem(moved, 401, code="UNAUTHORIZED")
    assert "under region 'APAC', not 'EU'" in body["detail"]
    fine = placed.get(health, headers=bearer(signed(settings, role="country", country="kr", region="APAC")))
    assert fine.status_code == 200, fine.text


@pytest.fixture
def proxy(settings: Settings, client: TestClient) -> Iterator[TestClient]:
    """An app trusting PROXY, on the store `client` set the catalogue in."""
    assert put(client, CATALOGUE).status_code == 200
    tuned = settings.model_copy(update={"trusted_proxies": PROXY})
    with TestClient(create_app(tuned), client=(PROXY, 40000)) as behind:
        yield behind


def test_identity_headers_naming_an_unknown_place_or_another_parent_are_401(proxy: TestClient) -> None:
    operator = {"X-User-Id": "kim", "X-Role": "operator", "X-Scope": "country"}
    health = "/operator/ops/health"
    body = assert_problem(proxy.get(health, headers={**operator, "X-Country": "ZZ"}), 401)
    assert body["reason"] == "auth.unknown_place"
    assert "known countries: DE, JP, KR" in body["detail"]
    moved = {**operator, "X-Country": "KR", "X-Region": "EU"}
    body = assert_problem(proxy.get(health, headers=moved), 401)
    assert "under region 'APAC', not 'EU'" in body["detail"]
    fine = proxy.get(health, headers={**operator, "X-Country": "kr", "X-Region": "APAC"})
    assert fine.status_code == 200, fine.text


def test_a_region_query_must_name_a_region_of_the_catalogue(placed: TestClient) -> None:
    body = assert_problem(
        placed.get("/operator/ops/features", params={"region": "korea"}), 422, field="region"
    )
    assert body["reason"] == "places.unknown"
    assert "known regions: APAC, EU" in body["detail"]
    body = assert_problem(placed.patch(FEATURE, params={"region": "KR"}, json={"enabled": True}), 422)
    assert "(it is a country)" in body["detail"]
    changed = placed.patch(FEATURE, params={"region": "apac"}, json={"enabled": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["region"] == "APAC"  # normalised: the override is APAC's


def test_a_reload_scope_must_name_a_place_of_the_catalogue(placed: TestClient) -> None:
    body = {"type": "content", "targetId": "initial"}
    refused = assert_problem(placed.post(RELOAD, json={**body, "scope": "ZZ"}), 422, field="scope")
    assert refused["reason"] == "places.unknown"
    assert "known regions: APAC, EU" in refused["detail"]
    assert "known branches: KR-0012" in refused["detail"]
    shape = assert_problem(placed.post(RELOAD, json={**body, "scope": "K R"}), 422, field="scope")
    assert shape["reason"] == "places.bad_code"
    assert placed.post(RELOAD, json={**body, "scope": "kr-0012"}).status_code == 200


def test_a_country_operator_is_refused_its_parent_region_as_a_scope_and_allowed_its_own_places(
    placed: TestClient, token_for: TokenFor
) -> None:
    kim = bearer(token_for("country", user="kim", country="KR", region="APAC"))
    body = {"type": "content", "targetId": "initial"}
    seq = newest_seq(placed)
    wider = placed.post(RELOAD, json={**body, "scope": "APAC"}, headers=kim)
    problem = assert_problem(wider, 403, code="INVALID_SCOPE")
    assert "'APAC' is wider than or outside the caller's scope" in problem["detail"]
    [denial] = entries_after(placed, seq, action="access_denied")
    assert (denial["userId"], denial["targetId"], denial["details"]["scope"]) == ("kim", "hot_reload", "APAC")
    assert_problem(placed.post(RELOAD, json={**body, "scope": "JP"}, headers=kim), 403)  # a sibling
    for scope in ("KR", "KR-0012", "kr-0012"):
        answer = placed.post(RELOAD, json={**body, "scope": scope}, headers=kim)
        assert answer.status_code == 200, (scope, answer.text)


def test_with_an_empty_catalogue_a_scope_is_contained_only_in_the_places_the_caller_carries(
    client: TestClient, token_for: TokenFor
) -> None:
    kim = bearer(token_for("country", user="kim", country="KR", region="APAC"))
    lee = bearer(token_for("region", user="lee", region="APAC", country="KR"))
    body = {"type": "content", "targetId": "initial"}
    assert client.post(RELOAD, json={**body, "scope": "KR"}, headers=kim).status_code == 200
    for scope in ("APAC", "KR-0012"):  # its parent; a branch nothing says is under KR
        assert_problem(client.post(RELOAD, json={**body, "scope": scope}, headers=kim), 403)
    for scope in ("APAC", "KR"):  # a region operator carries its region and the country it names
        assert client.post(RELOAD, json={**body, "scope": scope}, headers=lee).status_code == 200


def test_a_put_that_removes_or_moves_places_in_use_is_409_naming_the_users(
    placed: TestClient, token_for: TokenFor
) -> None:
    token_for("country", user="kim", country="KR", region="APAC")
    token_for("branch", user="park", branch="KR-0012")
    assert placed.patch(FEATURE, params={"region": "EU"}, json={"enabled": True}).status_code == 200
    before = document_state(placed, PLACES)
    without = {
        "regions": [{"code": "APAC", "name": "Asia Pacific", "countries": [{"code": "JP", "name": "J"}]}]
    }
    body = assert_problem(put(placed, without), 409, code="CONFLICT")
    assert body["reason"] == "places.in_use"
    assert "still in use" in body["detail"]
    assert "KR (used by token of user kim)" in body["detail"]
    assert "KR-0012 (used by token of user park)" in body["detail"]
    assert "EU (used by feature overrides at EU)" in body["detail"]
    assert {item["code"] for item in body["inUse"]} == {"EU", "KR", "KR-0012"}
    moved = {
        "regions": [
            {"code": "APAC", "name": "Asia Pacific"},
            {"code": "EU", "name": "Europe", "countries": [{"code": "KR", "name": "Korea"}]},
        ]
    }
    body = assert_problem(put(placed, moved), 409)
    assert "KR (used by token of user kim)" in body["detail"]
    assert document_state(placed, PLACES) == before


def test_the_snapshot_and_the_stream_carry_the_catalogue(placed: TestClient, ops: Ops) -> None:
    snapshot = placed.get("/operator/ops/snapshot").json()
    assert snapshot["places"] == STORED
    assert snapshot["versions"]["places"] == 2
    events = [
        e for e in ops.sync.broadcaster.since(f"{ops.sync.broadcaster.epoch}-0") or [] if e.kind == "places"
    ]
    assert events
    assert events[-1].data == {"kind": "places", "key": "places", "version": 2, "document": STORED}
