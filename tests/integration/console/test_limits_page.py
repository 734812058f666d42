"""The Limits page on both stores: the form's ranges are the validation's, a save is the API's change,
refusals change nothing, and live usage shows open sessions and each caller's calls of the last minute."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.limits.types import MAX_AI_CALLS_PER_MINUTE, MAX_CONCURRENT_SESSIONS

from ..support import ADMIN_TOKEN, DEFAULT_LIMITS, LIMITS, bearer, document_state, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

PAGE = "/console/limits"
USAGE = "/console/limits/usage"
FORM = {k: str(v) for k, v in DEFAULT_LIMITS.items()}
CHAT = {"messages": [{"role": "user", "content": "hello"}]}


def admin_page(client: TestClient) -> tuple[TestClient, str]:
    page = browser(client)
    return page, signed_in(page, ADMIN_TOKEN)


def test_an_admin_sees_the_limits_with_the_validation_ranges_and_live_usage(client: TestClient) -> None:
    page, _ = admin_page(client)
    html = page.get(PAGE).text
    assert re.search(
        rf'name="aiCallsPerMinute" value="60" min="1" max="{MAX_AI_CALLS_PER_MINUTE}" step="1"', html
    )
    assert re.search(
        rf'name="maxConcurrentSessions" value="30" min="1" max="{MAX_CONCURRENT_SESSIONS}"', html
    )
    assert 'name="maxSessionsPerUser" value="3"' in html
    assert f'hx-get="{USAGE}" hx-trigger="every 5s"' in html
    assert "0 of 30 open" in html
    assert "No AI calls in the last minute." in html


def test_a_save_through_the_form_is_the_apis_new_version_audited_via_console(client: TestClient) -> None:
    page, csrf = admin_page(client)
    before = newest_seq(client)

    answer = page.post(
        PAGE, data={"csrf": csrf, "version": "1", **FORM, "aiCallsPerMinute": "120"}, follow_redirects=False
    )

    assert answer.headers["location"] == f"{PAGE}?saved=2"
    assert client.get(LIMITS).json() == {**DEFAULT_LIMITS, "aiCallsPerMinute": 120}
    [entry] = entries_after(client, before)
    assert (entry["action"], entry["target"], entry["details"]["via"]) == (
        "update_config",
        "limits",
        "console",
    )
    assert entry["actor"]["userId"] == "bootstrap-admin"


@pytest.mark.parametrize(
    ("value", "message"), [("0", "Must be at least 1."), ("1.5", "Must be a whole number."), ("", "")]
)
def test_an_invalid_limit_is_shown_at_its_field_and_changes_nothing(
    client: TestClient, value: str, message: str
) -> None:
    page, csrf = admin_page(client)
    state = document_state(client, LIMITS)
    answer = page.post(PAGE, data={"csrf": csrf, "version": "1", **FORM, "maxConcurrentSessions": value})
    assert answer.status_code == 422
    assert re.search(r'id="field-maxConcurrentSessions"[^>]*aria-invalid="true"', answer.text)
    assert message in answer.text
    assert document_state(client, LIMITS) == state


def test_a_save_without_csrf_or_by_a_region_operator_is_refused_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    page, _ = admin_page(client)
    token, _ = new_token(ops, "region", region="EU")
    region = browser(client)
    region_csrf = signed_in(region, token)
    state = document_state(client, LIMITS)
    before = newest_seq(client)
    data = {"version": "1", **FORM, "aiCallsPerMinute": "1"}

    assert page.post(PAGE, data=data).status_code == 403
    assert page.post(PAGE, data={**data, "csrf": "forged"}).status_code == 403
    assert region.post(PAGE, data={**data, "csrf": region_csrf}).status_code == 403

    assert document_state(client, LIMITS)[:3] == state[:3]
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["target"], denial["details"]["via"]) == (
        "access_denied",
        "limits.update",
        "console",
    )


@pytest.mark.parametrize("role", ["region", "branch"])
def test_an_operator_below_admin_cannot_see_the_page_or_its_usage(
    client: TestClient, ops: Ops, role: str
) -> None:
    token, _ = new_token(ops, role, region="EU", branch="DE-1")
    page = browser(client)
    signed_in(page, token)
    assert f'href="{PAGE}"' not in page.get("/console").text
    assert page.get(PAGE).status_code == 403
    fragment = page.get(USAGE, headers={"HX-Request": "true"})
    assert fragment.status_code == 403
    assert "<html" not in fragment.text  # a fragment's refusal, swapped in where the panel goes


def usage_of(page: TestClient, wanted: str) -> str:
    # Gateway calls are audited without waiting (batched by the writer): poll briefly.
    deadline = time.monotonic() + 5
    while True:
        html = page.get(USAGE, headers={"HX-Request": "true"}).text
        if wanted in html or time.monotonic() > deadline:
            return html
        time.sleep(0.05)


def test_live_usage_counts_each_callers_calls_and_the_open_sessions(client: TestClient, ops: Ops) -> None:
    assert client.patch(LIMITS, json={"aiCallsPerMinute": 2}).status_code == 200
    caller, _ = new_token(ops, "service", user="engine-7")
    calls = [
        client.post("/v1/chat/completions", json=CHAT, headers=bearer(caller)).status_code for _ in range(3)
    ]
    assert calls == [200, 200, 429]
    assert client.post("/v1/sessions", headers=bearer(caller)).status_code == 201
    page, _ = admin_page(client)

    html = usage_of(page, "engine-7")

    assert "<html" not in html
    row = re.search(r'<th scope="row">engine-7</th>\s*<td>(.*?)</td>\s*<td>(\d+)</td>', html, flags=re.S)
    assert row, html
    assert "2 of 2" in row.group(1)
    assert "at the limit" in row.group(1)
    assert row.group(2) == "1"  # the refused third call
    assert "1 of 30 open" in html
    assert re.search(r'<meter id="sessions-meter" min="0" max="30" value="1"', html)


def test_markup_in_a_callers_name_is_inert_text(client: TestClient, ops: Ops) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    caller, _ = new_token(ops, "service", user=evil)
    assert client.post("/v1/chat/completions", json=CHAT, headers=bearer(caller)).status_code == 200
    page, _ = admin_page(client)
    html = usage_of(page, "&lt;script&gt;")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html
    assert "<img src=x" not in html
