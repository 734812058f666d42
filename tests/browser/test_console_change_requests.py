"""Change requests in chromium, on a server of this module's own (its tests approve changes): admin B
opens admin A's request from the list, sees what it would change, approves it and sees it applied; one
look in Korean. Every state passes axe under the page's CSP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import LiveServer

from .conftest import Browsing, admin_api, make_token, served

PAGE = "/console/change-requests"
ONE_OTHER_ADMIN = {"minApprovals": 1, "approvers": ["admin"], "selfApproval": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server (overrides the session's): limits.update waits for another admin."""
    with served(tmp_path_factory, "change-requests-server") as live:
        with admin_api(live) as api:
            policy: dict[str, Any] = api.get("/operator/ops/policy").json()
            policy["operations"]["limits.update"]["admin"] = {"approvals": ONE_OTHER_ADMIN}
            assert api.put("/operator/ops/policy", json=policy).status_code == 200
        yield live


def ask(server: LiveServer, value: int) -> str:
    """Admin alice asks through the API for aiCallsPerMinute = value; the request's id."""
    alice = make_token(server, "admin", user="alice")
    with admin_api(server) as api:
        answer = api.patch(
            "/operator/ops/limits",
            json={"aiCallsPerMinute": value},
            headers={"Authorization": f"Bearer {alice}"},
        )
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["id"]
    return request_id


def test_another_admin_opens_the_request_sees_the_diff_and_approves(
    browsing: Browsing, server: LiveServer
) -> None:
    request_id = ask(server, 77)
    browsing.sign_in(make_token(server, "admin", user="bob"))
    page = browsing.page
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Change requests").click()
    expect(page.get_by_role("heading", name="Change requests", exact=True)).to_be_visible()
    row = page.get_by_role("row", name=re.compile(request_id))
    expect(row).to_contain_text("limits.update")
    expect(row).to_contain_text("0 of 1")
    browsing.settled()
    row.get_by_role("link", name=request_id).click()

    expect(page.get_by_role("heading", name=f"Change request {request_id}")).to_be_visible()
    diff = page.get_by_role("table", name=re.compile("^limits"))
    changed = diff.get_by_role("row", name=re.compile("^aiCallsPerMinute"))
    expect(changed.get_by_role("cell")).to_have_text(["60", re.compile("^77")])
    page.get_by_label("Comment on your approval (optional)").fill("fine by me")
    browsing.screenshot("console-change-request", full_page=True)
    browsing.settled()
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_role("status")).to_have_text("Approved. The request is now applied.")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_role("list").filter(has_text="fine by me")).to_contain_text("bob")
    with admin_api(server) as api:
        assert api.get("/operator/ops/limits").json()["aiCallsPerMinute"] == 77
    browsing.settled()


def test_the_pages_in_korean(browsing: Browsing, server: LiveServer) -> None:
    request_id = ask(server, 88)
    browsing.sign_in(make_token(server, "admin", user="bob"))
    page = browsing.open(f"/console/language?to=ko&next={PAGE}")
    expect(page.get_by_role("heading", name="변경 요청", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(request_id))).to_contain_text("승인 대기")
    browsing.settled()
    browsing.open(f"{PAGE}/{request_id}")
    expect(page.get_by_role("button", name="승인", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="거부", exact=True)).to_be_visible()
    browsing.screenshot("console-change-request-ko", full_page=True)
    browsing.settled()
