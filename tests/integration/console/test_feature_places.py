"""The Features page with overrides by place (ADR 0027), on both stores: country and branch overrides
get columns showing where their value comes from, an admin sets one through a shown column, a region
operator sees its region and the places under it, and a place outside its scope or the catalogue is
refused at the field."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from trainer_ops.app import Ops

from ..support import ADMIN_TOKEN, FEATURES, entries_after, newest_seq
from .helpers import browser, new_token, signed_in
from .test_features import HTMX, PAGE, switch_of

CATALOGUE = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]}
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}
QUIZ = f"{FEATURES}/quiz_auto_generate"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_an_admin_sees_country_and_branch_columns_and_sets_a_branch_override(client: TestClient) -> None:
    assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
    assert client.patch(QUIZ, params={"place": "KR"}, json={"enabled": True}).status_code == 200
    page = browser(client)
    signed_in(page, ADMIN_TOKEN)

    html = page.get(PAGE, params={"region": "kr-0012"}).text

    assert '<th scope="col">KR</th>' in html
    assert '<th scope="col">KR-0012</th>' in html
    assert 'aria-checked="true"' in switch_of(html, "quiz_auto_generate KR-0012")  # from KR
    assert "Follows KR" in html
    start = newest_seq(client)
    switched = page.post(
        f"{PAGE}/quiz_auto_generate/switch",
        data={"csrf": csrf_of(html), "region": "KR-0012", "enabled": "false", "regions": "KR,KR-0012"},
        headers=HTMX,
    )
    assert switched.status_code == 200, switched.text
    assert 'aria-checked="false"' in switch_of(switched.text, "quiz_auto_generate KR-0012")
    assert client.get(FEATURES, params={"place": "KR-0012"}).json()["quiz_auto_generate"] is False
    [entry] = entries_after(client, start)
    assert entry["target"] == "feature:quiz_auto_generate@KR-0012"
    unknown = page.get(PAGE, params={"region": "XX-1"})
    assert unknown.status_code == 422
    assert 'id="show-region-error"' in unknown.text


def test_a_region_operator_sees_its_region_and_the_places_under_it_and_no_other(
    client: TestClient, ops: Ops
) -> None:
    assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
    for place in ("KR-0012", "DE"):
        assert client.patch(QUIZ, params={"place": place}, json={"enabled": True}).status_code == 200
    token, _ = new_token(ops, "region", region="APAC", user="apac-lee")
    page = browser(client)
    signed_in(page, token)

    html = page.get(PAGE).text

    assert '<th scope="col">APAC</th>' in html
    assert '<th scope="col">KR-0012</th>' in html
    assert '<th scope="col">DE</th>' not in html
    assert "disabled" not in switch_of(html, "quiz_auto_generate KR-0012")
    outside = page.get(PAGE, params={"region": "DE"})
    assert outside.status_code == 403
    assert 'id="show-region-error"' in outside.text
    assert '<th scope="col">DE</th>' not in outside.text
