"""Scoped activation (issue #13 item 3, ADR 0025): a reload with `scope` changes only the instances under
that place, the most specific place's activation wins, a NACK rolls back that place alone, and releases,
the audit log and the places catalogue know about scoped activations. Both stores."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from integration.support import assert_problem
from trainer_ops.app import Ops
from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply

from .conftest import difficulty_ruleset, upload

RELOAD = "/operator/ops/hot-reload"
ACTIVE = "/operator/ops/engines/difficulty/active"
CATALOGUE: dict[str, Any] = {
    "regions": [
        {
            "code": "APAC",
            "name": "Asia Pacific",
            "countries": [
                {
                    "code": "KR",
                    "name": "Korea",
                    "branches": [
                        {"code": "KR-0012", "name": "Gangnam"},
                        {"code": "KR-0013", "name": "Jongno"},
                    ],
                },
                {"code": "JP", "name": "Japan"},
            ],
        },
        {"code": "EU", "name": "Europe", "countries": [{"code": "DE", "name": "Germany"}]},
    ]
}


class PlacedInstance:
    """An engine instance in a place (as an SDK with `place=` is): records what it was asked and runs."""

    def __init__(self, instance_id: str, place: str | None, *, nack: bool = False) -> None:
        self.instance_id = instance_id
        self.place = place
        self.nack = nack
        self.asked: list[str] = []
        self.running: str | None = None

    def apply(self, command: Command) -> Reply:
        self.asked.append(command.target_id)
        if self.nack:
            return Reply(self.instance_id, False, "refused on purpose")
        self.running = command.target_id
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        self.running = command.target_id if command else None


@pytest.fixture
def placed(client: TestClient, ops: Ops) -> TestClient:
    assert client.put("/operator/ops/places", json=CATALOGUE).status_code == 200
    for stamp in ("global-2", "kr", "branch", "de", "bad"):
        upload(client, "difficulty", stamp, difficulty_ruleset(stamp))
    return client


def attach(ops: Ops, instance: PlacedInstance) -> PlacedInstance:
    ops.engines.add_instance("difficulty", instance)
    return instance


def reload(client: TestClient, target: str, scope: str | None = None) -> Any:
    body = {"type": "difficulty", "targetId": target, **({"scope": scope} if scope else {})}
    return client.post(RELOAD, json=body)


def runs(client: TestClient, scope: str | None = None) -> tuple[str, str | None]:
    response = client.get(ACTIVE, params={"scope": scope} if scope else {})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["targetId"], body["activation"]["scope"]


def test_a_scoped_reload_asks_and_changes_only_the_instances_under_that_place(
    placed: TestClient, ops: Ops
) -> None:
    gangnam = attach(ops, PlacedInstance("sdk/gangnam", "KR-0012"))
    korea = attach(ops, PlacedInstance("sdk/korea", "KR"))
    berlin = attach(ops, PlacedInstance("sdk/berlin", "DE"))
    everywhere = attach(ops, PlacedInstance("sdk/global", None))

    answer = reload(placed, "kr", "kr")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["scope"], answer.json()["status"]) == ("KR", "applied")
    assert sorted(i["instance"] for i in answer.json()["instances"]) == ["sdk/gangnam", "sdk/korea"]
    assert (gangnam.running, korea.running) == ("kr", "kr")
    assert berlin.asked == everywhere.asked == []
    assert ops.engines.current("difficulty").target_id == "initial"  # this replica's own instance is global

    # A global reload now skips the places that have their own activation.
    assert reload(placed, "global-2").status_code == 200
    assert (berlin.running, everywhere.running) == ("global-2", "global-2")
    assert gangnam.asked == korea.asked == ["kr"]


def test_active_answers_per_place_with_the_most_specific_activation(placed: TestClient, ops: Ops) -> None:
    assert reload(placed, "kr", "KR").status_code == 200
    assert reload(placed, "branch", "KR-0012").status_code == 200
    assert runs(placed, "KR-0012") == ("branch", "KR-0012")
    assert runs(placed, "kr-0013") == ("kr", "KR")  # a branch without its own: its country's
    assert runs(placed, "KR") == ("kr", "KR")
    assert runs(placed, "APAC") == ("initial", None)  # a parent never takes its child's
    assert runs(placed, "JP") == ("initial", None)
    assert runs(placed) == ("initial", None)
    unknown = assert_problem(placed.get(ACTIVE, params={"scope": "ZZ"}), 422, field="scope")
    assert unknown["reason"] == "places.unknown"
    # An unchanged scoped reload is `unchanged` at that scope, not at the global one.
    again = reload(placed, "kr", "KR").json()
    assert (again["status"], again["scope"]) == ("unchanged", "KR")


def test_a_nack_under_the_scope_rolls_back_only_that_scope(placed: TestClient, ops: Ops) -> None:
    berlin = attach(ops, PlacedInstance("sdk/berlin", "DE"))
    assert reload(placed, "kr", "KR").status_code == 200
    flaky = attach(ops, PlacedInstance("sdk/flaky", "KR-0012", nack=True))

    failed = assert_problem(reload(placed, "bad", "KR"), 409)
    assert (failed["outcome"], failed["scopes"]) == ("rolled_back", ["KR"])
    assert "sdk/flaky: refused on purpose" in failed["detail"]
    assert flaky.running == "kr"  # put back on its place's activation, not the global one
    assert berlin.asked == []
    assert runs(placed, "KR-0012") == ("kr", "KR")
    assert runs(placed, "DE") == ("initial", None)
    # A place's first activation that fails leaves the place on its parent's.
    failed_first = assert_problem(reload(placed, "branch", "KR-0012"), 409)
    assert failed_first["outcome"] == "rolled_back"
    assert runs(placed, "KR-0012") == ("kr", "KR")


def test_the_reload_audit_entry_records_the_scope(placed: TestClient) -> None:
    assert reload(placed, "de", "de").status_code == 200
    entry = placed.get("/operator/ops/audit", params={"action": "reload"}).json()["items"][0]
    assert (entry["targetId"], entry["details"]["scope"], entry["after"]["scope"]) == (
        "difficulty",
        "DE",
        "DE",
    )
    assert entry["scope"] == {"place": "DE"}  # Step 1's field: where the reload applied
    assert reload(placed, "global-2").status_code == 200
    unscoped = placed.get("/operator/ops/audit", params={"action": "reload"}).json()["items"][0]
    assert "scope" not in unscoped["details"]


def test_a_release_rollback_restores_every_scoped_activation(placed: TestClient, ops: Ops) -> None:
    korea = attach(ops, PlacedInstance("sdk/korea", "KR"))
    assert reload(placed, "kr", "KR").status_code == 200
    release = {"version": "2.0.0", "notes": "scoped", "includedEngines": ["difficulty"]}
    created = placed.post("/operator/ops/releases", json=release)
    assert created.status_code == 201, created.text
    assert created.json()["snapshot"]["scoped"]["difficulty"]["KR"]["targetId"] == "kr"
    assert reload(placed, "branch", "KR").status_code == 200
    assert reload(placed, "de", "DE").status_code == 200  # a place activated after the release
    assert reload(placed, "global-2").status_code == 200

    back = placed.post("/operator/ops/releases/rollback", json={"targetVersion": "2.0.0"})
    assert back.status_code == 200, back.text
    assert runs(placed, "KR") == ("kr", "KR")
    assert runs(placed, "DE") == ("initial", "DE")  # what DE ran at the release: the global ruleset
    assert runs(placed) == ("initial", None)
    assert korea.running == "kr"


def test_a_place_with_an_activation_cannot_be_removed_from_the_catalogue(placed: TestClient) -> None:
    assert reload(placed, "branch", "KR-0013").status_code == 200
    without = {
        "regions": [
            {**CATALOGUE["regions"][0], "countries": [{"code": "KR", "name": "Korea"}]},
            CATALOGUE["regions"][1],
        ]
    }
    refused = assert_problem(placed.put("/operator/ops/places", json=without), 409)
    assert refused["reason"] == "places.in_use"
    assert refused["inUse"] == [{"code": "KR-0013", "usedBy": ["difficulty activation at KR-0013"]}]


def test_a_scoped_activation_goes_out_as_its_own_stream_event(placed: TestClient, ops: Ops) -> None:
    # SDKs released before scopes take every `ruleset` event as the global activation: a scoped one must
    # not be one of those.
    start = ops.sync.broadcaster.last_id
    assert reload(placed, "kr", "KR").status_code == 200
    events = ops.sync.broadcaster.since(start)
    assert events is not None
    assert [(e.kind, e.data["scope"]) for e in events] == [("scoped_ruleset", "KR")]
