"""Console pages on both stores: secure headers, static assets, Korean and English, overviews cut by
the policy, escaping, and denials audited as console."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.service import actor_of
from trainer_ops.access.types import DEFAULT_POLICY, Principal, Role
from trainer_ops.app import Ops
from trainer_ops.audit.types import Action

from ..support import ADMIN_TOKEN, entries_after, newest_seq, store_document
from .helpers import browser, new_token, sign_in, signed_in

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def assert_secure_headers(headers: Mapping[str, str]) -> None:
    assert headers["content-security-policy"] == CSP
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def test_every_console_answer_has_the_secure_headers(client: TestClient) -> None:
    page = browser(client)
    answers = [page.get("/", follow_redirects=False), page.get("/console", follow_redirects=False)]
    answers.append(page.get("/console/sign-in"))
    answers.append(page.post("/console/sign-in", data={"token": "x"}))  # a 403 page
    signed_in(page, ADMIN_TOKEN)
    answers.append(page.get("/console"))
    answers.append(page.get("/console/static/no-such.css"))  # a 404 page
    for answer in answers:
        assert_secure_headers(answer.headers)
    assert [a.status_code for a in answers] == [303, 303, 200, 403, 200, 404]
    assert page.get("/console").headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    for html in (page.get("/console").text, browser(client).get("/console/sign-in").text):
        scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
        assert scripts, "the page loads its scripts"
        assert all(body == "" for body in scripts), "every script comes from a file"
        assert all(
            re.fullmatch(r'<script src="/console/static/[a-z.-]+\?v=[0-9a-f]{12}" defer>', tag)
            for tag in re.findall(r"<script\b[^>]*>", html)
        )
        assert "<style" not in html
        assert " style=" not in html
        assert not re.search(r"\son[a-z]+=", html), "no inline event handler"


def test_static_assets_are_served_with_long_cache_lifetimes_under_their_digest(client: TestClient) -> None:
    html = browser(client).get("/console/sign-in").text
    href = re.search(r'href="(/console/static/console\.css\?v=[0-9a-f]{12})"', html)
    assert href, html
    asset = browser(client).get(href.group(1))
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/css")
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_secure_headers(asset.headers)


@pytest.mark.parametrize(
    ("accept_language", "lang", "words"),
    [
        ("ko-KR,ko;q=0.9,en;q=0.5", "ko", "로그인"),
        ("en-US,en;q=0.9,ko;q=0.8", "en", "Sign in"),
        ("fr-FR", "en", "Sign in"),
    ],
)
def test_the_language_follows_accept_language(
    client: TestClient, accept_language: str, lang: str, words: str
) -> None:
    answer = browser(client, **{"Accept-Language": accept_language}).get("/console/sign-in")
    assert f'<html lang="{lang}">' in answer.text
    assert words in answer.text


def test_the_language_switch_is_kept_in_a_cookie_over_accept_language(client: TestClient) -> None:
    page = browser(client, **{"Accept-Language": "en"})
    signed_in(page, ADMIN_TOKEN)
    switch = page.get("/console/language", params={"to": "ko", "next": "/console"}, follow_redirects=False)
    assert (switch.status_code, switch.headers["location"]) == (303, "/console")
    overview = page.get("/console")
    assert '<html lang="ko">' in overview.text
    assert "개요" in overview.text
    assert "로그아웃" in overview.text
    page.get("/console/language", params={"to": "en"})
    assert '<html lang="en">' in page.get("/console").text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/console", "/operator/ops/limits"]
)
def test_the_language_switch_goes_back_only_into_the_console(client: TestClient, target: str) -> None:
    answer = browser(client).get(
        "/console/language", params={"to": "ko", "next": target}, follow_redirects=False
    )
    assert answer.headers["location"] == "/console"


def test_an_admin_sees_latency_uptime_and_each_engines_active_ruleset(client: TestClient) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    html = page.get("/console").text
    assert "Median latency" in html
    assert "Uptime" in html
    assert "Active ruleset" in html
    assert "<code>initial</code>" in html
    assert '<th scope="row">content</th>' in html


def test_a_region_operator_sees_the_engines_but_not_latency_or_rulesets(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "region", region="EU")
    page = browser(client)
    signed_in(page, token)
    html = page.get("/console").text
    assert '<th scope="row">content</th>' in html
    assert "Median latency" not in html
    assert "Active ruleset" not in html


def test_a_branch_operator_sees_the_status_only(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "branch", branch="Seoul-1")
    page = browser(client)
    signed_in(page, token)
    html = page.get("/console").text
    assert "status-ok" in html
    assert "Engines" not in html
    assert "Median latency" not in html
    assert "scenario" not in html


def test_a_role_the_policy_denies_gets_a_403_page_audited_as_console(client: TestClient, ops: Ops) -> None:
    # A stored policy that keeps branch operators out of health.read, though they may use the console:
    # what a signed-in operator may see is the policy's to say, page by page.
    operations = copy.deepcopy(DEFAULT_POLICY["operations"])
    del operations["health.read"]["branch"]
    store_document(ops, "policy", {"operations": operations}, request_id="policy-test")
    token, _ = new_token(ops, "branch", user="branch-kim", region="EU", country="DE", branch="DE-0001")
    page = browser(client)
    assert sign_in(page, token).status_code == 303
    before = newest_seq(client)

    answer = page.get("/console")

    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "access.denied" in answer.text
    [denial] = entries_after(client, before)
    assert denial["action"] == "access_denied"
    assert denial["actor"]["userId"] == "branch-kim"
    assert denial["details"]["via"] == "console"
    assert denial["target"] == "health.read"
    # Still signed in: the refusal shows who they are, a way out, and no link to what they may not see.
    assert "branch-kim" in answer.text
    assert 'action="/console/sign-out"' in answer.text
    assert 'href="/console/model-config"' not in answer.text


def test_markup_in_a_rendered_value_is_escaped(client: TestClient, ops: Ops) -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    token, _ = new_token(ops, "admin", user=evil)
    page = browser(client)
    signed_in(page, token)
    html = page.get("/console").text
    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=&#34;alert(2)&#34;" in html


def test_static_assets_are_gzipped_for_clients_that_accept_it(client: TestClient) -> None:
    html = browser(client).get("/console/sign-in").text
    src = re.search(r'src="(/console/static/htmx\.min\.js\?v=[0-9a-f]{12})"', html)
    assert src, html
    zipped = browser(client).get(src.group(1), headers={"Accept-Encoding": "gzip"})
    plain = browser(client).get(src.group(1), headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx undoes the gzip
    assert int(zipped.headers["content-length"]) < int(plain.headers["content-length"]) / 2
    assert "content-encoding" not in plain.headers
    assert zipped.headers["vary"] == "Accept-Encoding"


def test_an_htmx_request_without_a_session_is_told_to_go_to_sign_in(client: TestClient) -> None:
    answer = browser(client).get("/console", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == "/console/sign-in"


def test_a_console_principal_marks_every_audit_entry_it_causes(client: TestClient, ops: Ops) -> None:
    # Not only sign-in and sign-out: whatever a service records for a console caller says "via".
    who = replace(Principal(user_id="ops-kim", role=Role.ADMIN), via="console")
    seq = ops.write(
        lambda session: ops.audit.append(
            session, actor=actor_of(who), action=Action.UPDATE_CONFIG, target="model-config", details={"a": 1}
        )
    )
    api = ops.write(
        lambda session: ops.audit.append(
            session, actor=actor_of(replace(who, via="token")), action=Action.UPDATE_CONFIG, target="x"
        )
    )
    entries = {entry["seq"]: entry for entry in entries_after(client, seq - 1)}
    assert entries[seq]["details"] == {"a": 1, "via": "console"}
    assert entries[seq]["actor"]["userId"] == "ops-kim"
    assert "via" not in (entries[api]["details"] or {})


def test_a_refusal_the_catalogue_words_is_explained_in_the_operators_language(client: TestClient) -> None:
    page = browser(client, **{"Accept-Language": "ko-KR,ko;q=0.9"})
    signed_in(page, ADMIN_TOKEN)
    answer = page.get("/console/audit/99999999")
    assert answer.status_code == 404
    assert "감사 로그에 해당 번호의 항목이 없습니다." in answer.text
    assert "<code>audit.no_entry</code>" in answer.text
