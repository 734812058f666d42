"""`Ops`: every long-lived service of the process, built once (app/build.py); the web app and the CLI
both run on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.trace import TracerProvider
from sqlalchemy.orm import Session

from trainer_ops.access.places import EMPTY_PLACES, PlaceCatalogue
from trainer_ops.access.places import KIND as PLACES
from trainer_ops.access.service import Authenticator, TokenService
from trainer_ops.access.types import DEFAULT_POLICY, Policy, Principal, Role
from trainer_ops.audit.checkpoints import CheckpointService
from trainer_ops.audit.keys.service import KeyCheck
from trainer_ops.audit.service import AuditService
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.changerequests.service import ChangeRequestService
from trainer_ops.config import Settings
from trainer_ops.console.service import ConsoleSessions
from trainer_ops.db import migrate
from trainer_ops.db.engine import Database
from trainer_ops.db.writer import BatchWriter
from trainer_ops.engines.fleet import Fleet
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import ReloadCoordinator
from trainer_ops.engines.service import EngineService
from trainer_ops.features.service import FeaturesService
from trainer_ops.features.types import DEFAULT_FEATURES
from trainer_ops.features.types import KIND as FEATURES
from trainer_ops.gateway.service import GatewayService
from trainer_ops.health.service import HealthService
from trainer_ops.http.fastreads import FastRoute
from trainer_ops.infra import tracing
from trainer_ops.infra.changes import ChangeListener
from trainer_ops.infra.clock import Clock
from trainer_ops.infra.metrics import RequestMetrics
from trainer_ops.infra.process import ProcessSampler
from trainer_ops.infra.secrets import write_private
from trainer_ops.limits.types import DEFAULT_LIMITS
from trainer_ops.limits.types import KIND as LIMITS
from trainer_ops.modelconfig.types import DEFAULT_MODEL_CONFIG
from trainer_ops.modelconfig.types import KIND as MODEL_CONFIG
from trainer_ops.places.service import PlacesService
from trainer_ops.policy.service import PolicyEditor
from trainer_ops.policy.types import in_force
from trainer_ops.releases.service import ReleaseService
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
