"""The Model config page on both stores: the form offers exactly what validation accepts, a save is the
API's change (If-Match, audited via console), a stale save shows the conflict and re-applies, field
errors sit at their fields, history diffs and restores, and every refusal changes nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.modelconfig.types import DEFAULT_MODELS, DEFAULT_TONES

from ..support import (
    ADMIN_TOKEN,
    MODEL_CONFIG,
    SPEC_MODEL_CONFIG,
    document_state,
    entries_after,
    newest_seq,
    store_document,
)
from .helpers import browser, csrf_of, new_token, signed_in

PAGE = "/console/model-config"
FORM = {k: str(v) for k, v in SPEC_MODEL_CONFIG.items() if k != "enabled"} | {"enabled": "true"}


def admin_page(client: TestClient) -> tuple[TestClient, str]:
    page = browser(client)
    return page, signed_in(page, ADMIN_TOKEN)


def post(page: TestClient, csrf: str, version: int, **values: str) -> object:
    return page.post(
        PAGE, data={"csrf": csrf, "version": str(version), **FORM, **values}, follow_redirects=False
    )


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select id="field-{name}".*?</select>', html, flags=re.S)
    assert select, html
    return re.findall(r'<option value="([^"]*)"', select.group(0))


def test_an_admin_sees_the_form_with_exactly_the_catalogues_and_the_validation_ranges(
    client: TestClient,
) -> None:
    page, _ = admin_page(client)
    html = page.get(PAGE).text
    assert options(html, "model") == sorted(DEFAULT_MODELS)
    assert options(html, "toneProfile") == sorted(DEFAULT_TONES)
    assert '<option value="gpt-5.1" selected>' in html
    assert re.search(r'name="temperature" value="0.4" min="0" max="2" step="0.01"', html)
    assert re.search(r'name="maxTokens" value="4096" min="1" step="1"', html)
    assert '<input type="hidden" name="version" value="1">' in html
    assert 'name="enabled" value="true" checked' in html
    assert '<label for="field-language">Language</label>' in html
    assert 'href="/console/model-config" aria-current="page"' in html


@pytest.mark.parametrize(
    ("role", "scope"),
    [("region", {"region": "EU"}), ("country", {"country": "DE"}), ("branch", {"branch": "DE-1"})],
)
def test_an_operator_below_admin_gets_an_audited_403_and_no_link(
    client: TestClient, ops: Ops, role: str, scope: dict[str, str]
) -> None:
    token, _ = new_token(ops, role, **scope)
    page = browser(client)
    signed_in(page, token)
    assert "/console/model-config" not in page.get("/console").text
    before = newest_seq(client)

    for path in (PAGE, f"{PAGE}/history", f"{PAGE}/restore/1"):
        answer = page.get(path)
        assert answer.status_code == 403, path
        assert "access.denied" in answer.text

    denials = entries_after(client, before)
    assert [d["target"] for d in denials] == ["model_config.read", "model_config.read", "model_config.update"]
    assert all(d["action"] == "access_denied" and d["details"]["via"] == "console" for d in denials)


def test_a_save_through_the_form_is_the_apis_new_version_audited_via_console(client: TestClient) -> None:
    page, csrf = admin_page(client)
    before = newest_seq(client)

    answer = post(page, csrf, 1, temperature="0.2", toneProfile="coaching")

    assert (answer.status_code, answer.headers["location"]) == (303, f"{PAGE}?saved=2")
    api = client.get(MODEL_CONFIG)
    assert api.json() == {**SPEC_MODEL_CONFIG, "temperature": 0.2, "toneProfile": "coaching"}
    assert api.headers["etag"] == '"2"'
    [entry] = entries_after(client, before)
    assert (entry["action"], entry["target"]) == ("update_config", "model-config")
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert entry["details"]["via"] == "console"
    assert entry["after"] == {"temperature": 0.2, "toneProfile": "coaching"}
    shown = page.get(answer.headers["location"]).text
    assert "Saved as version 2." in shown
    assert '<option value="coaching" selected>' in shown


def test_unticking_enabled_switches_ai_calls_off(client: TestClient) -> None:
    page, csrf = admin_page(client)
    data = {"csrf": csrf, "version": "1", **{k: v for k, v in FORM.items() if k != "enabled"}}
    assert page.post(PAGE, data=data, follow_redirects=False).status_code == 303
    assert client.get(MODEL_CONFIG).json()["enabled"] is False


def test_a_stale_save_shows_the_other_change_keeps_the_input_and_re_applies_on_the_newest(
    client: TestClient,
) -> None:
    page, csrf = admin_page(client)
    # Someone else changes the language through the API after the operator opened the form at version 1.
    assert client.patch(MODEL_CONFIG, json={"language": "ko", "maxTokens": 2048}).status_code == 200
    state = document_state(client, MODEL_CONFIG)

    stale = post(page, csrf, 1, temperature="0.9")

    assert stale.status_code == 412
    assert document_state(client, MODEL_CONFIG) == state
    html = stale.text
    assert "Someone saved a newer version" in html
    assert "You started from version 1, but version 2 is now in force" in html
    assert "bootstrap-admin" in html  # who made the other change
    assert re.search(r'<tr class="diff-changed">\s*<th scope="row"><code>language</code>', html)
    # The operator's input is kept, on top of the newest version; the other change stays.
    assert 'name="temperature" value="0.9"' in html
    assert 'name="language" value="ko"' in html
    assert 'name="maxTokens" value="2048"' in html
    assert '<input type="hidden" name="version" value="2">' in html
    assert "Save my changes on version 2" in html

    again = page.post(
        PAGE,
        data={
            "csrf": csrf_of(html),
            "version": "2",
            **FORM,
            "temperature": "0.9",
            "language": "ko",
            "maxTokens": "2048",
        },
        follow_redirects=False,
    )
    assert again.headers["location"] == f"{PAGE}?saved=3"
    assert client.get(MODEL_CONFIG).json() == {
        **SPEC_MODEL_CONFIG,
        "temperature": 0.9,
        "language": "ko",
        "maxTokens": 2048,
    }


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"temperature": "3"}, "temperature", "Must be at most 2."),
        ({"temperature": "warm"}, "temperature", "Must be a number."),
        ({"maxTokens": "0"}, "maxTokens", "Must be at least 1."),
        ({"model": "gpt-4o", "maxTokens": "50000"}, "maxTokens", "ceiling of model"),
        ({"model": "no-such-model"}, "model", "unknown model"),
        ({"language": "not a tag"}, "language", "BCP-47"),
    ],
)
def test_an_invalid_value_is_shown_at_its_field_and_changes_nothing(
    client: TestClient, values: dict[str, str], field: str, message: str
) -> None:
    page, csrf = admin_page(client)
    state = document_state(client, MODEL_CONFIG)

    answer = post(page, csrf, 1, **values)

    assert answer.status_code == 422
    assert document_state(client, MODEL_CONFIG) == state
    html = answer.text
    control = re.search(rf'<(?:input|select)[^>]*id="field-{field}"[^>]*>', html)
    assert control, html
    assert 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="field-{field}-help field-{field}-error"' in control.group(0)
    error = re.search(rf'<div class="error" id="field-{field}-error">(.*?)</div>', html, flags=re.S)
    assert error
    assert message in error.group(1)
    assert f'value="{values[field]}"' in html or f'<option value="{values[field]}" selected>' in html


@pytest.mark.parametrize("csrf", [None, "not-the-sessions-token"])
def test_a_save_without_the_sessions_csrf_token_is_403_and_changes_nothing(
    client: TestClient, csrf: str | None
) -> None:
    page, _ = admin_page(client)
    state = document_state(client, MODEL_CONFIG)
    data = {"version": "1", **FORM, "temperature": "1.5"} | ({"csrf": csrf} if csrf else {})

    for path in (PAGE, f"{PAGE}/restore/1"):
        answer = page.post(path, data=data, follow_redirects=False)
        assert answer.status_code == 403
        assert "console.csrf_failed" in answer.text
    assert document_state(client, MODEL_CONFIG) == state


def test_a_region_operators_hand_made_post_is_refused_audited_and_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    token, _ = new_token(ops, "region", region="EU")
    page = browser(client)
    csrf = signed_in(page, token)  # a valid session and CSRF token: only the policy stands in the way
    state = document_state(client, MODEL_CONFIG)
    before = newest_seq(client)

    answers = [post(page, csrf, 1, temperature="1.9")]
    answers.append(page.post(f"{PAGE}/restore/1", data={"csrf": csrf, "version": "1"}))

    assert [a.status_code for a in answers] == [403, 403]
    denials = entries_after(client, before)
    assert [(d["action"], d["target"], d["actor"]["userId"]) for d in denials] == [
        ("access_denied", "model_config.update", "region-user")
    ] * 2
    assert document_state(client, MODEL_CONFIG)[:3] == state[:3]


def test_the_history_lists_versions_and_diffs_any_two(client: TestClient) -> None:
    page, csrf = admin_page(client)
    post(page, csrf, 1, temperature="0.2")
    post(page, csrf, 2, temperature="0.2", toneProfile="friendly")

    html = page.get(f"{PAGE}/history").text
    assert re.findall(r'<th scope="row">(\d)', html) == ["3", "2", "1"]
    assert (
        "<code>toneProfile</code>: <code>&#34;professional&#34;</code> → <code>&#34;friendly&#34;</code>"
        in html
    )
    assert 'href="/console/model-config/restore/1"' in html
    assert 'href="/console/model-config/restore/3"' not in html  # the version in force

    diff = page.get(f"{PAGE}/history", params={"from": "1", "to": "3"}).text
    assert "Version 1 and version 3 side by side" in diff
    rows = re.findall(r'<tr class="diff-(\w+)">\s*<th scope="row"><code>(\w+)</code>', diff)
    assert sorted(path for change, path in rows if change == "changed") == ["temperature", "toneProfile"]

    unknown = page.get(f"{PAGE}/history", params={"from": "1", "to": "9"}).text
    assert re.search(r'id="compare-to"[^>]*aria-invalid="true" aria-describedby="compare-to-error"', unknown)
    assert "No such version: choose a version from 1 to 3." in unknown


def test_the_history_is_paged(client: TestClient, ops: Ops) -> None:
    for n in range(22):
        store_document(ops, "model_config", {**SPEC_MODEL_CONFIG, "maxTokens": 100 + n}, request_id=f"r{n}")
    page, _ = admin_page(client)
    first = page.get(f"{PAGE}/history").text
    assert len(re.findall(r'<th scope="row">\d+', first)) == 20
    older = re.search(r'href="(/console/model-config/history\?cursor=\d+)"', first)
    assert older, first
    assert re.findall(r'<th scope="row">(\d+)', page.get(older.group(1)).text) == ["3", "2", "1"]


def test_a_restore_is_confirmed_then_written_as_a_new_version_with_the_old_content(
    client: TestClient,
) -> None:
    page, csrf = admin_page(client)
    post(page, csrf, 1, temperature="1.2", language="ko")
    before = newest_seq(client)

    confirm = page.get(f"{PAGE}/restore/1")
    assert confirm.status_code == 200
    assert "Version 2 in force, and version 1 to restore" in confirm.text
    assert '<input type="hidden" name="version" value="2">' in confirm.text
    assert client.get(MODEL_CONFIG).headers["etag"] == '"2"'  # looking changes nothing

    done = page.post(f"{PAGE}/restore/1", data={"csrf": csrf, "version": "2"}, follow_redirects=False)

    assert done.headers["location"] == f"{PAGE}?restored=1&saved=3"
    assert client.get(MODEL_CONFIG).json() == SPEC_MODEL_CONFIG
    assert client.get(f"{MODEL_CONFIG}/history").json()["items"][0]["version"] == 3
    [entry] = entries_after(client, before)
    assert entry["action"] == "update_config"
    assert entry["details"]["via"] == "console"
    assert entry["after"] == {"temperature": 0.4, "language": "auto"}
    assert "Version 1 restored as version 3." in page.get(done.headers["location"]).text


def test_a_restore_over_a_newer_version_or_of_a_now_invalid_version_changes_nothing(
    client: TestClient, ops: Ops
) -> None:
    store_document(ops, "model_config", {**SPEC_MODEL_CONFIG, "model": "retired-model"}, request_id="old")
    store_document(ops, "model_config", SPEC_MODEL_CONFIG, request_id="fixed")
    page, csrf = admin_page(client)
    state = document_state(client, MODEL_CONFIG)

    stale = page.post(f"{PAGE}/restore/1", data={"csrf": csrf, "version": "2"})
    invalid = page.post(f"{PAGE}/restore/2", data={"csrf": csrf, "version": "3"})
    missing = page.get(f"{PAGE}/restore/99")

    assert stale.status_code == 412
    assert "The settings changed while you were looking" in stale.text
    assert invalid.status_code == 422
    assert "unknown model &#39;retired-model&#39;" in invalid.text
    assert missing.status_code == 404
    assert document_state(client, MODEL_CONFIG) == state


def test_markup_in_values_and_names_is_inert_text(client: TestClient, ops: Ops) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    store_document(ops, "model_config", {**SPEC_MODEL_CONFIG, "language": evil}, request_id="evil")
    token, _ = new_token(ops, "admin", user=evil)
    page = browser(client)
    csrf = signed_in(page, token)
    stale = post(page, csrf, 1, temperature="0.5")  # the conflict names the other change's values
    assert client.patch(MODEL_CONFIG, json={"language": "ko"}).status_code == 200
    post(page, csrf, 3, language="en")  # a version saved by the evil-named operator

    for html in (page.get(PAGE).text, stale.text, page.get(f"{PAGE}/history?from=1&to=4").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "\\u003cscript\\u003e" in html
