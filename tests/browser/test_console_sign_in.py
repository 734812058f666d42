"""The console in chromium: `/` leads to sign-in, a pasted token opens the Overview, and sign-out ends the
session; the session cookie is out of the page's reach (HttpOnly) and nothing leaves 127.0.0.1."""

from __future__ import annotations

from playwright.sync_api import expect

from conftest import ADMIN_TOKEN

from .conftest import Browsing

ENGINES = ("scenario", "prompt", "difficulty", "content", "gamification", "missions", "upm", "insights")


def test_an_admin_signs_in_sees_the_overview_and_signs_out(browsing: Browsing) -> None:
    page = browsing.open("/")
    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")
    browsing.screenshot("console-sign-in")
    assert browsing.axe() == []

    page.get_by_label("API token or JWT").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{browsing.base_url}/console")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    for engine in ENGINES:
        expect(page.get_by_role("rowheader", name=engine, exact=True)).to_be_visible()
    browsing.screenshot("console-overview-admin", full_page=True)
    assert browsing.axe() == []
    # The session id is an HttpOnly cookie: the page's scripts cannot read it, so no token-like value
    # is ever within their reach.
    assert "tops_" not in page.evaluate("document.cookie")
    assert ADMIN_TOKEN not in page.content()

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")
    browsing.open("/console")
    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")
    assert browsing.blocked == []
    assert browsing.errors == []


def test_a_wrong_token_is_named_on_the_form(browsing: Browsing) -> None:
    page = browsing.open("/console/sign-in")
    page.get_by_label("API token or JWT").fill("tops_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("This token is not accepted")).to_be_visible()
    expect(page).to_have_url(f"{browsing.base_url}/console/sign-in")
    assert browsing.blocked == []


def test_the_accessibility_check_does_report_a_serious_violation(browsing: Browsing) -> None:
    # The harness itself: a control with no accessible name must be found, or `axe() == []` proves nothing.
    page = browsing.open("/console/sign-in")
    page.evaluate("document.querySelector('main').append(document.createElement('select'))")
    assert [violation["id"] for violation in browsing.axe()] == ["select-name"]
