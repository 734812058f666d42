"""The console's forms for feature creation, hot reload, release create and rollback under a policy that
wants approvals (ADR 0026): the post becomes the change request the API would store for the same write,
nothing changes until a second admin approves it, and then the change is applied. Without approvals
the forms act at once, as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops
from trainer_ops.releases.service import NewRelease

from ..support import ADMIN_TOKEN
from .helpers import browser, new_token, signed_in
from .test_governed_forms import require_approvals

RELEASES = "/operator/ops/releases"
ACTIVE = "/operator/ops/engines/scenario/active"
CHANGE_REQUESTS = "/operator/ops/change-requests"


def _state(client: TestClient) -> object:
    """Everything these forms could change: the flags, the active scenario ruleset, the releases."""
    return (
        client.get("/operator/ops/features").json(),
        client.get(ACTIVE).json()["targetId"],
        client.get(RELEASES).json(),
    )


def _prepare(client: TestClient, ops: Ops) -> str:
    """Ruleset v12 uploaded, release 1.0.0 on the scenario ruleset first active, then v12 active and
    release 1.0.1 on it: so a reload back, a new release and a rollback to 1.0.0 each change something.
    Returns the first ruleset's id."""
    first = str(client.get(ACTIVE).json()["targetId"])
    scenario = {"scenarios": [{"id": "u", "title": "t", "objectives": ["o"], "difficulty": 2}]}
    assert client.put("/operator/ops/engines/scenario/rulesets/v12", json=scenario).status_code == 201
    dave = Principal("dave", Role.ADMIN)
    ops.releases.create(principal=dave, new=NewRelease("1.0.0", "", ["scenario"]), request_id="x")
    reloaded = client.post("/operator/ops/hot-reload", json={"type": "scenario", "targetId": "v12"})
    assert reloaded.status_code == 200, reloaded.text
    ops.releases.create(principal=dave, new=NewRelease("1.0.1", "", ["scenario"]), request_id="y")
    return first


def _versions(client: TestClient) -> list[str]:
    return [r["version"] for r in client.get(RELEASES).json()]


def _current(client: TestClient) -> str:
    return next(r["version"] for r in client.get(RELEASES).json() if r["current"])


Form = tuple[str, str, Callable[[str], dict[str, str]], str, Callable[[str], dict[str, Any]]]
# operation, console form, its fields (given the first ruleset), the API route, the API's body.
FORMS: list[Form] = [
    (
        "features.create",
        "/console/features",
        lambda _: {"key": "coach_mode", "description": "Coach", "enabled": "on"},
        "/operator/ops/features",
        lambda _: {"key": "coach_mode", "description": "Coach", "enabled": True, "regionOverridable": False},
    ),
    (
        "hot_reload",
        "/console/engines/reload",
        lambda first: {"engine": "scenario", "targetId": first, "scope": ""},
        "/operator/ops/hot-reload",
        lambda first: {"type": "scenario", "targetId": first},
    ),
    (
        "release.create",
        "/console/releases",
        lambda _: {"version": "1.0.6", "notes": "n", "engines": "scenario"},
        RELEASES,
        lambda _: {"version": "1.0.6", "notes": "n", "includedEngines": ["scenario"]},
    ),
    (
        "release.rollback",
        "/console/releases/1.0.0/rollback",
        lambda _: {"confirm": "1.0.0"},
        RELEASES + "/rollback",
        lambda _: {"targetVersion": "1.0.0"},
    ),
]


def _applied(client: TestClient, operation: str, first: str) -> bool:
    """Whether the form's change is in force."""
    if operation == "features.create":
        return client.get("/operator/ops/features/coach_mode").status_code == 200
    if operation == "hot_reload":
        return bool(client.get(ACTIVE).json()["targetId"] == first)
    if operation == "release.create":
        return "1.0.6" in _versions(client)
    return _current(client) == "1.0.0" and client.get(ACTIVE).json()["targetId"] == first


def _asked(client: TestClient, request_id: str) -> tuple[Any, ...]:
    stored = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    return stored["operation"], stored["kind"], stored["params"], stored["body"]


@pytest.mark.parametrize(("operation", "form", "fields", "api", "body"), FORMS, ids=[f[0] for f in FORMS])
def test_a_held_fleet_operation_through_a_console_form_is_the_apis_change_request_applied_once_approved(
    client: TestClient,
    ops: Ops,
    operation: str,
    form: str,
    fields: Callable[[str], dict[str, str]],
    api: str,
    body: Callable[[str], dict[str, Any]],
) -> None:
    first = _prepare(client, ops)
    require_approvals(client, operation)
    author = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(author, ADMIN_TOKEN)
    before = _state(client)

    sent = author.post(form, data={"csrf": csrf, **fields(first)}, follow_redirects=False)

    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.startswith("/console/change-requests/cr_")
    assert location.endswith("?sent=1")
    request_id = location.split("/")[-1].split("?")[0]
    assert "승인 1건이 필요합니다" in author.get(location).text
    assert client.get(f"{CHANGE_REQUESTS}/{request_id}").json()["state"] == "pending"
    assert _state(client) == before  # never applied past the approver
    # The API's own change request for the same write holds the same operation, params and body.
    through_api = client.post(api, json=body(first))
    assert through_api.status_code == 202, through_api.text
    assert _asked(client, request_id) == _asked(client, through_api.json()["id"])
    assert _asked(client, request_id)[0] == operation
    assert _state(client) == before

    second, _ = new_token(ops, "admin", user="admin-two")
    reviewer = browser(client)
    review_csrf = signed_in(reviewer, second)
    approved = reviewer.post(
        f"/console/change-requests/{request_id}/approve", data={"csrf": review_csrf}, follow_redirects=False
    )

    assert approved.status_code == 303, approved.text
    done = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert done["state"] == "applied", done
    assert done["author"]["userId"] == "bootstrap-admin"
    assert _applied(client, operation, first)


