"""The toggle fast path (features/fastpath.py, ADR 0031's addendum) answers exactly what the route
answers, writes what the route writes, and leaves every other case to the route before reading a byte."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from trainer_ops.access.types import Role
from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.features.fastpath import FastToggle
from trainer_ops.http.asgi import send_response

KEY = "quiz_auto_generate"
PATH = f"/operator/ops/features/{KEY}"
POLICY = "/operator/ops/policy"
# Any X-Envelope header sends a request on to the route, and `bare` leaves the answer as it is.
ROUTED = {"X-Envelope": "bare"}
ROUTE_REACHED = 599

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def fast_only(cached: tuple[TestClient, Ops]) -> tuple[TestClient, list[str]]:
    """The fast path alone on the same store, in front of a fake route that records what reached it
    (and answers 599, which no real route does)."""
    client, ops = cached
    reached: list[str] = []

    async def route(scope: Scope, _receive: Receive, send: Send) -> None:
        reached.append(f"{scope['method']} {scope['path']}?{scope['query_string'].decode()}")
        await send_response(send, ROUTE_REACHED, [])

    app = FastToggle(route, features=ops.features, authenticator=ops.authenticator, policy=ops.policy)
    fast = TestClient(app)
    fast.headers["Authorization"] = client.headers["Authorization"]
    return fast, reached


def version_of(client: TestClient) -> int:
    return int(client.get(PATH, headers=ROUTED).headers["etag"].strip('"'))


def newest_entry(client: TestClient) -> dict[str, Any]:
    entry: dict[str, Any] = client.get("/operator/ops/audit", params={"limit": 1}).json()["items"][0]
    return entry


def test_the_fast_path_answers_and_writes_what_the_route_does(cached: tuple[TestClient, Ops]) -> None:
    client, _ = cached
    routed = client.patch(PATH, json={"enabled": True}, headers=ROUTED)
    routed_entry = newest_entry(client)
    fast = client.patch(PATH, json={"enabled": False}, headers={"If-Match": routed.headers["etag"]})
    fast_entry = newest_entry(client)
    read_back = client.get(PATH, headers=ROUTED)

    assert routed.status_code == fast.status_code == 200
    assert fast.content == read_back.content  # the detail view at the new version, as the route gives it
    assert fast.json() == {**routed.json(), "enabled": False, "defaultEnabled": False}
    assert fast.headers["etag"] == read_back.headers["etag"] == f'"{version_of(client)}"'
    for header in ("content-type", "cache-control"):
        assert fast.headers[header] == routed.headers[header], header
    assert int(fast.headers["etag"].strip('"')) == int(routed.headers["etag"].strip('"')) + 1
    assert fast_entry["requestId"] == fast.headers["x-request-id"]
    for field in ("action", "target", "actor", "outcome", "scope"):
        assert fast_entry[field] == routed_entry[field], field
    assert (fast_entry["before"], fast_entry["after"]) == (routed_entry["after"], routed_entry["before"])
    assert 'route="/operator/ops/features/{featureKey}"' in client.get("/metrics").text


def test_a_plain_toggle_never_reaches_the_route(
    cached: tuple[TestClient, Ops], fast_only: tuple[TestClient, list[str]]
) -> None:
    client, _ = cached
    fast, reached = fast_only
    before, was = version_of(client), client.get(PATH).json()["enabled"]
    answer = fast.patch(PATH, json={"enabled": not was})
    assert (answer.status_code, reached) == (200, [])
    assert version_of(client) == before + 1
    assert client.get(PATH).json()["enabled"] is (not was)


def _region_token(ops: Ops) -> str:
    return ops.write(
        lambda s: ops.tokens.create(s, actor=SYSTEM_ACTOR, role=Role.REGION, user_id="eu-ops", region="EU")
    ).token


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (f"{PATH}?place=EU", {}),  # an override: the place is the route's to check
        (f"{PATH}?region=EU", {}),
        (f"{PATH}?applyAt=2100-01-01T00:00:00Z", {}),  # a scheduled change: a change request
        (PATH, ROUTED),  # an envelope
        (PATH, {"X-Trainer-Bypass-Reason": "incident 42"}),  # an emergency bypass
        ("/operator/ops/features/no_such_feature", {}),  # the route's 404, after its authorization
        (PATH, {"Authorization": "Bearer tops_not-a-token-in-the-cache-000000000000"}),  # its 401
    ],
)
def test_anything_but_a_plain_toggle_goes_on_to_the_route_before_its_body_is_read(
    cached: tuple[TestClient, Ops],
    fast_only: tuple[TestClient, list[str]],
    path: str,
    headers: dict[str, str],
) -> None:
    client, _ = cached
    fast, reached = fast_only
    before = version_of(client)
    answer = fast.patch(path, json={"enabled": False}, headers=headers)
    assert answer.status_code == ROUTE_REACHED
    assert len(reached) == 1
    assert version_of(client) == before


def test_a_caller_the_policy_limits_or_governs_goes_on_to_the_route(
    cached: tuple[TestClient, Ops], fast_only: tuple[TestClient, list[str]]
) -> None:
    client, ops = cached
    fast, reached = fast_only
    region = _region_token(ops)
    client.get("/operator/ops/features", headers={"Authorization": f"Bearer {region}"})  # cached now
    before = version_of(client)
    # A region operator may change overrides in its region only: the route decides, and audits a denial.
    assert fast.patch(
        PATH, json={"enabled": False}, headers={"Authorization": f"Bearer {region}"}
    ).status_code == (ROUTE_REACHED)
    policy = client.get(POLICY).json()
    policy["operations"]["features.update"]["admin"] = {"approvals": {"minApprovals": 1}}
    assert client.put(POLICY, json=policy).status_code == 200
    assert fast.patch(PATH, json={"enabled": False}).status_code == ROUTE_REACHED  # a change request
    assert len(reached) == 2
    assert version_of(client) == before
    governed = client.patch(PATH, json={"enabled": False})  # the whole app: the route's 202
    assert governed.status_code == 202, governed.text
    assert version_of(client) == before


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"enabled": false', {"Content-Type": "application/json"}, 400),  # not JSON
        (b"", {"Content-Type": "application/json"}, 400),  # no body
        (b'{"enabled": "no"}', {"Content-Type": "application/json"}, 422),  # strict types
        (b'{"enabled": false, "colour": "red"}', {"Content-Type": "application/json"}, 422),  # unknown field
        (b'{"enabled": false}', {"Content-Type": "text/plain"}, 415),
        (b'{"enabled": false}', {"Content-Type": "application/json", "If-Match": '"999"'}, 412),  # stale
        (b'{"enabled": false}', {"Content-Type": "application/json", "If-Match": "v1"}, 400),  # not an ETag
    ],
)
def test_problems_are_answered_as_the_route_answers_them_and_change_nothing(
    cached: tuple[TestClient, Ops],
    fast_only: tuple[TestClient, list[str]],
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    client, _ = cached
    fast, reached = fast_only
    before = version_of(client)
    fast_answer = fast.patch(PATH, content=body, headers=headers)
    routed = client.patch(PATH, content=body, headers={**headers, **ROUTED})
    assert reached == []
    assert fast_answer.status_code == routed.status_code == status, fast_answer.text
    assert fast_answer.headers["content-type"] == routed.headers["content-type"] == "application/problem+json"
    fast_problem, routed_problem = fast_answer.json(), routed.json()
    fast_problem.pop("requestId", None)
    routed_problem.pop("requestId", None)
    assert fast_problem == routed_problem
    assert version_of(client) == before
