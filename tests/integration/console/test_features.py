"""The Features page on both stores: the matrix each role sees, switches and resets that change the same
document the API shows, creating a flag with errors at the field, each flag's history, CSRF, denials
refused by the server and audited, and markup in a description rendered as text."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, FEATURES, entries_after, newest_seq
from .helpers import browser, new_token, signed_in

PAGE = "/console/features"
HTMX = {"HX-Request": "true"}


def switch_of(html: str, name: str) -> str:
    """The switch button named `name` (its aria-label), as markup."""
    found = re.search(rf'<button[^>]*role="switch"[^>]*aria-label="{re.escape(name)}"[^>]*>', html)
    assert found, f"no switch named {name!r}"
    return found.group(0)


def region_page(client: TestClient, ops: Ops) -> tuple[TestClient, str]:
    token, _ = new_token(ops, "region", region="EU", user="eu-lee")
    page = browser(client)
    return page, signed_in(page, token)


def test_an_admin_sees_every_flag_with_a_global_switch_and_a_column_per_overridden_region(
    client: TestClient,
) -> None:
    client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "APAC"}, json={"enabled": True})
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    html = page.get(PAGE).text
    for key in ("mission_auto_assign", "insight_generation", "quiz_auto_generate", "content_ai_transform"):
        assert f'<code class="flag-key">{key}</code>' in html
        assert "disabled" not in switch_of(html, key)
        assert "disabled" not in switch_of(html, f"{key} APAC")  # an admin may override any flag
    assert 'aria-checked="false"' in switch_of(html, "quiz_auto_generate")
    assert 'aria-checked="true"' in switch_of(html, "quiz_auto_generate APAC")
    assert '<th scope="col">APAC</th>' in html
    assert "Reset quiz_auto_generate APAC to the default" in html
    assert "Create a flag" in html
    assert 'href="/console/features/quiz_auto_generate/history"' in html


def test_an_admin_adds_a_region_column_and_a_bad_code_is_refused_at_the_field(client: TestClient) -> None:
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    shown = page.get(PAGE, params={"region": "LATAM"}).text
    assert '<th scope="col">LATAM</th>' in shown
    assert 'aria-checked="true"' in switch_of(shown, "mission_auto_assign LATAM")  # follows the default

    bad = page.get(PAGE, params={"region": "no such region!"})
    assert bad.status_code == 422
    field = re.search(r'<input id="show-region"[^>]*>', bad.text)
    assert field
    assert 'aria-invalid="true"' in field.group(0)
    assert "show-region-error" in field.group(0)
    assert 'id="show-region-error"' in bad.text


def test_a_region_operator_sees_only_its_column_and_switches_only_overridable_flags(
    client: TestClient, ops: Ops
) -> None:
    client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "APAC"}, json={"enabled": True})
    page, _ = region_page(client, ops)
    html = page.get(PAGE).text
    assert '<th scope="col">EU</th>' in html
    assert "APAC" not in html
    assert "disabled" not in switch_of(html, "quiz_auto_generate EU")
    assert "disabled" in switch_of(html, "insight_generation EU")
    assert 'aria-label="quiz_auto_generate"' not in html  # the global default is text, not a switch
    assert "Create a flag" not in html
    assert "/history" not in html


def test_a_branch_operator_has_no_features_page(client: TestClient, ops: Ops) -> None:
    token, _ = new_token(ops, "branch", branch="Seoul-1")
    page = browser(client)
    signed_in(page, token)
    answer = page.get(PAGE)
    assert answer.status_code == 403
    assert "access.denied" in answer.text


def test_an_admin_switch_changes_the_global_default_the_api_shows_and_returns_the_row(
    client: TestClient,
) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    answer = page.post(
        f"{PAGE}/quiz_auto_generate/switch",
        data={"csrf": csrf, "region": "", "enabled": "true", "regions": "EU"},
        headers=HTMX,
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.lstrip().startswith('<tr id="flag-quiz_auto_generate">')
    assert 'aria-checked="true"' in switch_of(answer.text, "quiz_auto_generate")
    assert switch_of(answer.text, "quiz_auto_generate EU")  # the row keeps the page's columns
    assert client.get(FEATURES).json()["quiz_auto_generate"] is True
    [entry] = [e for e in entries_after(client, before) if e["action"] == "update_config"]
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert entry["details"]["via"] == "console"


def test_a_region_operator_sets_and_removes_its_own_override(client: TestClient, ops: Ops) -> None:
    page, csrf = region_page(client, ops)
    plain = page.post(
        f"{PAGE}/quiz_auto_generate/switch", data={"csrf": csrf, "enabled": "true"}, follow_redirects=False
    )
    assert (plain.status_code, plain.headers["location"]) == (303, PAGE)
    detail = client.get(f"{FEATURES}/quiz_auto_generate").json()
    assert detail["overrides"] == {"EU": True}
    assert detail["defaultEnabled"] is False
    before = newest_seq(client)

    reset = page.post(
        f"{PAGE}/quiz_auto_generate/switch",
        data={"csrf": csrf, "region": "EU", "enabled": "default"},
        headers=HTMX,
    )
    assert reset.status_code == 200
    assert "Follows the default" in reset.text
    assert client.get(f"{FEATURES}/quiz_auto_generate").json()["overrides"] == {}
    [entry] = entries_after(client, before)
    assert entry["actor"]["userId"] == "eu-lee"
    assert entry["target"] == "feature:quiz_auto_generate@EU"
    assert entry["details"]["via"] == "console"


def test_forbidden_switches_posted_by_hand_are_refused_and_audited(client: TestClient, ops: Ops) -> None:
    page, csrf = region_page(client, ops)
    values = client.get(FEATURES).json()
    for form, target in (
        ({"region": "EU", "enabled": "false"}, "insight_generation"),  # not region-overridable
        ({"region": "APAC", "enabled": "true"}, "quiz_auto_generate"),  # another region
    ):
        before = newest_seq(client)
        answer = page.post(f"{PAGE}/{target}/switch", data={"csrf": csrf, **form})
        assert answer.status_code == 403
        assert "access.denied" in answer.text
        [denial] = entries_after(client, before)
        assert denial["action"] == "access_denied"
        assert denial["target"] == "features.update"
        assert denial["actor"]["userId"] == "eu-lee"
        assert denial["details"]["via"] == "console"
    assert client.get(FEATURES).json() == values
    assert client.get(f"{FEATURES}/quiz_auto_generate").json()["overrides"] == {}


def test_a_switch_without_or_with_a_wrong_csrf_token_changes_nothing(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    for token in ("", "x" + csrf):
        answer = page.post(f"{PAGE}/quiz_auto_generate/switch", data={"csrf": token, "enabled": "true"})
        assert answer.status_code == 403
        assert "console.csrf_failed" in answer.text
        created = page.post(PAGE, data={"csrf": token, "key": "sneaky", "enabled": "on"})
        assert created.status_code == 403
    assert client.get(FEATURES).json()["quiz_auto_generate"] is False
    assert "sneaky" not in client.get(FEATURES).json()
    assert newest_seq(client) == before


def test_a_refused_htmx_switch_answers_a_problem_fragment(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    answer = page.post(
        f"{PAGE}/quiz_auto_generate/switch", data={"csrf": csrf, "enabled": "default"}, headers=HTMX
    )
    assert answer.status_code == 422
    assert 'class="problem"' in answer.text
    assert "features.enabled_null" in answer.text
    assert "<html" not in answer.text


def test_an_admin_creates_a_flag_and_the_api_shows_it(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    form = {
        "csrf": csrf,
        "key": "coach_tips",
        "description": "Tips from the coach.",
        "regionOverridable": "on",
    }
    answer = page.post(PAGE, data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{PAGE}#flag-coach_tips"
    detail = client.get(f"{FEATURES}/coach_tips").json()
    assert detail["enabled"] is False
    assert detail["regionOverridable"] is True
    assert detail["description"] == "Tips from the coach."
    assert '<code class="flag-key">coach_tips</code>' in page.get(PAGE).text


def test_a_bad_or_existing_key_is_shown_at_the_key_field(client: TestClient) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    before = newest_seq(client)
    for key, status, message in (
        ("Not A Key", 422, "This is not a valid key"),
        ("quiz_auto_generate", 409, "A flag with this key exists already."),
    ):
        answer = page.post(PAGE, data={"csrf": csrf, "key": key, "description": "d"})
        assert answer.status_code == status
        field = re.search(r'<input id="new-key"[^>]*>', answer.text)
        assert field
        assert 'aria-invalid="true"' in field.group(0)
        assert "new-key-error" in field.group(0)
        assert re.search(rf'<p class="error" id="new-key-error">{message}', answer.text)
        assert f'value="{key}"' in answer.text  # what the operator typed is kept
    assert newest_seq(client) == before


def test_a_region_operator_may_not_create_a_flag_even_by_hand(client: TestClient, ops: Ops) -> None:
    page, csrf = region_page(client, ops)
    before = newest_seq(client)
    answer = page.post(PAGE, data={"csrf": csrf, "key": "regional_flag", "enabled": "on"})
    assert answer.status_code == 403
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["target"]) == ("access_denied", "features.create")
    assert "regional_flag" not in client.get(FEATURES).json()


def test_a_flags_history_names_who_when_where_and_old_and_new(client: TestClient, ops: Ops) -> None:
    client.patch(f"{FEATURES}/quiz_auto_generate", json={"enabled": True})
    client.patch(f"{FEATURES}/quiz_auto_generate", params={"region": "EU"}, json={"enabled": False})
    client.patch(f"{FEATURES}/mission_auto_assign", json={"enabled": False})
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    html = page.get(f"{PAGE}/quiz_auto_generate/history").text
    rows = re.findall(r"<tr>\s*<th scope=\"row\">.*?</tr>", html, flags=re.S)
    assert len(rows) == 2  # not mission_auto_assign's change
    assert "<td>EU</td>" in rows[0]
    assert "not set" in rows[0]
    assert "Off" in rows[0]
    assert "Global default" in rows[1]
    assert re.search(r"<code>enabled</code>: Off → On", rows[1])
    assert "admin" in rows[1]
    assert page.get(f"{PAGE}/no_such_flag/history").status_code == 404


def test_a_region_operator_may_not_read_a_flags_history(client: TestClient, ops: Ops) -> None:
    page, _ = region_page(client, ops)
    assert page.get(f"{PAGE}/quiz_auto_generate/history").status_code == 403


def test_markup_in_a_description_is_inert_text(client: TestClient) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    created = client.post(FEATURES, json={"key": "evil_flag", "enabled": True, "description": evil})
    assert created.status_code == 201, created.text
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)
    for html in (page.get(PAGE).text, page.get(f"{PAGE}/evil_flag/history").text):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
