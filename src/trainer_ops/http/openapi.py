"""The OpenAPI document, made to say what the server sends: the errors and media types every operation
answers follow from rules here; a route declares only what is its own (a 404, a 409, a stream)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from trainer_ops.errors import TrainerOpsError
from trainer_ops.http.openai_errors import OPENAI_ERROR_SCHEMA
from trainer_ops.http.problems import PROBLEM_JSON

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Served without a token; of these only /readyz asks the store anything.
PUBLIC = frozenset({"/livez", "/readyz", "/metrics"})
NO_STORE = frozenset({"/livez", "/metrics"})
# The OpenAI-compatible gateway answers errors as OpenAI does (`{"error": {...}}`), not as problems.
OPENAI_PREFIX = "/v1/"

STATUS_TEXT: dict[int, str] = {
    400: "Bad request: an empty body, JSON that does not parse, or a malformed header",
    401: "No bearer token, or a bad one (with `WWW-Authenticate`)",
    403: "The policy refuses the caller (audited as `access_denied`)",
    404: "Not found",
    409: "Conflict",
    412: "`If-Match` names a version that is not the current one",
    413: "The body is larger than allowed",
    415: "The body is not sent as JSON",
    422: "A value is invalid; `errors` names each field or parameter",
    429: "Too many requests; `Retry-After` says when to try again",
    502: "The model server failed",
    503: "The store does not answer, or the service is stopping (`Retry-After` when retrying helps)",
    504: "The version asked for (`minVersion`) did not reach the store in time",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "the scheme to use", "schema": {"type": "string"}}},
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}
UNEXPECTED = "An unexpected server error (a bug): logged with the request id the answer carries"

IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` of your copy: 304 (no body) while it is still the current version.",
    "schema": {"type": "string"},
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` of the version you read: a newer one refuses the change with 412; not a "
    "list of ETags: 400.",
    "schema": {"type": "string"},
}


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for the errors a route answers beyond those the rules give every operation
    (see `_statuses`), or better said for this route: `e404="no such feature"` declares a 404 with
    that description. The media type and schema are added for every error in `document`."""
    named = {int(key.removeprefix("e")): text for key, text in descriptions.items()}
    return {
        status: {"description": named.get(status, STATUS_TEXT.get(status, "Error"))}
        for status in sorted({*statuses, *named})
    }


def not_modified() -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a read that honours `If-None-Match` (declare the header with `conditional`)."""
    return {304: {"description": "Not modified: your copy (`If-None-Match`) is the current version"}}


def headers(*parameters: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` declaring request headers a route reads itself (FastAPI lists only its own)."""
    return {"parameters": list(parameters)}


def event_stream(events: Sequence[str], description: str) -> dict[str, Any]:
    """A `text/event-stream` media type. In OpenAPI 3.1 its schema describes one event, as a client's
    EventSource reads it: `event` (`message` when the server names none) and the `data` text."""
    return {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "description": description,
                "required": ["event", "data"],
                "properties": {
                    "event": {"type": "string", "enum": list(events)},
                    "data": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
            }
        }
    }


def _family_codes() -> list[str]:
    """Every Step 1 `code` a problem can carry: the codes of the error classes themselves."""
    codes: set[str] = set()
    todo: list[type[TrainerOpsError]] = [TrainerOpsError]
    while todo:
        cls = todo.pop()
        codes.add(cls.family_code)
        todo.extend(cls.__subclasses__())
    return sorted(codes)


def problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details, with Step 1's `code` and our `reason` (ADR 0002). "
        "Extension members (`operation` on 403, `currentVersion` on 412, ...) may follow.",
        "required": ["type", "title", "status", "detail", "instance", "code", "reason", "requestId"],
        "properties": {
            "type": {"type": "string", "description": "urn:trainer-ops:problem:<reason>"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "instance": {"type": "string", "description": "the request path"},
            "code": {"type": "string", "enum": _family_codes()},
            "reason": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"},
            "requestId": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }


PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPENAI_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}


def document(
    routes: Iterable[BaseRoute],
    *,
    title: str,
    version: str,
    summary: str | None = None,
    schemas: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The whole document for these routes (what /openapi.json serves). `schemas` are components the
    routes refer to that no pydantic model describes (each engine type's ruleset)."""
    schema = get_openapi(title=title, version=version, summary=summary, routes=list(routes))
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (tops_...) or a JWT."}
    }
    schema["security"] = [{"bearer": []}]
    known = components.setdefault("schemas", {})
    # FastAPI's own 422 body: this server never sends it (every error is ours).
    known.pop("HTTPValidationError", None)
    known.pop("ValidationError", None)
    known["Problem"] = problem_schema()
    known["OpenAIError"] = OPENAI_ERROR_SCHEMA
    known.update(schemas or {})
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                _document_answers(path, operation)
    return schema


def _document_answers(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if responses.get("422", {}).get("description") == "Validation Error":
        del responses["422"]  # FastAPI's guess; the rules below say when a 422 can come
    if path in PUBLIC:
        operation["security"] = []
    content = OPENAI_ERROR_CONTENT if path.startswith(OPENAI_PREFIX) else PROBLEM_CONTENT
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(declared | _statuses(path, operation)):
        response = responses.setdefault(str(status), {"description": STATUS_TEXT.get(status, "Error")})
        response["content"] = content
        if status in HEADERS:
            response.setdefault("headers", HEADERS[status])
    responses["5XX"] = {"description": UNEXPECTED, "content": content}
    for code, response in responses.items():
        if code in ("204", "304"):
            response.pop("content", None)  # no body, whatever a framework default says


def _statuses(path: str, operation: dict[str, Any]) -> set[int]:
    """The errors an operation can answer by its shape alone."""
    statuses: set[int] = set()
    if path not in PUBLIC:
        statuses |= {401, 403}  # principal, then the policy
    if path not in NO_STORE:
        statuses.add(503)  # the store (token lookups included) does not answer
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        statuses.add(413)  # EdgeMiddleware's limit, by Content-Length or while reading
        if any(media.endswith("json") for media in body):
            statuses |= {400, 415, 422}  # parse_body: bad JSON, not JSON, invalid fields
    parameters = operation.get("parameters", [])
    if any(p.get("in") == "query" for p in parameters):
        statuses.add(422)  # every query parameter is validated
    if any(p.get("name") == "minVersion" for p in parameters):
        statuses.add(504)  # http.responses.at_least
    if any(p.get("name") == "If-Match" for p in parameters):
        statuses |= {400, 412}  # http.etag.parse_if_match, then the stale check
    return statuses
