"""Model config and Limits in chromium, on a server of this module's own (these tests write): an admin
edits, meets a conflict and re-applies, compares and restores versions, and watches live usage; region
and branch operators are refused; every state passes axe under the page's CSP; one look in Korean."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops

from .conftest import Browsing, make_token, served

MODEL_CONFIG = "/console/model-config"
LIMITS = "/console/limits"


@dataclass(frozen=True)
class Tokens:
    region: str
    branch: str
    engine: str  # a service token calling the AI gateway


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server (overrides the session's): its tests change the documents."""
    with served(tmp_path_factory, "documents-server") as live:
        yield live


@pytest.fixture(scope="module")
def tokens(server: LiveServer) -> Tokens:
    return Tokens(
        region=make_token(server, "region", region="EU"),
        branch=make_token(server, "branch", region="EU", country="DE", branch="DE-0001"),
        engine=make_token(server, "service", user="engine-7"),
    )


def ops_of(server: LiveServer) -> Ops:
    assert server.ops is not None
    return server.ops


def someone_else_changes(server: LiveServer, **changes: object) -> int:
    """A change by another admin while the operator has the form open (as through the API)."""
    other = Principal(user_id="ops-lee", role=Role.ADMIN)
    editor = ops_of(server).model_config
    return editor.update(principal=other, changes=changes, if_match=None, request_id="elsewhere").version


def test_an_admin_edits_the_temperature_and_tone_and_sees_the_new_version(
    browsing: Browsing, server: LiveServer
) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.page
    page.get_by_role("link", name="Model config").click()
    expect(page.get_by_role("heading", name="Model config", exact=True)).to_be_visible()
    version = ops_of(server).model_config.current().version
    expect(page.get_by_role("heading", name=f"Version {version} in force")).to_be_visible()
    browsing.screenshot("console-model-config-admin", full_page=True)
    browsing.settled()

    page.get_by_label("Temperature").fill("0.7")
    page.get_by_label("Tone profile", exact=True).select_option("coaching")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("status")).to_have_text(f"Saved as version {version + 1}.")
    expect(page.get_by_label("Temperature")).to_have_value("0.7")
    expect(page.get_by_label("Tone profile", exact=True)).to_have_value("coaching")
    current = ops_of(server).model_config.current()
    assert (current.version, current.document["temperature"], current.document["toneProfile"]) == (
        version + 1,
        0.7,
        "coaching",
    )
    browsing.settled()


def test_a_stale_save_shows_the_other_change_and_re_applies_on_the_newest(
    browsing: Browsing, server: LiveServer
) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(MODEL_CONFIG)
    page.get_by_label("Temperature").fill("1.1")
    newest = someone_else_changes(server, language="ko", maxTokens=2048)

    page.get_by_role("button", name="Save", exact=True).click()

    expect(
        page.get_by_role("heading", name="Someone saved a newer version while you were editing")
    ).to_be_visible()
    others = page.get_by_role("table", name="The other change")
    expect(others.get_by_role("row", name=re.compile(rf"^{newest} ops-lee"))).to_be_visible()
    diff = page.get_by_role("table", name=re.compile("Differences between version"))
    expect(diff.get_by_role("row", name=re.compile(r"^language"))).to_contain_text('"ko"')
    expect(page.get_by_label("Temperature")).to_have_value("1.1")  # the operator's input is kept
    expect(page.get_by_role("combobox", name="Language")).to_have_value("ko")  # on top of the other change
    browsing.screenshot("console-model-config-conflict", full_page=True)
    browsing.settled(412)  # the conflict's own status

    page.get_by_role("button", name=f"Save my changes on version {newest}").click()

    expect(page.get_by_role("status")).to_have_text(f"Saved as version {newest + 1}.")
    document = ops_of(server).model_config.current().document
    assert (document["temperature"], document["language"], document["maxTokens"]) == (1.1, "ko", 2048)
    browsing.settled()


def test_an_invalid_value_is_named_at_its_field(browsing: Browsing, server: LiveServer) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(MODEL_CONFIG)
    before = ops_of(server).model_config.current().version
    page.get_by_label("Temperature").fill("5")
    page.get_by_role("button", name="Save", exact=True).click()

    field = page.get_by_label("Temperature")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("Must be at most 2."))
    assert ops_of(server).model_config.current().version == before
    browsing.settled(422)  # the refused value's own status


