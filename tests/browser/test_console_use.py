"""The console in chromium for a token the policy keeps out (`console.use`): an engine's service token is
refused on the sign-in form with a reason, in English and in Korean, and no session starts; an operator
of the lowest scope signs in. A server of this module's own: a refusal writes an audit entry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from conftest import LiveServer

from .conftest import Browsing, make_token, served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with served(tmp_path_factory, "console-use-server") as live:
        yield live


def test_a_service_token_is_refused_on_the_form_with_a_reason(browsing: Browsing, server: LiveServer) -> None:
    page = browsing.open("/console/sign-in")
    page.get_by_label("API token or JWT").fill(make_token(server, "service"))
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("may not use the console")
    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")
    expect(page.get_by_label("API token or JWT")).to_have_attribute("aria-invalid", "true")
    assert browsing.axe() == []
    browsing.screenshot("console-sign-in-service-refused", full_page=True)
    browsing.open("/console")
    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")  # no session was made

    browsing.open("/console/language?to=ko&next=/console/sign-in")
    page.get_by_label("API 토큰 또는 JWT").fill(make_token(server, "service"))
    page.get_by_role("button", name="로그인").click()
    expect(page.get_by_role("alert")).to_contain_text("콘솔을 사용할 수 없습니다")
    # Chromium logs each 4xx document as an error: the two refusals' own 403s, and nothing else.
    browsing.settled(403, 403)
    browsing.screenshot("console-sign-in-service-refused-ko", full_page=True)


def test_a_branch_operator_signs_in(browsing: Browsing, server: LiveServer) -> None:
    page = browsing.sign_in(make_token(server, "branch", region="EU", country="DE", branch="DE-0001"))
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    assert browsing.errors == []
    assert browsing.blocked == []
