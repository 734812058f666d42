"""Releases (spec section 4): the spec's examples, semver order, immutability, exact all-or-none rollback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from trainer_ops.app import Ops

from .conftest import difficulty_ruleset, reload, upload
from .fakes import NackingInstance

R104 = {"version": "1.0.4", "notes": "Updated difficulty rules", "includedEngines": ["difficulty"]}
R105 = {"version": "1.0.5", "notes": "Added new mission templates", "includedEngines": ["missions"]}
R106 = {
    "version": "1.0.6",
    "notes": "Insight scoring adjustments + new content modules",
    "includedEngines": ["insights", "content", "missions"],
}


def test_spec_examples_create_list_and_roll_back(client: TestClient) -> None:
    for body in (R104, R105, R106):
        response = client.post("/operator/ops/releases", json=body)
        assert response.status_code == 201, response.text
        assert isinstance(response.json()["date"], int)
    listed = client.get("/operator/ops/releases").json()
    assert isinstance(listed, list)
    assert [(r["version"], r["notes"]) for r in listed] == [
        (b["version"], b["notes"]) for b in (R104, R105, R106)
    ]
    assert all(isinstance(r["date"], int) for r in listed)
    assert [r["current"] for r in listed] == [False, False, True]
    response = client.post("/operator/ops/releases/rollback", json={"targetVersion": "1.0.4"})
    assert response.status_code == 200, response.text
    assert [r["current"] for r in client.get("/operator/ops/releases").json()] == [True, False, False]
    audit = client.get("/operator/ops/audit", params={"action": "publish"}).json()["items"]
    assert audit[0]["details"]["kind"] == "rollback"
    assert audit[0]["after"]["current"] == "1.0.4"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**R104, "version": "1.0"}, 422),
        ({**R104, "version": "v1.0.4"}, 422),
        ({**R104, "includedEngines": ["weather"]}, 422),
        ({**R104, "date": 1}, 422),
        ({**R104, "version": "1.0.3"}, 409),
        ({**R104, "version": "1.0.4"}, 409),
        ({**R104, "version": "1.0.4-rc.1"}, 409),
    ],
)
def test_release_refusals(client: TestClient, body: dict, status: int) -> None:
    assert client.post("/operator/ops/releases", json=R104).status_code == 201
    response = client.post("/operator/ops/releases", json=body)
    assert response.status_code == status, response.text
    assert len(client.get("/operator/ops/releases").json()) == 1


def test_releases_are_immutable_in_the_store(client: TestClient, ops: Ops) -> None:
    assert client.post("/operator/ops/releases", json=R104).status_code == 201
    for statement in (
        "UPDATE releases SET notes = 'x'",
        "DELETE FROM releases",
        "DELETE FROM release_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), ops.database.engine.begin() as conn:
            conn.execute(text(statement))
    assert client.patch("/operator/ops/releases", json={}).status_code == 405


def test_unknown_rollback_target_is_404(client: TestClient) -> None:
    response = client.post("/operator/ops/releases/rollback", json={"targetVersion": "9.9.9"})
    assert response.status_code == 404


def test_rollback_restores_exactly_the_snapshot(client: TestClient, ops: Ops) -> None:
    upload(client, "difficulty", "d1", difficulty_ruleset("d1"))
    assert reload(client, "difficulty", "d1").status_code == 200
    client.patch("/operator/ops/model-config", json={"temperature": 0.9})
    client.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": True})
    release = client.post(
        "/operator/ops/releases", json={**R104, "includedEngines": ["difficulty", "content"]}
    )
    snapshot_config = client.get("/operator/ops/model-config").json()
    snapshot_features = client.get("/operator/ops/features").json()
    assert release.json()["snapshot"]["engines"]["difficulty"]["targetId"] == "d1"

    upload(client, "difficulty", "d2", difficulty_ruleset("d2"))
    upload(client, "content", "c2", {"transforms": [], "allowedFormats": ["text/plain"]})
    assert reload(client, "difficulty", "d2").status_code == 200
    assert reload(client, "content", "c2").status_code == 200
    client.patch("/operator/ops/model-config", json={"temperature": 0.1, "toneProfile": "friendly"})
    client.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": False})
    client.post("/operator/ops/releases", json=R105)

    response = client.post("/operator/ops/releases/rollback", json={"targetVersion": "1.0.4"})
    assert response.status_code == 200, response.text
    assert ops.engines.current("difficulty").target_id == "d1"
    assert ops.engines.current("content").target_id == "initial"
    assert client.get("/operator/ops/model-config").json() == snapshot_config
    assert client.get("/operator/ops/features").json() == snapshot_features
    history = client.get("/operator/ops/model-config/history").json()["items"]
    assert history[0]["target"].startswith("model_config:restore-v")  # a new version, history kept


def test_rollback_is_all_or_nothing_when_one_engine_refuses(client: TestClient, ops: Ops) -> None:
    assert client.post("/operator/ops/releases", json=R106).status_code == 201
    for engine, target, ruleset in (
        ("insights", "i2", {"scoring": {"weights": {"accuracy": 1}}, "minSamples": 3}),
        ("content", "c2", {"transforms": [], "allowedFormats": ["text/plain"]}),
        ("missions", "m2", {"templates": [{"id": "x", "title": "X", "durationDays": 3, "tasks": ["t"]}]}),
    ):
        upload(client, engine, target, ruleset)
        assert reload(client, engine, target).status_code == 200
    client.patch("/operator/ops/limits", json={"aiCallsPerMinute": 99})
    ops.engines.add_instance("missions", NackingInstance())
    response = client.post("/operator/ops/releases/rollback", json={"targetVersion": "1.0.6"})
    assert response.status_code == 409
    problem = response.json()
    assert (problem["status"], problem["reason"], problem["outcome"]) == (
        409,
        "engines.rolled_back",
        "rolled_back",
    )
    assert {e: ops.engines.current(e).target_id for e in ("insights", "content", "missions")} == {
        "insights": "i2",
        "content": "c2",
        "missions": "m2",
    }
    assert client.get("/operator/ops/limits").json()["aiCallsPerMinute"] == 99


@pytest.mark.parametrize("role", ["region", "country", "branch", "service"])
def test_release_create_and_rollback_are_admin_only(client: TestClient, token_for, role: str) -> None:
    headers = {"Authorization": f"Bearer {token_for(role, region='EU', country='KR', branch='B1')}"}
    assert client.post("/operator/ops/releases", json=R104, headers=headers).status_code == 403
    assert (
        client.post(
            "/operator/ops/releases/rollback", json={"targetVersion": "1.0.4"}, headers=headers
        ).status_code
        == 403
    )
    assert client.get("/operator/ops/releases", headers=headers).status_code == 403
