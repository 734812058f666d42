"""A browser's view of the console: a TestClient with no bearer token, signing in through the form."""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from trainer_ops.access.types import Role
from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply

SESSION = "trainer_ops_console"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def browser(client: TestClient, *, https: bool = False, **headers: str) -> TestClient:
    """Another client of the app `client` started, as a browser: cookies of its own, no Authorization.
    (Not entered as a context: the app's lifespan already runs under `client`.)"""
    base = "https://testserver" if https else "http://testserver"
    return TestClient(client.app, base_url=base, headers=headers)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(page: TestClient, token: str) -> httpx.Response:
    form = page.get("/console/sign-in")
    assert form.status_code == 200, form.text
    return page.post(
        "/console/sign-in", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False
    )


def signed_in(page: TestClient, token: str) -> str:
    """Sign in and return the session's CSRF token (from the overview's sign-out form)."""
    answer = sign_in(page, token)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/console"
    overview = page.get("/console")
    assert overview.status_code == 200, overview.text
    return csrf_of(overview.text)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers of a response by cookie name."""
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}


def new_token(ops: Ops, role: str, *, user: str | None = None, **scope: str) -> tuple[str, int]:
    made = ops.write(
        lambda session: ops.tokens.create(
            session, actor=SYSTEM_ACTOR, role=Role(role), user_id=user or f"{role}-user", **scope
        )
    )
    return made.token, made.row_id


class Nacking:
    """An engine instance elsewhere that refuses every reload."""

    instance_id = "sdk-flaky"

    def apply(self, command: Command) -> Reply:
        return Reply(self.instance_id, False, "unsupported format")

    def restore(self, command: Command | None) -> None:
        pass
