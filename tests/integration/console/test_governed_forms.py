"""The console's forms under a policy that wants approvals, or with an "apply at" (ADR 0026): the write
becomes a change request through the API's own gate, as the signed-in operator, and the form goes to
it; a second admin approves it on the change requests page and the API shows the applied version. A
scheduled change is read in the operator's time zone. The bypass needs its operation and a reason. No
form ever writes past the approvers; the places and policy editors (JSON) go through the same gate."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, document_state, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

POLICY = "/operator/ops/policy"
CHANGE_REQUESTS = "/operator/ops/change-requests"
ONE_OTHER_ADMIN = {"minApprovals": 1, "approvers": ["admin"], "selfApproval": False}
SEOUL = ZoneInfo("Asia/Seoul")


def require_approvals(client: TestClient, *operations: str, bypass: bool = False) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    for operation in operations:
        document["operations"][operation]["admin"] = {"approvals": ONE_OTHER_ADMIN}
    if bypass:
        document["operations"]["change_requests.bypass"] = {"admin": {}}
    assert client.put(POLICY, json=document).status_code == 200


FORMS = [
    ("/operator/ops/model-config", "/console/model-config", {"temperature": "0.3"}, {"temperature": 0.3}),
    ("/operator/ops/limits", "/console/limits", {"aiCallsPerMinute": "99"}, {"aiCallsPerMinute": 99}),
]
OPERATIONS = {"/console/model-config": "model_config.update", "/console/limits": "limits.update"}
API = {"/console/model-config": "/operator/ops/model-config", "/console/limits": "/operator/ops/limits"}


def post_form(client: TestClient, page: TestClient, form: str, csrf: str, version: str, **fields: str) -> Any:
    """The document form as a browser posts it: every field at its current value, then `fields`."""
    assert 'name="applyAt"' in page.get(form).text
    document: dict[str, Any] = client.get(API[form]).json()
    values = {k: ("true" if v is True else str(v)) for k, v in document.items() if v is not False}
    return page.post(
        form, data={**values, "csrf": csrf, "version": version, **fields}, follow_redirects=False
    )


@pytest.mark.parametrize(("api", "form", "fields", "expected"), FORMS)
def test_a_governed_form_sends_a_change_request_that_a_second_admin_approves_in_the_console(
    client: TestClient, ops: Ops, api: str, form: str, fields: dict[str, str], expected: dict[str, Any]
) -> None:
    require_approvals(client, OPERATIONS[form])
    author = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(author, ADMIN_TOKEN)
    assert "승인 요청 보내기" in author.get(form).text  # the button says what a save does now
    before = document_state(client, api)
    version = client.get(api).headers["etag"].strip('"')

    sent = post_form(client, author, form, csrf, version, **fields)

    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.startswith("/console/change-requests/cr_")
    assert location.endswith("?sent=1")
    request_id = location.split("/")[-1].split("?")[0]
    shown = author.get(location)
    assert "승인 1건이 필요합니다" in shown.text
    assert document_state(client, api)[:3] == before[:3]  # never written past the approver
    asked = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert (asked["state"], asked["author"]["userId"], asked["baseVersion"]) == (
        "pending",
        "bootstrap-admin",
        int(version),
    )
    assert asked["body"] == expected  # what the operator changed, not every field of the form

    second, _ = new_token(ops, "admin", user="admin-two")
    reviewer = browser(client)
    review_csrf = signed_in(reviewer, second)
    page = reviewer.get(f"/console/change-requests/{request_id}").text
    assert f'action="/console/change-requests/{request_id}/approve"' in page
    approved = reviewer.post(
        f"/console/change-requests/{request_id}/approve", data={"csrf": review_csrf}, follow_redirects=False
    )
    assert approved.status_code == 303, approved.text

    done = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert done["state"] == "applied"
    assert {k: client.get(api).json()[k] for k in expected} == expected
    assert done["appliedVersion"] == int(client.get(api).headers["etag"].strip('"'))


def test_the_author_cannot_approve_their_own_request_from_the_console(client: TestClient) -> None:
    require_approvals(client, "model_config.update")
    author = browser(client)
    csrf = signed_in(author, ADMIN_TOKEN)
    version = client.get("/operator/ops/model-config").headers["etag"].strip('"')
    sent = post_form(client, author, "/console/model-config", csrf, version, temperature="0.5")
    request_id = sent.headers["location"].split("/")[-1].split("?")[0]
    assert "/approve" not in author.get(sent.headers["location"]).text
    refused = author.post(f"/console/change-requests/{request_id}/approve", data={"csrf": csrf})
    assert refused.status_code == 403
    assert client.get(f"{CHANGE_REQUESTS}/{request_id}").json()["state"] == "pending"


def test_a_restore_under_approvals_becomes_a_change_request(client: TestClient) -> None:
    assert client.patch("/operator/ops/limits", json={"aiCallsPerMinute": 61}).status_code == 200
    require_approvals(client, "limits.update")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = document_state(client, "/operator/ops/limits")
    version = client.get("/operator/ops/limits").headers["etag"].strip('"')
    assert "Send restoring version 1 for approval" in page.get("/console/limits/restore/1").text
    sent = page.post(
        "/console/limits/restore/1", data={"csrf": csrf, "version": version}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    request_id = sent.headers["location"].split("/")[-1].split("?")[0]
    assert client.get(f"{CHANGE_REQUESTS}/{request_id}").json()["body"] == {"aiCallsPerMinute": 60}
    assert document_state(client, "/operator/ops/limits")[:3] == before[:3]


def test_a_save_that_changes_nothing_asks_nobody(client: TestClient) -> None:
    require_approvals(client, "limits.update")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    version = client.get("/operator/ops/limits").headers["etag"].strip('"')
    answer = post_form(client, page, "/console/limits", csrf, version)
    assert answer.headers["location"] == "/console/limits?unchanged=1"
    assert client.get(CHANGE_REQUESTS).json() == []


def test_a_feature_switch_under_approvals_sends_a_change_request_and_htmx_is_sent_to_it(
    client: TestClient, ops: Ops
) -> None:
    require_approvals(client, "features.update")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    assert 'hx-include="#feature-gov-fields"' in page.get("/console/features").text
    before = document_state(client, "/operator/ops/features")
    answer = page.post(
        "/console/features/quiz_auto_generate/switch",
        data={"csrf": csrf, "enabled": "true", "region": "EU"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 204, answer.text
    location = answer.headers["HX-Redirect"]
    request_id = location.split("/")[-1].split("?")[0]
    asked = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert (asked["params"], asked["body"]) == (
        {"featureKey": "quiz_auto_generate", "place": "EU"},  # ADR 0027: params name the place
        {"enabled": True},
    )
    assert document_state(client, "/operator/ops/features")[:3] == before[:3]
    second, _ = new_token(ops, "admin", user="admin-two")
    reviewer = browser(client)
    review_csrf = signed_in(reviewer, second)
    reviewer.post(f"/console/change-requests/{request_id}/approve", data={"csrf": review_csrf})
    assert client.get("/operator/ops/features/quiz_auto_generate", params={"region": "EU"}).json()["enabled"]


def test_a_region_operator_without_the_change_requests_page_is_told_the_request_on_the_features_page(
    client: TestClient, ops: Ops
) -> None:
    document: dict[str, Any] = client.get(POLICY).json()
    rule = document["operations"]["features.update"]["region"]
    document["operations"]["features.update"]["region"] = {**rule, "approvals": ONE_OTHER_ADMIN}
    assert client.put(POLICY, json=document).status_code == 200
    token, _ = new_token(ops, "region", user="region-lee", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)
    answer = page.post(
        "/console/features/quiz_auto_generate/switch",
        data={"csrf": csrf, "enabled": "true", "region": "EU"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/console/features?requested=cr_")
    assert "Sent as change request cr_" in page.get(answer.headers["location"]).text


def test_a_scheduled_change_is_read_in_the_operators_zone_and_applied_when_due(client: TestClient) -> None:
    page = browser(client)
    page.cookies.set("trainer_ops_tz", "Asia/Seoul")
    csrf = signed_in(page, ADMIN_TOKEN)
    assert "your time zone: Asia/Seoul" in page.get("/console/model-config").text
    api = "/operator/ops/model-config"
    version = client.get(api).headers["etag"].strip('"')
    due = datetime.fromtimestamp(int(time.time()) + 2, SEOUL)
    sent = post_form(
        client,
        page,
        "/console/model-config",
        csrf,
        version,
        maxTokens="1234",
        applyAt=due.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    assert sent.status_code == 303, sent.text
    request_id = sent.headers["location"].split("/")[-1].split("?")[0]
    asked = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert (asked["state"], asked["applyAt"]) == ("approved", int(due.timestamp()))
    assert "Scheduled: it is applied at" in page.get(sent.headers["location"]).text
    deadline = time.monotonic() + 15
    while client.get(f"{CHANGE_REQUESTS}/{request_id}").json()["state"] != "applied":
        assert time.monotonic() < deadline, "the scheduled change was not applied"
        time.sleep(0.1)
    assert client.get(api).json()["maxTokens"] == 1234


def test_a_bad_apply_at_or_a_bypass_without_reason_is_shown_at_its_field_and_stores_nothing(
    client: TestClient,
) -> None:
    require_approvals(client, "model_config.update", bypass=True)
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, ADMIN_TOKEN)
    version = client.get("/operator/ops/model-config").headers["etag"].strip('"')
    for fields, message in (
        ({"applyAt": "tomorrow"}, "날짜와 시각을 넣으세요"),
        ({"applyAt": "2099-01-01T06:00"}, "날짜와 시각을 넣으세요"),  # beyond ten years
        ({"bypass": "on", "bypassReason": "  "}, "이유를 적으세요"),
    ):
        answer = post_form(client, page, "/console/model-config", csrf, version, temperature="0.2", **fields)
        assert answer.status_code == 422, answer.text
        assert message in answer.text
        assert 'aria-invalid="true"' in answer.text
    assert client.get(CHANGE_REQUESTS).json() == []


def test_the_bypass_applies_at_once_with_its_reason_only_for_those_granted_it(client: TestClient) -> None:
    require_approvals(client, "model_config.update")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    api = "/operator/ops/model-config"
    assert 'name="bypassReason"' not in page.get("/console/model-config").text
    version = client.get(api).headers["etag"].strip('"')
    before = newest_seq(client)
    refused = post_form(
        client,
        page,
        "/console/model-config",
        csrf,
        version,
        temperature="0.2",
        bypass="on",
        bypassReason="outage",
    )
    assert refused.status_code == 403  # posted by hand without the operation: audited, nothing stored
    assert [e["action"] for e in entries_after(client, before)] == ["access_denied"]
    assert client.get(CHANGE_REQUESTS).json() == []

    require_approvals(client, "model_config.update", bypass=True)
    assert 'name="bypassReason"' in page.get("/console/model-config").text
    version = client.get(api).headers["etag"].strip('"')
    applied = post_form(
        client,
        page,
        "/console/model-config",
        csrf,
        version,
        temperature="0.2",
        bypass="on",
        bypassReason="outage",
    )
    assert applied.status_code == 303, applied.text
    assert applied.headers["location"] == f"/console/model-config?saved={int(version) + 1}"
    assert client.get(api).json()["temperature"] == 0.2
    [made] = client.get(CHANGE_REQUESTS, params={"state": "applied"}).json()
    assert made["bypassReason"] == "outage"


def test_a_stale_form_under_approvals_is_the_412_conflict_not_a_request(client: TestClient) -> None:
    require_approvals(client, "limits.update")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    stale = client.get("/operator/ops/limits").headers["etag"].strip('"')
    # Someone else writes first (through the bypass-free path: approvals apply to admins only here).
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"]["limits.update"]["admin"] = {}
    assert client.put(POLICY, json=document).status_code == 200
    assert client.patch("/operator/ops/limits", json={"aiCallsPerMinute": 77}).status_code == 200
    require_approvals(client, "limits.update")
    answer = post_form(client, page, "/console/limits", csrf, stale, aiCallsPerMinute="99")
    assert answer.status_code == 412, answer.text
    assert client.get(CHANGE_REQUESTS).json() == []


def test_governed_forms_need_the_csrf_token_and_the_update_operation(client: TestClient, ops: Ops) -> None:
    require_approvals(client, "model_config.update")
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    version = client.get("/operator/ops/model-config").headers["etag"].strip('"')
    for bad in ("", "wrong"):
        answer = page.post(
            "/console/model-config", data={"csrf": bad, "version": version, "temperature": "0.3"}
        )
        assert answer.status_code == 403
    token, _ = new_token(ops, "region", user="region-lee", region="EU")
    operator = browser(client)
    csrf = signed_in(operator, token)
    answer = operator.post(
        "/console/model-config",
        data={"csrf": csrf, "version": version, "temperature": "0.3", "applyAt": "2027-01-01T06:00"},
    )
    assert answer.status_code == 403
    assert client.get(CHANGE_REQUESTS).json() == []


@pytest.mark.parametrize(
    ("api", "form", "operation", "document"),
    [
        (
            "/operator/ops/places",
            "/console/places",
            "places.update",
            '{"regions": [{"code": "APAC", "name": "Asia Pacific", "countries": []}]}',
        ),
        ("/operator/ops/policy", "/console/policy", "policy.update", '{"operations": {}}'),
    ],
)
def test_the_json_editors_send_a_governed_write_as_a_change_request_that_a_second_admin_applies(
    client: TestClient, ops: Ops, api: str, form: str, operation: str, document: str
) -> None:
    require_approvals(client, operation)
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, ADMIN_TOKEN)
    assert "승인 요청 보내기" in page.get(form).text
    before = document_state(client, api)
    version = client.get(api).headers["etag"].strip('"')

    sent = page.post(
        form, data={"csrf": csrf, "version": version, "document": document}, follow_redirects=False
    )

    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].startswith("/console/change-requests/cr_")
    request_id = sent.headers["location"].split("/")[-1].split("?")[0]
    assert document_state(client, api)[:3] == before[:3]  # nothing written past the approver
    asked = client.get(f"{CHANGE_REQUESTS}/{request_id}").json()
    assert (asked["state"], asked["operation"], asked["baseVersion"]) == ("pending", operation, int(version))

    second, _ = new_token(ops, "admin", user="admin-two")
    reviewer = browser(client)
    review_csrf = signed_in(reviewer, second)
    approved = reviewer.post(
        f"/console/change-requests/{request_id}/approve", data={"csrf": review_csrf}, follow_redirects=False
    )
    assert approved.status_code == 303, approved.text
    assert client.get(f"{CHANGE_REQUESTS}/{request_id}").json()["state"] == "applied"
    assert int(client.get(api).headers["etag"].strip('"')) == int(version) + 1
    if operation == "places.update":
        assert [r["code"] for r in client.get(api).json()["regions"]] == ["APAC"]


def test_a_json_editor_schedules_a_change_and_refuses_a_bad_apply_at(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    api = "/operator/ops/places"
    before = document_state(client, api)
    version = client.get(api).headers["etag"].strip('"')
    document = '{"regions": [{"code": "EMEA", "name": "Europe", "countries": []}]}'
    bad = page.post(
        "/console/places", data={"csrf": csrf, "version": version, "document": document, "applyAt": "soon"}
    )
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    assert client.get(CHANGE_REQUESTS).json() == []
    sent = page.post(
        "/console/places",
        data={"csrf": csrf, "version": version, "document": document, "applyAt": "2030-01-01T06:00"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    (scheduled,) = client.get(CHANGE_REQUESTS).json()
    assert (scheduled["state"], scheduled["operation"]) == ("approved", "places.update")
    assert document_state(client, api)[:3] == before[:3]
