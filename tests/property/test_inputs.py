"""Arbitrary JSON in every body field and arbitrary strings in every query (and path) parameter of
every operation in the app's own OpenAPI document: a new route is fuzzed without a new test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .checks import check
from .conftest import PROPS
from .harness import Service
from .strategies import (
    Operation,
    bodies,
    body_bytes,
    fill_path,
    from_schema,
    operations,
    path_value,
    query_bytes,
)

pytestmark = pytest.mark.xdist_group("property-inputs")  # one worker builds this module's app

# An endless event stream: read its first events, then hang up.
ENDLESS = {"/operator/ops/stream": 2}
CHAT = "/v1/chat/completions"


def query_value(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """Any text, or the text of a value of the parameter's own schema (so deeper checks are reached)."""
    return st.one_of(
        st.text(max_size=40),
        st.integers().map(str),
        from_schema(schema).map(lambda v: v if isinstance(v, str) else str(v)),
    )


@st.composite
def requests(draw: st.DrawFn, op: Operation) -> tuple[str, bytes, bytes, set[str]]:
    """(path, query, body, the names of everything generated) for one call of `op`."""
    values = {name: draw(path_value(name)) for name in op.path_params}
    pairs = []
    for name, schema in op.query_params:
        if draw(st.booleans()):
            pairs.append((name, draw(query_value(schema))))
    # Content-Type is the test's choice (JSON with a body, none without), so it may be what is named.
    inputs = {"content-type", *op.path_params, *(name for name, _ in op.query_params)}
    body = b""
    if op.body_schema is not None:
        sent: Any = draw(bodies(op.body_schema))
        body = body_bytes(sent)
        inputs |= {"body", *op.body_schema.get("properties", {})}
        if isinstance(sent, dict):
            inputs |= set(sent)
    query = query_bytes(pairs)
    if draw(st.integers(0, 4)) == 0:  # bytes no client library would send, but a server hands on
        query += b"&" + draw(st.binary(max_size=16))
    return fill_path(op.path, values), query, body, inputs


def _exercise(service: Service, op: Operation, examples: int, role: str = "admin") -> None:
    @settings(PROPS, max_examples=examples)
    @given(drawn=requests(op))
    def run(drawn: tuple[str, bytes, bytes, set[str]]) -> None:
        path, query, body, inputs = drawn
        headers = service.bearer(role)
        if body:
            headers.append((b"content-type", b"application/json"))
        before = service.before()
        reply = service.call(
            op.method, path, headers=headers, query=query, body=body, stop_after_chunks=ENDLESS.get(op.path)
        )
        check(service, reply, before, path=path, inputs=inputs, stream_ends=op.path not in ENDLESS)

    run()


def test_every_operation_answers_any_body_and_parameters_without_a_server_fault(routed: Service) -> None:
    ops = operations(routed.client.app.openapi())  # type: ignore[attr-defined]
    assert len(ops) > 30, "the OpenAPI document lost its operations"
    for op in ops:
        _exercise(routed, op, examples=10 if op.body_schema or op.query_params or op.path_params else 2)


def test_chat_completion_bodies_on_both_paths(service: Service) -> None:
    ops = operations(service.client.app.openapi())  # type: ignore[attr-defined]
    [chat] = [op for op in ops if op.path == CHAT and op.method == "POST"]
    _exercise(service, chat, examples=60, role="service")


HOT_READS = ["/operator/ops/features", "/operator/ops/model-config", "/operator/ops/limits"]


def test_any_query_string_of_the_hot_reads_on_both_paths(service: Service) -> None:
    """The fast path reads the raw query string itself (`minVersion=N` only): any bytes there."""
    raw = st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [b"minVersion=", b"minVersion=1", b"minVersion=0", b"minversion=1", b"region="]
        ).flatmap(lambda prefix: st.binary(max_size=12).map(lambda tail: prefix + tail)),
    )

    @settings(PROPS, max_examples=40)
    @given(path=st.sampled_from(HOT_READS), query=raw)
    def run(path: str, query: bytes) -> None:
        before = service.before()
        reply = service.call("GET", path, headers=service.bearer("admin"), query=query)
        check(service, reply, before, path=path, inputs={"minVersion", "region", "query"})

    run()
