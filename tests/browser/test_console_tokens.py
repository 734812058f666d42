"""The Tokens page in chromium, on a server of this module's own (these tests create and revoke
tokens): an admin creates a token that is shown once with a copy button, then revokes one after a
confirmation; the page in Korean. axe on each state, no CSP or script error."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer

from .conftest import Browsing, served

FEATURES = "/operator/ops/features"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with served(tmp_path_factory, "tokens-server", token_cache_seconds=0) as live:
        yield live


def status_with(server: LiveServer, token: str) -> int:
    answer = httpx.get(server.url + FEATURES, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


def test_an_admin_creates_a_token_shown_once_and_revokes_it(browsing: Browsing, server: LiveServer) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="Tokens", exact=True)).to_be_visible()
    browsing.settled()

    page.get_by_label("User ID").fill("eu-park")
    page.get_by_label("Role").select_option(label="region operator")
    page.get_by_label("Region").fill("EU")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_role("button", name="Create token").click()

    shown = page.locator("#new-token")
    expect(shown).to_be_visible()
    token = shown.inner_text().strip()
    assert token.startswith("tops_")
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    copy = page.get_by_role("button", name="Copy token")
    expect(copy).to_have_attribute("data-copy", "new-token")
    assert token not in page.url
    assert token not in page.evaluate(
        "document.cookie + JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"
    )
    assert status_with(server, token) == 200
    browsing.screenshot("console-tokens-admin", full_page=True)
    browsing.settled()

    browsing.open("/console/tokens")
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()
    row = page.locator("tr", has=page.get_by_role("cell", name="eu-park", exact=True))
    expect(row).to_contain_text("Active")

    row.get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke token")).to_be_visible()
    browsing.settled()
    page.get_by_role("button", name="Revoke token").click()

    expect(page).to_have_url(re.compile(r"/console/tokens#token-[0-9]+$"))
    expect(row).to_contain_text("Revoked")
    assert status_with(server, token) == 401
    browsing.settled()


def test_the_tokens_page_in_korean(browsing: Browsing) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/language?to=ko&next=/console/tokens")
    expect(page.get_by_role("heading", name="토큰", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="토큰 만들기")).to_be_visible()
    expect(page.get_by_label("사용자 ID")).to_be_visible()
    browsing.screenshot("console-tokens-admin-ko", full_page=True)
    browsing.settled()
