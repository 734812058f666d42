"""Engines & hot reload and Releases in chromium, on a server of this module's own (these tests write):
a pasted ruleset's errors at its field, an upload, a clean reload's ACKs, a reload that an SDK instance
NACKs shown live with its rollback, releases created, compared and rolled back after typing the
version, what region and branch operators see, and a look in Korean."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops_sdk import OpsClient

from .conftest import Browsing, admin_api, make_token, served

BROKEN = "application/x-broken"
EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server: its reloads and releases never touch the session's."""
    with served(tmp_path_factory, "engines-server") as live:
        yield live


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with admin_api(server) as client:
        yield client


@pytest.fixture(scope="module")
def sdk_instance(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsClient]:
    """An engine embedding the SDK (its own threads): it takes a moment over each content ruleset and
    refuses one format, so its NACK arrives after the server's own instance has ACKed."""
    answered = threading.Event()

    def handler(ruleset: dict[str, Any]) -> None:
        answered.wait(1.0)  # never set: a pause of a second, so the page shows the rows one by one
        if ruleset["allowedFormats"] == [BROKEN]:
            raise ValueError("unsupported format")

    client = OpsClient(
        server.url,
        token=make_token(server, "service"),
        cache_path=tmp_path_factory.mktemp("sdk") / "lkg.json",
        instance_id="sdk-engine-1",
        max_backoff=0.2,
    )
    client.on_reload("content", handler)
    client.start()
    assert client.connected.wait(10)
    yield client
    client.close()


def test_an_admin_uploads_rulesets_and_watches_reloads_live(
    browsing: Browsing, api: httpx.Client, sdk_instance: OpsClient
) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Engines", exact=True).click()
    expect(page.get_by_role("heading", name="Engines & hot reload")).to_be_visible()
    expect(page.get_by_role("cell", name="sdk-engine-1")).to_be_visible()
    browsing.screenshot("console-engines-admin", full_page=True)
    browsing.settled()

    page.get_by_role("link", name="Rulesets of content").first.click()
    bad = {"transforms": [], "allowedFormats": "text/plain"}
    page.get_by_label("Ruleset id").fill("c-bad")
    page.get_by_label("Or paste the ruleset JSON").fill(json.dumps(bad))
    page.get_by_role("button", name="Upload").click()
    pasted = page.get_by_label("Or paste the ruleset JSON")
    expect(pasted).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ruleset-errors code.path")).to_have_text("allowedFormats")
    browsing.screenshot("console-ruleset-upload-error", full_page=True)
    browsing.settled(422)  # the refused form's own status

    page.get_by_label("Ruleset id").fill("c-good")
    pasted.fill(json.dumps({"transforms": [], "allowedFormats": ["text/markdown"]}))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Uploaded and validated.")).to_be_visible()
    expect(page.get_by_text('"text/markdown"')).to_be_visible()
    browsing.settled()

    browsing.open("/console/engines")
    page.get_by_label("Ruleset to load into content").select_option("c-good")
    page.get_by_role("button", name="Reload content").click()
    progress = page.locator("#reload-progress")
    expect(progress.get_by_text("Applied: content runs c-good")).to_be_visible()
    expect(progress.locator("tr.ev-ack")).to_have_count(2)  # this server's instance and the SDK's
    browsing.settled()

    api.put(
        "/operator/ops/engines/content/rulesets/c-broken", json={"transforms": [], "allowedFormats": [BROKEN]}
    )
    browsing.open("/console/engines")
    page.get_by_label("Ruleset to load into content").select_option("c-broken")
    page.get_by_role("button", name="Reload content").click()
    # Live: the server's own instance ACKs at once, while the SDK instance is still thinking.
    expect(progress.locator("tr.ev-ack")).to_have_count(1)
    assert page.locator("#reload-outcome").inner_text() == ""
    nack = progress.locator("tr.ev-nack")
    expect(nack).to_contain_text("sdk-engine-1")
    expect(nack).to_contain_text("unsupported format")
    expect(progress.locator("tr.ev-rollback")).to_contain_text("Every instance is back on c-good.")
    expect(progress.get_by_text("Rolled back: an instance refused")).to_be_visible()
    browsing.screenshot("console-reload-rollback", full_page=True)
    browsing.settled()
    engines = {row["type"]: row for row in api.get("/operator/ops/engines").json()}
    assert engines["content"]["activeTargetId"] == "c-good"


