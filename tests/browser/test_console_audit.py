"""The Audit page in chromium, on a server of its own (the tests add entries and tamper with the store):
audit filter and verify as an admin clicks through it, paging, an entry's proof, export, the page in
Korean; region and branch operators refused; markup in an entry inert; a tampered store named."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from playwright.sync_api import expect

from conftest import ADMIN_TOKEN, LiveServer
from trainer_ops.audit.types import Action, Actor

from .conftest import Browsing, make_token, served

EVIL = "<script>alert(1)</script><img src=x onerror=alert(1)>"


# No automatic checkpoint while a test runs: the entry page's proof waits for the operator's.
NO_AUTOMATIC_CHECKPOINT = {"audit_checkpoint_every": 1_000_000, "audit_checkpoint_seconds": 3600}


def add_entries(server: LiveServer, count: int, *, user: str, action: Action, target: str = "t") -> None:
    ops = server.ops
    assert ops is not None
    actor = Actor(user_id=user, role="admin", scope={})
    ops.write(
        lambda session: [
            ops.audit.append(session, actor=actor, action=action, target=f"{target}-{n}")
            for n in range(count)
        ]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server (overrides the session's for `browsing`): 130 reloads by kim, 20
    publishes by kim, 30 reloads by lee, and one entry full of markup."""
    with served(tmp_path_factory, "audit-browser", **NO_AUTOMATIC_CHECKPOINT) as live:
        add_entries(live, 130, user="kim", action=Action.RELOAD)
        add_entries(live, 20, user="kim", action=Action.PUBLISH)
        add_entries(live, 30, user="lee", action=Action.RELOAD)
        add_entries(live, 1, user="mallory", action=Action.UPDATE_CONFIG, target=EVIL)
        yield live


def shown_cells(browsing: Browsing, column: int) -> list[str]:
    return browsing.page.locator(f"table.audit-entries tbody tr td:nth-child({column})").all_inner_texts()


def test_audit_filter_and_verify(browsing: Browsing) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    page.get_by_role("link", name="Audit", exact=True).click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_text("No checkpoint has been signed yet.")).to_be_visible()
    browsing.screenshot("console-audit-admin", full_page=True)
    assert browsing.axe() == []

    page.get_by_label("User", exact=True).fill("kim")
    page.get_by_label("Action", exact=True).select_option("reload")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.get_by_role("rowheader")).to_have_count(50)
    assert set(shown_cells(browsing, 3)) == {"kim"}  # the row's children: seq (th), time, user, role, action
    assert set(shown_cells(browsing, 5)) == {"reload"}
    first_page = page.get_by_role("rowheader").all_inner_texts()

    page.get_by_role("link", name="Older entries →").click()
    expect(page.get_by_role("rowheader")).to_have_count(50)
    page.get_by_role("link", name="Older entries →").click()
    expect(page.get_by_role("rowheader")).to_have_count(30)  # 130 reloads by kim: 50 + 50 + 30
    expect(page.get_by_role("link", name="Older entries →")).to_have_count(0)
    expect(page.get_by_label("User", exact=True)).to_have_value("kim")
    page.get_by_role("link", name="← Newer entries").click()
    page.get_by_role("link", name="← Newer entries").click()
    assert page.get_by_role("rowheader").all_inner_texts() == first_page
    assert browsing.axe() == []

    newest = first_page[0]
    page.get_by_role("link", name=f"Open entry {newest}").click()
    expect(page.get_by_role("heading", name=f"Audit entry {newest}")).to_be_visible()
    expect(page.get_by_text("No signed checkpoint covers this entry yet.")).to_be_visible()
    page.get_by_role("button", name="Sign a checkpoint now").click()
    expect(page.get_by_text("Verified: this entry is in the tree")).to_be_visible()
    expect(
        page.get_by_role("list", name="Proof path, from the leaf up").get_by_role("listitem")
    ).not_to_have_count(0)
    assert f'"seq":{newest}' in page.locator("#canonical").inner_text()
    browsing.screenshot("console-audit-entry", full_page=True)
    assert browsing.axe() == []

    page.get_by_role("link", name="Back to the audit log").click()
    expect(page.get_by_text("signature verified")).to_be_visible()
    page.get_by_role("button", name="Verify now").click()
    expect(page.get_by_role("status")).to_contain_text("Intact:")
    total = page.locator("#verify-meter").get_attribute("max")
    expect(page.get_by_text(f"Checked {total} of {total} entries")).to_be_visible()
    browsing.screenshot("console-audit-verify", full_page=True)
    browsing.settled()


