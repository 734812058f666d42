"""The scope matrix of design.md, role by operation, through the HTTP API.

The expectations are written out below as a table, not derived from DEFAULT_POLICY: a wrong policy
document must make this test fail. Every denial must be a 403 problem with Step 1's code
INVALID_SCOPE, and must leave exactly one access_denied audit entry; an allowed call leaves none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import auth

OPS = "/operator/ops"

ROLES = ("admin", "region", "country", "branch", "team", "service")
SCOPES: dict[str, dict[str, str]] = {
    "admin": {},
    "region": {"region": "EU"},
    "country": {"country": "KR"},
    "branch": {"branch": "B1"},
    "team": {"branch": "B1"},
    "service": {},
}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    # The policy operation an access_denied entry names as its target.
    operation: str
    body: dict[str, Any] | None = None
    # multipart fields (uploads)
    files: dict[str, tuple[str, bytes, str]] | None = None


CALLS: dict[str, Call] = {
    "GET model-config": Call("GET", f"{OPS}/model-config", "model_config.read"),
    "PATCH model-config": Call("PATCH", f"{OPS}/model-config", "model_config.update", {"temperature": 0.2}),
    "GET features": Call("GET", f"{OPS}/features", "features.read"),
    # As a region operator: an override for their own region, of a region-overridable feature.
    "PATCH features/mission_auto_assign": Call(
        "PATCH", f"{OPS}/features/mission_auto_assign", "features.update", {"enabled": False}
    ),
    # Not region-overridable: admins only.
    "PATCH features/insight_generation": Call(
        "PATCH", f"{OPS}/features/insight_generation", "features.update", {"enabled": False}
    ),
    "POST features": Call(
        "POST", f"{OPS}/features", "features.create", {"key": "matrix_probe", "enabled": True}
    ),
    "GET limits": Call("GET", f"{OPS}/limits", "limits.read"),
    "PATCH limits": Call("PATCH", f"{OPS}/limits", "limits.update", {"aiCallsPerMinute": 90}),
    "GET health": Call("GET", f"{OPS}/health", "health.read"),
    "GET diagnostics": Call("GET", f"{OPS}/diagnostics", "diagnostics.read"),
    "GET audit": Call("GET", f"{OPS}/audit", "audit.read"),
    # What an outside witness reads (ADR 0030): hashes and sizes, never an entry.
    "GET audit/consistency": Call("GET", f"{OPS}/audit/consistency?first=1&second=1", "audit.witness"),
    "GET model-config/history": Call("GET", f"{OPS}/model-config/history", "model_config.read"),
    "GET features/history": Call("GET", f"{OPS}/features/history", "features.history"),
    "POST /v1/files": Call(
        "POST", "/v1/files", "gateway.upload", files={"file": ("notes.md", b"# Returns\n", "text/markdown")}
    ),
}

# design.md, "Principals and scope". team has no more rights than branch; service (engines, gateway
# callers) never reads or changes ops settings. Uploads (gateway.upload) are the content pipeline's:
# admins and engines, not every gateway caller.
#                                         admin region country branch team service
EXPECTED: dict[str, tuple[int, ...]] = {
    "GET model-config":                   (200, 403, 403, 403, 403, 403),
    "PATCH model-config":                 (200, 403, 403, 403, 403, 403),
    "GET features":                       (200, 200, 403, 403, 403, 403),
    "PATCH features/mission_auto_assign": (200, 200, 403, 403, 403, 403),
    "PATCH features/insight_generation":  (200, 403, 403, 403, 403, 403),
    "POST features":                      (201, 403, 403, 403, 403, 403),
    "GET limits":                         (200, 403, 403, 403, 403, 403),
    "PATCH limits":                       (200, 403, 403, 403, 403, 403),
    "GET health":                         (200, 200, 200, 200, 200, 403),
    "GET diagnostics":                    (200, 403, 403, 403, 403, 403),
    "GET audit":                          (200, 403, 403, 403, 403, 403),
    "GET audit/consistency":              (200, 200, 200, 200, 200, 200),
    "GET model-config/history":           (200, 403, 403, 403, 403, 403),
    "GET features/history":               (200, 403, 403, 403, 403, 403),
    "POST /v1/files":                     (200, 403, 403, 403, 403, 200),
}  # fmt: skip

CASES = [
    pytest.param(role, name, EXPECTED[name][column], id=f"{role}-{name}")
    for name in EXPECTED
    for column, role in enumerate(ROLES)
]


def denials_of(client: TestClient, user: str) -> list[dict[str, Any]]:
    """The access_denied entries of `user`, read by the bootstrap admin (the client's own token)."""
    response = client.get(f"{OPS}/audit", params={"action": "access_denied", "userId": user})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def denial_detail(response: Any) -> str:
    """The refusal's text. /operator/ops answers a problem with Step 1's code; /v1 may answer OpenAI's
    error object instead (issue #11), whose `message` carries the same text."""
    body = response.json()
    if response.headers["content-type"].startswith("application/problem+json"):
        assert body["status"] == 403
        assert body["code"] == "INVALID_SCOPE"
        return str(body["detail"])
    assert response.request.url.path.startswith("/v1/"), response.text
    return str(body["error"]["message"])


def test_matrix_table_covers_every_call_and_role() -> None:
    assert EXPECTED.keys() == CALLS.keys()
    assert all(len(row) == len(ROLES) for row in EXPECTED.values())


# 78 fresh stores: on PostgreSQL this leg took 3.5 times the SQLite leg (74 s against 21 s), so the
# full matrix runs on SQLite; the tests below it exercise denials and their audit entries on both.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("role", "call_name", "status"), CASES)
def test_role_gets_the_matrix_status_and_every_denial_is_audited(
    client: TestClient, token_for: Callable[..., str], role: str, call_name: str, status: int
) -> None:
    call = CALLS[call_name]
    user = f"{role}-user"
    token = token_for(role, user=user, **SCOPES[role])

    response = client.request(call.method, call.path, json=call.body, files=call.files, headers=auth(token))

    assert response.status_code == status, response.text
    denials = denials_of(client, user)
    if status != 403:
        assert denials == []
        return
    detail = denial_detail(response)
    assert detail
    assert len(denials) == 1
    entry = denials[0]
    assert entry["requestId"] == response.headers["x-request-id"]
    assert entry["outcome"] == "denied"
    assert entry["actor"] == {"userId": user, "role": role, "scope": SCOPES[role]}
    assert entry["targetId"] == call.operation
    assert entry["details"]["method"] == call.method
    assert entry["details"]["path"] == call.path
    assert entry["details"]["reason"] == detail


@pytest.mark.parametrize(
    ("role", "keys"),
    [
        ("admin", {"status", "latencyMs", "uptimeHours", "engines"}),
        ("region", {"status", "engines"}),
        ("country", {"status", "engines"}),
        ("branch", {"status"}),
        ("team", {"status"}),
    ],
)
def test_health_shows_each_role_its_part(
    client: TestClient, token_for: Callable[..., str], role: str, keys: set[str]
) -> None:
    body = client.get(f"{OPS}/health", headers=auth(token_for(role, **SCOPES[role]))).json()

    if role == "admin":
        assert keys <= body.keys()
    else:
        assert body.keys() == keys


def test_region_operator_reads_and_overrides_only_its_own_region(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    headers = auth(token_for("region", region="EU"))

    changed = client.patch(f"{OPS}/features/mission_auto_assign", json={"enabled": False}, headers=headers)
    own = client.get(f"{OPS}/features", headers=headers)
    other = client.get(f"{OPS}/features", params={"region": "US"}, headers=headers)
    other_change = client.patch(
        f"{OPS}/features/mission_auto_assign",
        params={"region": "US"},
        json={"enabled": False},
        headers=headers,
    )

    assert changed.status_code == 200
    assert changed.json()["region"] == "EU"
    assert own.json()["mission_auto_assign"] is False
    assert client.get(f"{OPS}/features").json()["mission_auto_assign"] is True
    assert (other.status_code, other_change.status_code) == (403, 403)
    assert len(denials_of(client, "region-user")) == 2


def test_unknown_feature_is_403_for_a_role_without_feature_rights(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    response = client.patch(
        f"{OPS}/features/no_such_feature",
        json={"enabled": False},
        headers=auth(token_for("branch", branch="B1")),
    )

    # Authorised before the key is looked up: no 404 listing the feature keys to an outsider.
    assert response.status_code == 403
    assert "no_such_feature" not in response.json()["detail"]
    assert len(denials_of(client, "branch-user")) == 1