def test_an_admin_creates_compares_and_rolls_back_a_release(browsing: Browsing, api: httpx.Client) -> None:
    dialogs: list[str] = []
    page = browsing.sign_in(ADMIN_TOKEN)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("link", name="Releases", exact=True).click()
    page.get_by_label("Version").fill("1.0.4")
    page.get_by_label("Notes").fill("Updated difficulty rules")
    page.get_by_role("checkbox", name="content").check()
    page.get_by_role("button", name="Create release").click()
    expect(page.get_by_text("Release created.")).to_be_visible()

    before = api.get("/operator/ops/engines").json()
    target = "c-next"
    api.put(
        "/operator/ops/engines/content/rulesets/c-next",
        json={"transforms": [], "allowedFormats": ["text/csv"]},
    )
    assert (
        api.post("/operator/ops/hot-reload", json={"type": "content", "targetId": target}).status_code == 200
    )
    browsing.open("/console/releases")
    page.get_by_label("Version").fill("1.0.5")
    page.get_by_label("Notes").fill(f"notes with {EVIL}")
    page.get_by_role("checkbox", name="content").check()
    page.get_by_role("button", name="Create release").click()
    browsing.open("/console/releases")
    expect(page.get_by_text(f"notes with {EVIL}")).to_be_visible()  # shown as text, never run
    assert page.locator("img").count() == 0
    assert dialogs == []
    browsing.settled()

    page.get_by_role("link", name="1.0.4").click()
    diff = page.get_by_role("table", name="Now compared with release 1.0.4")
    expect(diff.locator("tr.diff-changed")).to_contain_text("engines.content")
    button = page.get_by_role("button", name="Roll back to 1.0.4")
    expect(button).to_be_disabled()
    page.get_by_label("Type 1.0.4 to confirm").fill("1.0.")
    expect(button).to_be_disabled()
    page.get_by_label("Type 1.0.4 to confirm").fill("1.0.4")
    expect(button).to_be_enabled()
    browsing.screenshot("console-releases-admin", full_page=True)
    browsing.settled()
    button.click()
    expect(page.get_by_text("Rolled back: release 1.0.4 is in force.")).to_be_visible()
    browsing.settled()
    releases = {r["version"]: r for r in api.get("/operator/ops/releases").json()}
    assert releases["1.0.4"]["current"] is True
    now = {row["type"]: row["activeTargetId"] for row in api.get("/operator/ops/engines").json()}
    assert now["content"] == {row["type"]: row["activeTargetId"] for row in before}["content"]


def test_a_region_operator_may_reload_only_the_engines_the_policy_names(
    browsing: Browsing, server: LiveServer
) -> None:
    page = browsing.sign_in(make_token(server, "region", region="EU"))
    expect(page.get_by_role("link", name="Releases", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Engines", exact=True).click()
    for engine in ("content", "missions", "gamification"):
        expect(page.get_by_role("button", name=f"Reload {engine}")).to_be_visible()
    for engine in ("scenario", "prompt", "difficulty", "upm", "insights"):
        expect(page.get_by_role("button", name=f"Reload {engine}")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Active ruleset")).to_have_count(0)
    browsing.screenshot("console-engines-region", full_page=True)
    browsing.settled()

    page.get_by_role("link", name="한국어").click()
    expect(page.get_by_role("heading", name="엔진 및 핫 리로드")).to_be_visible()
    expect(page.get_by_role("button", name="content 리로드")).to_be_visible()
    browsing.screenshot("console-engines-region-ko", full_page=True)
    browsing.settled()


def test_a_branch_operator_has_neither_page(browsing: Browsing, server: LiveServer) -> None:
    page = browsing.sign_in(make_token(server, "branch", region="EU", country="DE", branch="DE-0001"))
    expect(page.get_by_role("link", name="Engines", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Releases", exact=True)).to_have_count(0)
    for path in ("/console/engines", "/console/releases"):
        browsing.open(path)
        expect(page.get_by_text("Your role does not allow this page.")).to_be_visible()
    browsing.screenshot("console-engines-branch", full_page=True)
    assert browsing.axe() == []
    assert browsing.blocked == []
