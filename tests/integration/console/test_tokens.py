"""The Tokens page on both stores: admins only, the list with scope and state, a token created through the
form shown once (and working against the API), errors at the field, revoking after a confirmation, the
session that ends with its own token, CSRF, and markup in a user id rendered as text."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR

from ..support import ADMIN_TOKEN, FEATURES, bearer, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

PAGE = "/console/tokens"
SHOWN = re.compile(r'<code id="new-token">(tops_[A-Za-z0-9_-]+)</code>')


def test_only_an_admin_has_the_tokens_page(client: TestClient, ops: Ops) -> None:
    for role, scope in (("region", {"region": "EU"}), ("branch", {"branch": "Seoul-1"})):
        token, _ = new_token(ops, role, **scope)
        page = browser(client)
        signed_in(page, token)
        assert "/console/tokens" not in page.get("/console").text  # not in the navigation
        before = newest_seq(client)
        assert page.get(PAGE).status_code == 403
        [denial] = entries_after(client, before)
        assert (denial["action"], denial["target"]) == ("access_denied", "tokens.manage")


def test_the_list_shows_each_tokens_user_role_scope_and_state(client: TestClient, ops: Ops) -> None:
    _, kept = new_token(ops, "branch", user="kim-branch", region="APAC", country="KR", branch="Seoul-1")
    _, gone = new_token(ops, "region", user="old-region", region="EU")
    ops.write(lambda session: ops.tokens.revoke(session, actor=SYSTEM_ACTOR, token_id=gone))
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    answer = page.get(PAGE)
    assert answer.headers["cache-control"] == "no-store"
    row = _row(answer.text, kept)
    assert "kim-branch" in row
    assert "branch operator" in row
    assert "region APAC" in row and "country KR" in row and "branch SEOUL-1" in row  # noqa: PT018 (codes are kept in upper case, ADR 0023)
    assert "Active" in row
    assert f'href="/console/tokens/{kept}/revoke"' in row
    revoked = _row(answer.text, gone)
    assert "Revoked" in revoked
    assert "/revoke" not in revoked
    assert '<code id="new-token">' not in answer.text


def test_a_token_created_through_the_form_is_shown_once_and_works(client: TestClient, ops: Ops) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    form = {"csrf": csrf, "role": "region", "user": "eu-park", "region": "EU", "ttl": "30"}
    answer = page.post(PAGE, data=form)
    assert answer.status_code == 201
    assert answer.headers["cache-control"] == "no-store"
    shown = SHOWN.search(answer.text)
    assert shown
    assert 'data-copy="new-token"' in answer.text
    assert "will not be shown again" in answer.text
    token = shown.group(1)
    assert token not in "".join(answer.headers.values())  # not in a cookie or a header
    assert client.get(FEATURES, headers=bearer(token)).status_code == 200  # a working region token
    assert token not in page.get(PAGE).text  # shown once
    [entry] = entries_after(client, before)
    assert entry["action"] == "token_created"
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert entry["details"]["via"] == "console"
    assert entry["after"]["scope"] == {"region": "EU"}
    assert token not in str(entry)


def test_bad_values_are_shown_at_their_fields_and_nothing_is_created(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    for form, name, message in (
        ({"role": "region", "user": "x"}, "region", "A token of this role needs this scope."),
        ({"role": "admin", "user": " "}, "user", "Enter the user ID"),
        ({"role": "wizard", "user": "x"}, "role", "Choose one of the roles."),
        ({"role": "admin", "user": "x", "ttl": "-1"}, "ttl", "Enter a number of days"),
        ({"role": "admin", "user": "x", "ttl": "nan"}, "ttl", "Enter a number of days"),
        ({"role": "branch", "user": "x", "branch": "b" * 65}, "branch", "At most 64 characters."),
    ):
        answer = page.post(PAGE, data={"csrf": csrf, **form})
        assert answer.status_code == 422, form
        tag = re.search(rf'<(?:input|select) id="new-{name}"[^>]*>', answer.text)
        assert tag, name
        assert 'aria-invalid="true"' in tag.group(0)
        assert f"new-{name}-error" in tag.group(0)
        assert re.search(rf'<p class="error" id="new-{name}-error">{message}', answer.text)
        assert not SHOWN.search(answer.text)
    assert newest_seq(client) == before


def test_revoking_asks_first_then_the_token_stops_working(client: TestClient, ops: Ops) -> None:
    token, token_id = new_token(ops, "region", user="eu-revoked", region="EU")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    confirm = page.get(f"{PAGE}/{token_id}/revoke")
    assert confirm.status_code == 200
    assert "eu-revoked" in confirm.text
    assert f'action="/console/tokens/{token_id}/revoke"' in confirm.text
    assert client.get(FEATURES, headers=bearer(token)).status_code == 200  # asking changed nothing
    before = newest_seq(client)

    answer = page.post(f"{PAGE}/{token_id}/revoke", data={"csrf": csrf}, follow_redirects=False)

    assert (answer.status_code, answer.headers["location"]) == (303, f"{PAGE}#token-{token_id}")
    assert client.get(FEATURES, headers=bearer(token)).status_code == 401
    [entry] = entries_after(client, before)
    assert (entry["action"], entry["target"]) == ("token_revoked", f"token:{token_id}")
    assert entry["details"]["via"] == "console"
    assert page.get(f"{PAGE}/{token_id}/revoke").status_code == 404  # nothing left to revoke


def test_revoking_the_token_of_ones_own_session_signs_one_out(client: TestClient, ops: Ops) -> None:
    token, token_id = new_token(ops, "admin", user="admin-lee")
    page = browser(client)
    csrf = signed_in(page, token)
    answer = page.post(f"{PAGE}/{token_id}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
    assert page.get(PAGE, follow_redirects=False).headers["location"] == "/console/sign-in"


def test_writes_without_or_with_a_wrong_csrf_token_change_nothing(client: TestClient, ops: Ops) -> None:
    token, token_id = new_token(ops, "region", region="EU")
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    for wrong in ("", csrf[:-1]):
        created = page.post(PAGE, data={"csrf": wrong, "role": "admin", "user": "sneaky"})
        assert created.status_code == 403
        assert "console.csrf_failed" in created.text
        revoked = page.post(f"{PAGE}/{token_id}/revoke", data={"csrf": wrong})
        assert revoked.status_code == 403
    assert newest_seq(client) == before
    assert client.get(FEATURES, headers=bearer(token)).status_code == 200


def test_a_non_admin_posting_by_hand_is_refused_and_audited(client: TestClient, ops: Ops) -> None:
    victim, victim_id = new_token(ops, "region", region="EU", user="victim")
    region, _ = new_token(ops, "region", region="EU", user="eu-mallory")
    page = browser(client)
    csrf = signed_in(page, region)
    before = newest_seq(client)
    assert page.post(PAGE, data={"csrf": csrf, "role": "admin", "user": "mallory"}).status_code == 403
    assert page.post(f"{PAGE}/{victim_id}/revoke", data={"csrf": csrf}).status_code == 403
    denials = entries_after(client, before)
    assert [(d["action"], d["target"]) for d in denials] == [("access_denied", "tokens.manage")] * 2
    assert all(d["actor"]["userId"] == "eu-mallory" and d["details"]["via"] == "console" for d in denials)
    assert client.get(FEATURES, headers=bearer(victim)).status_code == 200


def test_markup_in_a_user_id_is_inert_text(client: TestClient, ops: Ops) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    _, token_id = new_token(ops, "admin", user=evil)
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    for html in (page.get(PAGE).text, page.get(f"{PAGE}/{token_id}/revoke").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def _row(html: str, token_id: int) -> str:
    found = re.search(rf'<tr id="token-{token_id}">.*?</tr>', html, flags=re.S)
    assert found, f"no row for token {token_id}"
    return found.group(0)
