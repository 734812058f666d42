"""Request bodies: content type (415), size (413, enforced by the middleware), JSON (400), shape (422)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from trainer_ops.errors import BadRequest, Invalid, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)

JSON_TYPES = ("application/json", "application/merge-patch+json")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "body"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append({"field": field, "message": message})
    return out


def require_json_type(request: Request) -> None:
    check_json_type(request.headers.get("content-type", ""))


def check_json_type(content_type: str) -> None:
    if not _is_json(content_type):
        raise UnsupportedMediaType(
            "http.unsupported_media_type",
            f"send the body as application/json (Content-Type: {content_type or 'none was sent'})",
        )


async def parse_body(request: Request, model: type[M]) -> M:
    """Read and validate a JSON body strictly: wrong types and unknown fields are refused, not coerced."""
    require_json_type(request)
    return parse_json(await request.body(), model)


def parse_json(raw: bytes, model: type[M]) -> M:
    """Validate a JSON body: 400 when it is empty or not JSON, 422 naming the fields otherwise."""
    if not raw.strip():
        raise BadRequest("http.empty_body", "a JSON body is required")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("http.bad_json", "the body is not valid JSON") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise Invalid(
                "http.not_an_object",
                "the body must be a JSON object",
                errors=[{"field": "body", "message": "must be a JSON object"}],
            ) from None
        errors = field_errors(exc)
        names = ", ".join(sorted({e["field"] for e in errors}))
        raise Invalid("http.invalid_body", f"invalid field(s): {names}", errors=errors) from None


async def parse_object(request: Request) -> dict[str, Any]:
    """A JSON object body checked only for being one (415, 400, 422): for documents whose own schema
    validates the rest, naming each bad path, as the policy does."""
    require_json_type(request)
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("http.empty_body", "a JSON body is required")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("http.bad_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise Invalid(
            "http.not_an_object",
            "the body must be a JSON object",
            errors=[{"field": "body", "message": "must be a JSON object"}],
        )
    return value


def drop_null(*fields: str) -> Any:
    """json_schema_extra for PATCH bodies: fields that may be left out but never sent as null are
    documented without the `null` alternative pydantic adds for `X | None = None`."""

    def edit(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            if fields and name not in fields:
                continue
            options = [o for o in prop.pop("anyOf", []) if o != {"type": "null"}]
            if len(options) == 1:
                prop.update(options[0])
            elif options:
                prop["anyOf"] = options
            if prop.get("default", 0) is None:
                del prop["default"]

    return edit


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace `#/$defs/X` references by the definitions themselves: an inlined schema in an OpenAPI
    document resolves references from the document root, where these $defs do not exist."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra documenting a body that the route reads itself (so errors are ours, not FastAPI's)."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
        }
    }
