"""The web composition root: the FastAPI app around `Ops` (routers, middlewares, the lifespan and its
background jobs), and the OpenAPI document it serves."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from trainer_ops.access.identity import HeaderIdentity
from trainer_ops.app.build import build_ops
from trainer_ops.app.ops import Ops
from trainer_ops.audit import routes as audit_routes
from trainer_ops.changerequests import routes as change_request_routes
from trainer_ops.config import Settings
from trainer_ops.console import routes as console_routes
from trainer_ops.console.pages import Console
from trainer_ops.engines import routes as engine_routes
from trainer_ops.engines.schemas import ruleset_components
from trainer_ops.features import routes as feature_routes
from trainer_ops.features.fastpath import FastToggle
from trainer_ops.gateway import routes as gateway_routes
from trainer_ops.gateway.fastpath import GatewayFastPath
from trainer_ops.health import routes as health_routes
from trainer_ops.http import apidocs, openapi, problems
from trainer_ops.http.accesslog import AccessLog
from trainer_ops.http.context import Edge
from trainer_ops.http.envelope import EnvelopeMiddleware
from trainer_ops.http.fastreads import FastReadsMiddleware
from trainer_ops.http.middleware import EdgeMiddleware
from trainer_ops.http.tracing import trace_requests
from trainer_ops.infra.periodic import Periodic
from trainer_ops.limits import routes as limit_routes
from trainer_ops.modelconfig import routes as model_config_routes
from trainer_ops.places import routes as places_routes
from trainer_ops.policy import routes as policy_routes
from trainer_ops.releases import routes as release_routes
from trainer_ops.sync import routes as sync_routes

log = logging.getLogger("trainer_ops")

TITLE, VERSION, SUMMARY = "trainer-ops", "2.0.0", "System Operations API v2 of Retail AI Trainer."
ROUTERS: tuple[APIRouter, ...] = (
    model_config_routes.router,
    feature_routes.router,
    limit_routes.router,
    engine_routes.router,
    release_routes.router,
    health_routes.router,
    audit_routes.router,
    gateway_routes.router,
    sync_routes.router,
    places_routes.router,
    policy_routes.router,
    change_request_routes.router,
)
SAMPLE_SECONDS = 5.0
# How often each replica looks for scheduled changes that are due (ADR 0026).
SCHEDULE_SECONDS = 1.0


def create_app(settings: Settings, *, ops: Ops | None = None) -> FastAPI:
    ops = ops or build_ops(settings)
    app = FastAPI(
        title=TITLE,
        version=VERSION,
        summary=SUMMARY,
        lifespan=_lifespan(settings, ops),
        # /docs and /redoc are ours (http/apidocs.py): FastAPI's load Swagger UI and ReDoc from a CDN.
        docs_url=None,
        redoc_url=None,
        # Prometheus /metrics is ours; FastAPI's OpenTelemetry hooks cost 15-30 us on every request
        # (bench/README.md) and nothing here exports to OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    _attach(app, settings, ops)
    _route_and_wrap(app, settings, ops)
    app.openapi = lambda: _served_document(app)  # type: ignore[method-assign]
    return app


def _lifespan(settings: Settings, ops: Ops) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ops.prepare)
        await run_in_threadpool(ops.apply_due_changes)  # what came due while no replica ran
        ops.changes.start()
        await run_in_threadpool(ops.join_fleet)
        jobs = _background_jobs(settings, ops)
        try:
            yield
        finally:
            await jobs.stop()  # before the store closes: a running job finishes first
            await run_in_threadpool(ops.leave_fleet)
            await ops.gateway.aclose()
            ops.close()
            log.info("trainer-ops stopped")  # the ordered shutdown ran to its end

    return lifespan


def _background_jobs(settings: Settings, ops: Ops) -> Periodic:
    """The jobs each replica runs while it serves; blocking ones in the thread pool."""
    jobs = Periodic()

    def in_pool(work: Callable[[], object]) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            await run_in_threadpool(work)

        return job

    async def sample() -> None:
        ops.sampler.sample()

    async def vitals() -> None:  # the Overview's charts: in memory, no I/O, so on the loop
        ops.health.live.record()

    jobs.every(settings.instance_ttl_seconds / 3, in_pool(ops.fleet_heartbeat))
    jobs.every(1.0, in_pool(ops.engine_service.settle_orphans))
    if settings.snapshot_poll_seconds > 0:
        jobs.every(settings.snapshot_poll_seconds, in_pool(ops.refresher.refresh))
    jobs.every(SAMPLE_SECONDS, sample)
    jobs.every(settings.overview_sample_seconds, vitals)
    jobs.every(1.0, in_pool(ops.checkpoint_if_due))
    jobs.every(settings.console_purge_seconds, in_pool(ops.console.purge_expired))
    jobs.every(SCHEDULE_SECONDS, in_pool(ops.apply_due_changes))
    return jobs


def _attach(app: FastAPI, settings: Settings, ops: Ops) -> None:
    """The services the routes and the console reach through `request.app.state`."""
    app.state.ops = ops
    app.state.edge = Edge(
        settings=settings,
        database=ops.database,
        authenticator=ops.authenticator,
        writer=ops.writer,
        audit=ops.audit,
        policy=ops.policy,
        identity=HeaderIdentity(settings.trusted_proxies, places=ops.catalogue),
        governor=ops.change_requests,
        now=ops.clock.now,
    )
    app.state.model_config = ops.model_config
    app.state.limits = ops.limits
    app.state.policy_editor = ops.policy_editor
    app.state.features = ops.features
    app.state.health = ops.health
    app.state.metrics = ops.metrics
    app.state.checkpoints = ops.checkpoints
    app.state.engines = ops.engine_service
    app.state.releases = ops.releases
    app.state.gateway = ops.gateway
    app.state.sync = ops.sync
    app.state.places = ops.places
    app.state.change_requests = ops.change_requests
    app.state.refresher = ops.refresher  # reads with minVersion catch up through it
    app.state.console = Console(
        settings=settings,
        clock=ops.clock,
        database=ops.database,
        writer=ops.writer,
        sessions=ops.console,
        health=ops.health,
        metrics=ops.metrics,
        sampler=ops.sampler,
        holder=ops.holder,
        documents=ops.documents,
        model_config=ops.model_config,
        limits=ops.limits,
        features=ops.features,
        engines=ops.engines,
        engine_service=ops.engine_service,
        fleet=ops.fleet,
        releases=ops.releases,
        gateway=ops.gateway,
        audit=ops.audit,
        checkpoints=ops.checkpoints,
        tokens=ops.tokens,
    )
    # Set when shutdown begins (`serve` on SIGTERM, ADR 0018): /readyz answers 503 from then on.
    app.state.draining = threading.Event()


def _route_and_wrap(app: FastAPI, settings: Settings, ops: Ops) -> None:
    """The routers, then the middlewares: each added one wraps the ones before it."""
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(apidocs.router)  # not in ROUTERS: no operation of it belongs in /openapi.json
    app.include_router(console_routes.router)  # pages, not API: outside ROUTERS and the OpenAPI document
    app.add_middleware(
        FastReadsMiddleware, routes=ops.fast_routes(), authenticator=ops.authenticator, policy=ops.policy
    )
    app.add_middleware(FastToggle, features=ops.features, authenticator=ops.authenticator, policy=ops.policy)
    app.add_middleware(
        GatewayFastPath, gateway=ops.gateway, authenticator=ops.authenticator, policy=ops.policy
    )
    app.add_middleware(EnvelopeMiddleware, default=settings.envelope)
    app.add_middleware(
        EdgeMiddleware,
        metrics=ops.metrics,
        body_limit=ops.body_limit,
        access_log=AccessLog(fmt=settings.log_format) if settings.access_log else None,
    )
    if ops.tracer_provider is not None:  # outermost: the fast paths' answers are traced too
        trace_requests(app, ops.tracer_provider)


def api_document() -> dict[str, Any]:
    """The OpenAPI document /openapi.json serves, built from the routers alone: tools and tests read it
    without a store or a running app."""
    routes = [route for router in ROUTERS for route in router.routes]
    return openapi.document(
        routes, title=TITLE, version=VERSION, summary=SUMMARY, schemas=ruleset_components()
    )


def _served_document(app: FastAPI) -> dict[str, Any]:
    if not app.openapi_schema:
        app.openapi_schema = openapi.document(
            app.routes, title=TITLE, version=VERSION, summary=SUMMARY, schemas=ruleset_components()
        )
    return app.openapi_schema
