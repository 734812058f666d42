"""The Policy page on both stores: the policy in force as a matrix of operations by role with its
version, the schema's names as help and the schema itself, an edit through the JSON textarea is the
API's new version (audited via console), refusals at their JSON path (422), the lock-out 409 explained,
stale (412), CSRF and a region operator's hand-made post refused with nothing changed, history side by
side, and markup in a refused edit inert."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import DEFAULT_POLICY
from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, LIMITS, bearer, document_state, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

PAGE = "/console/policy"
API = "/operator/ops/policy"
ROLES = ["admin", "region", "country", "branch", "service"]


def admin_page(client: TestClient) -> tuple[TestClient, str]:
    page = browser(client)
    return page, signed_in(page, ADMIN_TOKEN)


def save(page: TestClient, csrf: str, version: int, document: Any) -> Any:
    text = document if isinstance(document, str) else json.dumps(document)
    return page.post(
        PAGE, data={"csrf": csrf, "version": str(version), "document": text}, follow_redirects=False
    )


def in_force_with(operation: str, role: str, rule: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(DEFAULT_POLICY)
    document["operations"][operation][role] = rule
    return document


def matrix_row(html: str, operation: str) -> list[str]:
    """The row's cells as text, one per role (tags dropped, spaces collapsed)."""
    row = re.search(rf'<tr id="op-{re.escape(operation)}">(.*?)</tr>', html, flags=re.S)
    assert row, operation
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def error_paths(html: str) -> list[str]:
    box = re.search(r'<div class="problem" role="alert" id="document-errors">(.*?)</div>', html, flags=re.S)
    assert box, html
    return re.findall(r"<li><code>([^<]*)</code>:", box.group(1))


def test_an_admin_sees_the_default_rules_as_a_matrix_with_the_version_and_the_names(
    client: TestClient,
) -> None:
    page, _ = admin_page(client)

    html = page.get(PAGE).text

    assert 'href="/console/policy" aria-current="page"' in html
    assert "Policy version 1 in force" in html
    headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
    assert headers[:6] == [
        "Operation",
        "admin",
        "region operator",
        "country operator",
        "branch operator",
        "service",
    ]
    operations = re.findall(r'<tr id="op-([^"]+)">', html)
    assert operations == sorted(DEFAULT_POLICY["operations"])
    assert matrix_row(html, "model_config.read") == ["Allowed", "Denied", "Denied", "Denied", "Denied"]
    assert matrix_row(html, "hot_reload") == [
        "Allowed",
        "Allowed only if: own_scope engines: content , missions , gamification",
        "Allowed only if: own_scope engines: content , missions",
        "Denied",
        "Denied",
    ]
    assert matrix_row(html, "health.read")[2] == "Allowed view: engines"
    assert (
        matrix_row(html, "features.update")[1]
        == "Allowed view: own_region only if: own_region , region_overridable"
    )
    # The names the schema knows, as help, and the schema itself.
    assert "<code>own_scope</code>: a reload&#39;s scope lies inside the operator&#39;s own place" in html
    assert 'href="/console/policy/schema"' in html
    schema = page.get(f"{PAGE}/schema")
    assert schema.status_code == 200
    assert schema.json() == client.get(f"{API}/schema").json()
    assert '<input type="hidden" name="version" value="1">' in html


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
    assert 'href="/console/policy"' not in page.get("/console").text
    before = newest_seq(client)

    for path in (PAGE, f"{PAGE}/history", f"{PAGE}/schema", f"{PAGE}/restore/1"):
        answer = page.get(path)
        assert answer.status_code == 403, path
        assert "access.denied" in answer.text

    denials = entries_after(client, before)
    assert [d["target"] for d in denials] == ["policy.read"] * 3 + ["policy.update"]
    assert all(d["action"] == "access_denied" and d["details"]["via"] == "console" for d in denials)


def test_an_edit_through_the_form_is_the_apis_new_version_in_force_and_audited(
    client: TestClient, ops: Ops
) -> None:
    page, csrf = admin_page(client)
    region, _ = new_token(ops, "region", region="EU")
    assert client.get(LIMITS, headers=bearer(region)).status_code == 403
    before = newest_seq(client)

    answer = save(page, csrf, 1, in_force_with("limits.read", "region", {}))

    assert (answer.status_code, answer.headers["location"]) == (303, f"{PAGE}?saved=2")
    api = client.get(API)
    assert api.headers["etag"] == '"2"'
    assert api.json()["operations"]["limits.read"] == {"admin": {}, "region": {}}
    assert client.get(LIMITS, headers=bearer(region)).status_code == 200
    [entry] = entries_after(client, before)
    assert (entry["action"], entry["target"]) == ("update_config", "policy")
    assert entry["details"]["via"] == "console"
    assert entry["after"] == {"limits.read": {"admin": {}, "region": {}}}
    shown = page.get(answer.headers["location"]).text
    assert "Saved as version 2." in shown
    assert matrix_row(shown, "limits.read")[:2] == ["Allowed", "Allowed"]
    assert save(page, csrf, 2, api.json()).headers["location"] == f"{PAGE}?unchanged=1"


