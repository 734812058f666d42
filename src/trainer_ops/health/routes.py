"""Health, diagnostics, and the orchestrator endpoints (/livez, /readyz, /metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from trainer_ops.access.types import Principal
from trainer_ops.errors import Unavailable
from trainer_ops.health.service import HealthService
from trainer_ops.http.context import edge_of
from trainer_ops.http.guard import authorize, principal
from trainer_ops.http.responses import json_response

router = APIRouter(tags=["health"])


class HealthRead(BaseModel):
    status: str
    latencyMs: float | None = None
    uptimeHours: float | None = None
    engines: dict[str, str] | None = None


class SlowQuery(BaseModel):
    endpoint: str
    avgMs: float


class DiagnosticsRead(BaseModel):
    cpu: float
    memory: float
    errorRate: float
    timeouts: int
    slowQueries: list[SlowQuery]


def _service(request: Request) -> HealthService:
    service: HealthService = request.app.state.health
    return service


@router.get("/operator/ops/health", responses={200: {"model": HealthRead}})
async def get_health(request: Request, who: Principal = Depends(principal)) -> Response:
    """System health. Branch operators see the status; country and region operators also the engines;
    admins everything (median latency over the last 5 minutes, uptime, active rulesets, store)."""
    decision = await authorize(request, who, "health.read")
    return json_response(await run_in_threadpool(_service(request).health, decision.view))


@router.get("/operator/ops/diagnostics", responses={200: {"model": DiagnosticsRead}})
async def get_diagnostics(request: Request, who: Principal = Depends(principal)) -> Response:
    """Process CPU and memory (fractions of the machine), the 5xx rate and the endpoints slower than the
    threshold over the last 5 minutes, and upstream timeouts. Measured, never writable."""
    await authorize(request, who, "diagnostics.read")
    return json_response(_service(request).diagnostics())


@router.get("/livez", include_in_schema=True)
async def livez() -> Response:
    """The process is up (no dependency checked)."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready to serve: the store answers and the snapshot is loaded. 503 otherwise, and from the moment
    shutdown begins (SIGTERM), so that load balancers stop sending work here while it drains."""
    if request.app.state.draining.is_set():
        raise Unavailable("health.draining", "shutting down: this replica takes no new work", fault=False)
    database = edge_of(request).database

    def ping() -> None:
        with database.read() as session:
            session.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception:
        raise Unavailable("health.store_down", "the store does not answer") from None
    return json_response({"status": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            # The media type as sent, with its version parameter: scrapers choose their parser by it.
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
