"""The console's forms for feature creation, hot reload, release create and rollback under a policy that
wants approvals (ADR 0026): refused with 409 `change_requests.required`, explained in the operator's
language, and nothing changes; the API is where such a write becomes a change request."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops
from trainer_ops.releases.service import NewRelease

from ..support import ADMIN_TOKEN
from .helpers import browser, signed_in
from .test_governed_forms import require_approvals

RELEASES = "/operator/ops/releases"


def _state(client: TestClient) -> object:
    """Everything these forms could change: the flags, the active scenario ruleset, the releases."""
    return (
        client.get("/operator/ops/features").json(),
        client.get("/operator/ops/engines/scenario/active").json()["targetId"],
        client.get(RELEASES).json(),
    )


def _release(ops: Ops) -> None:
    ops.releases.create(
        principal=Principal("dave", Role.ADMIN), new=NewRelease("1.0.0", "", []), request_id="x"
    )


FORMS: list[tuple[str, str, dict[str, str]]] = [
    ("features.create", "/console/features", {"key": "coach_mode", "description": "", "enabled": "on"}),
    ("hot_reload", "/console/engines/reload", {"engine": "scenario", "targetId": "v12"}),
    ("release.create", "/console/releases", {"version": "1.0.6", "notes": "", "engines": "scenario"}),
    ("release.rollback", "/console/releases/1.0.0/rollback", {"confirm": "1.0.0"}),
]


@pytest.mark.parametrize(("operation", "form", "fields"), FORMS, ids=[f[0] for f in FORMS])
def test_a_held_fleet_operation_through_a_console_form_is_refused_and_changes_nothing(
    client: TestClient, ops: Ops, operation: str, form: str, fields: dict[str, str]
) -> None:
    scenario = {"scenarios": [{"id": "u", "title": "t", "objectives": ["o"], "difficulty": 2}]}
    assert client.put("/operator/ops/engines/scenario/rulesets/v12", json=scenario).status_code == 201
    _release(ops)
    require_approvals(client, operation)
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, ADMIN_TOKEN)
    before = _state(client)

    answer = page.post(form, data={"csrf": csrf, **fields}, follow_redirects=False)

    assert answer.status_code == 409, answer.text
    assert "change_requests.required" in answer.text
    assert "승인이 필요합니다" in answer.text
    assert _state(client) == before


def test_without_approvals_the_console_forms_still_act(client: TestClient, ops: Ops) -> None:
    _release(ops)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)

    answer = page.post("/console/releases", data={"csrf": csrf, "version": "1.0.6"}, follow_redirects=False)

    assert answer.status_code == 303, answer.text
    assert [r["version"] for r in client.get(RELEASES).json()] == ["1.0.0", "1.0.6"]
