"""The spec's examples (sections 1, 2, 5, 6, 7) sent verbatim through the app; answers have their shape.

spec/ops-api-v2.md is the contract: every example request must be accepted as written, and every example
response gives the keys and JSON types we return. The examples are copied here literally;
test_copied_examples_match_the_spec checks the copies against the spec file when it is beside the repo.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.app import Ops

SPEC_FILE = Path(__file__).resolve().parents[3] / "shared" / "spec" / "ops-api-v2.md"
OPS = "/operator/ops"
JSON_HEADERS = {"Content-Type": "application/json"}

# Copied literally from spec/ops-api-v2.md, section by section.
SPEC_1_1 = """{
  "model": "gpt-5.1",
  "temperature": 0.4,
  "maxTokens": 4096,
  "toneProfile": "professional",
  "language": "auto",
  "enabled": true
}"""
SPEC_1_2 = """{
  "model": "gpt-5.1",
  "temperature": 0.2,
  "toneProfile": "coaching",
  "language": "ko"
}"""
SPEC_2_1 = """{
  "mission_auto_assign": true,
  "insight_generation": true,
  "quiz_auto_generate": false,
  "content_ai_transform": true
}"""
SPEC_2_2 = """{
  "enabled": false
}"""
SPEC_5_1 = """{
  "status": "ok",
  "latencyMs": 122,
  "uptimeHours": 552,
  "engines": {
    "scenario": "ok",
    "prompt": "ok",
    "difficulty": "ok",
    "content": "ok",
    "gamification": "ok",
    "missions": "ok",
    "upm": "ok",
    "insights": "ok"
  }
}"""
SPEC_5_2 = """{
  "cpu": 0.41,
  "memory": 0.63,
  "errorRate": 0.002,
  "timeouts": 12,
  "slowQueries": [
    { "endpoint": "/operator/upm/summary", "avgMs": 862 }
  ]
}"""
SPEC_6_1 = """{
  "aiCallsPerMinute": 60,
  "fileUploadLimitMb": 200,
  "maxConcurrentSessions": 30
}"""
SPEC_7_1_ACTIONS = ["predict", "publish", "reload", "update_config"]
COPIES = {
    "1.1": SPEC_1_1,
    "1.2": SPEC_1_2,
    "2.1": SPEC_2_1,
    "2.2": SPEC_2_2,
    "5.1": SPEC_5_1,
    "5.2": SPEC_5_2,
    "6.1": SPEC_6_1,
}
ENGINES = {"scenario", "prompt", "difficulty", "content", "gamification", "missions", "upm", "insights"}
# Step 1's audit event fields, beside ours, with their JSON types.
STEP1_AUDIT_FIELDS = {
    "actor": "object",
    "action": "string",
    "targetId": "string",
    "scope": "object",
    "timestamp": "number",
    "details": "object",
}


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (JSON has one number type: 122 and 0.3 are both numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    assert isinstance(value, dict), f"not a JSON value: {value!r}"
    return "object"


def assert_shape(actual: Any, example: Any, *, exact: bool = True, where: str = "$") -> None:
    """`actual` has the example's JSON types all the way down, and (exact) no key the example lacks.

    Array items are each compared with the example's first item.
    """
    assert json_type(actual) == json_type(example), f"{where}: {json_type(actual)} != {json_type(example)}"
    if isinstance(example, dict):
        missing = example.keys() - actual.keys()
        assert not missing, f"{where}: missing keys {sorted(missing)}"
        if exact:
            extra = actual.keys() - example.keys()
            assert not extra, f"{where}: keys not in the spec {sorted(extra)}"
        for key in example:
            assert_shape(actual[key], example[key], exact=exact, where=f"{where}.{key}")
    elif isinstance(example, list) and example:
        for index, item in enumerate(actual):
            assert_shape(item, example[0], exact=exact, where=f"{where}[{index}]")


def assert_integers(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert type(body[key]) is int, f"{key} must be an integer, got {body[key]!r}"


def send(client: TestClient, method: str, path: str, raw: str) -> Any:
    """Send `raw` byte for byte, as a console copying the spec would."""
    return client.request(method, path, content=raw.encode(), headers=JSON_HEADERS)


def spec_blocks(text: str) -> dict[str, str]:
    """Section number ("1.2") -> the ```json block under that heading."""
    blocks: dict[str, str] = {}
    section = ""
    for match in re.finditer(r"^## (\d+\.\d+) [^\n]*$|^```json\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        if match.group(1):
            section = match.group(1)
        elif section:
            blocks[section] = match.group(2)
    return blocks


def test_copied_examples_match_the_spec() -> None:
    if not SPEC_FILE.exists():
        pytest.skip(f"the spec is not beside the repository ({SPEC_FILE})")
    text = SPEC_FILE.read_text(encoding="utf-8")
    blocks = spec_blocks(text)
    actions = re.search(r"^\?action=(\S+)$", text, re.MULTILINE)

    for section, copy in COPIES.items():
        assert json.loads(blocks[section]) == json.loads(copy), f"spec {section} changed"
    assert actions is not None
    assert actions.group(1).split("|") == SPEC_7_1_ACTIONS


