"""Scoped hot reload from the console (ADR 0025) on both stores: the reload form offers the places the
operator may reach, a region operator reloads its country and the stream shows only the instances
asked, a place outside its own is the audited 403 worded on the page, an unknown code the 422; the
engine's page lists the activations per place and answers what runs at a place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops
from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply

from ..support import ADMIN_TOKEN, entries_after, newest_seq
from .helpers import browser, csrf_of, new_token, signed_in

NDJSON = {"Accept": "application/x-ndjson"}
GOOD = {"transforms": [], "allowedFormats": ["text/plain"]}
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {"code": "KR", "name": "Korea", "branches": [{"code": "KR-0012", "name": "Gangnam"}]},
                {"code": "JP", "name": "Japan"},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


class PlacedInstance:
    """An engine instance in a place (an SDK started with `place=`): records what it was asked."""

    def __init__(self, instance_id: str, place: str | None) -> None:
        self.instance_id = instance_id
        self.place = place
        self.asked: list[str] = []

    def apply(self, command: Command) -> Reply:
        self.asked.append(command.target_id)
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        pass


@pytest.fixture
def placed(client: TestClient, ops: Ops) -> dict[str, PlacedInstance]:
    assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
    for target in ("c-kr", "c-branch", "c-all"):
        answer = client.put(f"/operator/ops/engines/content/rulesets/{target}", json=GOOD)
        assert answer.status_code in (200, 201), answer.text
    instances = {
        "KR": PlacedInstance("sdk/seoul", "KR"),
        "KR-0012": PlacedInstance("sdk/gangnam", "KR-0012"),
        "DE": PlacedInstance("sdk/berlin", "DE"),
        "JP": PlacedInstance("sdk/tokyo", "JP"),
    }
    for instance in instances.values():
        ops.engines.add_instance("content", instance)
    return instances


def events(answer: Any) -> list[dict[str, Any]]:
    assert answer.headers["content-type"].startswith("application/x-ndjson"), answer.text
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


def reload(page: TestClient, csrf: str, target: str, scope: str, **headers: str) -> Any:
    data = {"csrf": csrf, "engine": "content", "targetId": target, "scope": scope}
    return page.post("/console/engines/reload", data=data, headers={**NDJSON, **headers})


def options(html: str, engine: str) -> list[str]:
    select = html.split(f'<select id="scope-{engine}" name="scope">')[1].split("</select>")[0]
    return [part.split('"')[1] for part in select.split("<option value=")[1:]]


def test_the_place_select_offers_what_the_operator_reaches(client: TestClient, ops: Ops, placed: Any) -> None:
    admin = browser(client)
    signed_in(admin, ADMIN_TOKEN)
    assert options(admin.get("/console/engines").text, "content") == [
        "",
        "APAC",
        "KR",
        "KR-0012",
        "JP",
        "EU",
        "DE",
    ]
    token, _ = new_token(ops, "region", user="region-park", region="APAC")
    region = browser(client)
    signed_in(region, token)
    html = region.get("/console/engines").text
    assert options(html, "content") == ["", "APAC", "KR", "KR-0012", "JP"]
    assert '<option value="APAC" selected>' in html  # its own place first chosen, not every place
    country, _ = new_token(ops, "country", user="country-kim", region="APAC", country="KR")
    page = browser(client)
    signed_in(page, country)
    assert options(page.get("/console/engines").text, "content") == ["", "KR", "KR-0012"]


def test_a_region_operator_reloads_its_country_and_sees_only_the_instances_asked(
    client: TestClient, ops: Ops, placed: dict[str, PlacedInstance]
) -> None:
    token, _ = new_token(ops, "region", user="region-park", region="APAC")
    page = browser(client)
    csrf = signed_in(page, token)
    before = newest_seq(client)

    told = events(reload(page, csrf, "c-kr", "kr"))

    phases = [e["phase"] for e in told]
    assert phases[0] == "started"
    assert phases[-1] == "applied"
    assert "for KR only" in told[0]["html"]
    answered = sorted(e["data"]["instance"] for e in told if e["phase"] == "reply")
    assert answered == ["sdk/gangnam", "sdk/seoul"]
    [joined] = [e for e in told if e["phase"] == "joined"]
    assert "2 instances taking part" in joined["html"]
    assert "at KR" in told[-1]["html"]
    assert placed["DE"].asked == placed["JP"].asked == []
    active = client.get("/operator/ops/engines/content/active", params={"scope": "KR-0012"}).json()
    assert (active["targetId"], active["activation"]["scope"]) == ("c-kr", "KR")
    assert client.get("/operator/ops/engines/content/active").json()["targetId"] == "initial"
    [entry] = [e for e in entries_after(client, before) if e["action"] == "reload"]
    assert (entry["actor"]["userId"], entry["details"]["scope"], entry["details"]["via"]) == (
        "region-park",
        "KR",
        "console",
    )


def test_a_place_outside_the_operators_own_is_refused_on_the_page_audited_and_changes_nothing(
    client: TestClient, ops: Ops, placed: dict[str, PlacedInstance]
) -> None:
    token, _ = new_token(ops, "region", user="region-park", region="APAC")
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, token)
    before = newest_seq(client)

    answer = reload(page, csrf, "c-kr", "DE")

    assert answer.status_code == 403
    told = events(answer)
    assert [e["phase"] for e in told] == ["started", "refused"]
    assert "내 장소 밖입니다" in told[-1]["html"]
    [denial] = entries_after(client, before)
    assert (denial["action"], denial["target"], denial["details"]["scope"]) == (
        "access_denied",
        "hot_reload",
        "DE",
    )
    assert placed["DE"].asked == []
    without_js = page.post(
        "/console/engines/reload",
        data={"csrf": csrf, "engine": "content", "targetId": "c-kr", "scope": "EU"},
    )
    assert without_js.status_code == 403
    assert "내 장소 밖입니다" in without_js.text


def test_an_unknown_or_malformed_place_is_the_apis_422_worded_and_nothing_is_asked(
    client: TestClient, placed: dict[str, PlacedInstance]
) -> None:
    page = browser(client, **{"Accept-Language": "ko"})
    csrf = signed_in(page, ADMIN_TOKEN)
    unknown = reload(page, csrf, "c-kr", "ZZ")
    assert unknown.status_code == 422
    final = events(unknown)[-1]
    assert (final["phase"], final["data"]["reason"]) == ("refused", "places.unknown")
    assert "장소 카탈로그에 그 코드의 장소가 없습니다" in final["html"]
    malformed = reload(page, csrf, "c-kr", "K R")
    assert malformed.status_code == 422
    assert events(malformed)[-1]["data"]["reason"] == "places.bad_code"
    assert all(instance.asked == [] for instance in placed.values())


def test_with_an_empty_catalogue_the_place_is_typed_and_checked_against_the_operators_own(
    client: TestClient, ops: Ops
) -> None:
    client.put("/operator/ops/engines/content/rulesets/c-kr", json=GOOD)
    token, _ = new_token(ops, "country", user="country-kim", country="KR")
    page = browser(client)
    csrf = signed_in(page, token)
    html = page.get("/console/engines").text
    assert '<input id="scope-content" name="scope"' in html
    assert 'id="scope-help"' in html
    assert reload(page, csrf, "c-kr", "JP").status_code == 403
    told = events(reload(page, csrf, "c-kr", "kr"))
    assert told[-1]["phase"] == "applied"


def test_the_engine_page_lists_activations_per_place_and_what_runs_at_a_place(
    client: TestClient, ops: Ops, placed: dict[str, PlacedInstance]
) -> None:
    page = browser(client)
    csrf = signed_in(page, ADMIN_TOKEN)
    assert events(reload(page, csrf, "c-kr", "KR"))[-1]["phase"] == "applied"
    assert events(reload(page, csrf, "c-branch", "KR-0012"))[-1]["phase"] == "applied"

    html = page.get("/console/engines/content").text
    rows = html.split('<table class="activations">')[1].split("</table>")[0]
    assert "Every place (global)" in rows
    assert rows.index("<code>KR</code>") < rows.index("<code>KR-0012</code>")
    assert "<code>c-kr</code>" in rows
    assert "<code>c-branch</code>" in rows
    assert rows.count("bootstrap-admin") >= 2  # who activated each place
    assert "2 places with their own ruleset" in page.get("/console/engines").text

    at_branch = page.get("/console/engines/content", params={"at": "kr-0012"}).text
    assert "An instance at KR-0012 runs c-branch" in at_branch
    at_japan = page.get("/console/engines/content", params={"at": "JP"}).text
    assert "An instance at JP runs initial" in at_japan
    assert "the global activation" in at_japan
    unknown = page.get("/console/engines/content", params={"at": "ZZ"})
    assert unknown.status_code == 422
    assert 'aria-invalid="true"' in unknown.text
    assert "places.unknown" in unknown.text


def test_the_engine_page_and_scoped_reload_keep_the_consoles_rules(
    client: TestClient, ops: Ops, placed: dict[str, PlacedInstance]
) -> None:
    token, _ = new_token(ops, "region", user="region-park", region="APAC")
    page = browser(client)
    signed_in(page, token)
    assert page.get("/console/engines/content").status_code == 403  # artifacts are admin-only
    for bad in ("", "wrong"):
        refused = page.post(
            "/console/engines/reload",
            data={"csrf": bad, "engine": "content", "targetId": "c-kr", "scope": "KR"},
        )
        assert refused.status_code == 403
    # An engine the role may not reload anywhere stays the audited error page, whatever the place.
    scenario = page.post(
        "/console/engines/reload",
        data={
            "csrf": csrf_of(page.get("/console/engines").text),
            "engine": "scenario",
            "targetId": "x",
            "scope": "KR",
        },
        headers=NDJSON,
    )
    assert scenario.status_code == 403
    assert scenario.headers["content-type"].startswith("text/html")
    assert all(instance.asked == [] for instance in placed.values())
