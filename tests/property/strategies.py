"""Hypothesis strategies: header bytes, JSON of any shape, values of a JSON Schema, and the operations
of the app's own OpenAPI document (so a new route is fuzzed without a new test)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

# Any octets but CR, LF and NUL: no HTTP server hands those on in a header value; everything else
# (control bytes, obs-text, invalid UTF-8, leading and trailing blanks) reaches an app behind some proxy.
header_bytes = st.binary(max_size=64).map(lambda raw: raw.translate(None, b"\r\n\x00"))


def header_values(*plausible: bytes) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, UTF-8 text, or near-misses of values that mean something."""
    options = [header_bytes, st.text(max_size=40).map(lambda t: t.encode().translate(None, b"\r\n\x00"))]
    if plausible:
        options.append(st.sampled_from(plausible))
        options.append(
            st.tuples(st.sampled_from(plausible), header_bytes).map(lambda pair: pair[0] + pair[1])
        )
    return st.one_of(options)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
# What a signed token may carry: json.dumps writes NaN and Infinity, and PyJWT reads them back.
claim_values = st.one_of(json_values, st.sampled_from([math.nan, math.inf, -math.inf, 2**64, -1, 0, 1e308]))


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of (a subset of) JSON Schema as pydantic writes it; anything it does not know: any JSON."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(option, depth + 1) for option in schema[key]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: len(s) <= schema.get("maxLength", 10_000)
            )
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=min(schema.get("maxLength", 40), low + 40))
    if kind == "array" and depth < 4:
        return st.lists(from_schema(schema.get("items", {}), depth + 1), max_size=3)
    if kind == "object" and depth < 4 and "properties" in schema:
        return object_of(schema, depth + 1)
    return json_values


def object_of(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """An object of the schema's fields: the required ones and some optional ones, each either a value
    of its schema or any JSON at all."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name not in required and not draw(st.booleans()):
                continue
            out[name] = draw(st.one_of(from_schema(sub, depth), json_values))
        return out

    return build()


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with {placeholders}
    path_params: tuple[str, ...]
    query_params: tuple[tuple[str, dict[str, Any]], ...]
    body_schema: dict[str, Any] | None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            params = operation.get("parameters", [])
            content = operation.get("requestBody", {}).get("content", {})
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple((p["name"], p.get("schema", {})) for p in params if p["in"] == "query"),
                    body_schema=content.get("application/json", {}).get("schema") if content else None,
                )
            )
    return found


# Values that reach past a route's first lookup (a known engine, feature or session), beside any text.
KNOWN_PATH_VALUES = {
    "type": ["content", "missions", "mission", "system", "prompt"],
    "featureKey": ["mission_auto_assign", "quiz_auto_generate"],
    "targetId": ["initial", "v1"],
}
path_text = st.text(min_size=1, max_size=30)


def path_value(name: str) -> st.SearchStrategy[str]:
    known = KNOWN_PATH_VALUES.get(name)
    return st.one_of(st.sampled_from(known), path_text) if known else path_text


def fill_path(template: str, values: dict[str, str]) -> str:
    """The template with each placeholder replaced by its value, percent-decoded as ASGI's `path` is
    (a `/` in a value stays a `/`: routing sees what a proxy would hand on)."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def query_bytes(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()


def body_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()
