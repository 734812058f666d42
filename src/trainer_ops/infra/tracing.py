"""OpenTelemetry tracing: off unless the standard OTEL_* variables ask for it, then the store's calls,
the writer's batches and the gateway's upstream calls as spans (requests: http/tracing.py; reloads:
engines/reload.py).

Off, nothing is installed: no SDK is imported, no listener is added to the store's engines, the
upstream transport is the bare one, and the request path has no middleware more (ADR 0029). On, the
SDK is configured from the environment as its specification says (OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_*): only the choice of
exporters is made here, since the Python SDK leaves that to its auto-instrumentation agent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    StatusCode,
    Tracer,
    TracerProvider,
)
from opentelemetry.util.types import Attributes

from trainer_ops.errors import Unavailable

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine

SERVICE_NAME = "trainer-ops"
EXPORTER_GROUP = "opentelemetry_traces_exporter"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# OTLP over HTTP is installed with the `otel` extra; gRPC needs opentelemetry-exporter-otlp-proto-grpc.
OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
INSTALL = "pip install 'trainer-ops[otel]'"


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters the environment asks for; empty when tracing is off.

    The specification's default exporter is `otlp`, but a service that sends traces to
    localhost:4318 because nobody said otherwise would surprise: tracing is on only when
    OTEL_TRACES_EXPORTER names an exporter (not `none`) or an OTLP endpoint is set, and never with
    OTEL_SDK_DISABLED=true."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if named:
        return [n.strip() for n in named.split(",") if n.strip() and n.strip() != "none"]
    return ["otlp"] if any(environ.get(name, "").strip() for name in ENDPOINTS) else []


def provider_from_env(environ: Mapping[str, str]) -> TracerProvider | None:
    """A configured SDK tracer provider, or None when tracing is off. Refuses to start (tracing.config)
    when the environment asks for an exporter that is not installed: traces asked for and silently
    not sent would be found missing only when needed. `environ` decides whether and which exporters;
    the SDK and each exporter read their other settings from the process environment themselves."""
    names = exporter_names(environ)
    if not names:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise _refused(
            f"OTEL_* variables ask for traces, but the OpenTelemetry SDK is missing: {INSTALL}"
        ) from None
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": SERVICE_NAME}))
    provider = SdkTracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, environ)))
    return provider


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    entry = name
    if name == "otlp":
        protocol = (
            environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        ).strip()
        if protocol not in OTLP_BY_PROTOCOL:
            raise _refused(f"OTLP protocol {protocol!r} is not supported: use http/protobuf or grpc")
        entry = OTLP_BY_PROTOCOL[protocol]
    found = list(entry_points(group=EXPORTER_GROUP, name=entry))
    if not found:
        raise _refused(f"OTEL_TRACES_EXPORTER names {name!r}, and no installed exporter is {entry!r}")
    return found[0].load()()  # each exporter reads its own OTEL_EXPORTER_* variables


def _refused(message: str) -> Unavailable:
    return Unavailable("tracing.config", message)


def shutdown(provider: TracerProvider) -> None:
    """Send what is still batched (the SDK's provider; any other has nothing to flush)."""
    close = getattr(provider, "shutdown", None)
    if callable(close):
        close()


# ---------------------------------------------------------------------------------- the store's calls


class InsideTraces(TracerProvider):
    """Spans only inside a trace that has begun (a request, a reload). The background jobs ask the store
    something every second (the snapshot poll, the checkpoint check, the heartbeat): each would be a
    trace of its own, and a collector would hold mostly those."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        return _ChildTracer(self._provider.get_tracer(*args, **kwargs))


class _ChildTracer(Tracer):
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )

    # The API types this as its own private context manager kind; a generator one behaves the same.
    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


def trace_store(provider: TracerProvider, engines: Sequence[Engine]) -> None:
    """A span per SQL statement on these engines (the statement with its placeholders, never the
    values), under the request or reload that ran it. The instrumentation's engine tracer is used
    directly: its instrumentor is one per process and patches sqlalchemy.create_engine globally."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    tracer = InsideTraces(provider).get_tracer("opentelemetry.instrumentation.sqlalchemy")
    # Connection-pool usage is a metric, and this service exports none (its metrics are Prometheus').
    usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    for engine in {id(e): e for e in engines}.values():
        EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]  # the package has no types


class WriterSpans:
    """The writer's batches as spans (db/writer.py `BatchTracing`). A batch runs on the writer thread,
    outside every request's context, and may carry several requests' changes in one commit: its span
    is a child of the first traced caller's span and links to every other one, so each request's
    trace leads to the commit that made its change. A batch of records nobody waits on, or of callers
    in no trace, is not traced (as the store's calls outside a trace are not, `InsideTraces`). The
    writer's own statements go straight to the driver and make no spans; what its units run through
    SQLAlchemy does, under this span."""

    def __init__(self, provider: TracerProvider, *, db_system: str) -> None:
        self._tracer = provider.get_tracer("trainer_ops.writer")
        self._db_system = db_system

    def caller(self) -> SpanContext | None:
        context = trace.get_current_span().get_span_context()
        return context if context.is_valid else None

    @contextmanager
    def batch(self, callers: list[Any], units: int) -> Iterator[Callable[[str], None]]:
        traced: list[SpanContext] = [c for c in callers if c is not None]
        if not traced:
            yield _ignore
            return
        parent = trace.set_span_in_context(NonRecordingSpan(traced[0]))
        attributes: Attributes = {
            "db.system": self._db_system,
            "trainer_ops.batch.units": units,
            "trainer_ops.batch.traced_callers": len(traced),
        }
        links = [Link(context) for context in traced[1:]]
        with self._tracer.start_as_current_span(
            "store write batch", parent, SpanKind.INTERNAL, attributes, links
        ) as span:

            def record(how: str) -> None:
                span.set_attribute("trainer_ops.batch.outcome", how)
                if how == "failed":
                    span.set_status(StatusCode.ERROR, "the batch did not commit")

            yield record


def _ignore(_how: str) -> None:
    pass


def traced_transport(
    transport: httpx.AsyncBaseTransport, provider: TracerProvider | None
) -> httpx.AsyncBaseTransport:
    """The gateway's upstream transport with a client span per call (and `traceparent` sent on, so the
    model server's own spans join the trace); the bare transport when tracing is off."""
    if provider is None:
        return transport
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport
    from opentelemetry.metrics import NoOpMeterProvider

    return AsyncOpenTelemetryTransport(
        transport, tracer_provider=provider, meter_provider=NoOpMeterProvider()
    )
