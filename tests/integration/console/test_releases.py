"""The Releases page on both stores: admins only; create through the form as the API then lists it;
a release's contents and its diff against now; rollback only after the version is typed (checked by
the server too), refused by the server for other roles, audited as the operator via the console."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, entries_after, newest_seq
from .helpers import Nacking, browser, csrf_of, new_token, signed_in

GOOD = {"transforms": [], "allowedFormats": ["text/plain"]}


def create(
    page: TestClient, csrf: str, version: str, notes: str = "", engines: tuple[str, ...] = ("content",)
) -> httpx.Response:
    return page.post(
        "/console/releases",
        data={"csrf": csrf, "version": version, "notes": notes, "engines": list(engines)},
        follow_redirects=False,
    )


def release_then_move_on(client: TestClient, page: TestClient, csrf: str) -> None:
    """Release 1.0.0 (content on its initial ruleset), reload content to ruleset c2, release 1.1.0."""
    create(page, csrf, "1.0.0")
    client.put("/operator/ops/engines/content/rulesets/c2", json=GOOD)
    client.post("/operator/ops/hot-reload", json={"type": "content", "targetId": "c2"})
    create(page, csrf, "1.1.0")


def released(client: TestClient) -> dict[str, dict[str, object]]:
    return {r["version"]: r for r in client.get("/operator/ops/releases").json()}


def test_an_admin_creates_a_release_through_the_form_as_the_api_lists_it(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    answer = create(page, csrf, "1.0.4", "difficulty rules", ("content", "missions"))
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/releases/1.0.4?created=1")
    api = released(client)["1.0.4"]
    assert (api["notes"], api["includedEngines"], api["current"]) == (
        "difficulty rules",
        ["content", "missions"],
        True,
    )
    [entry] = [e for e in entries_after(client, before) if e["action"] == "publish"]
    assert entry["details"]["via"] == "console"
    assert entry["actor"]["role"] == "admin"
    listing = page.get("/console/releases").text
    assert '<span class="tag">current</span>' in listing


def test_a_bad_or_older_version_is_shown_at_the_version_field(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    bad = create(page, csrf, "one.two")
    assert bad.status_code == 422
    assert 'aria-invalid="true" aria-describedby="version-error"' in bad.text
    assert "Not a semantic version" in bad.text
    assert create(page, csrf, "2.0.0").status_code == 303
    older = create(page, csrf, "1.9.9")
    assert older.status_code == 409
    assert "must be greater than the latest release" in older.text
    assert set(released(client)) == {"2.0.0"}


def test_a_release_shows_its_contents_and_what_a_rollback_would_change(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    create(page, csrf, "1.0.0")
    client.put("/operator/ops/engines/content/rulesets/c2", json=GOOD)
    assert (
        client.post("/operator/ops/hot-reload", json={"type": "content", "targetId": "c2"}).status_code == 200
    )
    html = page.get("/console/releases/1.0.0").text
    assert '<th scope="row">content</th><td><code>initial</code>' in html
    assert 'class="diff-changed"' in html
    assert "<code>engines.content</code>" in html
    assert "&#34;c2&#34;" in html
    assert "&#34;initial&#34;" in html
    assert 'data-confirm-value="1.0.0"' in html
    # Enabled in the HTML (without scripts the server's check is the guard); console.js disables it
    # until the version is typed, as the browser test shows.
    assert 'id="rollback-button">' in html


def test_a_rollback_needs_the_typed_version_and_then_puts_the_release_back(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    release_then_move_on(client, page, csrf)
    mistyped = page.post("/console/releases/1.0.0/rollback", data={"csrf": csrf, "confirm": "1.1.0"})
    assert mistyped.status_code == 422
    assert 'aria-describedby="confirm-error"' in mistyped.text
    assert released(client)["1.1.0"]["current"] is True
    before = newest_seq(client)
    done = page.post(
        "/console/releases/1.0.0/rollback", data={"csrf": csrf, "confirm": "1.0.0"}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (
        303,
        "/console/releases/1.0.0?outcome=rolled_back",
    )
    assert released(client)["1.0.0"]["current"] is True
    engines = {row["type"]: row for row in client.get("/operator/ops/engines").json()}
    assert engines["content"]["activeTargetId"] == "initial"
    entry = next(e for e in entries_after(client, before) if e["target"] == "release:1.0.0")
    assert (entry["details"]["kind"], entry["details"]["via"]) == ("rollback", "console")
    assert "Rolled back: release 1.0.0 is in force." in page.get(done.headers["location"]).text


def test_a_rollback_an_engine_refuses_is_shown_as_refused_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    release_then_move_on(client, page, csrf)
    ops.engines.add_instance("content", Nacking())
    refused = page.post("/console/releases/1.0.0/rollback", data={"csrf": csrf, "confirm": "1.0.0"})
    assert refused.status_code == 409
    assert "Rollback refused" in refused.text
    assert released(client)["1.1.0"]["current"] is True


def test_other_roles_have_no_releases_page_and_a_hand_made_post_is_refused(
    client: TestClient, ops: Ops
) -> None:
    admin = browser(client)
    admin_csrf = signed_in(admin, ADMIN_TOKEN)
    create(admin, admin_csrf, "1.0.0")
    for role, scope in (("region", {"region": "EU"}), ("branch", {"branch": "DE-0001"})):
        token, _ = new_token(ops, role, user=f"{role}-park", **scope)
        page = browser(client)
        signed_in(page, token)
        assert "/console/releases" not in page.get("/console").text
        assert page.get("/console/releases").status_code == 403
        csrf = csrf_of(page.get("/console").text)
        before = newest_seq(client)
        for path, data in (
            ("/console/releases", {"csrf": csrf, "version": "9.0.0"}),
            ("/console/releases/1.0.0/rollback", {"csrf": csrf, "confirm": "1.0.0"}),
        ):
            assert page.post(path, data=data).status_code == 403
        denials = entries_after(client, before)
        assert [(d["action"], d["actor"]["userId"], d["details"]["via"]) for d in denials] == [
            ("access_denied", f"{role}-park", "console")
        ] * 2
    assert set(released(client)) == {"1.0.0"}


def test_a_form_without_or_with_a_wrong_csrf_token_changes_nothing(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    create(page, csrf, "1.0.0")
    for bad in ("", "wrong"):
        assert create(page, bad, "2.0.0").status_code == 403
        assert (
            page.post("/console/releases/1.0.0/rollback", data={"csrf": bad, "confirm": "1.0.0"}).status_code
            == 403
        )
    assert set(released(client)) == {"1.0.0"}


def test_markup_in_release_notes_is_inert(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    create(page, csrf, "1.0.0", evil)
    for html in (page.get("/console/releases").text, page.get("/console/releases/1.0.0").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
