"""Step 1's identity headers: believed only from a trusted proxy, never beside a token, mapped onto the
scope matrix like any other caller."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import create_app
from trainer_ops.config import Settings

from .support import ADMIN_TOKEN, AUDIT, FEATURES, HEALTH, MODEL_CONFIG, assert_problem, bearer

PROXY = "10.9.8.7"
ADMIN = {"X-User-Id": "alice", "X-Role": "admin", "X-Scope": "global"}
EU_OPERATOR = {"X-User-Id": "eu-ops", "X-Role": "operator", "X-Scope": "region", "X-Region": "EU"}


@contextmanager
def behind(settings: Settings, peer: str, *, trusted: str = PROXY) -> Iterator[TestClient]:
    """A client whose connections come from `peer`, to an app (with services of its own: an app's
    shutdown closes them) that trusts `trusted`."""
    tuned = settings.model_copy(update={"trusted_proxies": trusted})
    with TestClient(create_app(tuned), client=(peer, 40000)) as client:
        yield client


@pytest.fixture
def proxy(settings: Settings) -> Iterator[TestClient]:
    with behind(settings, PROXY) as client:
        yield client


def test_headers_from_the_trusted_proxy_name_an_admin_who_is_audited_by_name(proxy: TestClient) -> None:
    before = audit(proxy)[0]["seq"]
    assert proxy.get(MODEL_CONFIG, headers=ADMIN).status_code == 200
    changed = proxy.patch(MODEL_CONFIG, json={"temperature": 0.3}, headers=ADMIN)
    assert changed.status_code == 200, changed.text
    [entry] = [e for e in audit(proxy, action="update_config") if e["seq"] > before]
    assert (entry["userId"], entry["actor"]["role"]) == ("alice", "admin")


def test_an_operator_gets_exactly_the_rights_of_their_scope(proxy: TestClient) -> None:
    features = proxy.get(FEATURES, headers=EU_OPERATOR)
    assert features.status_code == 200, features.text
    denied = proxy.get(MODEL_CONFIG, headers=EU_OPERATOR)
    assert_problem(denied, 403, code="INVALID_SCOPE")
    newest_denial = audit(proxy, action="access_denied")[0]
    assert newest_denial["userId"] == "eu-ops"
    assert newest_denial["scope"] == {"region": "EU"}
    team = {"X-User-Id": "t1", "X-Role": "operator", "X-Scope": "team", "X-Branch": "B-12"}
    health = proxy.get(HEALTH, headers=team)
    assert health.status_code == 200
    assert set(health.json()) == {"status"}  # a team sees what a branch sees: the status only
    assert_problem(proxy.get(FEATURES, headers=team), 403)


@pytest.mark.parametrize(
    ("headers", "complaint"),
    [
        ({"X-User-Id": "x", "X-Role": "operator", "X-Scope": "region"}, "X-Region"),
        ({"X-User-Id": "x", "X-Role": "operator", "X-Scope": "global"}, "X-Role admin"),
        ({"X-User-Id": "x", "X-Role": "owner", "X-Scope": "global"}, "admin or operator"),
        ({"X-User-Id": "x", "X-Role": "admin", "X-Scope": "branch"}, "X-Scope global"),
        ({"X-User-Id": "x y", "X-Role": "admin"}, "X-User-Id"),
        ({**EU_OPERATOR, "X-Region": "E U"}, "X-Region"),
    ],
)
def test_incomplete_or_unknown_identity_headers_are_401_saying_what_is_wrong(
    proxy: TestClient, headers: dict[str, str], complaint: str
) -> None:
    body = assert_problem(proxy.get(FEATURES, headers=headers), 401, code="UNAUTHORIZED")
    assert body["reason"] == "auth.bad_identity_headers"
    assert complaint in body["detail"]


def test_headers_from_any_other_peer_are_ignored(settings: Settings) -> None:
    with behind(settings, "10.9.8.8") as elsewhere:
        assert_problem(elsewhere.get(MODEL_CONFIG, headers=ADMIN), 401)
    with behind(settings, PROXY, trusted="") as off:  # the default: nobody is trusted
        assert_problem(off.get(MODEL_CONFIG, headers=ADMIN), 401)
    with behind(settings, "10.1.2.3", trusted="10.1.0.0/16, ::1") as in_block:
        assert in_block.get(MODEL_CONFIG, headers=ADMIN).status_code == 200


def test_a_bearer_token_wins_over_identity_headers(proxy: TestClient) -> None:
    # An admin's token with a region operator's headers: the token says who calls.
    as_admin = proxy.get(MODEL_CONFIG, headers={**EU_OPERATOR, **bearer(ADMIN_TOKEN)})
    assert as_admin.status_code == 200
    assert_problem(proxy.get(MODEL_CONFIG, headers={**ADMIN, **bearer("tops_nobody")}), 401)


def audit(client: TestClient, **params: str) -> list[dict[str, Any]]:
    """Audit entries, newest first, read by the header-named admin."""
    response = client.get(AUDIT, params={"limit": 500, **params}, headers=ADMIN)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
