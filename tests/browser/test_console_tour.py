"""The README's tour, done by an admin in the console alone, in chromium: model config, features (a
global default and KR's override), limits, a ruleset uploaded and hot-reloaded, two releases and a
rollback, health and diagnostics, the audit filtered. Each step is checked against the API afterwards.
The viewport screenshots named `tour-*` are the ones docs/screenshots/ shows in the README."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import ADMIN_TOKEN, LiveServer

from .conftest import Browsing, admin_api, served

RULESET = {
    "scenarios": [
        {"id": "upsell", "title": "Suggest an accessory", "objectives": ["offer one"], "difficulty": 2}
    ]
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Samples every half second, so the Overview's charts have points by the time the tour gets there.
    with served(tmp_path_factory, "tour-server", overview_sample_seconds=0.5) as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with admin_api(server) as client:
        yield client


def visit(page: Page, link: str, heading: str) -> None:
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def model_config(page: Page, browsing: Browsing) -> None:
    visit(page, "Model config", "Model config")
    page.get_by_label("Temperature").fill("0.2")
    page.get_by_label("Tone profile", exact=True).select_option("coaching")
    page.get_by_role("combobox", name="Language").fill("ko")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version 2")
    browsing.settled()
    page.get_by_role("link", name="History, comparison and restore").click()
    page.get_by_label("From version").fill("1")
    page.get_by_label("To version").fill("2")
    page.get_by_role("button", name="Compare").click()
    diff = page.get_by_role("table", name="Version 1 and version 2 side by side")
    expect(diff.get_by_role("row", name=re.compile(r"^temperature"))).to_contain_text("changed")
    browsing.screenshot("tour-model-config-history")
    browsing.settled()


def features(page: Page, browsing: Browsing) -> None:
    visit(page, "Features", "Features")
    page.get_by_role("switch", name="mission_auto_assign", exact=True).click()
    expect(page.get_by_role("switch", name="mission_auto_assign", exact=True)).to_have_attribute(
        "aria-checked", "false"
    )
    page.get_by_label("Show a place's column").fill("KR")
    page.get_by_role("button", name="Show", exact=True).click()
    kr = page.get_by_role("switch", name="quiz_auto_generate KR", exact=True)
    kr.click()
    expect(kr).to_have_attribute("aria-checked", "true")
    browsing.screenshot("tour-features")
    browsing.settled()


def limits(page: Page, browsing: Browsing) -> None:
    visit(page, "Limits", "Limits")
    page.get_by_label("AI calls per minute, per user").fill("120")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version")
    browsing.settled()


def hot_reload(page: Page, browsing: Browsing) -> None:
    visit(page, "Engines", "Engines & hot reload")
    page.get_by_role("link", name="Rulesets of scenario").first.click()
    page.get_by_label("Ruleset id").fill("ruleset_v12")
    page.get_by_label("Or paste the ruleset JSON").fill(json.dumps(RULESET))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Uploaded and validated.")).to_be_visible()
    browsing.settled()
    visit(page, "Engines", "Engines & hot reload")
    page.get_by_label("Ruleset to load into scenario").select_option("ruleset_v12")
    page.get_by_role("button", name="Reload scenario").click()
    expect(page.locator("#reload-progress").get_by_text("Applied: scenario runs ruleset_v12")).to_be_visible()
    browsing.settled()


def create_release(page: Page, version: str, notes: str, engines: tuple[str, ...]) -> None:
    visit(page, "Releases", "Releases")
    page.get_by_label("Version").fill(version)
    page.get_by_label("Notes").fill(notes)
    for engine in engines:
        page.get_by_role("checkbox", name=engine, exact=True).check()
    page.get_by_role("button", name="Create release").click()
    expect(page.get_by_text("Release created.")).to_be_visible()


def releases(page: Page, browsing: Browsing) -> None:
    create_release(page, "1.0.4", "Updated difficulty rules", ("difficulty",))
    create_release(
        page,
        "1.0.6",
        "Insight scoring adjustments + new content modules",
        ("insights", "content", "missions"),
    )
    visit(page, "Releases", "Releases")
    page.get_by_role("link", name="1.0.4", exact=True).click()
    page.get_by_label("Type 1.0.4 to confirm").fill("1.0.4")
    page.get_by_role("button", name="Roll back to 1.0.4").click()
    expect(page.get_by_text("Rolled back: release 1.0.4 is in force.")).to_be_visible()
    browsing.settled()


def health_and_audit(page: Page, browsing: Browsing) -> None:
    visit(page, "Overview", "Overview")
    expect(page.get_by_role("heading", name="This server, last hour")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^CPU"))).to_be_visible()
    browsing.screenshot("tour-overview")
    charts = page.get_by_role("heading", name="This server, last hour")
    page.evaluate("element => element.scrollIntoView({block: 'start'})", charts.element_handle())
    browsing.screenshot("tour-overview-charts")
    browsing.settled()
    visit(page, "Audit", "Audit log")
    page.get_by_label("User", exact=True).fill("bootstrap-admin")
    page.get_by_label("Action", exact=True).select_option("update_config")
    page.get_by_role("button", name="Apply filter").click()
    rows = page.get_by_role("rowheader")
    expect(rows.first).to_be_visible()
    browsing.screenshot("tour-audit")
    browsing.settled()


def test_an_admin_does_the_readme_tour_in_the_console_alone(browsing: Browsing, api: httpx.Client) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)

    model_config(page, browsing)
    features(page, browsing)
    limits(page, browsing)
    hot_reload(page, browsing)
    releases(page, browsing)
    health_and_audit(page, browsing)

    config = api.get("/operator/ops/model-config").json()
    assert (config["temperature"], config["toneProfile"], config["language"]) == (0.2, "coaching", "ko")
    assert api.get("/operator/ops/features").json()["mission_auto_assign"] is False
    assert api.get("/operator/ops/features", params={"region": "KR"}).json()["quiz_auto_generate"] is True
    assert api.get("/operator/ops/limits").json()["aiCallsPerMinute"] == 120
    engines = {row["type"]: row for row in api.get("/operator/ops/engines").json()}
    assert engines["scenario"]["activeTargetId"] == "ruleset_v12"
    listed = {row["version"]: row for row in api.get("/operator/ops/releases").json()}
    assert set(listed) == {"1.0.4", "1.0.6"}
    assert listed["1.0.4"]["current"] is True
    params = {"action": "update_config,reload,publish", "userId": "bootstrap-admin"}
    changes = [
        (entry["action"], entry["details"].get("via"))
        for entry in api.get("/operator/ops/audit", params=params).json()["items"]
    ]
    # Model config, two features, limits; the reload; two releases and the rollback: all from the console.
    assert sorted(changes) == sorted(
        [("update_config", "console")] * 4 + [("reload", "console")] + [("publish", "console")] * 3
    )
    assert browsing.blocked == []
