"""The console's forms under a policy that wants approvals (ADR 0026): the console cannot hold a change
request, so every governed write through it is refused (409 `change_requests.required`, explained in
the operator's language) and changes nothing, never applied past the approvers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ..support import ADMIN_TOKEN, document_state
from .helpers import browser, signed_in

POLICY = "/operator/ops/policy"
ONE_OTHER_ADMIN = {"minApprovals": 1, "approvers": ["admin"], "selfApproval": False}


def require_approvals(client: TestClient, *operations: str) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    for operation in operations:
        document["operations"][operation]["admin"] = {"approvals": ONE_OTHER_ADMIN}
    assert client.put(POLICY, json=document).status_code == 200


@pytest.mark.parametrize(
    ("api", "form", "operation", "fields"),
    [
        (
            "/operator/ops/model-config",
            "/console/model-config",
            "model_config.update",
            {"temperature": "0.3"},
        ),
        ("/operator/ops/limits", "/console/limits", "limits.update", {"aiCallsPerMinute": "99"}),
        (
            "/operator/ops/features",
            "/console/features/quiz_auto_generate/switch",
            "features.update",
            {"enabled": "true"},
        ),
        ("/operator/ops/places", "/console/places", "places.update", {"document": '{"regions": []}'}),
        ("/operator/ops/policy", "/console/policy", "policy.update", {"document": '{"operations": {}}'}),
    ],
)
def test_a_governed_write_through_a_console_form_is_refused_and_changes_nothing(
    client: TestClient, api: str, form: str, operation: str, fields: dict[str, str]
) -> None:
    require_approvals(client, operation)
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, ADMIN_TOKEN)
    before = document_state(client, api)
    version = client.get(api).headers["etag"].strip('"')

    answer = page.post(form, data={"csrf": csrf, "version": version, **fields}, follow_redirects=False)

    assert answer.status_code == 409, answer.text
    assert "change_requests.required" in answer.text
    assert "승인이 필요합니다" in answer.text
    assert document_state(client, api) == before
