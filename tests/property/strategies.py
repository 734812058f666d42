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


# Text a JSON body can carry (no lone surrogates: those are not UTF-8, and a body is).
json_text = st.text(st.characters(codec="utf-8"), max_size=30)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**31, -1, 0]),
    st.floats(allow_nan=False, allow_infinity=False),
    json_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(json_text, inner, max_size=4)),
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
        high = min(schema.get("maxLength", 40), low + 40)
        return st.text(st.characters(codec="utf-8"), min_size=low, max_size=high)
    if kind == "array" and depth < 4:
        low = schema.get("minItems", 0)
        high = min(schema.get("maxItems", low + 3), low + 3)
        return st.lists(from_schema(schema.get("items", {}), depth + 1), min_size=low, max_size=high)
    if kind == "object" and depth < 4 and "properties" in schema:
        return object_of(schema, depth + 1)
    return json_values


def object_of(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """An object of the schema: its required fields, some optional ones, and (where the schema allows
    them) a few fields of its own."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name in required or draw(st.booleans()):
                out[name] = draw(from_schema(sub, depth))
        if schema.get("additionalProperties", True) is not False and draw(st.integers(0, 3)) == 0:
            out.update(draw(st.dictionaries(json_text, json_values, max_size=2)))
        return out

    return build()


def _places(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every node of a JSON value (the root is ())."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _places(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _places(item, (*at, index))
    return found


def _replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[at[0]] = _replaced(value[at[0]], at[1:], new)
    return copy


@st.composite
def bodies(draw: st.DrawFn, schema: dict[str, Any]) -> Any:
    """A value of the schema with one of its fields (at any depth, or the whole) replaced by any JSON:
    the rest being valid, the checks of that one field are reached. Sometimes left whole."""
    value = draw(from_schema(schema))
    if draw(st.integers(0, 4)) == 0:
        return value
    return _replaced(value, draw(st.sampled_from(_places(value))), draw(json_values))


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
                    query_params=tuple(
                        (p["name"], p.get("schema", {})) for p in params if p["in"] == "query"
                    ),
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
