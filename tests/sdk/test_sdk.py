"""The client SDK against a live server: live updates, outages, last-known-good, reload handlers,
and the OpenFeature provider through OpenFeature's own API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

from conftest import LiveServer, change_model_config_elsewhere
from trainer_ops_sdk import OpsClient, OpsUnavailable
from trainer_ops_sdk.openfeature import TrainerOpsProvider

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def server(live_server: LiveServer) -> LiveServer:
    return live_server.start()


@pytest.fixture
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {server.settings.bootstrap_admin_token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


@pytest.fixture
def sdk(server: LiveServer, token_for: Any, tmp_path: Path) -> Iterator[OpsClient]:
    client = OpsClient(
        server.url,
        token=token_for("service", user="engine-1"),
        cache_path=tmp_path / "lkg.json",
        instance_id="engine-1",
        max_backoff=0.2,
    )
    yield client
    client.close()


def test_start_gives_the_whole_snapshot_and_follows_changes(sdk: OpsClient, admin: httpx.Client) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    assert sdk.model_config["model"] == "gpt-5.1"
    assert sdk.limits["aiCallsPerMinute"] == 60
    assert sdk.limits["maxSessionsPerUser"] == 3  # the snapshot carries limits whole, beyond spec 6.1
    assert sdk.ruleset("missions").targetId == "initial"
    assert sdk.is_enabled("quiz_auto_generate") is False
    admin.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": True})
    admin.patch("/operator/ops/features/quiz_auto_generate?region=EU", json={"enabled": False})
    admin.patch("/operator/ops/model-config", json={"temperature": 0.7})
    assert sdk.wait_for(lambda s: s.modelConfig["temperature"] == 0.7, 5)
    assert sdk.is_enabled("quiz_auto_generate") is True
    assert sdk.is_enabled("quiz_auto_generate", region="EU") is False
    assert sdk.is_enabled("quiz_auto_generate", region="US") is True
    assert sdk.is_enabled("no_such_flag", default=True) is True
    assert sdk.version("features") == 3


def test_the_places_catalogue_arrives_in_the_snapshot_and_follows_the_stream(
    sdk: OpsClient, admin: httpx.Client
) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    assert sdk.places == {"regions": []}
    changed = admin.put("/operator/ops/places", json={"regions": [{"code": "eu", "name": "Europe"}]})
    assert changed.status_code == 200, changed.text
    assert sdk.wait_for(
        lambda s: s.places["regions"][:1] == [{"code": "EU", "name": "Europe", "countries": []}], 5
    )
    assert sdk.version("places") == 2


def test_reload_handlers_ack_and_nack(sdk: OpsClient, admin: httpx.Client) -> None:
    applied: list[dict[str, Any]] = []

    def handler(ruleset: dict[str, Any]) -> None:
        if ruleset["allowedFormats"] == ["application/x-broken"]:
            raise ValueError("unsupported format")
        applied.append(ruleset)

    sdk.on_reload("content", handler)
    sdk.start()
    assert sdk.connected.wait(5)
    admin.put(
        "/operator/ops/engines/content/rulesets/c2", json={"transforms": [], "allowedFormats": ["text/plain"]}
    )
    admin.put(
        "/operator/ops/engines/content/rulesets/bad",
        json={"transforms": [], "allowedFormats": ["application/x-broken"]},
    )
    response = admin.post("/operator/ops/hot-reload", json={"type": "content", "targetId": "c2"})
    assert response.status_code == 200
    assert "engine-1" in [i["instance"] for i in response.json()["instances"]]
    assert applied[-1]["allowedFormats"] == ["text/plain"]
    response = admin.post("/operator/ops/hot-reload", json={"type": "content", "targetId": "bad"})
    assert response.status_code == 409
    assert "engine-1: ValueError: unsupported format" in response.json()["detail"]
    assert sdk.wait_for(lambda s: s.rulesets["content"].targetId == "c2", 5)
    assert sdk.wait_for(lambda s: applied[-1]["allowedFormats"] == ["text/plain"], 5)  # restored


def test_survives_the_server_going_away_and_resyncs_when_it_returns(
    server: LiveServer, sdk: OpsClient
) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    server.stop()
    assert sdk.model_config["temperature"] == 0.4  # still serving from memory
    assert sdk.is_enabled("mission_auto_assign") is True
    # While the server is down, someone changes the config in the store (another replica, the CLI).
    change_model_config_elsewhere(server.settings, temperature=1.3)
    server.start()
    assert sdk.wait_for(lambda s: s.modelConfig["temperature"] == 1.3, 10)


def test_starts_from_the_last_known_good_file_while_the_server_is_down(
    server: LiveServer, sdk: OpsClient, token_for: Any, tmp_path: Path
) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    server.stop()
    sdk.close()
    cached = OpsClient(
        server.url, token=token_for("service", user="e2"), cache_path=tmp_path / "lkg.json", max_backoff=0.2
    ).start()
    try:
        assert cached.source == "cache"
        assert cached.model_config["model"] == "gpt-5.1"
        assert cached.ruleset("scenario").targetId == "initial"
    finally:
        cached.close()
    with pytest.raises(OpsUnavailable):
        OpsClient(server.url, token="x", cache_path=tmp_path / "missing.json").start()


def test_openfeature_provider_through_the_openfeature_api(sdk: OpsClient, admin: httpx.Client) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    admin.patch("/operator/ops/features/content_ai_transform?region=EU", json={"enabled": False})
    assert sdk.wait_for(lambda s: "EU" in s.features["overrides"], 5)
    api.set_provider(TrainerOpsProvider(sdk))
    try:
        client = api.get_client()
        assert client.get_boolean_value("content_ai_transform", False) is True
        eu = EvaluationContext(attributes={"region": "EU"})
        details = client.get_boolean_details("content_ai_transform", True, eu)
        assert details.value is False
        assert details.reason == Reason.TARGETING_MATCH
        missing = client.get_boolean_details("nope", True)
        assert missing.value is True
        assert missing.error_code is not None
        assert client.get_float_value("modelConfig.temperature", 0.0) == 0.4
        assert client.get_string_value("modelConfig.toneProfile", "") == "professional"
    finally:
        api.clear_providers()


class DropsFirstReplies(httpx.BaseTransport):
    """A load balancer having a bad moment: the first `drops` reload replies get a 503."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.dropped = 0
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/replies") and self.dropped < self.drops:
            self.dropped += 1
            return httpx.Response(503, json={"title": "Service unavailable"})
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_reply_that_is_not_taken_is_sent_again_within_the_deadline(
    server: LiveServer, admin: httpx.Client, token_for: Any
) -> None:
    flaky = DropsFirstReplies(drops=2)
    client = OpsClient(
        server.url, token=token_for("service", user="engine-2"), instance_id="engine-2", transport=flaky
    )
    client.on_reload("missions", lambda ruleset: None)
    with client.start():
        assert client.connected.wait(5)
        ruleset = {"templates": [{"id": "t1", "title": "Greet", "durationDays": 1, "tasks": ["say hi"]}]}
        assert admin.put("/operator/ops/engines/missions/rulesets/m2", json=ruleset).status_code == 201
        response = admin.post("/operator/ops/hot-reload", json={"type": "missions", "targetId": "m2"})
        assert response.status_code == 200, response.text
        assert flaky.dropped == 2
        assert "engine-2" in {i["instance"] for i in response.json()["instances"]}