def test_the_history_compares_two_versions_and_restores_one(browsing: Browsing, server: LiveServer) -> None:
    someone_else_changes(server, temperature=1.5)
    newest = ops_of(server).model_config.current().version
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(MODEL_CONFIG)
    page.get_by_role("link", name="History, comparison and restore").click()

    page.get_by_label("From version").fill("1")
    page.get_by_label("To version").fill(str(newest))
    page.get_by_role("button", name="Compare").click()

    diff = page.get_by_role("table", name=f"Version 1 and version {newest} side by side")
    expect(diff.get_by_role("row", name=re.compile(r"^temperature"))).to_contain_text("changed")
    browsing.screenshot("console-model-config-history", full_page=True)
    browsing.settled()

    page.get_by_role("link", name="Restore version 1…").click()
    expect(page.get_by_role("heading", name=re.compile("^Restore version 1"))).to_be_visible()
    browsing.settled()
    page.get_by_role("button", name="Restore version 1 as a new version").click()

    expect(page.get_by_role("status")).to_have_text(f"Version 1 restored as version {newest + 1}.")
    current = ops_of(server).model_config.current()
    assert current.version == newest + 1
    assert current.document["temperature"] == 0.4
    browsing.settled()


def test_limits_show_the_form_and_live_usage(browsing: Browsing, server: LiveServer, tokens: Tokens) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(LIMITS)
    expect(page.get_by_role("heading", name="Live usage")).to_be_visible()
    expect(page.get_by_text("No AI calls in the last minute.")).to_be_visible()

    # A gateway caller appears at the next poll (every 5 s), without reloading the page.
    answer = httpx.post(
        f"{server.url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {tokens.engine}"},
    )
    assert answer.status_code == 200
    callers = page.get_by_role("table", name=re.compile("Callers of the last minute"))
    expect(callers.get_by_role("row", name=re.compile("^engine-7"))).to_contain_text(
        "1 of 60", timeout=12_000
    )
    browsing.screenshot("console-limits-admin", full_page=True)
    browsing.settled()

    page.get_by_label("AI calls per minute, per user").fill("90")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Saved as version")
    assert ops_of(server).limits.current().document["aiCallsPerMinute"] == 90
    expect(callers.get_by_role("row", name=re.compile("^engine-7"))).to_contain_text("1 of 90")
    browsing.settled()


@pytest.mark.parametrize("who", ["region", "branch"])
def test_operators_below_admin_have_no_links_and_are_refused(
    browsing: Browsing, tokens: Tokens, who: str
) -> None:
    browsing.sign_in(getattr(tokens, who))
    page: Page = browsing.page
    nav = page.get_by_role("navigation", name="Console pages")
    expect(nav.get_by_role("link", name="Model config")).to_have_count(0)
    expect(nav.get_by_role("link", name="Limits")).to_have_count(0)
    for path in (MODEL_CONFIG, LIMITS):
        browsing.open(path)
        expect(page.get_by_role("heading", name="Error 403")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_text("Your role does not allow this page.")
        expect(page.get_by_label("Temperature")).to_have_count(0)
        browsing.settled(403)  # the refused page's own status, and nothing else
    browsing.screenshot(f"console-model-config-{who}-refused")


def test_the_pages_in_korean(browsing: Browsing) -> None:
    browsing.sign_in(ADMIN_TOKEN)
    page = browsing.open(f"/console/language?to=ko&next={MODEL_CONFIG}")
    expect(page.get_by_role("heading", name="모델 설정", exact=True)).to_be_visible()
    expect(page.get_by_label("어조 프로필", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="저장", exact=True)).to_be_visible()
    browsing.screenshot("console-model-config-ko", full_page=True)
    browsing.settled()
    browsing.open(LIMITS)
    expect(page.get_by_role("heading", name="실시간 사용량")).to_be_visible()
    browsing.screenshot("console-limits-ko", full_page=True)
    browsing.settled()
