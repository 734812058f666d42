"""The web composition root: build every service once from Settings and wire the FastAPI app."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from opentelemetry.trace import TracerProvider
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from trainer_ops.access.identity import HeaderIdentity
from trainer_ops.access.places import EMPTY_PLACES, PlaceCatalogue
from trainer_ops.access.places import KIND as PLACES
from trainer_ops.access.service import Authenticator, TokenService
from trainer_ops.access.types import DEFAULT_POLICY, Policy, Principal, Role
from trainer_ops.audit import routes as audit_routes
from trainer_ops.audit.checkpoints import CheckpointService
from trainer_ops.audit.keys.service import KeyCheck
from trainer_ops.audit.keys.sources import load_keys
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.changerequests import routes as change_request_routes
from trainer_ops.changerequests.service import ChangeRequestService, Target
from trainer_ops.config import Settings
from trainer_ops.console import routes as console_routes
from trainer_ops.console.pages import Console
from trainer_ops.console.service import ConsoleSessions
from trainer_ops.db import migrate
from trainer_ops.db.engine import Database, make_database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines import routes as engine_routes
from trainer_ops.engines.fleet import Fleet
from trainer_ops.engines.plugins import load_engine_types
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import ReloadCoordinator
from trainer_ops.engines.schemas import ruleset_components
from trainer_ops.engines.service import EngineService
from trainer_ops.features import routes as feature_routes
from trainer_ops.features.fastpath import FastToggle
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import DEFAULT_FEATURES
from trainer_ops.features.types import KIND as FEATURES
from trainer_ops.gateway import routes as gateway_routes
from trainer_ops.gateway.fastpath import GatewayFastPath
from trainer_ops.gateway.providers import OfflineProvider, OpenAICompatibleProvider, Provider
from trainer_ops.gateway.service import GatewayService
from trainer_ops.governed import fleet_actions
from trainer_ops.health import routes as health_routes
from trainer_ops.health.samples import SampleRing
from trainer_ops.health.service import HealthService
from trainer_ops.http import apidocs, openapi, problems
from trainer_ops.http.accesslog import AccessLog
from trainer_ops.http.context import Edge
from trainer_ops.http.envelope import EnvelopeMiddleware
from trainer_ops.http.fastreads import FastReadsMiddleware, FastRoute
from trainer_ops.http.middleware import EdgeMiddleware
from trainer_ops.http.tracing import trace_requests
from trainer_ops.infra import tracing
from trainer_ops.infra.bus import CHANNEL as RELOAD_CHANNEL
from trainer_ops.infra.bus import Bus, MemoryBus, PostgresBus
from trainer_ops.infra.changes import ChangeListener, NoChangeListener, PostgresChangeListener
from trainer_ops.infra.clock import Clock, SystemClock
from trainer_ops.infra.limiter import CallLimiter
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.periodic import Periodic
from trainer_ops.infra.process import ProcessSampler
from trainer_ops.infra.secrets import write_private
from trainer_ops.infra.sessions import MemorySessionLeases, RedisSessionLeases, SessionLeases
from trainer_ops.limits import routes as limit_routes
from trainer_ops.limits.types import DEFAULT_LIMITS
from trainer_ops.limits.types import KIND as LIMITS
from trainer_ops.modelconfig import routes as model_config_routes
from trainer_ops.modelconfig.types import DEFAULT_MODEL_CONFIG, Catalogs, check_config
from trainer_ops.modelconfig.types import KIND as MODEL_CONFIG
from trainer_ops.places import routes as places_routes
from trainer_ops.places.service import PlacesService, PlaceUse
from trainer_ops.policy import routes as policy_routes
from trainer_ops.policy.service import PolicyEditor
from trainer_ops.policy.types import in_force
from trainer_ops.releases import routes as release_routes
from trainer_ops.releases.service import ReleaseService
from trainer_ops.sync import routes as sync_routes
from trainer_ops.sync.broadcaster import Broadcaster
from trainer_ops.sync.service import SyncService
from trainer_ops.versions.refresher import SnapshotRefresher
from trainer_ops.versions.service import DocumentEditor, DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder

log = logging.getLogger("trainer_ops")
T = TypeVar("T")

POLICY = "policy"
DEFAULT_DOCUMENTS: dict[str, dict[str, Any]] = {
    MODEL_CONFIG: DEFAULT_MODEL_CONFIG,
    FEATURES: DEFAULT_FEATURES,
    LIMITS: DEFAULT_LIMITS,
    POLICY: DEFAULT_POLICY,
    PLACES: EMPTY_PLACES,
}
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
JOIN_WAIT_SECONDS = 5.0


@dataclass
class Ops:
    """Every long-lived service, built once. The CLI uses it too."""

    settings: Settings
    clock: Clock
    database: Database
    audit: AuditService
    tokens: TokenService
    documents: DocumentService
    holder: SnapshotHolder
    refresher: SnapshotRefresher
    model_config: DocumentEditor
    limits: DocumentEditor
    features: FeaturesService
    engines: EngineRegistry
    metrics: RequestMetrics
    sampler: ProcessSampler
    health: HealthService
    authenticator: Authenticator
    writer: BatchWriter
    checkpoints: CheckpointService
    coordinator: ReloadCoordinator
    engine_service: EngineService
    releases: ReleaseService
    gateway: GatewayService
    sync: SyncService
    changes: ChangeListener
    keys: KeyCheck
    fleet: Fleet
    console: ConsoleSessions
    policy_editor: PolicyEditor
    places: PlacesService
    catalogue: PlaceCatalogue
    change_requests: ChangeRequestService = field(init=False)
    # OpenTelemetry (infra/tracing.py): None, tracing is off and nothing of it is installed.
    tracer_provider: TracerProvider | None = None
    _policy: tuple[tuple[int, int], Policy] | None = field(default=None)

    def policy(self) -> Policy:
        """The policy in force: the stored document's operations over the built-in defaults, so an
        operation added by a newer release is governed (deny unless the defaults allow) on old stores."""
        doc = self.holder.current.get(POLICY)
        places = self.catalogue()  # the policy carries the catalogue: `own_scope` needs it (ADR 0023)
        cached = self._policy
        if cached is None or cached[0] != (doc.version, places.version):
            policy = Policy.from_document(in_force(doc.document), version=doc.version, places=places)
            cached = ((doc.version, places.version), policy)
            self._policy = cached
        return cached[1]

    def prepare(self) -> str | None:
        """Migrate, write the defaults a fresh store starts with, load the snapshot. Idempotent.

        Returns the admin token when this call generated one (first start of an empty store).
        Runs under the start lock (ADR 0016): replicas starting at once on an empty store take turns,
        so one migrates and writes the defaults and the others find them written.
        """
        with migrate.start_lock(self.database.engine):
            migrate.upgrade(self.database.engine)
            self.keys.check_or_record()  # before anything writes: a foreign key refuses the start
            self.writer.run(lambda session: self.documents.bootstrap(session, DEFAULT_DOCUMENTS))
            token = self.writer.run(self._bootstrap_admin)
            self.refresher.load()
            self.engine_service.load_active()
        return token

    def _bootstrap_admin(self, session: Session) -> str | None:
        fixed = self.settings.bootstrap_admin_token
        if fixed:
            if not self.tokens.is_registered(session, fixed):
                self.tokens.create(
                    session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="bootstrap-admin", token=fixed
                )
            return None
        if self.tokens.has_any(session):
            return None
        new = self.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="admin")
        # Written before the commit: a token that was never handed out cannot lock the operator out.
        write_private(self.settings.home / "admin-token", new.token + "\n")
        return new.token

    def apply_due_changes(self) -> None:
        try:
            applied = self.change_requests.apply_due()
            if applied:
                log.info("applied %d scheduled change(s)", applied)
        except Exception as exc:  # the store may be away; the next run tries again
            log.warning("scheduled changes not applied: %s", exc)

    def write(self, unit: Callable[[Session], T]) -> T:
        """Run a unit of work in the next group-committed batch (see db/writer.py)."""
        return self.writer.run(unit)

    def checkpoint_if_due(self) -> None:
        try:
            if self.checkpoints.due(
                every_entries=self.settings.audit_checkpoint_every,
                every_seconds=self.settings.audit_checkpoint_seconds,
            ):
                self.checkpoints.make()
        except Exception as exc:  # a failed checkpoint is logged and retried; it must not stop the loop
            log.warning("audit checkpoint failed: %s", exc)

    def fast_routes(self) -> list[FastRoute]:
        def document(kind: str) -> Callable[[], tuple[bytes, int]]:
            def body() -> tuple[bytes, int]:
                doc = self.holder.current.get(kind)
                return doc.body, doc.version

            return body

        return [
            FastRoute("/operator/ops/features", "features.read", lambda: self.features.values_body(None)),
            FastRoute("/operator/ops/model-config", "model_config.read", document(MODEL_CONFIG)),
            FastRoute("/operator/ops/limits", "limits.read", document(LIMITS)),
        ]

    def body_limit(self, method: str, path: str) -> int:
        """Bytes a request body may have: ruleset uploads follow `fileUploadLimitMb`, the rest is JSON."""
        upload = method == "PUT" and path.startswith("/operator/ops/engines/") and "/rulesets/" in path
        # The console's upload form (a file or pasted JSON) is the same upload by another door.
        console_upload = (
            method == "POST" and path.startswith("/console/engines/") and path.endswith("/rulesets")
        )
        if upload or console_upload or (method == "POST" and path == "/v1/files"):
            limits = self.holder.current.documents.get(LIMITS)
            megabytes = (
                limits.document["fileUploadLimitMb"] if limits else DEFAULT_LIMITS["fileUploadLimitMb"]
            )
            return int(megabytes) * 1024 * 1024
        return self.settings.max_json_body_bytes

    def join_fleet(self) -> None:
        """After start: once this replica hears reloads, it counts as a replica that must answer them."""
        if not self.changes.wait_listening(JOIN_WAIT_SECONDS):
            log.warning("not listening for reloads yet; joining the fleet anyway")
        self.fleet.beat(self.sync.held())

    def fleet_heartbeat(self) -> None:
        try:
            self.fleet.beat(self.sync.held())
        except Exception as exc:  # the store may be away; the next beat tries again
            log.warning("fleet heartbeat failed: %s", exc)

    def leave_fleet(self) -> None:
        try:
            self.fleet.leave()
        except Exception as exc:  # the store may be away: the TTL then retires this replica
            log.warning("could not leave the fleet: %s", exc)

    def close(self) -> None:
        self.changes.stop()
        self.coordinator.close()
        self.writer.close()
        self.database.engine.dispose()
        if self.tracer_provider is not None:
            tracing.shutdown(self.tracer_provider)  # the spans still batched go out

    def lookup_token(self, token: str) -> Principal | None:
        with self.database.read() as session:
            return self.tokens.find_principal(session, token)


def build_ops(
    settings: Settings,
    *,
    clock: Clock | None = None,
    call_window_seconds: int = 60,
    tracer_provider: TracerProvider | None = None,
) -> Ops:
    """Every long-lived service. `call_window_seconds` is the window `aiCallsPerMinute` is counted
    over: a minute, which tests shorten to see a refused call allowed again. Traces go to
    `tracer_provider`, or where the standard OTEL_* variables say (none unless they do; ADR 0029)."""
    clock = clock or SystemClock()
    tracer_provider = tracer_provider or tracing.provider_from_env(os.environ)
    database = make_database(settings)
    if tracer_provider is not None:
        tracing.trace_store(tracer_provider, [database.engine, database.write_engine])
    keys = KeyCheck(database=database, keys=load_keys(settings), clock=clock)
    mac_key = keys.keys.mac_key
    audit = AuditService(clock=clock, mac_key=mac_key.encode())
    writer = BatchWriter(
        database,
        hooks=audit,
        tracing=tracing.WriterSpans(tracer_provider, db_system=database.write_engine.dialect.name)
        if tracer_provider is not None
        else None,
    )
    checkpoints = CheckpointService(
        database=database,
        clock=clock,
        mac_key=mac_key.encode(),
        signing_key=keys.keys.signing_key,
        trusted_keys=keys.trusted_signing_keys,
    )
    # Limits gained maxSessionsPerUser after stores existed: older versions read it as its default.
    documents = DocumentService(audit=audit, clock=clock, field_defaults={LIMITS: DEFAULT_LIMITS})
    holder = SnapshotHolder()
    catalogs = Catalogs.with_extra_models(settings.models)
    metrics = RequestMetrics(window_seconds=settings.metrics_window_seconds)
    sampler = ProcessSampler()
    engines = EngineRegistry(load_engine_types())
    # Reload commands and answers between replicas: PostgreSQL NOTIFY where replicas share a store and
    # listen to it, else this process alone (ADR 0019).
    notified = settings.change_notifications and not database.is_sqlite
    bus: Bus = PostgresBus(database.engine, guard=database.guarded) if notified else MemoryBus()
    if not notified and not database.is_sqlite:
        log.warning(
            "TRAINER_OPS_CHANGE_NOTIFICATIONS is off: each replica decides hot reloads alone and hears "
            "changes only at its poll; keep it on for a fleet (docs/deploy.md)"
        )
    fleet = Fleet(database=database, bus=bus, clock=clock, ttl_seconds=settings.instance_ttl_seconds)
    engines.name_local(fleet.replica_id)
    if fleet.shared:
        engines.set_epochs(fleet.next_epoch)
    coordinator = ReloadCoordinator(
        engines,
        bus=bus,
        replica_id=fleet.replica_id,
        peers=fleet.peers,
        deadline_seconds=settings.reload_deadline_seconds,
        tracer=tracer_provider.get_tracer("trainer_ops.reload") if tracer_provider else None,
    )

    def system_reload() -> dict[str, Any]:
        refresher.refresh()
        return {"documents": holder.current.versions()}

    catalogue = PlaceCatalogue(lambda: _places_of(holder))
    # Feature values at a place inherit from its parents in the catalogue (ADR 0027).
    features = FeaturesService(
        database=database, writer=writer, documents=documents, holder=holder, places=catalogue
    )
    sessions: SessionLeases = (
        RedisSessionLeases(settings.redis_url, prefix=settings.redis_prefix)
        if settings.redis_url
        else MemorySessionLeases()
    )
    provider: Provider = (
        OpenAICompatibleProvider(
            settings.upstream_url,
            settings.upstream_api_key,
            timeout_seconds=settings.upstream_timeout_seconds,
            on_timeout=metrics.count_timeout,
            tracer_provider=tracer_provider,
        )
        if settings.upstream_url
        else OfflineProvider()
    )
    engine_service = EngineService(
        database=database,
        writer=writer,
        audit=audit,
        registry=engines,
        coordinator=coordinator,
        clock=clock,
        system_reload=system_reload,
        fleet_lock=fleet.lock,
    )
    refresher = SnapshotRefresher(
        database=database, documents=documents, holder=holder, kinds=list(DEFAULT_DOCUMENTS)
    )
    jwt_secret = keys.keys.jwt_secret
    changes: ChangeListener = NoChangeListener()
    if isinstance(bus, PostgresBus):
        dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        changes = PostgresChangeListener(
            dsn,
            refresher.refresh,
            own=database.backend_pids.__contains__,
            channels={RELOAD_CHANNEL: bus.deliver},
        )
    engines.places = catalogue  # scoped activations resolve an instance's place through it (ADR 0025)
    tokens = TokenService(audit=audit, clock=clock, places=catalogue)
    authenticator = Authenticator(
        lookup=None,
        jwt_secret=jwt_secret,
        jwks_url=settings.jwt_jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        cache_seconds=settings.token_cache_seconds,
        places=catalogue,
    )

    def token_uses(session: Session) -> list[PlaceUse]:
        return [
            PlaceUse(f"token of user {user}", region, country, branch)
            for user, region, country, branch in tokens.live_places(session)
        ]

    def override_uses(session: Session) -> list[PlaceUse]:
        loaded = documents.load(session, [FEATURES])
        overrides = loaded[0].document.get("overrides", {}) if loaded else {}
        # Overrides are kept by place code, of any level (ADR 0027).
        return [PlaceUse(f"feature overrides at {code}", code=code) for code in overrides]

    def activation_uses(session: Session) -> list[PlaceUse]:
        # A place with a scoped activation runs its own ruleset: removing it would strand it (ADR 0025).
        return [
            PlaceUse(f"{engine} activation at {code}", code=code)
            for engine, code in engine_service.scoped_uses(session)
        ]

    ops = Ops(
        settings=settings,
        clock=clock,
        database=database,
        audit=audit,
        tokens=tokens,
        documents=documents,
        holder=holder,
        refresher=refresher,
        model_config=DocumentEditor(
            kind=MODEL_CONFIG,
            target="model-config",
            database=database,
            writer=writer,
            documents=documents,
            holder=holder,
            check=lambda config: check_config(config, catalogs),
        ),
        limits=DocumentEditor(
            kind=LIMITS,
            target="limits",
            database=database,
            writer=writer,
            documents=documents,
            holder=holder,
        ),
        features=features,
        engines=engines,
        metrics=metrics,
        sampler=sampler,
        health=HealthService(
            metrics=metrics,
            sampler=sampler,
            engines=engines,
            store_ok=lambda: refresher.store_ok(max_age=max(10.0, 3 * settings.snapshot_poll_seconds)),
            probe_store=refresher.probe,
            slow_endpoint_ms=settings.slow_endpoint_ms,
            samples=SampleRing(clock=clock, every_seconds=settings.overview_sample_seconds),
        ),
        authenticator=authenticator,
        writer=writer,
        checkpoints=checkpoints,
        coordinator=coordinator,
        engine_service=engine_service,
        gateway=GatewayService(
            holder=holder,
            features=features,
            tones=catalogs.tones,
            limiter=CallLimiter(
                settings.redis_url, prefix=settings.redis_prefix, window_seconds=call_window_seconds
            ),
            sessions=sessions,
            provider=provider,
            writer=writer,
            audit=audit,
            session_idle_seconds=settings.session_idle_seconds,
            log_prompts=settings.audit_prompts,
        ),
        sync=SyncService(
            holder=holder,
            registry=engines,
            broadcaster=Broadcaster(),
            fleet=fleet,
            participant=coordinator.participant,
        ),
        changes=changes,
        keys=keys,
        fleet=fleet,
        console=ConsoleSessions(
            database=database,
            writer=writer,
            audit=audit,
            tokens=tokens,
            authenticator=authenticator,
            clock=clock,
            session_seconds=settings.console_session_seconds,
        ),
        policy_editor=PolicyEditor(
            database=database,
            writer=writer,
            documents=documents,
            holder=holder,
            engine_types=engines.names(),
        ),
        releases=ReleaseService(
            database=database,
            writer=writer,
            audit=audit,
            engines=engine_service,
            documents=documents,
            holder=holder,
            clock=clock,
        ),
        places=PlacesService(
            database=database,
            writer=writer,
            documents=documents,
            holder=holder,
            uses=[token_uses, override_uses, activation_uses],
        ),
        catalogue=catalogue,
        tracer_provider=tracer_provider,
    )
    ops.authenticator.set_lookup(ops.lookup_token)
    refresher.also.append(engine_service.sync_from_store)
    ops.change_requests = ChangeRequestService(
        database=database,
        writer=writer,
        audit=audit,
        documents=documents,
        holder=holder,
        clock=clock,
        policy=ops.policy,
        targets=_governed_writes(ops),
        actions=fleet_actions(ops.engine_service, ops.releases),
    )
    return ops


def _governed_writes(ops: Ops) -> dict[str, Target]:
    """Each document write a change request can hold, by policy operation: the same pure rule its route
    runs (ADR 0026). Reloads and releases are fleet operations: `governed.fleet_actions`."""
    return {
        "features.create": lambda _s, current, body, _p: ops.features.creation_of(
            current, body["key"], {k: v for k, v in body.items() if k != "key"}
        ),
        "model_config.update": lambda _s, current, body, _p: ops.model_config.change_of(current, body),
        "limits.update": lambda _s, current, body, _p: ops.limits.change_of(current, body),
        # `region` is what change requests stored before overrides by place (ADR 0027) call the place.
        "features.update": lambda _s, current, body, p: ops.features.change_of(
            current, p["featureKey"], p.get("place", p.get("region")), body
        ),
        "policy.update": lambda _s, current, body, _p: ops.policy_editor.change_of(current, body),
        "places.update": lambda session, current, body, _p: ops.places.change_of(session, current, body),
    }


def _places_of(holder: SnapshotHolder) -> tuple[int, dict[str, Any]] | None:
    """The catalogue in the snapshot (None before the store is loaded: codes are checked for shape)."""
    doc = holder.current.documents.get(PLACES)
    return (doc.version, doc.document) if doc is not None else None


def create_app(settings: Settings, *, ops: Ops | None = None) -> FastAPI:
    ops = ops or build_ops(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ops.prepare)
        await run_in_threadpool(ops.apply_due_changes)  # what came due while no replica ran
        ops.changes.start()
        await run_in_threadpool(ops.join_fleet)
        jobs = Periodic()

        async def heartbeat() -> None:
            await run_in_threadpool(ops.fleet_heartbeat)

        async def orphans() -> None:
            await run_in_threadpool(ops.engine_service.settle_orphans)

        jobs.every(settings.instance_ttl_seconds / 3, heartbeat)
        jobs.every(1.0, orphans)
        if settings.snapshot_poll_seconds > 0:

            async def refresh() -> None:
                await run_in_threadpool(ops.refresher.refresh)

            jobs.every(settings.snapshot_poll_seconds, refresh)

        async def sample() -> None:
            ops.sampler.sample()

        jobs.every(SAMPLE_SECONDS, sample)

        async def vitals() -> None:  # the Overview's charts: in memory, no I/O, so on the loop
            ops.health.live.record()

        jobs.every(settings.overview_sample_seconds, vitals)

        async def checkpoint() -> None:
            await run_in_threadpool(ops.checkpoint_if_due)

        jobs.every(1.0, checkpoint)

        async def purge_console_sessions() -> None:
            await run_in_threadpool(ops.console.purge_expired)

        jobs.every(settings.console_purge_seconds, purge_console_sessions)

        async def scheduled_changes() -> None:
            await run_in_threadpool(ops.apply_due_changes)

        jobs.every(SCHEDULE_SECONDS, scheduled_changes)
        try:
            yield
        finally:
            await jobs.stop()  # before the store closes: a running job finishes first
            await run_in_threadpool(ops.leave_fleet)
            await ops.gateway.aclose()
            ops.close()
            log.info("trainer-ops stopped")  # the ordered shutdown ran to its end

    app = FastAPI(
        title=TITLE,
        version=VERSION,
        summary=SUMMARY,
        lifespan=lifespan,
        # /docs and /redoc are ours (http/apidocs.py): FastAPI's load Swagger UI and ReDoc from a CDN.
        docs_url=None,
        redoc_url=None,
        # Prometheus /metrics is ours; FastAPI's OpenTelemetry hooks cost 15-30 us on every request
        # (bench/README.md) and nothing here exports to OpenTelemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
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
    app.openapi = lambda: _served_document(app)  # type: ignore[method-assign]
    return app


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
