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
    f"{OPS}/policy",
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


def error_content(path: str) -> dict[str, Any]:
    """/v1 answers OpenAI's error object (so OpenAI clients read it); everything else problem+json."""
    return OPENAI_ERROR if path.startswith("/v1/") else PROBLEM


def errors_of(operation: dict[str, Any]) -> dict[str, Any]:
    return {code: response for code, response in operation["responses"].items() if code[0] in "45"}


# Errors were once documented as one `4XX` catch-all: a client could not tell which statuses an
# operation answers, and a conformance run could not catch an undocumented one.
def test_every_operation_names_each_error_status_with_the_error_body_of_its_api(
    openapi: dict[str, Any],
) -> None:
    for path, method, operation in operations(openapi):
        errors = errors_of(operation)
        assert "4XX" not in errors, f"{method} {path}"
        assert "5XX" in errors, f"{method} {path}"  # a bug: still problem+json, with the request id
        for code, response in errors.items():
            assert response.get("content") == error_content(path), f"{method} {path} {code}"


def test_authenticated_operations_document_401_and_403_and_public_ones_do_not(
    openapi: dict[str, Any],
) -> None:
    for path, method, operation in operations(openapi):
        documented = {"401", "403"} & errors_of(operation).keys()
        assert documented == (set() if path in UNAUTHENTICATED else {"401", "403"}), f"{method} {path}"


def test_operations_with_a_json_body_document_what_parse_body_answers(openapi: dict[str, Any]) -> None:
    for path, method, operation in operations(openapi):
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415", "422"} <= errors_of(operation).keys(), f"{method} {path}"


# /openapi.json once said /metrics answers application/json; it sends Prometheus' text format.
def test_metrics_is_documented_with_the_media_type_it_sends(
    openapi: dict[str, Any], client: TestClient
) -> None:
    answer = client.get("/metrics")
    content = openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert list(content) == [answer.headers["content-type"]]


# /openapi.json once documented only application/json for chat completions, never the event stream
# `stream: true` answers.
def test_chat_completions_document_json_and_the_event_stream(
    openapi: dict[str, Any], client: TestClient
) -> None:
    content = openapi["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    body = {"messages": [{"role": "user", "content": "hello"}]}
    whole = client.post("/v1/chat/completions", json=body)
    streamed = client.post("/v1/chat/completions", json={**body, "stream": True})

    assert set(content) == {"application/json", "text/event-stream"}
    assert whole.headers["content-type"].split(";")[0] in content
    assert streamed.headers["content-type"].split(";")[0] in content


def test_the_change_stream_is_documented_as_an_event_stream(openapi: dict[str, Any]) -> None:
    content = openapi["paths"]["/operator/ops/stream"]["get"]["responses"]["200"]["content"]

    assert list(content) == ["text/event-stream"]
    assert "snapshot" in content["text/event-stream"]["schema"]["properties"]["event"]["enum"]


def test_answers_without_a_body_document_none(openapi: dict[str, Any]) -> None:
    bodiless = [
        (path, method, code, response)
        for path, method, operation in operations(openapi)
        for code, response in operation["responses"].items()
        if code in ("204", "304")
    ]

    assert {(path, code) for path, _, code, _ in bodiless} >= {
        (f"{OPS}/model-config", "304"),
        (f"{OPS}/features", "304"),
        (f"{OPS}/limits", "304"),
        ("/v1/sessions/{sessionId}", "204"),
    }
    for path, method, code, response in bodiless:
        assert "content" not in response, f"{method} {path} {code}"


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", f"{OPS}/features/no_such_feature", None, 404),
        ("patch", f"{OPS}/limits", {"aiCallsPerMinute": "60"}, 422),
        ("patch", f"{OPS}/limits", [], 422),
        ("get", f"{OPS}/model-config/history?limit=0", None, 422),
    ],
)
def test_problems_the_server_sends_match_the_documented_problem_schema(
    openapi: dict[str, Any], client: TestClient, method: str, path: str, body: Any, status: int
) -> None:
    answer = client.request(method, path, json=body)
    validator = schema_validator(openapi, {"$ref": "#/components/schemas/Problem"})

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error.message for error in validator.iter_errors(answer.json())] == []


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


def test_the_documented_policy_body_takes_what_get_answers_and_refuses_an_unknown_operation(
    openapi: dict[str, Any], client: TestClient
) -> None:
    schema = openapi["paths"][f"{OPS}/policy"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    validator = schema_validator(openapi, schema)
    policy = client.get(f"{OPS}/policy").json()

    assert list(validator.iter_errors(policy)) == []
    assert client.put(f"{OPS}/policy", json=policy).status_code == 200
    unknown = {"operations": {"policy.burn": {"admin": {}}}}
    assert list(validator.iter_errors(unknown)) != []
    assert client.put(f"{OPS}/policy", json=unknown).status_code == 422
