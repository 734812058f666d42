"""The Change requests pages on both stores, with the policy wanting one approval by another admin for
limits.update: a request made through the API is listed; its author sees Cancel but no Approve; another
admin approves through the form and the API's limits show the change; a reject without a comment is a
422 at its field; a form without CSRF changes nothing; a region operator is refused (audited); a
comment's markup is inert; the author cancels through the form."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import bearer, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

PAGE = "/console/change-requests"
LIMITS = "/operator/ops/limits"
POLICY = "/operator/ops/policy"
CHANGE_REQUESTS = "/operator/ops/change-requests"
ONE_OTHER_ADMIN = {"minApprovals": 1, "approvers": ["admin"], "selfApproval": False}


@pytest.fixture
def asked(client: TestClient, ops: Ops) -> dict[str, Any]:
    """Approvals required for limits.update, and alice's request (through the API) to raise a limit;
    returns the request with the tokens of alice (its author) and bob."""
    document: dict[str, Any] = client.get(POLICY).json()
    document["operations"]["limits.update"]["admin"] = {"approvals": ONE_OTHER_ADMIN}
    assert client.put(POLICY, json=document).status_code == 200
    alice, _ = new_token(ops, "admin", user="alice")
    bob, _ = new_token(ops, "admin", user="bob")
    answer = client.patch(LIMITS, json={"aiCallsPerMinute": 77}, headers=bearer(alice))
    assert answer.status_code == 202, answer.text
    return {**answer.json(), "alice": alice, "bob": bob}


def forms(html: str) -> list[str]:
    """The actions of the page's review forms: approve, reject, cancel."""
    return re.findall(r'action="/console/change-requests/[^/"]+/(\w+)"', html)


def test_the_request_is_listed_and_its_author_may_cancel_but_not_approve(
    client: TestClient, asked: dict[str, Any]
) -> None:
    page = browser(client)
    signed_in(page, asked["alice"])
    assert f'href="{PAGE}"' in page.get("/console").text

    listing = page.get(PAGE).text

    row = re.search(rf"<tr>\s*<th scope=\"row\"><a href=\"{PAGE}/{asked['id']}\">.*?</tr>", listing, re.S)
    assert row, listing
    assert "<code>limits.update</code>" in row.group(0)
    assert "alice" in row.group(0)
    assert "0 of 1" in row.group(0)
    assert "pending" in row.group(0)
    assert "when approved" in row.group(0)
    assert "<time datetime=" in row.group(0)
    assert asked["id"] not in page.get(PAGE, params={"state": "applied"}).text

    own = page.get(f"{PAGE}/{asked['id']}").text
    assert forms(own) == ["cancel"]
    assert "aiCallsPerMinute" in own
    assert "77" in own


def test_another_admin_approves_through_the_form_and_the_api_shows_it(
    client: TestClient, asked: dict[str, Any]
) -> None:
    page = browser(client)
    csrf = signed_in(page, asked["bob"])
    shown = page.get(f"{PAGE}/{asked['id']}").text
    assert forms(shown) == ["approve", "reject"]
    assert re.search(r'<tr class="diff-changed">\s*<th scope="row"><code>aiCallsPerMinute</code>', shown)
    before = newest_seq(client)

    answer = page.post(
        f"{PAGE}/{asked['id']}/approve", data={"csrf": csrf, "comment": "fine"}, follow_redirects=False
    )

    assert (answer.status_code, answer.headers["location"]) == (303, f"{PAGE}/{asked['id']}?done=approved")
    assert client.get(LIMITS).json()["aiCallsPerMinute"] == 77
    after = page.get(answer.headers["location"]).text
    assert "Approved. The request is now applied." in after
    assert forms(after) == []
    events = [e for e in entries_after(client, before) if e["action"] == "change_request"]
    assert [e["details"]["event"] for e in events] == ["approved", "applied"]
    assert events[0]["actor"]["userId"] == "bob"
    assert events[0]["details"]["via"] == "console"
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["reviews"][0]["comment"] == "fine"


def test_a_reject_without_a_comment_is_refused_at_the_field(
    client: TestClient, asked: dict[str, Any]
) -> None:
    page = browser(client)
    csrf = signed_in(page, asked["bob"])

    answer = page.post(f"{PAGE}/{asked['id']}/reject", data={"csrf": csrf, "comment": "  "})

    assert answer.status_code == 422, answer.text
    assert 'id="reject-comment" name="comment"' in answer.text
    assert re.search(
        r'id="reject-comment"[^>]*aria-invalid="true" aria-describedby="reject-comment-error"', answer.text
    )
    assert '<p class="error" id="reject-comment-error">Say why the change is rejected' in answer.text
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "pending"

    rejected = page.post(
        f"{PAGE}/{asked['id']}/reject", data={"csrf": csrf, "comment": "too high"}, follow_redirects=False
    )
    assert rejected.status_code == 303
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "rejected"
    assert client.get(LIMITS).json()["aiCallsPerMinute"] != 77


@pytest.mark.parametrize("action", ["approve", "reject", "cancel"])
def test_a_form_without_csrf_is_refused_and_changes_nothing(
    client: TestClient, asked: dict[str, Any], action: str
) -> None:
    page = browser(client)
    signed_in(page, asked["alice" if action == "cancel" else "bob"])
    before = newest_seq(client)

    answer = page.post(f"{PAGE}/{asked['id']}/{action}", data={"comment": "x"}, follow_redirects=False)

    assert answer.status_code == 403, answer.text
    assert "console.csrf_failed" in answer.text
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "pending"
    assert not [e for e in entries_after(client, before) if e["action"] == "change_request"]


def test_a_region_operator_has_no_link_and_is_refused_audited(
    client: TestClient, ops: Ops, asked: dict[str, Any]
) -> None:
    token, _ = new_token(ops, "region", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)
    assert f'href="{PAGE}"' not in page.get("/console").text
    before = newest_seq(client)

    for path in (PAGE, f"{PAGE}/{asked['id']}"):
        answer = page.get(path)
        assert answer.status_code == 403, path
        assert "access.denied" in answer.text
    posted = page.post(f"{PAGE}/{asked['id']}/approve", data={"csrf": csrf}, follow_redirects=False)
    assert posted.status_code == 403

    denials = entries_after(client, before)
    assert [d["target"] for d in denials] == [
        "change_requests.read",
        "change_requests.read",
        "change_requests.review",
    ]
    assert all(d["action"] == "access_denied" and d["details"]["via"] == "console" for d in denials)
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "pending"


def test_markup_in_a_comment_is_inert_and_the_author_cancels(
    client: TestClient, asked: dict[str, Any]
) -> None:
    page = browser(client)
    csrf = signed_in(page, asked["alice"])
    markup = '<script>alert(1)</script><img src=x onerror="alert(2)">'

    answer = page.post(
        f"{PAGE}/{asked['id']}/cancel", data={"csrf": csrf, "comment": markup}, follow_redirects=False
    )

    assert answer.status_code == 303
    shown = page.get(answer.headers["location"]).text
    assert "Withdrawn. The request is now cancelled." in shown
    assert "<script>alert(1)" not in shown
    assert "<img src=x" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=" in shown
    assert client.get(f"{CHANGE_REQUESTS}/{asked['id']}").json()["state"] == "cancelled"
