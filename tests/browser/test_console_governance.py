"""Places and Policy in chromium, on a server of this module's own (these tests write): an admin sees the
catalogue's tree, adds a country through the JSON editor and sees the new tree, meets a refused edit at
its path; sees the policy's default rules as a matrix and a lock-out edit refused in words; a region
operator is refused both pages; one look in Korean. Every state passes axe under the page's CSP."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.app import Ops

from .conftest import Browsing, admin_api, make_token, served

PLACES = "/console/places"
POLICY = "/console/policy"
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "대한민국", "branches": [{"code": "KR-0012", "name": "강남"}]}
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server (overrides the session's): its tests change the catalogue and policy."""
    with served(tmp_path_factory, "governance-server") as live:
        with admin_api(live) as api:
            assert api.put("/operator/ops/places", json=CATALOGUE).status_code == 200
        yield live


def ops_of(server: LiveServer) -> Ops:
    assert server.ops is not None
    return server.ops


def test_an_admin_sees_the_catalogue_and_adds_a_country(browsing: Browsing, server: LiveServer) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.page
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Places").click()
    expect(page.get_by_role("heading", name="Places", exact=True)).to_be_visible()
    version = ops_of(server).places.current().version
    expect(page.get_by_role("heading", name=f"Catalogue version {version} in force")).to_be_visible()
    tree = page.get_by_role("list", name=f"Catalogue version {version} in force")
    expect(tree.get_by_role("listitem").filter(has_text="KR-0012").last).to_contain_text("강남")
    browsing.screenshot("console-places-admin", full_page=True)
    browsing.settled()

    wider = json.loads(json.dumps(CATALOGUE))
    wider["regions"][1]["countries"].append({"code": "fr", "name": "France"})
    page.get_by_label(re.compile("^The catalogue as JSON")).fill(json.dumps(wider, indent=2))
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_role("status")).to_have_text(f"Saved as version {version + 1}.")
    tree = page.get_by_role("list", name=f"Catalogue version {version + 1} in force")
    expect(tree.get_by_role("listitem").filter(has_text="FR").last).to_contain_text("France")
    countries = ops_of(server).places.current().document["regions"][1]["countries"]
    assert [c["code"] for c in countries] == ["DE", "FR"]
    browsing.settled()


def test_a_bad_catalogue_shows_the_path_of_each_error(browsing: Browsing, server: LiveServer) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(PLACES)
    before = ops_of(server).places.current().version
    twice = {"regions": [{"code": "EU", "name": "Europe", "countries": [{"code": "eu", "name": "again"}]}]}
    editor = page.get_by_label(re.compile("^The catalogue as JSON"))
    editor.fill(json.dumps(twice))
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_role("alert")).to_contain_text("regions.0.countries.0.code")
    expect(editor).to_have_attribute("aria-invalid", "true")
    expect(editor).to_have_accessible_description(re.compile("regions.0.countries.0.code"))
    assert ops_of(server).places.current().version == before
    browsing.screenshot("console-places-invalid", full_page=True)
    browsing.settled(422)  # the refused edit's own status


def test_the_policy_matrix_shows_the_default_rules(browsing: Browsing) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.page
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Policy").click()
    expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()
    matrix = page.get_by_role("table", name=re.compile("^Operations by role"))
    reload_row = matrix.get_by_role("row", name=re.compile(r"^hot_reload"))
    cells = reload_row.get_by_role("cell")
    expect(cells.nth(0)).to_have_text("Allowed")
    expect(cells.nth(1)).to_contain_text("own_scope")
    expect(cells.nth(1)).to_contain_text("gamification")
    expect(cells.nth(2)).not_to_contain_text("gamification")
    expect(cells.nth(3)).to_have_text("Denied")
    model_row = matrix.get_by_role("row", name=re.compile(r"^model_config\.update"))
    expect(model_row.get_by_role("cell")).to_have_text(["Allowed", "Denied", "Denied", "Denied", "Denied"])
    browsing.screenshot("console-policy-admin", full_page=True)
    browsing.settled()


def test_a_lock_out_edit_is_refused_with_its_explanation(browsing: Browsing, server: LiveServer) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(POLICY)
    before = ops_of(server).policy_editor.current().version
    editor = page.get_by_label(re.compile("^The policy as JSON"))
    editor.fill(json.dumps({"operations": {"policy.update": {}}}))
    page.get_by_role("button", name="Save as a new version").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("This policy would lock everyone out of the policy")
    expect(alert).to_contain_text("nobody could ever change it again")
    expect(editor).to_have_value(re.compile('"policy.update"'))  # the operator's text is kept
    assert ops_of(server).policy_editor.current().version == before
    browsing.screenshot("console-policy-lockout", full_page=True)
    browsing.settled(409)  # the refusal's own status


def test_a_region_operator_has_no_links_and_is_refused(browsing: Browsing, server: LiveServer) -> None:
    browsing.sign_in(make_token(server, "region", region="EU"))
    page = browsing.page
    nav = page.get_by_role("navigation", name="Console pages")
    expect(nav.get_by_role("link", name="Places")).to_have_count(0)
    expect(nav.get_by_role("link", name="Policy")).to_have_count(0)
    browsing.settled()
    for path in (PLACES, POLICY):
        browsing.open(path)
        expect(page.get_by_role("heading", name="Error 403")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text("Your role does not allow this page.")
        expect(page.get_by_role("textbox")).to_have_count(0)
        browsing.settled(403)  # the refused page's own status, and nothing else


def test_the_pages_in_korean(browsing: Browsing) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(f"/console/language?to=ko&next={PLACES}")
    expect(page.get_by_role("heading", name="장소", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="새 버전으로 저장")).to_be_visible()
    browsing.screenshot("console-places-ko", full_page=True)
    browsing.settled()
    browsing.open(POLICY)
    expect(page.get_by_role("heading", name="권한 정책", exact=True)).to_be_visible()
    matrix = page.get_by_role("table", name=re.compile("^작업별"))
    expect(matrix.get_by_role("row", name=re.compile(r"^audit\.read"))).to_contain_text("허용")
    browsing.screenshot("console-policy-ko", full_page=True)
    browsing.settled()
