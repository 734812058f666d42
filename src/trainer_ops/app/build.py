"""`build_ops`: the service composition root. Every long-lived service is built here once, from
Settings, and wired to the others; `create_app` (app/web.py) and the CLI run on what it builds."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from opentelemetry.trace import TracerProvider
from sqlalchemy.orm import Session

from trainer_ops.access.places import KIND as PLACES
from trainer_ops.access.places import PlaceCatalogue
from trainer_ops.access.service import Authenticator, TokenService
from trainer_ops.app.ops import DEFAULT_DOCUMENTS, Ops
from trainer_ops.audit.checkpoints import CheckpointService
from trainer_ops.audit.keys.service import KeyCheck
from trainer_ops.audit.keys.sources import load_keys
from trainer_ops.audit.service import AuditService
from trainer_ops.changerequests.documents import Target
from trainer_ops.changerequests.service import ChangeRequestService
from trainer_ops.config import Settings
from trainer_ops.console.service import ConsoleSessions
from trainer_ops.db.engine import Database, make_database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.fleet import Fleet
from trainer_ops.engines.plugins import load_engine_types
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import ReloadCoordinator
from trainer_ops.engines.service import EngineService
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import KIND as FEATURES
from trainer_ops.gateway.providers import OfflineProvider, OpenAICompatibleProvider, Provider
from trainer_ops.gateway.service import GatewayService
from trainer_ops.governed import fleet_actions
from trainer_ops.health.samples import SampleRing
from trainer_ops.health.service import HealthService
from trainer_ops.infra import tracing
from trainer_ops.infra.bus import CHANNEL as RELOAD_CHANNEL
from trainer_ops.infra.bus import Bus, MemoryBus, PostgresBus
from trainer_ops.infra.changes import ChangeListener, NoChangeListener, PostgresChangeListener
from trainer_ops.infra.clock import Clock, SystemClock
from trainer_ops.infra.limiter import CallLimiter
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler
from trainer_ops.infra.sessions import MemorySessionLeases, RedisSessionLeases, SessionLeases
from trainer_ops.limits.types import DEFAULT_LIMITS
from trainer_ops.limits.types import KIND as LIMITS
from trainer_ops.modelconfig.types import KIND as MODEL_CONFIG
from trainer_ops.modelconfig.types import Catalogs, check_config
from trainer_ops.places.service import PlacesService, PlaceUse
from trainer_ops.policy.service import PolicyEditor
from trainer_ops.releases.service import ReleaseService
from trainer_ops.sync.broadcaster import Broadcaster
from trainer_ops.sync.service import SyncService
from trainer_ops.versions.refresher import SnapshotRefresher
from trainer_ops.versions.service import DocumentEditor, DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder

log = logging.getLogger("trainer_ops")


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
    store = _store(settings, clock, tracer_provider)
    database, writer, audit, documents = store.database, store.writer, store.audit, store.documents
    holder = SnapshotHolder()
    catalogs = Catalogs.with_extra_models(settings.models)
    metrics = RequestMetrics(window_seconds=settings.metrics_window_seconds)
    sampler = ProcessSampler()
    refresher = SnapshotRefresher(
        database=database, documents=documents, holder=holder, kinds=list(DEFAULT_DOCUMENTS)
    )
    fleet = _fleet(settings, database, clock, tracer_provider)
    catalogue = PlaceCatalogue(lambda: _places_of(holder))
    fleet.engines.places = catalogue  # scoped activations resolve an instance's place (ADR 0025)
    # Feature values at a place inherit from its parents in the catalogue (ADR 0027).
    features = FeaturesService(
        database=database, writer=writer, documents=documents, holder=holder, places=catalogue
    )

    def system_reload() -> dict[str, Any]:
        refresher.refresh()
        return {"documents": holder.current.versions()}

    engine_service = EngineService(
        database=database,
        writer=writer,
        audit=audit,
        registry=fleet.engines,
        coordinator=fleet.coordinator,
        clock=clock,
        system_reload=system_reload,
        fleet_lock=fleet.fleet.lock,
    )
    tokens = TokenService(audit=audit, clock=clock, places=catalogue)
    authenticator = _authenticator(settings, store.keys, catalogue)
    editors = _Editing(database=database, writer=writer, documents=documents, holder=holder)
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
            check=lambda config: check_config(config, catalogs),
            **editors,
        ),
        limits=DocumentEditor(kind=LIMITS, target="limits", **editors),
        features=features,
        engines=fleet.engines,
        metrics=metrics,
        sampler=sampler,
        health=_health(settings, clock, metrics, sampler, fleet.engines, refresher),
        authenticator=authenticator,
        writer=writer,
        checkpoints=store.checkpoints,
        coordinator=fleet.coordinator,
        engine_service=engine_service,
        gateway=_gateway(
            settings, store, holder, features, catalogs, metrics, call_window_seconds, tracer_provider
        ),
        sync=SyncService(
            holder=holder,
            registry=fleet.engines,
            broadcaster=Broadcaster(),
            fleet=fleet.fleet,
            participant=fleet.coordinator.participant,
        ),
        changes=_change_listener(fleet.bus, database, refresher),
        keys=store.keys,
        fleet=fleet.fleet,
        console=ConsoleSessions(
            audit=audit,
            tokens=tokens,
            authenticator=authenticator,
            clock=clock,
            session_seconds=settings.console_session_seconds,
            database=database,
            writer=writer,
        ),
        policy_editor=PolicyEditor(engine_types=fleet.engines.names(), **editors),
        releases=ReleaseService(audit=audit, engines=engine_service, clock=clock, **editors),
        places=PlacesService(uses=_place_uses(tokens, documents, engine_service), **editors),
        catalogue=catalogue,
        tracer_provider=tracer_provider,
    )
    ops.authenticator.set_lookup(ops.lookup_token)
    refresher.also.append(engine_service.sync_from_store)
    ops.change_requests = ChangeRequestService(
        audit=audit,
        clock=clock,
        policy=ops.policy,
        targets=_governed_writes(ops),
        actions=fleet_actions(ops.engine_service, ops.releases),
        **editors,
    )
    return ops


class _Editing(TypedDict):
    """What every service that edits a versioned document is built with."""

    database: Database
    writer: BatchWriter
    documents: DocumentService
    holder: SnapshotHolder


@dataclass(frozen=True)
class _Store:
    """The store and what writes to it."""

    database: Database
    keys: KeyCheck
    audit: AuditService
    writer: BatchWriter
    checkpoints: CheckpointService
    documents: DocumentService


def _store(settings: Settings, clock: Clock, tracer_provider: TracerProvider | None) -> _Store:
    database = make_database(settings)
    if tracer_provider is not None:
        tracing.trace_store(tracer_provider, [database.engine, database.write_engine])
    keys = KeyCheck(database=database, keys=load_keys(settings), clock=clock)
    mac_key = keys.keys.mac_key.encode()
    audit = AuditService(clock=clock, mac_key=mac_key)
    spans = None  # the writer's batches as spans, when tracing is on (ADR 0029)
    if tracer_provider is not None:
        spans = tracing.WriterSpans(tracer_provider, db_system=database.write_engine.dialect.name)
    writer = BatchWriter(database, hooks=audit, tracing=spans)
    checkpoints = CheckpointService(
        database=database,
        clock=clock,
        mac_key=mac_key,
        signing_key=keys.keys.signing_key,
        trusted_keys=keys.trusted_signing_keys,
    )
    # Limits gained maxSessionsPerUser after stores existed: older versions read it as its default.
    documents = DocumentService(audit=audit, clock=clock, field_defaults={LIMITS: DEFAULT_LIMITS})
    return _Store(database, keys, audit, writer, checkpoints, documents)


@dataclass(frozen=True)
class _Fleet:
    """This process's engines and the fleet of replicas they reload with."""

    engines: EngineRegistry
    bus: Bus
    fleet: Fleet
    coordinator: ReloadCoordinator


