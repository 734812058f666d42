"""Change requests for the operations that are not document writes (issue #13 item 5; ADR 0026): feature
creation, hot reload, release create and rollback wait for approvals like any governed write, are
checked at submit, applied as their author on what they were asked against or end `conflicted`, and
the emergency bypass answers as the route does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engines.fakes import NackingInstance
from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops
from trainer_ops.releases.service import NewRelease

from .support import FEATURES, assert_problem, entries_after, newest_seq
from .test_change_requests import CHANGE_REQUESTS, TWO_ADMINS, admins, grant_bypass, require

RELOAD = "/operator/ops/hot-reload"
RELEASES = "/operator/ops/releases"
ROLLBACK = "/operator/ops/releases/rollback"
SCENARIO = {
    "scenarios": [
        {"id": "upsell", "title": "Suggest an accessory", "objectives": ["offer one"], "difficulty": 2}
    ]
}
DAVE = Principal("dave", Role.ADMIN)


def upload(client: TestClient, target: str) -> None:
    response = client.put(f"/operator/ops/engines/scenario/rulesets/{target}", json=SCENARIO)
    assert response.status_code in (200, 201), response.text


def active(client: TestClient) -> str:
    return str(client.get("/operator/ops/engines/scenario/active").json()["targetId"])


def current_release(client: TestClient) -> str | None:
    return next((r["version"] for r in client.get(RELEASES).json() if r["current"]), None)


def release(ops: Ops, version: str) -> None:
    ops.releases.create(principal=DAVE, new=NewRelease(version, "", ["scenario"]), request_id="x")


@dataclass(frozen=True)
class Case:
    """One governed operation: how it is asked, whether its effect is visible, and what moves its base."""

    operation: str
    path: str
    body: dict[str, Any]
    done: Callable[[TestClient], bool]
    prepare: Callable[[TestClient, Ops], None]
    move: Callable[[TestClient, Ops], None]
    reason: str  # why it conflicts once moved
    status: int  # the route's usual answer (a bypass)


def _prepare_reload(client: TestClient, ops: Ops) -> None:
    upload(client, "v12")
    upload(client, "v13")


def _prepare_rollback(client: TestClient, ops: Ops) -> None:
    release(ops, "1.0.0")
    upload(client, "v12")
    ops.engine_service.hot_reload(principal=DAVE, engine="scenario", target_id="v12", request_id="x")
    release(ops, "1.0.1")


def _nothing(client: TestClient, ops: Ops) -> None:
    pass


CASES = [
    Case(
        "features.create",
        FEATURES,
        {"key": "coach_mode", "enabled": True, "description": "coaching tone"},
        lambda c: c.get(f"{FEATURES}/coach_mode").status_code == 200,
        _nothing,
        lambda c, ops: ops.features.update(
            principal=DAVE,
            key="quiz_auto_generate",
            place=None,
            changes={"enabled": True},
            if_match=None,
            request_id="x",
        ),
        "features.stale",
        201,
    ),
    Case(
        "hot_reload",
        RELOAD,
        {"type": "scenario", "targetId": "v12"},
        lambda c: active(c) == "v12",
        _prepare_reload,
        lambda c, ops: ops.engine_service.hot_reload(
            principal=DAVE, engine="scenario", target_id="v13", request_id="x"
        ),
        "engines.activation_moved",
        200,
    ),
    Case(
        "release.create",
        RELEASES,
        {"version": "1.0.6", "notes": "new modules", "includedEngines": ["scenario"]},
        lambda c: any(r["version"] == "1.0.6" for r in c.get(RELEASES).json()),
        _nothing,
        lambda c, ops: release(ops, "1.0.5"),
        "releases.moved",
        201,
    ),
    Case(
        "release.rollback",
        ROLLBACK,
        {"targetVersion": "1.0.0"},
        lambda c: current_release(c) == "1.0.0" and active(c) == "initial",
        _prepare_rollback,
        lambda c, ops: release(ops, "1.0.2"),
        "releases.moved",
        200,
    ),
]
IDS = [case.operation for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_two_approvals_by_others_apply_the_operation_as_its_author_and_not_before(
    client: TestClient, ops: Ops, token_for: Callable[..., str], case: Case
) -> None:
    case.prepare(client, ops)
    require(client, case.operation, TWO_ADMINS)
    alice, bob, carol = admins(token_for)
    start = newest_seq(client)

    asked = client.post(case.path, json=case.body, headers=alice)

    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert asked.headers["location"] == f"{CHANGE_REQUESTS}/{request['id']}"
    assert (request["state"], request["operation"]) == ("pending", case.operation)
    assert not case.done(client)
    shown = client.get(asked.headers["location"]).json()
    assert shown["diff"]["currentVersion"] == request["baseVersion"]
    assert shown["diff"]["before"] != shown["diff"]["after"]
    own = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", headers=alice)
    assert assert_problem(own, 403)["reason"] == "change_requests.self_approval"
    first = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", headers=bob)
    assert first.json()["state"] == "pending", first.text
    assert not case.done(client)

    second = client.post(f"{CHANGE_REQUESTS}/{request['id']}/approve", headers=carol)

    assert second.status_code == 200, second.text
    assert second.json()["state"] == "applied", second.json()
    assert case.done(client)
    entries = entries_after(client, start)
    events = [e["details"]["event"] for e in entries if e["action"] == "change_request"]
    assert events == ["created", "approved", "approved", "applied"]
    made = [e for e in entries if e["details"].get("changeRequest") == request["id"]]
    assert made, "the operation's own audit entry names the change request"
    assert {e["actor"]["userId"] for e in made} == {"alice"}  # the author's operation, run when approved


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_operation_whose_base_moved_ends_conflicted_and_changes_nothing(
    client: TestClient, ops: Ops, token_for: Callable[..., str], case: Case
) -> None:
    case.prepare(client, ops)
    require(client, case.operation, {"minApprovals": 1})
    alice, bob, _ = admins(token_for)
    asked = client.post(case.path, json=case.body, headers=alice).json()
    case.move(client, ops)  # another change lands first
    assert (
        client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["diff"]["currentVersion"]
        != asked["baseVersion"]
    )

    approved = client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve", headers=bob)

    assert approved.status_code == 200, approved.text
    assert (approved.json()["state"], approved.json()["outcome"]["reason"]) == ("conflicted", case.reason)
    assert not case.done(client)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_bypass_answers_as_the_route_does_with_its_reason_audited(
    client: TestClient, ops: Ops, token_for: Callable[..., str], case: Case
) -> None:
    case.prepare(client, ops)
    require(client, case.operation, TWO_ADMINS)
    grant_bypass(client)
    alice, _, _ = admins(token_for)
    reason = {"X-Trainer-Bypass-Reason": "incident 7"}
    start = newest_seq(client)

    answer = client.post(case.path, json=case.body, headers={**alice, **reason})

    assert answer.status_code == case.status, answer.text
    assert case.done(client)
    entries = entries_after(client, start)
    [request_id] = {e["target"] for e in entries if e["action"] == "change_request"}
    made = [e for e in entries if e["details"].get("changeRequest") == request_id.split(":")[1]]
    assert made
    assert all(e["details"]["bypassReason"] == "incident 7" for e in made)


def test_a_held_operation_is_checked_at_submit_and_nothing_is_stored_when_it_would_fail(
    client: TestClient, ops: Ops
) -> None:
    for operation in ("hot_reload", "release.create", "release.rollback"):
        require(client, operation, {"minApprovals": 1})
    release(ops, "1.0.0")

    assert_problem(client.post(RELOAD, json={"type": "scenario", "targetId": "nope"}), 404)
    assert_problem(client.post(RELOAD, json={"type": "weather", "targetId": "x"}), 422)
    taken = client.post(RELEASES, json={"version": "1.0.0", "includedEngines": []})
    assert assert_problem(taken, 409)["reason"] == "releases.version_not_greater"
    assert_problem(client.post(RELEASES, json={"version": "1.0.7", "includedEngines": ["weather"]}), 422)
    assert assert_problem(client.post(ROLLBACK, json={"targetVersion": "9.9.9"}), 404)["reason"] == (
        "releases.not_found"
    )

    assert client.get(CHANGE_REQUESTS).json() == []


def test_a_held_reload_that_an_instance_refuses_is_rolled_back_and_ends_conflicted(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    upload(client, "v12")
    require(client, "hot_reload", {"minApprovals": 1})
    alice, bob, _ = admins(token_for)
    asked = client.post(RELOAD, json={"type": "scenario", "targetId": "v12"}, headers=alice).json()
    assert asked["base"] == {"type": "scenario", "scope": None, "targetId": "initial", "version": 1}
    ops.engines.add_instance("scenario", NackingInstance())

    approved = client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve", headers=bob).json()

    assert (approved["state"], approved["outcome"]["reason"]) == ("conflicted", "engines.rolled_back")
    assert "cannot parse rule 7" in approved["outcome"]["detail"]
    assert active(client) == "initial"


def test_a_reload_approved_while_the_engine_is_busy_waits_and_the_scheduler_applies_it(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    upload(client, "v12")
    require(client, "hot_reload", {"minApprovals": 1})
    alice, bob, _ = admins(token_for)
    asked = client.post(RELOAD, json={"type": "scenario", "targetId": "v12"}, headers=alice).json()
    lock = ops.engines.slot("scenario").lock
    assert lock.acquire(blocking=False)  # another reload of scenario is under way
    try:
        approved = client.post(f"{CHANGE_REQUESTS}/{asked['id']}/approve", headers=bob).json()
        assert (approved["state"], approved["outcome"]["reason"]) == (
            "approved",
            "engines.reload_in_progress",
        )
        assert ops.change_requests.apply_due() == 0  # still busy: tried again, waits again
    finally:
        lock.release()

    assert ops.change_requests.apply_due() == 1
    shown = client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()
    assert shown["state"] == "applied"
    assert active(client) == "v12"
