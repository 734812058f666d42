"""The console cannot hold change requests yet (ADR 0026): a form save the policy wants approved is
refused and changes nothing, never applied past the approvers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ..support import ADMIN_TOKEN, DEFAULT_LIMITS, LIMITS, document_state
from .helpers import browser, signed_in

FORM = {k: str(v) for k, v in DEFAULT_LIMITS.items()}


def test_a_limits_save_that_needs_approvals_is_refused_and_changes_nothing(client: TestClient) -> None:
    policy: dict[str, Any] = client.get("/operator/ops/policy").json()
    policy["operations"]["limits.update"]["admin"] = {"approvals": {"minApprovals": 1}}
    assert client.put("/operator/ops/policy", json=policy).status_code == 200
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    state = document_state(client, LIMITS)

    answer = page.post(
        "/console/limits", data={"csrf": csrf, "version": "1", **FORM, "aiCallsPerMinute": "120"}
    )

    assert answer.status_code == 409, answer.text[:300]
    assert document_state(client, LIMITS) == state