def _fleet(
    settings: Settings, database: Database, clock: Clock, tracer_provider: TracerProvider | None
) -> _Fleet:
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
    return _Fleet(engines, bus, fleet, coordinator)


def _authenticator(settings: Settings, keys: KeyCheck, catalogue: PlaceCatalogue) -> Authenticator:
    return Authenticator(
        lookup=None,
        jwt_secret=keys.keys.jwt_secret,
        jwks_url=settings.jwt_jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        cache_seconds=settings.token_cache_seconds,
        places=catalogue,
    )


def _change_listener(bus: Bus, database: Database, refresher: SnapshotRefresher) -> ChangeListener:
    """Where replicas share a store and hear each other (a PostgreSQL bus), the listener for its
    change notifications and reload messages; else none."""
    if not isinstance(bus, PostgresBus):
        return NoChangeListener()
    dsn = database.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return PostgresChangeListener(
        dsn,
        refresher.refresh,
        own=database.backend_pids.__contains__,
        channels={RELOAD_CHANNEL: bus.deliver},
    )


def _health(
    settings: Settings,
    clock: Clock,
    metrics: RequestMetrics,
    sampler: ProcessSampler,
    engines: EngineRegistry,
    refresher: SnapshotRefresher,
) -> HealthService:
    return HealthService(
        metrics=metrics,
        sampler=sampler,
        engines=engines,
        store_ok=lambda: refresher.store_ok(max_age=max(10.0, 3 * settings.snapshot_poll_seconds)),
        probe_store=refresher.probe,
        slow_endpoint_ms=settings.slow_endpoint_ms,
        samples=SampleRing(clock=clock, every_seconds=settings.overview_sample_seconds),
    )


def _gateway(
    settings: Settings,
    store: _Store,
    holder: SnapshotHolder,
    features: FeaturesService,
    catalogs: Catalogs,
    metrics: RequestMetrics,
    call_window_seconds: int,
    tracer_provider: TracerProvider | None,
) -> GatewayService:
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
    return GatewayService(
        holder=holder,
        features=features,
        tones=catalogs.tones,
        limiter=CallLimiter(
            settings.redis_url, prefix=settings.redis_prefix, window_seconds=call_window_seconds
        ),
        sessions=sessions,
        provider=provider,
        writer=store.writer,
        audit=store.audit,
        session_idle_seconds=settings.session_idle_seconds,
        log_prompts=settings.audit_prompts,
    )


def _place_uses(
    tokens: TokenService, documents: DocumentService, engine_service: EngineService
) -> list[Callable[[Session], list[PlaceUse]]]:
    """What still uses a place, so the catalogue refuses to remove it (ADR 0023)."""

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

    return [token_uses, override_uses, activation_uses]


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