@pytest.mark.parametrize(
    ("operations", "paths"),
    [
        ({"limits.read": {"admin": {}, "regoin": {}}}, ["operations/limits.read/regoin"]),
        ({"limits.raed": {"admin": {}}}, ["operations/limits.raed"]),
        (
            {"hot_reload": {"region": {"engineIn": ["warp-drive"], "conditions": ["own_regoin"]}}},
            ["operations/hot_reload/region/conditions/0", "operations/hot_reload/region/engineIn/0"],
        ),
        ("all", ["operations"]),
    ],
)
def test_a_refused_edit_names_each_json_path_and_changes_nothing(
    client: TestClient, operations: Any, paths: list[str]
) -> None:
    page, csrf = admin_page(client)
    state = document_state(client, API)

    answer = save(page, csrf, 1, {"operations": operations})

    assert answer.status_code == 422
    assert document_state(client, API) == state
    assert error_paths(answer.text) == paths
    control = re.search(r'<textarea id="document"[^>]*>', answer.text)
    assert control
    assert 'aria-describedby="document-help document-errors" aria-invalid="true"' in control.group(0)


def test_not_an_object_or_not_json_is_refused_at_its_place(client: TestClient) -> None:
    page, csrf = admin_page(client)
    assert error_paths(save(page, csrf, 1, "[1]").text) == ["body"]
    assert error_paths(save(page, csrf, 1, "{operations").text) == ["(JSON)"]


def test_a_lock_out_is_409_explained_in_words_and_changes_nothing(client: TestClient) -> None:
    page, csrf = admin_page(client)
    state = document_state(client, API)

    answer = save(page, csrf, 1, {"operations": {"policy.update": {"admin": {"engineIn": ["content"]}}}})

    assert answer.status_code == 409
    assert document_state(client, API) == state
    box = re.search(r'<div class="problem" role="alert" id="lockout">(.*?)</div>', answer.text, flags=re.S)
    assert box, answer.text
    assert "This policy would lock everyone out of the policy" in box.group(1)
    assert "no role could both change the policy (policy.update) and read it (policy.read)" in box.group(1)
    assert "Keep at least one role (admin, as by default)" in box.group(1)
    assert "engineIn" in answer.text  # the operator's text is still in the editor


def test_a_stale_edit_is_412_with_a_way_to_reload_and_changes_nothing(client: TestClient) -> None:
    page, csrf = admin_page(client)
    changed = client.put(API, json=in_force_with("audit.read", "region", {}))  # someone else, meanwhile
    assert changed.status_code == 200
    state = document_state(client, API)

    answer = save(page, csrf, 1, in_force_with("limits.read", "region", {}))

    assert answer.status_code == 412
    assert document_state(client, API) == state
    assert "You started from version 1, but version 2 is now in force" in answer.text
    assert '<a href="/console/policy">Reload the page to edit version 2</a>' in answer.text


@pytest.mark.parametrize("csrf", [None, "not-the-sessions-token"])
def test_an_edit_without_the_sessions_csrf_token_is_403_and_changes_nothing(
    client: TestClient, csrf: str | None
) -> None:
    page, _ = admin_page(client)
    state = document_state(client, API)
    data = {"version": "1", "document": json.dumps(in_force_with("limits.read", "region", {}))}

    answer = page.post(PAGE, data=data | ({"csrf": csrf} if csrf else {}), follow_redirects=False)

    assert answer.status_code == 403
    assert "console.csrf_failed" in answer.text
    assert document_state(client, API) == state


def test_a_region_operators_hand_made_edit_is_refused_audited_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", user="eu-op", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)
    state = document_state(client, API)

    answer = save(page, csrf, 1, in_force_with("policy.update", "region", {}))

    assert answer.status_code == 403
    denials = entries_after(client, state[3])
    assert [(d["action"], d["target"], d["actor"]["userId"]) for d in denials] == [
        ("access_denied", "policy.update", "eu-op")
    ]
    assert denials[0]["details"]["via"] == "console"
    assert document_state(client, API)[:3] == state[:3]


def test_the_history_diffs_two_versions_side_by_side_and_restores_through_the_editor(
    client: TestClient,
) -> None:
    page, csrf = admin_page(client)
    assert save(page, csrf, 1, in_force_with("limits.read", "region", {})).status_code == 303

    html = page.get(f"{PAGE}/history").text
    assert re.findall(r'<th scope="row">(\d)', html) == ["2", "1"]
    assert "<code>limits.read.region</code>: <code>·</code> → <code>{}</code>" in html

    diff = page.get(f"{PAGE}/history", params={"from": "1", "to": "2"}).text
    rows = re.findall(r'<tr class="diff-(\w+)">\s*<th scope="row"><code>([\w./]+)</code>', diff)
    assert rows == [("added", "operations.limits.read.region")]

    restore = page.get(f"{PAGE}/restore/1").text
    assert "Version 1 is in the editor, on top of version 2" in restore
    old = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', restore, flags=re.S)
    assert old
    assert save(page, csrf, 2, old.group(1).replace("&#34;", '"')).status_code == 303
    assert client.get(API).json()["operations"]["limits.read"] == {"admin": {}}


def test_markup_in_a_refused_edit_is_inert_text(client: TestClient) -> None:
    page, csrf = admin_page(client)
    evil = "</textarea><script>alert(1)</script>"

    answer = save(page, csrf, 1, {"operations": {evil: {"admin": {}}}})

    assert answer.status_code == 422
    assert "<script>alert" not in answer.text
    assert "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text
