"""The Features page in chromium, on a server of this module's own (these tests change flags): an admin
switches a flag by its name and the API shows it, creates a flag whose description is inert markup,
reads a flag's history; a region operator switches only its region's overridable flags; a branch
operator has no such page; and the page in Korean. axe on each state, no CSP or script error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer

from .conftest import Browsing, admin_api, make_token, served

FEATURES = "/operator/ops/features"
EVIL = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with served(tmp_path_factory, "features-server") as live:
        yield live


def api(server: LiveServer, path: str, **params: str) -> dict[str, object]:
    with admin_api(server) as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_an_admin_switches_a_flag_by_its_name_and_the_api_shows_it(
    browsing: Browsing, server: LiveServer
) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Features").click()
    expect(page.get_by_role("heading", name="Features", exact=True)).to_be_visible()
    switch = page.get_by_role("switch", name="quiz_auto_generate", exact=True)
    expect(switch).to_have_attribute("aria-checked", "false")
    browsing.settled()

    switch.click()

    expect(switch).to_have_attribute("aria-checked", "true")
    expect(switch).to_be_focused()  # the row was swapped; the keyboard stays where it was
    assert api(server, FEATURES)["quiz_auto_generate"] is True
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    assert api(server, FEATURES)["quiz_auto_generate"] is False

    # An override for a region the matrix does not show yet: show its column, then switch the cell.
    page.get_by_label("Show a place's column").fill("APAC")
    page.get_by_role("button", name="Show", exact=True).click()
    page.get_by_role("switch", name="quiz_auto_generate APAC", exact=True).click()
    expect(page.get_by_role("switch", name="quiz_auto_generate APAC", exact=True)).to_have_attribute(
        "aria-checked", "true"
    )
    assert api(server, f"{FEATURES}/quiz_auto_generate")["overrides"] == {"APAC": True}
    browsing.screenshot("console-features-admin", full_page=True)
    browsing.settled()

    page.get_by_role("button", name="Reset quiz_auto_generate APAC to the default").click()
    expect(page.get_by_role("switch", name="quiz_auto_generate APAC", exact=True)).to_have_attribute(
        "aria-checked", "false"
    )
    assert api(server, f"{FEATURES}/quiz_auto_generate")["overrides"] == {}
    browsing.settled()


def test_an_admin_creates_a_flag_whose_description_is_inert_text(
    browsing: Browsing, server: LiveServer
) -> None:
    dialogs: list[str] = []
    browsing.page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/features")
    page.get_by_label("Key", exact=True).fill("Bad Key")
    page.get_by_role("button", name="Create flag").click()
    key = page.get_by_label("Key", exact=True)
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("This is not a valid key")).to_be_visible()
    browsing.settled(422)  # the page's own status, and nothing else

    key.fill("coach_tips")
    page.get_by_label("Description").fill(EVIL)
    page.get_by_label("Regions may override it").check()
    page.get_by_role("button", name="Create flag").click()

    expect(page.get_by_role("switch", name="coach_tips", exact=True)).to_have_attribute(
        "aria-checked", "false"
    )
    expect(page.get_by_text(EVIL)).to_be_visible()
    assert page.locator("main img").count() == 0
    assert dialogs == []
    detail = api(server, f"{FEATURES}/coach_tips")
    assert (detail["description"], detail["regionOverridable"]) == (EVIL, True)

    page.get_by_role("link", name="History of coach_tips").click()
    expect(page.get_by_role("heading", name="History of coach_tips")).to_be_visible()
    expect(page.get_by_text("Created")).to_be_visible()
    expect(page.get_by_text(EVIL)).to_be_visible()
    browsing.settled()


def test_a_region_operator_switches_only_its_regions_overridable_flags(
    browsing: Browsing, server: LiveServer
) -> None:
    page = browsing.sign_in(make_token(server, "region", region="EU"))
    browsing.open("/console/features")
    expect(page.get_by_role("columnheader", name="EU")).to_be_visible()
    expect(page.get_by_role("columnheader", name="APAC")).to_have_count(0)
    expect(page.get_by_role("switch", name="quiz_auto_generate", exact=True)).to_have_count(0)
    expect(page.get_by_role("switch", name="insight_generation EU")).to_be_disabled()
    expect(page.get_by_role("button", name="Create flag")).to_have_count(0)
    browsing.settled()

    mission = page.get_by_role("switch", name="mission_auto_assign EU")
    expect(mission).to_have_attribute("aria-checked", "true")
    mission.click()

    expect(mission).to_have_attribute("aria-checked", "false")
    assert api(server, FEATURES, region="EU")["mission_auto_assign"] is False
    assert api(server, FEATURES)["mission_auto_assign"] is True  # the global default is untouched
    browsing.screenshot("console-features-region", full_page=True)
    browsing.settled()

    page.get_by_role("button", name="Reset mission_auto_assign EU to the default").click()
    expect(mission).to_have_attribute("aria-checked", "true")
    assert api(server, f"{FEATURES}/mission_auto_assign")["overrides"] == {}
    browsing.settled()


def test_a_branch_operator_has_no_features_page(browsing: Browsing, server: LiveServer) -> None:
    page = browsing.sign_in(make_token(server, "branch", branch="DE-0001"))
    expect(page.get_by_role("link", name="Features")).to_have_count(0)
    browsing.open("/console/features")
    expect(page.get_by_role("heading", name="Error 403")).to_be_visible()
    expect(page.get_by_text("Your role does not allow this page.")).to_be_visible()
    assert browsing.axe() == []
    assert browsing.blocked == []


def test_the_features_page_in_korean(browsing: Browsing, screenshots: Path) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/language?to=ko&next=/console/features")
    expect(page.get_by_role("heading", name="기능 플래그", exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="전역 기본값")).to_be_visible()
    expect(page.get_by_role("button", name="플래그 만들기")).to_be_visible()
    expect(page.get_by_role("switch", name="quiz_auto_generate", exact=True)).to_be_visible()
    browsing.screenshot("console-features-admin-ko", full_page=True)
    browsing.settled()
