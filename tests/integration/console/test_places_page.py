"""The Places page on both stores: the catalogue as a tree with its version, an edit through the JSON
textarea is the API's new version (normalised, audited via console), refusals at their path (422), in
use (409, naming who), stale (412), CSRF and a region operator's hand-made post refused with nothing
changed, history with two versions side by side, restore through the editor, and markup inert."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, document_state, entries_after, newest_seq
from .helpers import browser, csrf_of, new_token, signed_in

PAGE = "/console/places"
API = "/operator/ops/places"
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany", "branches": []}]},
    ]
}


def admin_page(client: TestClient) -> tuple[TestClient, str]:
    page = browser(client)
    return page, signed_in(page, ADMIN_TOKEN)


def placed(client: TestClient) -> None:
    """CATALOGUE in force, as version 2 (through the API)."""
    assert client.put(API, json=CATALOGUE).status_code == 200


def save(page: TestClient, csrf: str, version: int, document: Any) -> Any:
    text = document if isinstance(document, str) else json.dumps(document)
    return page.post(
        PAGE, data={"csrf": csrf, "version": str(version), "document": text}, follow_redirects=False
    )


def textarea(html: str) -> str:
    found = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', html, flags=re.S)
    assert found, html
    return found.group(1)


def error_paths(html: str) -> list[str]:
    box = re.search(r'<div class="problem" role="alert" id="document-errors">(.*?)</div>', html, flags=re.S)
    assert box, html
    return re.findall(r"<li><code>([^<]*)</code>:", box.group(1))


def test_an_admin_sees_the_tree_its_version_and_the_catalogue_in_the_editor(client: TestClient) -> None:
    page, _ = admin_page(client)
    empty = page.get(PAGE).text
    assert "The catalogue is empty" in empty
    placed(client)

    html = page.get(PAGE).text

    assert 'href="/console/places" aria-current="page"' in html
    assert 'href="/console/policy"' in html
    assert "Catalogue version 2 in force" in html
    assert "Regions: 2 · countries: 2 · branches: 1" in html
    tree = re.search(r'<ul class="tree".*?</ul>\s*</li>\s*</ul>\s*</section>', html, flags=re.S)
    assert tree, html
    codes = re.findall(r"<code>([^<]+)</code> ([^<\n]+)", tree.group(0))
    assert codes == [
        ("APAC", "Asia Pacific"),
        ("KR", "Korea"),
        ("KR-0012", "Gangnam"),
        ("EU", "Europe"),
        ("DE", "Germany"),
    ]
    assert json.loads(textarea(html).replace("&#34;", '"')) == CATALOGUE
    assert '<input type="hidden" name="version" value="2">' in html


@pytest.mark.parametrize(
    ("role", "scope"),
    [("region", {"region": "EU"}), ("country", {"country": "DE"}), ("branch", {"branch": "DE-1"})],
)
def test_an_operator_below_admin_has_no_link_and_gets_an_audited_403(
    client: TestClient, ops: Ops, role: str, scope: dict[str, str]
) -> None:
    token, _ = new_token(ops, role, **scope)
    page = browser(client)
    signed_in(page, token)
    assert 'href="/console/places"' not in page.get("/console").text
    before = newest_seq(client)

    for path in (PAGE, f"{PAGE}/history", f"{PAGE}/restore/1"):
        answer = page.get(path)
        assert answer.status_code == 403, path
        assert "access.denied" in answer.text

    denials = entries_after(client, before)
    assert [d["target"] for d in denials] == ["places.read", "places.read", "places.update"]
    assert all(d["action"] == "access_denied" and d["details"]["via"] == "console" for d in denials)


def test_an_edit_through_the_form_is_the_apis_new_version_normalised_and_audited(client: TestClient) -> None:
    placed(client)
    page, csrf = admin_page(client)
    wanted = json.loads(json.dumps(CATALOGUE))
    wanted["regions"][0]["countries"].append({"code": "jp", "name": "일본"})  # lower case on purpose
    before = newest_seq(client)

    answer = save(page, csrf, 2, wanted)

    assert (answer.status_code, answer.headers["location"]) == (303, f"{PAGE}?saved=3")
    api = client.get(API)
    assert api.headers["etag"] == '"3"'
    assert api.json()["regions"][0]["countries"][1] == {"code": "JP", "name": "일본", "branches": []}
    [entry] = entries_after(client, before)
    assert (entry["action"], entry["target"]) == ("update_config", "places")
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert entry["details"]["via"] == "console"
    shown = page.get(answer.headers["location"]).text
    assert "Saved as version 3." in shown
    assert "<code>JP</code> 일본" in shown
    assert json.loads(textarea(shown).replace("&#34;", '"')) == api.json()


@pytest.mark.parametrize(
    ("document", "paths"),
    [
        ({"regions": [{"code": "A B", "name": "x"}]}, ["regions.0.code"]),
        ({"regions": [{"code": "EU", "name": "Europe", "colour": "blue"}]}, ["regions.0.colour"]),
        (
            {
                "regions": [
                    {"code": "EU", "name": "E"},
                    {"code": "X", "name": "X", "countries": [{"code": "eu", "name": "again"}]},
                ]
            },
            ["regions.1.countries.0.code"],
        ),
        (
            {"regions": [{"code": "EU", "name": ""}, {"name": "no code"}]},
            ["regions.0.name", "regions.1.code"],
        ),
        ('{"regions": [', ["(JSON)"]),
        ("[1, 2]", ["body"]),
    ],
)
def test_a_refused_edit_names_each_path_keeps_the_text_and_changes_nothing(
    client: TestClient, document: Any, paths: list[str]
) -> None:
    page, csrf = admin_page(client)
    state = document_state(client, API)

    answer = save(page, csrf, 1, document)

    assert answer.status_code == 422
    assert document_state(client, API) == state
    html = answer.text
    assert error_paths(html) == paths
    control = re.search(r'<textarea id="document"[^>]*>', html)
    assert control
    assert 'aria-invalid="true"' in control.group(0)
    assert 'aria-describedby="document-help document-errors"' in control.group(0)
    sent = document if isinstance(document, str) else json.dumps(document)
    assert textarea(html).replace("&#34;", '"') == sent


def test_invalid_json_is_shown_with_its_line_and_column(client: TestClient) -> None:
    page, csrf = admin_page(client)
    html = save(page, csrf, 1, '{\n  "regions": [}\n').text
    assert "not valid JSON at line 2, column 15" in html


def test_removing_a_place_in_use_is_409_naming_who_uses_it_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    placed(client)
    new_token(ops, "country", user="kim", country="KR")
    new_token(ops, "branch", user="park", branch="KR-0012")
    page, csrf = admin_page(client)
    state = document_state(client, API)
    without_korea = {"regions": [CATALOGUE["regions"][1]]}

    answer = save(page, csrf, 2, without_korea)

    assert answer.status_code == 409
    assert document_state(client, API) == state
    html = answer.text
    assert "Places still in use cannot be removed or moved" in html
    rows = re.findall(r'<tr><th scope="row"><code>([^<]+)</code></th><td><ul>(.*?)</ul>', html)
    assert rows == [("KR", "<li>token of user kim</li>"), ("KR-0012", "<li>token of user park</li>")]
    assert "Revoke those tokens or remove those overrides first" in html


def test_a_stale_edit_is_412_with_a_way_to_reload_and_changes_nothing(client: TestClient) -> None:
    page, csrf = admin_page(client)
    placed(client)  # someone else saves version 2 after the operator opened version 1
    state = document_state(client, API)
    mine = {"regions": [{"code": "LATAM", "name": "Latin America"}]}

    answer = save(page, csrf, 1, mine)

    assert answer.status_code == 412
    assert document_state(client, API) == state
    html = answer.text
    assert "You started from version 1, but version 2 is now in force" in html
    assert '<a href="/console/places">Reload the page to edit version 2</a>' in html
    assert json.loads(textarea(html).replace("&#34;", '"')) == mine
    assert '<input type="hidden" name="version" value="1">' in html


@pytest.mark.parametrize("csrf", [None, "not-the-sessions-token"])
def test_an_edit_without_the_sessions_csrf_token_is_403_and_changes_nothing(
    client: TestClient, csrf: str | None
) -> None:
    page, _ = admin_page(client)
    state = document_state(client, API)
    data = {"version": "1", "document": json.dumps(CATALOGUE)} | ({"csrf": csrf} if csrf else {})

    answer = page.post(PAGE, data=data, follow_redirects=False)

    assert answer.status_code == 403
    assert "console.csrf_failed" in answer.text
    assert document_state(client, API) == state


def test_a_region_operators_hand_made_edit_is_refused_audited_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", user="eu-op", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)  # a valid session and CSRF token: only the policy stands in the way
    state = document_state(client, API)

    answer = save(page, csrf, 1, CATALOGUE)

    assert answer.status_code == 403
    denials = entries_after(client, state[3])
    assert [(d["action"], d["target"], d["actor"]["userId"]) for d in denials] == [
        ("access_denied", "places.update", "eu-op")
    ]
    assert denials[0]["details"]["via"] == "console"
    assert document_state(client, API)[:3] == state[:3]


def test_the_history_lists_versions_diffs_two_side_by_side_and_restores_through_the_editor(
    client: TestClient,
) -> None:
    placed(client)
    page, csrf = admin_page(client)
    renamed = json.loads(json.dumps(CATALOGUE))
    renamed["regions"][1]["name"] = "Europa"
    assert save(page, csrf, 2, renamed).status_code == 303

    html = page.get(f"{PAGE}/history").text
    assert re.findall(r'<th scope="row">(\d)', html) == ["3", "2", "1"]
    assert (
        "<code>regions.1.name</code>: <code>&#34;Europe&#34;</code> → <code>&#34;Europa&#34;</code>" in html
    )

    diff = page.get(f"{PAGE}/history", params={"from": "2", "to": "3"}).text
    assert "Version 2 and version 3 side by side" in diff
    rows = re.findall(r'<tr class="diff-(\w+)">\s*<th scope="row"><code>([\w.]+)</code>', diff)
    assert rows == [("changed", "regions.1.name")]
    missing = page.get(f"{PAGE}/history", params={"from": "1", "to": "9"}).text
    assert "No such version: choose a version from 1 to 3." in missing

    restore = page.get(f"{PAGE}/restore/2")
    assert restore.status_code == 200
    assert "Version 2 is in the editor, on top of version 3" in restore.text
    assert '<input type="hidden" name="version" value="3">' in restore.text
    assert client.get(API).headers["etag"] == '"3"'  # looking changes nothing
    old = textarea(restore.text).replace("&#34;", '"')
    assert save(page, csrf_of(restore.text), 3, old).headers["location"] == f"{PAGE}?saved=4"
    assert client.get(API).json() == CATALOGUE
    assert page.get(f"{PAGE}/restore/99").status_code == 404


def test_markup_in_a_place_name_is_inert_text(client: TestClient) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    with_evil = {"regions": [{"code": "EU", "name": evil}]}
    assert client.put(API, json=with_evil).status_code == 200
    page, csrf = admin_page(client)
    closing = json.dumps({"regions": [{"code": "EU", "name": "</textarea><script>alert(2)</script>"}]})
    refused = save(page, csrf, 1, closing)  # stale: the text comes back in the textarea

    pages = [page.get(PAGE).text, refused.text, page.get(f"{PAGE}/history?from=1&to=2").text]
    for html in pages:
        assert "<script>alert" not in html
        assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;/textarea&gt;&lt;script&gt;alert(2)" in pages[1]