@pytest.mark.parametrize("operation", ["features.create", "hot_reload", "release.create", "release.rollback"])
def test_a_fleet_form_under_approvals_shows_the_governance_fields_in_both_locales(
    client: TestClient, ops: Ops, operation: str
) -> None:
    _prepare(client, ops)
    require_approvals(client, operation)
    page = {
        "features.create": "/console/features",
        "hot_reload": "/console/engines",
        "release.create": "/console/releases",
        "release.rollback": "/console/releases/1.0.0",
    }[operation]
    english = browser(client)
    signed_in(english, ADMIN_TOKEN)
    korean = browser(client, **{"Accept-Language": "ko"})
    signed_in(korean, ADMIN_TOKEN)

    shown, shown_ko = english.get(page).text, korean.get(page).text

    assert 'name="applyAt"' in shown
    assert "The policy asks 1 approval by admin" in shown
    assert "승인 1건이 필요합니다" in shown_ko


def test_a_held_reload_sent_by_the_pages_script_is_redirected_to_its_change_request(
    client: TestClient, ops: Ops
) -> None:
    first = _prepare(client, ops)
    require_approvals(client, "hot_reload")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)

    sent = page.post(
        "/console/engines/reload",
        data={"csrf": csrf, "engine": "scenario", "targetId": first},
        headers={"Accept": "application/x-ndjson"},
        follow_redirects=False,
    )

    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].startswith("/console/change-requests/cr_")
    assert client.get(ACTIVE).json()["targetId"] == "v12"


def test_a_bad_apply_at_on_a_fleet_form_stores_nothing(client: TestClient, ops: Ops) -> None:
    _prepare(client, ops)
    require_approvals(client, "release.create")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)

    answer = page.post(
        "/console/releases",
        data={"csrf": csrf, "version": "1.0.6", "applyAt": "soon"},
        follow_redirects=False,
    )

    assert answer.status_code == 422, answer.text
    assert "Give a date and time" in answer.text
    assert client.get(CHANGE_REQUESTS).json() == []
    assert "1.0.6" not in _versions(client)


def test_without_approvals_the_console_forms_still_act_at_once(client: TestClient, ops: Ops) -> None:
    first = _prepare(client, ops)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)

    created = page.post(
        "/console/features",
        data={"csrf": csrf, "key": "coach_mode", "description": ""},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    assert client.get("/operator/ops/features/coach_mode").status_code == 200
    reloaded = page.post(
        "/console/engines/reload", data={"csrf": csrf, "engine": "scenario", "targetId": first}
    )
    assert reloaded.status_code == 200, reloaded.text
    assert client.get(ACTIVE).json()["targetId"] == first
    released = page.post("/console/releases", data={"csrf": csrf, "version": "1.0.6"}, follow_redirects=False)
    assert released.status_code == 303, released.text
    assert _versions(client) == ["1.0.0", "1.0.1", "1.0.6"]
    # A rollback also puts the config (features included) back as release 1.0.0 had it.
    rolled = page.post(
        "/console/releases/1.0.1/rollback", data={"csrf": csrf, "confirm": "1.0.1"}, follow_redirects=False
    )
    assert rolled.status_code == 303, rolled.text
    assert (_current(client), client.get(ACTIVE).json()["targetId"]) == ("1.0.1", "v12")
    assert client.get(CHANGE_REQUESTS).json() == []


@pytest.mark.parametrize(("operation", "form", "fields", "api", "body"), FORMS, ids=[f[0] for f in FORMS])
def test_an_emergency_bypass_on_a_fleet_form_acts_at_once_and_records_its_reason(
    client: TestClient,
    ops: Ops,
    operation: str,
    form: str,
    fields: Callable[[str], dict[str, str]],
    api: str,
    body: Callable[[str], dict[str, Any]],
) -> None:
    first = _prepare(client, ops)
    require_approvals(client, operation, bypass=True)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)

    done = page.post(
        form,
        data={"csrf": csrf, **fields(first), "bypass": "on", "bypassReason": "store outage"},
        follow_redirects=False,
    )

    assert done.status_code in (200, 303), done.text
    assert "/console/change-requests/" not in done.headers.get("location", "")  # acted, not sent
    assert _applied(client, operation, first)
    [made] = client.get(CHANGE_REQUESTS, params={"state": "applied"}).json()
    assert (made["operation"], made["bypassReason"]) == (operation, "store outage")
