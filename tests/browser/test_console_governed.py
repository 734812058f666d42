"""Governance in the console, in chromium, on a server of this module's own (its tests write): a region
operator reloads its country from the Engines page and sees only that country's instances answer; the
admin's engine page lists the activation per place; a model-config save under approvals becomes a
change request that a second admin approves in the console. axe clean, screenshots kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply

from .conftest import Browsing, admin_api, make_token, served

ONE_OTHER_ADMIN = {"minApprovals": 1, "approvers": ["admin"], "selfApproval": False}
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]},
                {"code": "JP", "name": "Japan"},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


class PlacedInstance:
    """An engine instance in a place (an SDK started with `place=`), answering at once."""

    def __init__(self, instance_id: str, place: str) -> None:
        self.instance_id = instance_id
        self.place = place
        self.asked: list[str] = []

    def apply(self, command: Command) -> Reply:
        self.asked.append(command.target_id)
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server: a places catalogue, a content ruleset, and model config under approval."""
    with served(tmp_path_factory, "governed-server") as live, admin_api(live) as api:
        assert api.put("/operator/ops/places", json=CATALOGUE).status_code == 200
        ruleset = {"transforms": [], "allowedFormats": ["text/plain"]}
        assert api.put("/operator/ops/engines/content/rulesets/c-kr", json=ruleset).status_code in (200, 201)
        policy: dict[str, Any] = api.get("/operator/ops/policy").json()
        policy["operations"]["model_config.update"]["admin"] = {"approvals": ONE_OTHER_ADMIN}
        assert api.put("/operator/ops/policy", json=policy).status_code == 200
        yield live


def test_a_region_operator_reloads_its_country_and_the_admin_sees_it_per_place(
    browsing: Browsing, server: LiveServer
) -> None:
    assert server.ops is not None
    seoul, berlin = PlacedInstance("sdk/seoul", "KR"), PlacedInstance("sdk/berlin", "DE")
    for instance in (seoul, berlin):
        server.ops.engines.add_instance("content", instance)
    page = browsing.sign_in(make_token(server, "region", user="region-park", region="APAC"))
    page.get_by_role("link", name="Engines", exact=True).click()
    page.get_by_label("Ruleset to load into content").fill("c-kr")
    place = page.get_by_label("Place to reload content for")
    expect(place.locator("option")).to_have_text(
        [
            "Every place (global)",
            "APAC · Asia Pacific",
            re.compile("KR · Korea"),
            re.compile("KR-0012"),
            re.compile("JP"),
        ]
    )
    place.select_option("KR")
    page.get_by_role("button", name="Reload content").click()
    progress = page.locator("#reload-progress")
    expect(progress.get_by_text(re.compile("^Applied: content runs c-kr at KR"))).to_be_visible()
    expect(progress.get_by_text("Reloading content with ruleset c-kr for KR only…")).to_be_visible()
    expect(progress.locator("tr.ev-ack")).to_have_count(1)
    expect(progress.locator("tr.ev-ack")).to_contain_text("sdk/seoul")
    browsing.screenshot("console-reload-scoped", full_page=True)
    browsing.settled()
    assert (seoul.asked, berlin.asked) == (["c-kr"], [])

    page.context.clear_cookies()
    browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/engines/content?at=KR-0012")
    activations = page.get_by_role("table", name="Activations of content by place")
    expect(activations.get_by_role("row", name=re.compile("^KR c-kr"))).to_contain_text("region-park")
    expect(page.get_by_role("status")).to_contain_text("An instance at KR-0012 runs c-kr")
    browsing.screenshot("console-engine-activations", full_page=True)
    browsing.settled()


def test_a_governed_save_becomes_a_request_that_a_second_admin_approves(
    browsing: Browsing, server: LiveServer
) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Model config", exact=True).click()
    expect(page.get_by_text(re.compile("The policy asks 1 approval"))).to_be_visible()
    page.get_by_label("Temperature").fill("0.3")
    expect(page.get_by_label(re.compile("^Apply at"))).to_have_value("")
    browsing.screenshot("console-governed-form", full_page=True)
    browsing.settled()
    page.get_by_role("button", name="Send for approval").click()
    expect(page.get_by_role("status")).to_have_text(
        "Sent for approval: it needs 1 approval before it is applied."
    )
    request_id = page.url.split("/")[-1].split("?")[0]
    browsing.screenshot("console-governed-sent", full_page=True)
    browsing.settled()
    with admin_api(server) as api:
        assert api.get("/operator/ops/model-config").json()["temperature"] != 0.3

    page.context.clear_cookies()
    browsing.sign_in(make_token(server, "admin", user="bob"))
    browsing.open(f"/console/change-requests/{request_id}")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_have_text("Approved. The request is now applied.")
    browsing.settled()
    with admin_api(server) as api:
        assert api.get("/operator/ops/model-config").json()["temperature"] == 0.3
        shown = api.get(f"/operator/ops/change-requests/{request_id}").json()
    assert (shown["state"], shown["author"]["userId"]) == ("applied", "bootstrap-admin")


def test_a_feature_switch_with_an_apply_at_becomes_a_scheduled_change(
    browsing: Browsing, server: LiveServer
) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Features", exact=True).click()
    # The switches' own "apply at" (the create form below has another).
    switches = page.get_by_role("region", name="When to apply a switch")
    switches.get_by_label(re.compile("^Apply at")).fill("2027-01-01T06:00")
    page.get_by_role("switch", name="quiz_auto_generate", exact=True).click()
    # htmx sends the page's "apply at" with the switch (hx-include) and follows HX-Redirect.
    expect(page.get_by_role("status")).to_have_text(
        re.compile("^Scheduled: it is applied at 2027-01-01 06:00:00")
    )
    browsing.settled()
    with admin_api(server) as api:
        request_id = page.url.split("/")[-1].split("?")[0]
        shown = api.get(f"/operator/ops/change-requests/{request_id}").json()
        assert (shown["state"], shown["params"]["featureKey"]) == ("approved", "quiz_auto_generate")
        assert api.get("/operator/ops/features").json()["quiz_auto_generate"] is False


def test_a_governed_rollback_is_sent_for_approval_from_the_release_page(
    browsing: Browsing, server: LiveServer
) -> None:
    with admin_api(server) as api:
        created = api.post("/operator/ops/releases", json={"version": "9.9.0", "notes": "before the change"})
        assert created.status_code in (200, 201), created.text
        policy: dict[str, Any] = api.get("/operator/ops/policy").json()
        policy["operations"]["release.rollback"]["admin"] = {"approvals": ONE_OTHER_ADMIN}
        assert api.put("/operator/ops/policy", json=policy).status_code == 200
        before = api.get("/operator/ops/releases").json()
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/releases/9.9.0")
    expect(page.get_by_text(re.compile("The policy asks 1 approval"))).to_be_visible()
    page.get_by_label(re.compile("9.9.0")).last.fill("9.9.0")
    browsing.screenshot("console-governed-rollback", full_page=True)
    page.get_by_role("button", name="Send rollback to 9.9.0 for approval").click()
    expect(page.get_by_role("status")).to_have_text(
        "Sent for approval: it needs 1 approval before it is applied."
    )
    browsing.settled()
    with admin_api(server) as api:
        assert api.get("/operator/ops/releases").json() == before  # nothing rolled back yet
        request_id = page.url.split("/")[-1].split("?")[0]
        asked = api.get(f"/operator/ops/change-requests/{request_id}").json()
    assert (asked["operation"], asked["state"]) == ("release.rollback", "pending")
