"""OpenTelemetry traces, read from the SDK's in-memory exporter: a request's span with its SQL under it,
a gateway call's upstream span, a reload's span with one event per instance's answer; and, off,
nothing installed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from conftest import ADMIN_TOKEN, auth
from engines.conftest import difficulty_ruleset, reload, upload
from engines.fakes import NackingInstance, SilentInstance
from gateway.upstream import FakeUpstream
from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.config import Settings

CHAT = {"model": "gpt-5.1", "messages": [{"role": "user", "content": "hi"}]}


@dataclass
class Traced:
    client: TestClient
    ops: Ops
    exporter: InMemorySpanExporter
    upstream: FakeUpstream

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest.fixture
def traced(settings: Settings) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    upstream = FakeUpstream().start()
    tuned = settings.model_copy(
        update={"upstream_url": upstream.url, "reload_deadline_seconds": 0.5, "token_cache_seconds": 60}
    )
    ops = build_ops(tuned, tracer_provider=provider)
    try:
        with TestClient(create_app(tuned, ops=ops)) as client:
            client.headers.update(auth(ADMIN_TOKEN))
            yield Traced(client, ops, exporter, upstream)
    finally:
        ops.close()
        upstream.stop()


def _children(traced: Traced, parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in traced.spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]


def test_a_request_is_a_server_span_named_by_its_route_with_its_sql_under_it(traced: Traced) -> None:
    traced.exporter.clear()
    response = traced.client.get("/operator/ops/engines/upm/rulesets", headers={"X-Request-Id": "tr-1"})
    assert response.status_code == 200

    [server] = traced.named("GET /operator/ops/engines/{type}/rulesets")
    assert server.kind is SpanKind.SERVER
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/operator/ops/engines/{type}/rulesets"
    assert server.attributes["trainer_ops.request_id"] == "tr-1"
    assert server.attributes["enduser.id"] == "bootstrap-admin"
    # The HTTP semantic conventions in force (OTEL_SEMCONV_STABILITY_OPT_IN) name the status either way.
    assert (
        server.attributes.get("http.response.status_code", server.attributes.get("http.status_code")) == 200
    )
    sql = [s for s in _children(traced, server) if s.kind is SpanKind.CLIENT]
    assert sql, [s.name for s in traced.spans()]
    assert all(s.context.trace_id == server.context.trace_id for s in sql)
    assert any("ruleset" in str((s.attributes or {}).get("db.statement", "")) for s in sql)


def test_store_calls_outside_a_trace_make_no_trace_of_their_own(traced: Traced) -> None:
    traced.exporter.clear()
    traced.ops.checkpoint_if_due()  # a background job's store work, outside any request
    traced.client.get("/operator/ops/engines/upm/rulesets")

    roots = [s for s in traced.spans() if s.parent is None]
    assert [s.kind for s in roots] == [SpanKind.SERVER]


def test_a_gateway_call_has_an_upstream_span_on_both_paths(traced: Traced) -> None:
    traced.exporter.clear()
    # The first call authenticates (the routes), the second is a cached caller's (the fast path).
    for _ in range(2):
        response = traced.client.post("/v1/chat/completions", json=CHAT)
        assert response.status_code == 200, response.text

    servers = traced.named("POST /v1/chat/completions")
    assert len(servers) == 2
    for server, sent in zip(servers, traced.upstream.headers, strict=True):
        [call] = [s for s in _children(traced, server) if s.kind is SpanKind.CLIENT and s.name == "POST"]
        assert call.attributes is not None
        assert str(call.attributes.get("url.full", call.attributes.get("http.url"))).startswith(
            traced.upstream.url
        )
        # The model server is told the trace (W3C traceparent), so its spans can join it.
        assert f"{call.context.trace_id:032x}" in sent["traceparent"]
        assert "authorization" not in str(call.attributes).lower()


def test_a_reload_is_a_span_with_one_event_per_instance_answer(traced: Traced) -> None:
    client, ops = traced.client, traced.ops
    flaky, hung = NackingInstance(), SilentInstance()
    ops.engines.add_instance("difficulty", flaky)
    upload(client, "difficulty", "d2", difficulty_ruleset("d2"))
    upload(client, "upm", "u2", {"weights": {"quiz": 1.0}})
    traced.exporter.clear()

    assert reload(client, "upm", "u2").status_code == 200
    assert reload(client, "difficulty", "d2").status_code == 409
    ops.engines.add_instance("gamification", hung)
    upload(client, "gamification", "g2", {"points": {"quiz_passed": 5}, "badges": []})
    try:
        assert reload(client, "gamification", "g2").status_code == 409
    finally:
        hung.release.set()

    applied, nacked, timed_out = traced.named("reload")
    replica = ops.fleet.replica_id
    local = ops.engines.slot("upm").local.instance_id
    assert [(e.name, e.attributes["instance"], e.attributes["replica"]) for e in applied.events] == [
        ("ack", local, replica)
    ]
    assert applied.attributes is not None
    assert applied.attributes["trainer_ops.reload.outcome"] == "applied"
    assert applied.status.status_code is not StatusCode.ERROR
    events = {(e.name, e.attributes["instance"]): e.attributes for e in nacked.events}
    assert events["nack", flaky.instance_id]["error"] == "cannot parse rule 7"
    assert events["nack", flaky.instance_id]["replica"] == replica
    assert nacked.status.status_code is StatusCode.ERROR
    assert [e.name for e in timed_out.events if e.attributes["instance"] == hung.instance_id] == ["timeout"]
    # Each reload's span is under the request that asked for it.
    servers = traced.named("POST /operator/ops/hot-reload")
    assert [s.parent.span_id for s in (applied, nacked, timed_out) if s.parent] == [
        s.context.span_id for s in servers
    ]


def _ancestors(traced: Traced, span: ReadableSpan) -> list[int]:
    by_id = {s.context.span_id: s for s in traced.spans()}
    found, parent = [], span.parent
    while parent is not None:
        found.append(parent.span_id)
        parent = by_id[parent.span_id].parent if parent.span_id in by_id else None
    return found


def test_a_write_leads_to_the_store_batch_that_committed_it_on_both_paths(traced: Traced) -> None:
    traced.exporter.clear()
    # The first change authenticates on the route; the second is a cached caller's (FastToggle).
    for enabled in (False, True):
        response = traced.client.patch("/operator/ops/features/quiz_auto_generate", json={"enabled": enabled})
        assert response.status_code == 200, response.text

    servers = traced.named("PATCH /operator/ops/features/{featureKey}")
    batches = traced.named("store write batch")
    assert len(servers) == len(batches) == 2
    for server, batch in zip(servers, batches, strict=True):
        assert server.context.span_id in _ancestors(traced, batch)
        assert batch.context.trace_id == server.context.trace_id
        assert batch.attributes is not None
        assert batch.attributes["trainer_ops.batch.units"] == 1
        assert batch.attributes["trainer_ops.batch.outcome"] == "committed"
        assert batch.attributes["db.system"] == traced.ops.database.write_engine.dialect.name
        assert batch.end_time is not None
        assert server.end_time is not None
        assert batch.end_time <= server.end_time  # the batch's span ends before the answer leaves


def test_callers_sharing_a_batch_are_its_parent_and_its_links(traced: Traced) -> None:
    ops = traced.ops
    assert ops.tracer_provider is not None
    tracer = ops.tracer_provider.get_tracer("test")
    held, gate = threading.Event(), threading.Event()

    def hold(_session: object) -> None:
        held.set()
        gate.wait(10)

    holder = threading.Thread(target=lambda: ops.write(hold))
    holder.start()  # holds the writer, untraced: its batch makes no span
    assert held.wait(10)

    def change(n: int) -> None:
        with tracer.start_as_current_span(f"caller-{n}"):
            ops.write(
                lambda session: ops.audit.append(
                    session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"shared-{n}"
                )
            )

    traced.exporter.clear()
    callers = [threading.Thread(target=change, args=(n,)) for n in range(2)]
    for thread in callers:
        thread.start()
    deadline = time.monotonic() + 10
    while ops.writer.queued < 2:  # both are queued behind the held batch: the next batch takes both
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gate.set()
    for thread in [holder, *callers]:
        thread.join(timeout=10)

    [batch] = traced.named("store write batch")
    spans = {s.name: s for s in traced.spans()}
    contexts = {spans[f"caller-{n}"].context.span_id for n in range(2)}
    assert batch.attributes is not None
    assert (
        batch.attributes["trainer_ops.batch.units"],
        batch.attributes["trainer_ops.batch.traced_callers"],
    ) == (2, 2)
    assert batch.parent is not None
    assert {batch.parent.span_id, *(link.context.span_id for link in batch.links)} == contexts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_off_nothing_is_installed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    plain = build_ops(settings)
    traced = build_ops(settings, tracer_provider=TracerProvider())
    try:
        assert plain.tracer_provider is None
        listeners = [len(o.database.engine.dispatch.before_cursor_execute) for o in (plain, traced)]
        assert listeners[1] == listeners[0] + 1
        middleware = [
            {m.cls.__name__ for m in create_app(settings, ops=o).user_middleware} for o in (plain, traced)
        ]
        assert middleware[1] - middleware[0] == {"OpenTelemetryMiddleware", "RouteNames"}
    finally:
        plain.close()
        traced.close()
