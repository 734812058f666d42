"""Who may sign in to the console is the policy operation `console.use`, asked after the token is
authenticated: operators of every scope may, engines' service tokens may not (an audited denial and the
form again with a reason), and a stored policy can change that, on both stores."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from trainer_ops.access.types import DEFAULT_POLICY
from trainer_ops.app import Ops
from trainer_ops.console.models import ConsoleSessionRow

from ..support import ADMIN_TOKEN, entries_after, newest_seq, store_document
from .helpers import SESSION, browser, new_token, set_cookies, sign_in, signed_in

SCOPES: dict[str, dict[str, str]] = {
    "region": {"region": "EU"},
    "country": {"region": "EU", "country": "DE"},
    "branch": {"region": "EU", "country": "DE", "branch": "DE-0001"},
    "team": {"region": "EU", "country": "DE", "branch": "DE-0001"},
}


def sessions_in_store(ops: Ops) -> int:
    with ops.database.read() as session:
        return int(session.scalar(select(func.count()).select_from(ConsoleSessionRow)) or 0)


def store_policy(ops: Ops, operations: dict[str, Any]) -> None:
    store_document(ops, "policy", {"operations": operations}, request_id="console-use-test")


@pytest.mark.parametrize("role", sorted(SCOPES))
def test_operators_of_every_scope_may_sign_in(client: TestClient, ops: Ops, role: str) -> None:
    token, _ = new_token(ops, role, **SCOPES[role])
    signed_in(browser(client), token)  # asserts the redirect to, and a 200 from, the Overview


def test_an_admin_may_sign_in(client: TestClient) -> None:
    signed_in(browser(client), ADMIN_TOKEN)


def test_a_service_token_is_refused_with_the_form_and_a_reason_and_no_session(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "service", user="content-engine")
    page = browser(client)

    answer = sign_in(page, token)

    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text
    assert "may not use the console" in answer.text
    assert 'action="/console/sign-in"' in answer.text  # the form again, ready for another token
    assert SESSION not in set_cookies(answer)
    assert sessions_in_store(ops) == 0
    assert page.get("/console", follow_redirects=False).headers["location"] == "/console/sign-in"


def test_the_refusal_is_an_audited_access_denied_naming_the_engine_and_no_sign_in(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "service", user="content-engine")
    before = newest_seq(client)

    sign_in(browser(client), token)

    entries = entries_after(client, before)
    assert [e["action"] for e in entries] == ["access_denied"]
    denied = entries[0]
    assert denied["target"] == "console.use"
    assert denied["outcome"] == "denied"
    assert denied["actor"] == {"userId": "content-engine", "role": "service", "scope": {}}
    assert denied["details"]["via"] == "console"
    assert denied["details"]["path"] == "/console/sign-in"
    assert token not in str(entries)


def test_the_refusal_is_worded_in_korean_for_a_korean_operator(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "service", user="content-engine")
    answer = sign_in(browser(client, **{"Accept-Language": "ko-KR"}), token)
    assert answer.status_code == 403
    assert "콘솔을 사용할 수 없습니다" in answer.text


def test_a_stored_policy_decides_who_may_use_the_console(client: TestClient, ops: Ops) -> None:
    operations = copy.deepcopy(DEFAULT_POLICY["operations"])
    operations["console.use"] = {"admin": {}, "region": {}}
    store_policy(ops, operations)
    country, _ = new_token(ops, "country", region="EU", country="DE")
    region, _ = new_token(ops, "region", region="EU")

    assert sign_in(browser(client), country).status_code == 403
    assert sign_in(browser(client), region).status_code == 303


def test_a_stored_policy_from_before_console_use_gets_its_default(client: TestClient, ops: Ops) -> None:
    older = copy.deepcopy(DEFAULT_POLICY["operations"])
    del older["console.use"]
    store_policy(ops, older)
    service, _ = new_token(ops, "service", user="content-engine")
    branch, _ = new_token(ops, "branch", **SCOPES["branch"])

    assert sign_in(browser(client), service).status_code == 403
    assert sign_in(browser(client), branch).status_code == 303