# 1. Model configuration


def test_1_1_get_model_config_has_the_spec_shape_and_defaults(client: TestClient) -> None:
    response = client.get(f"{OPS}/model-config")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert_shape(response.json(), json.loads(SPEC_1_1))
    assert_integers(response.json(), "maxTokens")
    assert response.json() == json.loads(SPEC_1_1)


def test_1_2_update_model_config_accepts_the_spec_body_verbatim(client: TestClient) -> None:
    response = send(client, "PATCH", f"{OPS}/model-config", SPEC_1_2)

    assert response.status_code == 200, response.text
    body = response.json()
    assert_shape(body, json.loads(SPEC_1_1))
    assert body == {**json.loads(SPEC_1_1), **json.loads(SPEC_1_2)}
    assert response.headers["etag"] == '"2"'
    assert client.get(f"{OPS}/model-config").json() == body


# 2. Feature toggles


def test_2_1_get_features_has_the_spec_shape_and_defaults(client: TestClient) -> None:
    response = client.get(f"{OPS}/features")

    assert response.status_code == 200
    assert_shape(response.json(), json.loads(SPEC_2_1))
    assert response.json() == json.loads(SPEC_2_1)


@pytest.mark.parametrize("feature", ["quiz_auto_generate", "mission_auto_assign"])
def test_2_2_update_feature_accepts_the_spec_body_verbatim(client: TestClient, feature: str) -> None:
    response = send(client, "PATCH", f"{OPS}/features/{feature}", SPEC_2_2)

    assert response.status_code == 200, response.text
    assert response.json()["key"] == feature
    assert response.json()["enabled"] is False
    after = client.get(f"{OPS}/features").json()
    assert_shape(after, json.loads(SPEC_2_1))
    assert after == {**json.loads(SPEC_2_1), feature: False}


# 5. Health and diagnostics


def test_5_1_health_for_admin_has_the_spec_keys_types_and_eight_engines(client: TestClient) -> None:
    response = client.get(f"{OPS}/health")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, json.loads(SPEC_5_1), exact=False)
    assert body["status"] == "ok"
    assert body["engines"] == dict.fromkeys(sorted(ENGINES), "ok")
    assert set(body["engines"]) == set(json.loads(SPEC_5_1)["engines"]) == ENGINES
    assert body["latencyMs"] >= 0
    assert body["uptimeHours"] >= 0


def test_5_1_health_for_admin_has_exactly_the_spec_keys(client: TestClient) -> None:
    # No keys beyond the spec's (admin health once added 'store' and 'activeRulesets').
    response = client.get(f"{OPS}/health")

    assert response.status_code == 200
    assert_shape(response.json(), json.loads(SPEC_5_1))


def test_5_2_diagnostics_has_the_spec_shape_with_slow_queries(client: TestClient, ops: Ops) -> None:
    # The spec's own slow endpoint, measured as the middleware measures every request.
    ops.metrics.observe(method="GET", route="/operator/upm/summary", status=200, seconds=0.862)

    response = client.get(f"{OPS}/diagnostics")

    assert response.status_code == 200
    body = response.json()
    assert_shape(body, json.loads(SPEC_5_2))
    assert_integers(body, "timeouts")
    assert {"endpoint": "/operator/upm/summary", "avgMs": 862} in body["slowQueries"]
    for key in ("cpu", "memory", "errorRate"):
        assert 0 <= body[key] <= 1, key


def test_5_2_diagnostics_without_slow_endpoints_has_an_empty_list(client: TestClient) -> None:
    body = client.get(f"{OPS}/diagnostics").json()

    assert_shape(body, json.loads(SPEC_5_2))
    assert body["slowQueries"] == []


# 6. Limits
# Beside spec 6.1's three fields, the limits carry one more (maxSessionsPerUser, issue #11): extra fields
# are allowed, the spec's three keep their names, types and values.
EXTRA_LIMITS = {"maxSessionsPerUser": 3}