def test_export_downloads_the_filtered_entries_as_json_lines(browsing: Browsing) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/audit?user=lee&action=reload")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export as JSON lines").click()
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".jsonl")
    lines = [orjson.loads(line) for line in Path(path).read_bytes().splitlines()]
    assert len(lines) == 30
    assert {(line["userId"], line["action"]) for line in lines} == {("lee", "reload")}
    assert [line["seq"] for line in lines] == sorted((line["seq"] for line in lines), reverse=True)
    assert browsing.errors == []


@pytest.mark.parametrize("role", ["region", "branch"])
def test_operators_below_admin_see_no_audit_link_and_are_refused(
    browsing: Browsing, server: LiveServer, role: str
) -> None:
    scope = {"region": "EU"} if role == "region" else {"region": "EU", "country": "DE", "branch": "DE-0001"}
    page = browsing.sign_in(make_token(server, role, **scope))
    expect(
        page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Audit")
    ).to_have_count(0)

    answer = page.goto(f"{browsing.base_url}/console/audit")

    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_role("alert")).to_have_text("Your role does not allow this page.")
    browsing.screenshot(f"console-audit-{role}", full_page=True)
    browsing.settled(403)  # the refused page's own status, and nothing else


def test_markup_in_an_entry_is_shown_as_text(browsing: Browsing) -> None:
    dialogs: list[str] = []
    page = browsing.sign_in(ADMIN_TOKEN)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    browsing.open("/console/audit?user=mallory")
    expect(page.get_by_role("cell", name=f"{EVIL}-0", exact=True)).to_be_visible()
    page.get_by_role("rowheader").get_by_role("link").click()
    expect(page.get_by_text(f"{EVIL}-0", exact=True)).to_be_visible()
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []
    assert browsing.errors == []


def test_the_audit_page_in_korean(browsing: Browsing) -> None:
    page = browsing.sign_in(ADMIN_TOKEN)
    browsing.open("/console/language?to=ko&next=/console/audit")
    expect(page.get_by_role("heading", name="감사 로그")).to_be_visible()
    expect(page.get_by_role("button", name="지금 검증")).to_be_visible()
    expect(page.get_by_label("사용자", exact=True)).to_be_visible()
    browsing.screenshot("console-audit-ko", full_page=True)
    assert browsing.axe() == []
    assert browsing.errors == []


def test_verify_now_names_the_first_bad_entry_of_a_tampered_store(
    browsing: Browsing, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with served(tmp_path_factory, "audit-tampered", **NO_AUTOMATIC_CHECKPOINT) as own:
        add_entries(own, 12, user="kim", action=Action.RELOAD, target="victim")
        victim = 5
        # Behind the server's back, in its SQLite file: the append-only trigger dropped, a row edited.
        with sqlite3.connect(own.settings.database_url.removeprefix("sqlite:///")) as store:
            store.execute("DROP TRIGGER audit_entries_no_update")
            store.execute("UPDATE audit_entries SET target = 'hidden' WHERE seq = ?", (victim,))
        browsing.base_url = own.url
        page = browsing.sign_in(ADMIN_TOKEN)
        browsing.open("/console/audit")
        page.get_by_role("button", name="Verify now").click()
        result = page.get_by_role("status")
        expect(result).to_contain_text("Tampered")
        expect(result.get_by_role("link", name=str(victim))).to_be_visible()
        expect(result).to_contain_text("indexed columns")
        browsing.screenshot("console-audit-tampered", full_page=True)
        assert browsing.axe() == []
        assert browsing.errors == []