def test_close_ends_the_stream_at_once(server: LiveServer, token_for: Any) -> None:
    client = OpsClient(server.url, token=token_for("service", user="engine-3"), instance_id="engine-3")
    client.on_reload("missions", lambda ruleset: None)
    client.start()
    assert client.connected.wait(5)
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < 1.0
    assert server.ops is not None
    deadline = time.monotonic() + 2
    while "engine-3" in server.ops.sync.held():
        assert time.monotonic() < deadline, "the server still holds the closed stream"
        time.sleep(0.02)


def test_the_policy_is_in_the_snapshot_and_its_changes_reach_the_stream(
    sdk: OpsClient, admin: httpx.Client
) -> None:
    sdk.start()
    assert sdk.connected.wait(5)
    assert sdk.snapshot.policy["operations"]["limits.read"] == {"admin": {}}
    assert sdk.version("policy") == 1
    policy = admin.get("/operator/ops/policy").json()
    policy["operations"]["limits.read"]["region"] = {}

    assert admin.put("/operator/ops/policy", json=policy).status_code == 200

    assert sdk.wait_for(lambda s: "region" in s.policy["operations"]["limits.read"], 5)
    assert sdk.version("policy") == 2
    assert sdk.model_config["model"] == "gpt-5.1"  # the other documents are untouched
