"""/openapi.json: OpenAPI 3.1, lists every endpoint of spec sections 1, 2, 5, 6 and 7, and describes
what the server really accepts and answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

# The document does not depend on the store: one backend is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

OPS = "/operator/ops"
# Spec sections 1, 2, 5, 6 and 7: path -> methods.
SPEC_ENDPOINTS: dict[str, set[str]] = {
    f"{OPS}/model-config": {"get", "patch"},
    f"{OPS}/features": {"get"},
    f"{OPS}/features/{{featureKey}}": {"patch"},
    f"{OPS}/health": {"get"},
    f"{OPS}/diagnostics": {"get"},
    f"{OPS}/limits": {"get", "patch"},
    f"{OPS}/audit": {"get"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Probes and metrics are served without a token.
UNAUTHENTICATED = {"/livez", "/readyz", "/metrics"}
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPENAI_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}
SPEC_1_2 = {"model": "gpt-5.1", "temperature": 0.2, "toneProfile": "coaching", "language": "ko"}
SPEC_2_2 = {"enabled": False}
SPEC_6_1 = {"aiCallsPerMinute": 60, "fileUploadLimitMb": 200, "maxConcurrentSessions": 30}
# Spec GET endpoints whose documented 200 schema must accept what the server answers.
DOCUMENTED_READS = [
    f"{OPS}/model-config",
    f"{OPS}/features",
    f"{OPS}/health",
    f"{OPS}/diagnostics",
    f"{OPS}/limits",
    f"{OPS}/audit",
]


@pytest.fixture
def openapi(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) for `schema`, resolving the document's refs."""
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator({**schema, "components": document.get("components", {})})


def test_openapi_is_version_3_1(openapi: dict[str, Any]) -> None:
    assert openapi["openapi"].startswith("3.1")
    assert openapi["info"]["title"]
    assert openapi["info"]["version"]


def test_every_spec_endpoint_is_documented(openapi: dict[str, Any]) -> None:
    for path, methods in SPEC_ENDPOINTS.items():
        assert path in openapi["paths"], path
        assert methods <= openapi["paths"][path].keys(), path


def test_every_operation_has_a_unique_id_and_a_success_response(openapi: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(openapi)]

    assert len(ids) == len(set(ids))
    for path, method, operation in operations(openapi):
        assert any(code.startswith("2") for code in operation["responses"]), f"{method} {path}"


def test_every_reference_resolves(openapi: dict[str, Any]) -> None:
    for ref in refs(openapi):
        assert resolve(openapi, ref) is not None, ref


def test_openapi_passes_the_openapi_3_1_validator(openapi: dict[str, Any]) -> None:
    validators = pytest.importorskip("openapi_spec_validator.validation.validators")

    errors = [error.message for error in validators.OpenAPIV31SpecValidator(openapi).iter_errors()]

    assert errors == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{OPS}/model-config", SPEC_1_2),
        (f"{OPS}/features/{{featureKey}}", SPEC_2_2),
        (f"{OPS}/limits", SPEC_6_1),
    ],
)
def test_documented_patch_bodies_accept_the_spec_examples(
    openapi: dict[str, Any], path: str, body: dict[str, Any]
) -> None:
    schema = openapi["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"]

    assert list(schema_validator(openapi, schema).iter_errors(body)) == []


@pytest.mark.parametrize("path", DOCUMENTED_READS)
def test_documented_200_schema_accepts_what_the_server_answers(
    openapi: dict[str, Any], client: TestClient, path: str
) -> None:
    schema = openapi["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    answer = client.get(path)

    assert answer.status_code == 200
    assert [error.message for error in schema_validator(openapi, schema).iter_errors(answer.json())] == []


# The documented PATCH bodies once allowed null for every field (anyOf [..., null]) that the server
# refuses with 422.
@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        (f"{OPS}/model-config", "model", None),
        (f"{OPS}/model-config", "temperature", None),
        (f"{OPS}/model-config", "maxTokens", None),
        (f"{OPS}/model-config", "toneProfile", None),
        (f"{OPS}/model-config", "language", None),
        (f"{OPS}/model-config", "enabled", None),
        (f"{OPS}/limits", "aiCallsPerMinute", None),
        (f"{OPS}/limits", "fileUploadLimitMb", None),
        (f"{OPS}/limits", "maxConcurrentSessions", None),
        (f"{OPS}/features/{{featureKey}}", "description", None),
        (f"{OPS}/features/{{featureKey}}", "regionOverridable", None),
    ],
)
def test_documented_patch_bodies_refuse_what_the_server_refuses(
    openapi: dict[str, Any], client: TestClient, path: str, field: str, value: Any
) -> None:
    schema = openapi["paths"][path]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    url = path.replace("{featureKey}", "quiz_auto_generate")
    assert client.patch(url, json={field: value}).status_code == 422

    assert list(schema_validator(openapi, schema).iter_errors({field: value})) != []


# Error responses were once documented as FastAPI's HTTPValidationError in application/json, or not at
# all, but every error the server sends is application/problem+json (design.md: OpenAPI must match
# what the server does).
def test_documented_error_responses_are_problem_json(openapi: dict[str, Any]) -> None:
    spec_operations = [
        (path, method, operation)
        for path, method, operation in operations(openapi)
        if path in SPEC_ENDPOINTS and method in SPEC_ENDPOINTS[path]
    ]
    for path, method, operation in spec_operations:
        errors = {code: response for code, response in operation["responses"].items() if code[0] in "45"}
        assert "403" in errors, f"{method} {path} does not document the scope denial"
        for code, response in errors.items():
            assert "application/problem+json" in response.get("content", {}), (
                f"{method} {path} {code}: {json.dumps(response)[:120]}"
            )


def test_every_operation_documents_its_errors_as_problems(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        expected = {"4XX", "5XX"} if path in UNAUTHENTICATED else {"401", "403", "4XX", "5XX"}
        errors = {code: response for code, response in operation["responses"].items() if code[0] in "45"}
        assert errors.keys() == expected, f"{method} {path}"
        # /v1 speaks OpenAI's API: its errors are OpenAI's error object.
        documented = OPENAI_ERROR if path.startswith("/v1/") else PROBLEM
        for code, response in errors.items():
            assert response.get("content") == documented, f"{method} {path} {code}"


def test_fastapi_validation_schemas_are_not_documented(openapi: dict[str, Any]) -> None:
    schemas = openapi.get("components", {}).get("schemas", {})

    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "Problem" in schemas


def test_probes_and_metrics_need_no_token_and_everything_else_does(openapi: dict[str, Any]) -> None:
    assert openapi["security"] == [{"bearer": []}]
    for path, method, operation in operations(openapi):
        if path in UNAUTHENTICATED:
            assert operation.get("security") == [], f"{method} {path}"
        else:
            assert operation.get("security", openapi["security"]) == openapi["security"], f"{method} {path}"
