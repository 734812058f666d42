"""GET /operator/ops/engines/{type}/schema: each engine type's ruleset schema, and the upload body that
OpenAPI documents with the eight of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from conftest import auth
from integration.support import assert_problem, entries_after, newest_seq
from trainer_ops.engines.builtin import BUILTIN_ENGINES
from trainer_ops.engines.types import ENGINE_TYPES

ENGINES = "/operator/ops/engines"


@pytest.mark.parametrize("engine", BUILTIN_ENGINES, ids=lambda e: e.name)
def test_schema_of_every_type_validates_its_initial_ruleset(client: TestClient, engine: Any) -> None:
    response = client.get(f"{ENGINES}/{engine.name}/schema")

    assert response.status_code == 200, response.text
    schema = response.json()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(engine.initial)) == []
    assert list(validator.iter_errors({"surely": "not a ruleset"})), "the schema accepts anything"


def test_schema_is_what_uploads_are_checked_against(client: TestClient) -> None:
    schema = client.get(f"{ENGINES}/difficulty/schema").json()
    bad = {"levels": [{"name": "x", "minScore": 0, "maxScore": "high"}], "adaptiveStep": 0.1}
    assert list(Draft202012Validator(schema).iter_errors(bad))
    assert client.put(f"{ENGINES}/difficulty/rulesets/bad", json=bad).status_code == 422


def test_mission_is_accepted_for_missions(client: TestClient) -> None:
    alias = client.get(f"{ENGINES}/mission/schema")
    assert alias.status_code == 200
    assert alias.json() == client.get(f"{ENGINES}/missions/schema").json()


def test_unknown_type_is_404(client: TestClient) -> None:
    for name in ("weather", "system"):
        problem = assert_problem(client.get(f"{ENGINES}/{name}/schema"), 404, code="NOT_FOUND")
        assert problem["reason"] == "engines.no_such_type"
        assert "scenario" in problem["detail"]  # names what exists


def test_a_caller_the_policy_refuses_is_403_and_audited(
    client: TestClient, token_for: Callable[..., str]
) -> None:
    region = token_for("region", region="APAC", user="lee")
    start = newest_seq(client)

    response = client.get(f"{ENGINES}/scenario/schema", headers=auth(region))

    assert_problem(response, 403)
    [entry] = entries_after(client, start)
    assert (entry["action"], entry["target"]) == ("access_denied", "artifacts.read")
    assert entry["details"]["path"] == f"{ENGINES}/scenario/schema"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_openapi_documents_each_types_upload_body(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"][f"{ENGINES}/{{type}}/rulesets/{{targetId}}"]["put"]["requestBody"]
    json_body = body["content"]["application/json"]
    refs = [one["$ref"] for one in json_body["schema"]["oneOf"]]
    components = document["components"]["schemas"]
    assert len(refs) == len(ENGINE_TYPES) == 8
    for engine in BUILTIN_ENGINES:
        served = client.get(f"{ENGINES}/{engine.name}/schema").json()
        [ref] = [r for r in refs if components[r.rsplit("/", 1)[1]]["title"] == f"{engine.name} ruleset"]
        component = components[ref.rsplit("/", 1)[1]]
        # The component is the served schema (less the dialect, which OpenAPI 3.1 says), so a client
        # generated from OpenAPI checks what the server checks.
        validator = Draft202012Validator(component)
        assert list(validator.iter_errors(engine.initial)) == []
        assert component["required"] == served["required"]
        assert component["properties"].keys() == served["properties"].keys()
        # Swagger UI's example list: each type's initial ruleset, which its schema accepts.
        assert json_body["examples"][engine.name]["value"] == engine.initial
    assert "schema" in body["description"]
    schema_operation = document["paths"][f"{ENGINES}/{{type}}/schema"]["get"]
    assert {"200", "404", "403"} <= schema_operation["responses"].keys()
