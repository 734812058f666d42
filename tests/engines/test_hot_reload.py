"""Hot reload (spec 3.1): applied, unchanged, refused, rolled back on NACK and on timeout, one at a time."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from conftest import change_model_config_elsewhere
from trainer_ops.app import Ops

from .conftest import difficulty_ruleset, reload, upload
from .fakes import NackingInstance, SilentInstance, SlowInstance

SPEC_RULESET = {
    "scenarios": [
        {"id": "upsell", "title": "Suggest an accessory", "objectives": ["offer one"], "difficulty": 2}
    ]
}


def active(ops: Ops, engine: str) -> str | None:
    loaded = ops.engines.current(engine)
    return loaded.target_id if loaded else None


def test_spec_example_reload_applies_and_reports_previous(client: TestClient, ops: Ops) -> None:
    upload(client, "scenario", "ruleset_v12", SPEC_RULESET)
    response = client.post("/operator/ops/hot-reload", json={"type": "scenario", "targetId": "ruleset_v12"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "applied"
    assert (body["type"], body["targetId"], body["previousTargetId"], body["version"]) == (
        "scenario",
        "ruleset_v12",
        "initial",
        2,
    )
    assert body["instances"][0]["ok"] is True
    assert active(ops, "scenario") == "ruleset_v12"
    entries = client.get("/operator/ops/audit", params={"action": "reload"}).json()["items"]
    assert entries[0]["target"] == "scenario"
    assert entries[0]["after"]["targetId"] == "ruleset_v12"


def test_mission_alias_and_target_field_are_accepted(client: TestClient, ops: Ops) -> None:
    upload(
        client,
        "missions",
        "m2",
        {"templates": [{"id": "w2", "title": "Week 2", "durationDays": 7, "tasks": ["upsell twice"]}]},
    )
    response = client.post("/operator/ops/hot-reload", json={"type": "mission", "target": "m2"})
    assert response.status_code == 200, response.text
    assert active(ops, "missions") == "m2"


def test_reloading_the_active_ruleset_changes_nothing(client: TestClient, ops: Ops) -> None:
    response = reload(client, "content", "initial")
    assert response.json()["status"] == "unchanged"
    assert ops.engines.slot("content").active.version == 1


def test_unknown_ruleset_is_404_and_unknown_type_422(client: TestClient, ops: Ops) -> None:
    assert reload(client, "scenario", "nope").status_code == 404
    response = reload(client, "weather", "x")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "type"
    assert active(ops, "scenario") == "initial"


def test_invalid_ruleset_is_refused_at_upload_and_never_becomes_active(client: TestClient, ops: Ops) -> None:
    response = client.put(
        "/operator/ops/engines/upm/rulesets/bad", json={"weights": {"quiz": 0.9, "roleplay": 0.9}}
    )
    assert response.status_code == 422
    assert "sum to 1" in response.json()["errors"][0]["message"]
    assert reload(client, "upm", "bad").status_code == 404
    assert active(ops, "upm") == "initial"


def test_one_nacking_instance_rolls_every_instance_back(client: TestClient, ops: Ops) -> None:
    flaky = NackingInstance()
    ops.engines.add_instance("difficulty", flaky)
    upload(client, "difficulty", "d2", difficulty_ruleset("d2"))
    response = reload(client, "difficulty", "d2")
    assert response.status_code == 409
    problem = response.json()
    # RFC 9457: the standard members are intact; the state is an extension, the free text in detail.
    assert (problem["status"], problem["reason"], problem["outcome"]) == (
        409,
        "engines.rolled_back",
        "rolled_back",
    )
    assert problem["engines"] == ["difficulty"]
    assert "cannot parse rule 7" in problem["detail"]
    assert [i["instance"] for i in problem["failingInstances"]] == [flaky.instance_id]
    assert active(ops, "difficulty") == "initial"  # the local instance had ACKed, and went back
    assert flaky.restored[-1] is not None
    assert flaky.restored[-1].target_id == "initial"
    assert client.get("/operator/ops/health").json()["engines"]["difficulty"] == "degraded"
    entry = client.get("/operator/ops/audit", params={"action": "reload"}).json()["items"][0]
    assert entry["outcome"] == "rolled_back"
    assert entry["details"]["failingInstances"][0]["error"] == "cannot parse rule 7"


def test_an_instance_that_never_answers_is_rolled_back_at_the_deadline(client: TestClient, ops: Ops) -> None:
    hung = SilentInstance()
    ops.engines.add_instance("gamification", hung)
    upload(client, "gamification", "g2", {"points": {"quiz_passed": 5}, "badges": []})
    try:
        response = reload(client, "gamification", "g2")
    finally:
        hung.release.set()
    assert response.status_code == 409
    assert "no answer within 0.5 s" in response.json()["detail"]
    assert active(ops, "gamification") == "initial"
    assert hung.restored[-1].target_id == "initial"


def test_a_late_ack_after_rollback_does_not_win(client: TestClient, ops: Ops) -> None:
    hung = SilentInstance()
    ops.engines.add_instance("gamification", hung)
    upload(client, "gamification", "g3", {"points": {"quiz_passed": 7}, "badges": []})
    assert reload(client, "gamification", "g3").status_code == 409
    late = ops.engines.slot("gamification").local
    from trainer_ops.engines.instances import Command

    stale = Command("gamification", "g3", "x", 2, {"points": {}, "badges": []}, epoch=1)
    assert late.apply(stale).ok is False
    hung.release.set()
    assert active(ops, "gamification") == "initial"


def test_two_concurrent_reloads_of_one_engine_one_wins(client: TestClient, ops: Ops) -> None:
    ops.engines.add_instance("content", SlowInstance(0.3))
    upload(client, "content", "c2", {"transforms": [], "allowedFormats": ["text/plain"]})
    upload(client, "content", "c3", {"transforms": [], "allowedFormats": ["text/markdown"]})
    results: dict[str, int] = {}

    def run(target: str) -> None:
        results[target] = reload(client, "content", target).status_code

    threads = [threading.Thread(target=run, args=(t,)) for t in ("c2", "c3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results.values()) == [200, 409]
    winner = next(t for t, code in results.items() if code == 200)
    assert active(ops, "content") == winner


def test_system_reload_picks_up_changes_made_by_another_process(client: TestClient, ops: Ops) -> None:
    change_model_config_elsewhere(ops.settings, temperature=1.1)
    assert client.get("/operator/ops/model-config").json()["temperature"] == 0.4
    response = client.post("/operator/ops/hot-reload", json={"type": "system", "targetId": "current"})
    assert response.status_code == 200
    assert client.get("/operator/ops/model-config").json()["temperature"] == 1.1


def test_scoped_operators_reload_only_engines_and_scopes_in_policy(client: TestClient, token_for) -> None:
    country = {"Authorization": f"Bearer {token_for('country', country='KR')}"}
    region = {"Authorization": f"Bearer {token_for('region', region='EU')}"}
    body = {"type": "content", "targetId": "initial"}
    assert client.post("/operator/ops/hot-reload", json=body, headers=country).status_code == 200
    assert (
        client.post("/operator/ops/hot-reload", json={**body, "scope": "KR"}, headers=country).status_code
        == 200
    )
    assert (
        client.post("/operator/ops/hot-reload", json={**body, "scope": "US"}, headers=country).status_code
        == 403
    )
    assert (
        client.post(
            "/operator/ops/hot-reload", json={"type": "scenario", "targetId": "initial"}, headers=country
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/operator/ops/hot-reload", json={"type": "gamification", "targetId": "initial"}, headers=region
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/operator/ops/hot-reload", json={"type": "system", "targetId": "x"}, headers=region
        ).status_code
        == 403
    )
    branch = {"Authorization": f"Bearer {token_for('branch', branch='B1')}"}
    assert client.post("/operator/ops/hot-reload", json=body, headers=branch).status_code == 403
