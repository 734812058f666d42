"""The console without a mouse: sign in with the keyboard, the first Tab reaches "Skip to content", the
navigation is reachable by Tab, and a flag's switch flips with Space and keeps the focus."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import Browsing, Operators


def test_an_operator_signs_in_and_flips_a_switch_with_the_keyboard_alone(
    browsing: Browsing, operators: Operators
) -> None:
    page = browsing.open("/console/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.locator("#token").focus()
    page.keyboard.type(operators.admin)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{browsing.base_url}/console")

    page.keyboard.press("Tab")  # the skip link, then the navigation's links in order
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Features", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Features", exact=True)).to_be_visible()

    switch = page.get_by_role("switch", name="quiz_auto_generate", exact=True)
    before = switch.get_attribute("aria-checked")
    after = "false" if before == "true" else "true"
    switch.focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("switch", name="quiz_auto_generate", exact=True)).to_have_attribute(
        "aria-checked", after
    )
    expect(page.get_by_role("switch", name="quiz_auto_generate", exact=True)).to_be_focused()
    page.keyboard.press("Space")  # and back: the session's server is shared with other tests
    expect(page.get_by_role("switch", name="quiz_auto_generate", exact=True)).to_have_attribute(
        "aria-checked", before or ""
    )
    browsing.settled()
