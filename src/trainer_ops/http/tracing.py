"""Request spans, when tracing is on (infra/tracing.py): OpenTelemetry's ASGI middleware outside every
other, so the fast paths' answers (features, model config, limits, gateway calls) are traced too.

The ASGI instrumentation names a span when the request starts, before any route is known (by default
after the raw path, which would make one span name per feature key). `RouteNames`, just inside it,
renames the span after the route template once routing or a fast path has chosen it, as the edge
labels its metrics, and adds the request id and the caller.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainer_ops.http.accesslog import CALLER

REQUEST_ID = "trainer_ops.request_id"
USER = "enduser.id"


class RouteNames:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span = trace.get_current_span()
        if scope["type"] != "http" or not span.is_recording():
            await self.app(scope, receive, send)
            return

        # When the answer starts, routing (or a fast path) has chosen the route and the caller is
        # known; the instrumentation ends the span with the last body message, so not later.
        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{scope['method']} {route}")
                    span.set_attribute("http.route", route)
                state = scope.get("state", {})
                span.set_attribute(REQUEST_ID, str(state.get("request_id", "")))
                if state.get(CALLER) is not None:
                    span.set_attribute(USER, str(state[CALLER]))
            await send(message)

        await self.app(scope, receive, named)


def _method_only(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The name a span starts with: the method alone (never the raw path) until RouteNames knows more."""
    return str(scope.get("method", "HTTP")), {}


def trace_requests(app: FastAPI, provider: TracerProvider) -> None:
    """Add the request spans; call after every other middleware, so this one is outermost."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.metrics import NoOpMeterProvider

    app.add_middleware(RouteNames)
    app.add_middleware(
        OpenTelemetryMiddleware,
        tracer_provider=provider,
        # Request metrics are Prometheus' here (/metrics), and one span per ASGI message is noise.
        meter_provider=NoOpMeterProvider(),
        exclude_spans=["receive", "send"],
        default_span_details=_method_only,
    )
