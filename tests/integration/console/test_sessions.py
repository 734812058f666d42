"""Console sign-in, sessions and sign-out on both stores: the redirect chain, the cookie, sessions
shared by replicas, revocation, expiry, CSRF, and the audit entries that name the console."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.infra.clock import FakeClock

from ..support import ADMIN_TOKEN, app_client, entries_after, newest_seq
from .helpers import SESSION, browser, csrf_of, new_token, set_cookies, sign_in, signed_in

HOUR = 3600


@pytest.fixture
def ops(clocked_ops: Ops) -> Ops:
    """The app on the fake clock (conftest.py): these tests move time on."""
    return clocked_ops


def test_root_redirects_to_the_console_and_the_console_to_sign_in(client: TestClient) -> None:
    page = browser(client)
    root = page.get("/", follow_redirects=False)
    assert (root.status_code, root.headers["location"]) == (303, "/console")
    console = page.get("/console", follow_redirects=False)
    assert (console.status_code, console.headers["location"]) == (303, "/console/sign-in")
    form = page.get("/console/sign-in")
    assert form.status_code == 200
    assert form.headers["content-type"].startswith("text/html")
    assert 'type="password"' in form.text
    assert 'action="/console/sign-in"' in form.text


def test_a_good_token_starts_a_session_in_a_strict_httponly_cookie(client: TestClient) -> None:
    page = browser(client)
    answer = sign_in(page, ADMIN_TOKEN)

    assert (answer.status_code, answer.headers["location"]) == (303, "/console")
    cookie = set_cookies(answer)[SESSION]
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console", "max-age=28800"} <= attributes
    assert "secure" not in attributes  # plain HTTP: a Secure cookie would never come back
    assert ADMIN_TOKEN not in cookie
    overview = page.get("/console")
    assert overview.status_code == 200
    assert "bootstrap-admin" in overview.text
    assert ADMIN_TOKEN not in overview.text  # the token is never sent back to the browser


def test_over_https_the_session_cookie_is_secure(client: TestClient) -> None:
    answer = sign_in(browser(client, https=True), ADMIN_TOKEN)
    attributes = {part.strip().lower() for part in set_cookies(answer)[SESSION].split(";")[1:]}
    assert "secure" in attributes


def test_a_wrong_token_shows_the_form_again_with_an_error_and_no_session(client: TestClient) -> None:
    page = browser(client)
    answer = sign_in(page, "tops_not-a-token-of-this-server")

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text
    assert "not accepted" in answer.text
    assert SESSION not in set_cookies(answer)
    assert page.get("/console", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_a_sign_in_without_the_forms_csrf_token_is_a_403_page(client: TestClient) -> None:
    page = browser(client)
    page.get("/console/sign-in")
    answer = page.post("/console/sign-in", data={"token": ADMIN_TOKEN, "csrf": "forged"})
    assert answer.status_code == 403
    assert "console.csrf_failed" in answer.text
    assert SESSION not in set_cookies(answer)


def test_a_jwt_signs_in_for_no_longer_than_the_jwt_lives(client: TestClient, settings: Settings) -> None:
    secret = settings.jwt_secret or (settings.home / "jwt-secret").read_text().strip()
    token = jwt.encode({"sub": "jwt-kim", "role": "admin", "exp": int(time.time()) + 600}, secret)
    answer = sign_in(browser(client), token)
    assert answer.status_code == 303, answer.text
    max_age = int(set_cookies(answer)[SESSION].lower().split("max-age=")[1].split(";")[0])
    assert 500 < max_age <= 600


def test_the_session_is_valid_on_another_replica_of_the_same_store(
    client: TestClient, settings: Settings
) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    cookie = page.cookies[SESSION]

    with app_client(settings, token=None) as other:
        other.cookies.set(SESSION, cookie, path="/console")
        overview = other.get("/console", follow_redirects=False)
    assert overview.status_code == 200
    assert "bootstrap-admin" in overview.text


def test_revoking_the_token_ends_its_console_session_at_once(client: TestClient, ops: Ops) -> None:
    token, token_id = new_token(ops, "admin", user="lee")
    page = browser(client)
    signed_in(page, token)

    ops.write(lambda session: ops.tokens.revoke(session, actor=SYSTEM_ACTOR, token_id=token_id))

    answer = page.get("/console", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")


def test_a_session_ends_when_it_expires(client: TestClient, clock: FakeClock) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    clock.advance(8 * HOUR - 5)
    assert page.get("/console", follow_redirects=False).status_code == 200
    clock.advance(10)
    assert page.get("/console", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_sign_out_ends_the_session_and_both_ends_are_audited_as_console(client: TestClient) -> None:
    before = newest_seq(client)
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    cookie = page.cookies[SESSION]

    answer = page.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)

    assert (answer.status_code, answer.headers["location"]) == (303, "/console/sign-in")
    assert "max-age=0" in set_cookies(answer)[SESSION].lower()
    again = browser(client)
    again.cookies.set(SESSION, cookie, path="/console")  # the old cookie, kept by a careless browser
    assert again.get("/console", follow_redirects=False).headers["location"] == "/console/sign-in"
    entries = entries_after(client, before)
    assert [e["action"] for e in entries] == ["console_sign_in", "console_sign_out"]
    for entry in entries:
        assert entry["actor"] == {"userId": "bootstrap-admin", "role": "admin", "scope": {}}
        assert entry["details"]["via"] == "console"
    assert entries[0]["target"] == entries[1]["target"]
    assert cookie not in str(entries)


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_sign_out_without_the_right_csrf_token_is_a_403_page_and_changes_nothing(
    client: TestClient, csrf: str | None
) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)

    answer = page.post("/console/sign-out", data={} if csrf is None else {"csrf": csrf})

    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "console.csrf_failed" in answer.text
    assert page.get("/console", follow_redirects=False).status_code == 200  # still signed in
    assert newest_seq(client) == before


def test_an_htmx_request_may_send_the_csrf_token_as_a_header(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    answer = page.post("/console/sign-out", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert answer.status_code == 303


def test_the_csrf_token_of_one_session_is_refused_by_another(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "admin", user="park")
    mine, theirs = browser(client), browser(client)
    signed_in(mine, ADMIN_TOKEN)
    their_csrf = signed_in(theirs, token)
    page = mine.get("/console")
    assert csrf_of(page.text) != their_csrf
    assert mine.post("/console/sign-out", data={"csrf": their_csrf}).status_code == 403