def assert_spec_limits(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert_shape(body, json.loads(SPEC_6_1), exact=False)
    assert_integers(body, *json.loads(SPEC_6_1))
    assert body == {**expected, **EXTRA_LIMITS}


def test_6_1_get_limits_has_the_spec_shape_and_defaults(client: TestClient) -> None:
    response = client.get(f"{OPS}/limits")

    assert response.status_code == 200
    assert_spec_limits(response.json(), json.loads(SPEC_6_1))


def test_6_2_update_limits_accepts_a_body_of_the_6_1_shape_verbatim(client: TestClient) -> None:
    response = send(client, "PATCH", f"{OPS}/limits", SPEC_6_1)

    assert response.status_code == 200, response.text
    assert_spec_limits(response.json(), json.loads(SPEC_6_1))


def test_6_2_update_limits_applies_new_values_of_the_6_1_shape(client: TestClient) -> None:
    changed = SPEC_6_1.replace("60", "120").replace("200", "50").replace("30", "75")

    response = send(client, "PATCH", f"{OPS}/limits", changed)

    assert response.status_code == 200, response.text
    expected = {"aiCallsPerMinute": 120, "fileUploadLimitMb": 50, "maxConcurrentSessions": 75}
    assert_spec_limits(response.json(), expected)
    assert_spec_limits(client.get(f"{OPS}/limits").json(), expected)


# 7. Audit


def assert_audit_page(body: Any) -> None:
    assert json_type(body) == "object"
    assert body.keys() == {"items", "nextCursor"}
    assert json_type(body["items"]) == "array"
    assert json_type(body["nextCursor"]) in {"string", "null"}
    for item in body["items"]:
        for key, kind in STEP1_AUDIT_FIELDS.items():
            assert json_type(item[key]) == kind, key
        assert type(item["timestamp"]) is int


@pytest.mark.parametrize("action", SPEC_7_1_ACTIONS)
def test_7_1_audit_query_accepts_each_spec_action(client: TestClient, action: str) -> None:
    response = client.get(f"{OPS}/audit?action={action}")

    assert response.status_code == 200, response.text
    assert_audit_page(response.json())
    assert all(item["action"] == action for item in response.json()["items"])


def test_7_1_audit_query_accepts_the_spec_parameters_left_empty(client: TestClient) -> None:
    response = client.get(f"{OPS}/audit?userId=&action=&from=&to=")

    assert response.status_code == 200, response.text
    assert_audit_page(response.json())


def test_7_1_audit_query_by_user_action_and_epoch_seconds_finds_a_config_update(client: TestClient) -> None:
    since = int(time.time()) - 60
    assert send(client, "PATCH", f"{OPS}/model-config", SPEC_1_2).status_code == 200
    until = int(time.time()) + 60

    response = client.get(f"{OPS}/audit?userId=bootstrap-admin&action=update_config&from={since}&to={until}")

    assert response.status_code == 200, response.text
    assert_audit_page(response.json())
    items = response.json()["items"]
    assert [item["targetId"] for item in items] == ["model-config"]
    entry = items[0]
    assert entry["action"] == "update_config"
    assert entry["actor"]["userId"] == "bootstrap-admin"
    assert since <= entry["timestamp"] <= until
    assert entry["after"] == {"temperature": 0.2, "toneProfile": "coaching", "language": "ko"}


def test_7_1_audit_query_window_in_the_past_finds_nothing(client: TestClient) -> None:
    assert send(client, "PATCH", f"{OPS}/model-config", SPEC_1_2).status_code == 200

    response = client.get(f"{OPS}/audit?action=update_config&from=1712100000&to=1712200000")

    assert response.status_code == 200
    assert response.json() == {"items": [], "nextCursor": None}


def test_7_1_audit_query_accepts_iso_8601_times(client: TestClient) -> None:
    assert send(client, "PATCH", f"{OPS}/model-config", SPEC_1_2).status_code == 200

    response = client.get(
        f"{OPS}/audit",
        params={
            "userId": "bootstrap-admin",
            "action": "update_config",
            "from": "2024-04-02T23:20:00Z",
            "to": "2999-01-01",
        },
    )

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


# design.md: never a 500 for bad input (these once escaped parse_time_ms as OverflowError).
@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "nan"])
def test_7_1_audit_query_refuses_infinite_times_with_422(client: TestClient, value: str) -> None:
    response = client.get(f"{OPS}/audit", params={"from": value})

    assert response.status_code == 422


# A finite epoch far out of range once reached the store and answered 500 (SQLite: 'Python int too
# large'; PostgreSQL: bigint out of range).
@pytest.mark.parametrize("value", ["99999999999999999999", "253402300800", "-1"])
def test_7_1_audit_query_refuses_out_of_range_times_with_422(client: TestClient, value: str) -> None:
    response = client.get(f"{OPS}/audit", params={"from": value})

    assert response.status_code == 422


def test_7_1_audit_query_accepts_the_spec_action_notation(client: TestClient) -> None:
    # The spec writes ?action=predict|publish|reload|update_config; '|' separates like ','.
    assert send(client, "PATCH", f"{OPS}/model-config", SPEC_1_2).status_code == 200

    piped = client.get(f"{OPS}/audit", params={"action": "|".join(SPEC_7_1_ACTIONS)})
    listed = client.get(f"{OPS}/audit", params={"action": ",".join(SPEC_7_1_ACTIONS)})

    assert piped.status_code == 200, piped.text
    assert_audit_page(piped.json())
    items = piped.json()["items"]
    assert {item["action"] for item in items} <= set(SPEC_7_1_ACTIONS)
    assert "model-config" in [item["targetId"] for item in items if item["action"] == "update_config"]
    assert piped.json() == listed.json()
    assert client.get(f"{OPS}/audit", params={"action": "predict|publish"}).json()["items"] == [
        item for item in items if item["action"] in {"predict", "publish"}
    ]
