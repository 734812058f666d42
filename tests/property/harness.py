"""The service under test, built once per module, and what every example must satisfy.

State is fingerprinted from the store (every table but the fleet's heartbeats), the in-memory snapshot,
the active rulesets and the open sessions; audit entries are read past the newest seq seen before.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from gateway.upstream import FakeUpstream  # tests/gateway: the fake OpenAI-compatible server
from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

from .asgi import Reply, request

ADMIN_TOKEN = "tops_props-admin-token-0123456789abcdef"
PROXY = ("10.9.8.7", 40000)  # the trusted proxy of the identity headers
# Refusals the design audits as `predict`: the call got past authorization and parsing (ADR 0013).
AUDITED_GATEWAY_REFUSALS = frozenset(
    {"gateway.session_unknown", "gateway.feature_off", "gateway.rate_limited"}
)
# 5xx answers that are documented states, not faults: a version no write has made yet (ADR 0018; its
# wait is cut to nothing here) and AI calls switched off by a model config a fuzzed PATCH may set.
DOCUMENTED_5XX = frozenset({"versions.not_yet", "gateway.disabled"})
# Tables a background job writes to (heartbeats), not any request.
UNTRACKED_TABLES = frozenset({"fleet_replicas", "audit_entries", "alembic_version"})
# Columns the fleet heartbeat rewrites on its own clock (which replica holds an instance, when it was
# seen): a change there is no request's doing, and under load it lands between two fingerprints.
HEARTBEAT_COLUMNS = {"engine_instances": "instance_id, user_id, engines, attached_at_ms"}


@dataclass
class Service:
    ops: Ops
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    mode: str = "routes"
    # The state after the last refused request (which must equal the state before it): the next
    # example starts from it without reading the store again. Any other answer forgets it.
    known: tuple[str, int] | None = None

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        kwargs.setdefault("peer", PROXY)
        self.known = None
        return request(self.client, method, path, **kwargs)

    def before(self) -> tuple[str, int]:
        """The state before the next request (see `known`)."""
        return self.known or self.fingerprint()

    def bearer(self, role: str) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", f"Bearer {self.tokens[role]}".encode())]

    def settle(self) -> None:
        """Wait until every audit entry submitted without waiting (gateway calls) is committed: the
        writer runs its queue in order, so an empty unit returns after them."""
        self.ops.writer.run(lambda session: None)

    def fingerprint(self) -> tuple[str, int]:
        """(a digest of everything a request may change, the newest audit seq)."""
        self.settle()
        digest = hashlib.sha256()
        with self.ops.database.read() as session:
            names = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars()
            for name in sorted(set(names) - UNTRACKED_TABLES):
                columns = HEARTBEAT_COLUMNS.get(name, "*")
                rows = session.execute(text(f'SELECT {columns} FROM "{name}" ORDER BY 1')).all()
                digest.update(f"{name}:{rows!r}".encode())
            seq = session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_entries")).scalar_one()
        digest.update(repr(sorted(self.ops.holder.current.versions().items())).encode())
        digest.update(repr(sorted(self.ops.engines.active().items())).encode())
        digest.update(repr(self.client.portal.call(self.ops.gateway.sessions.count)).encode())  # type: ignore[union-attr]
        return digest.hexdigest(), int(seq)

    def audit_after(self, seq: int) -> list[tuple[str, str]]:
        """(action, outcome) of every entry newer than `seq` (once the gateway's entries are in)."""
        self.settle()
        with self.ops.database.read() as session:
            rows = session.execute(
                text("SELECT action, body FROM audit_entries WHERE seq > :seq ORDER BY seq"), {"seq": seq}
            ).all()
        return [(action, str(json.loads(body).get("outcome", ""))) for action, body in rows]


@contextmanager
def started(mode: str) -> Iterator[Service]:
    """The app on a SQLite store of its own, its gateway calling a fake model server (where a call's
    payload is serialised: the offline provider never writes it). mode "routes": no token cache, so
    every request is routed; "fast": tokens are cached, so known callers take the fast paths
    (http/fastreads.py, gateway/fastpath.py) after their first request."""
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="props-")))
        upstream = FakeUpstream().start()
        stack.callback(upstream.stop)
        settings = Settings(
            home=home / ".trainer-ops",
            database_url=f"sqlite:///{home / 'store.db'}",
            bootstrap_admin_token=ADMIN_TOKEN,
            snapshot_poll_seconds=0,
            change_notifications=False,
            token_cache_seconds=60 if mode == "fast" else 0,
            trusted_proxies=PROXY[0],
            audit_checkpoint_every=1_000_000,
            audit_checkpoint_seconds=1_000_000,
            upstream_url=upstream.url,
            upstream_timeout_seconds=5.0,
            # A minVersion past the store's newest is 504 after this wait (ADR 0018); a fuzzed one
            # should not cost 3 s each, and the answer is the same without the wait.
            min_version_wait_seconds=0,
        )
        ops = build_ops(settings)
        stack.callback(ops.close)
        client = stack.enter_context(TestClient(create_app(settings, ops=ops)))
        service = Service(ops=ops, client=client, mode=mode)
        service.tokens = {"admin": ADMIN_TOKEN, **_tokens(ops)}
        # No example may be refused for calling too often: the limiter is not what is under test.
        ops.limits.update(
            principal=Principal("props-setup", Role.ADMIN),
            changes={"aiCallsPerMinute": 100_000},
            if_match=None,
            request_id="props",
        )
        if mode == "fast":
            for role in service.tokens:  # each token's first request puts it in the cache
                service.call("GET", "/operator/ops/health", headers=service.bearer(role))
        yield service


def _tokens(ops: Ops) -> dict[str, str]:
    scopes: dict[str, dict[str, Any]] = {
        "service": {},
        "region": {"region": "EU"},
        "country": {"region": "EU", "country": "DE"},
        "branch": {"region": "EU", "country": "DE", "branch": "B-1"},
    }

    def create(role: str, scope: dict[str, Any]) -> str:
        return ops.write(
            lambda session: ops.tokens.create(
                session, actor=SYSTEM_ACTOR, role=Role(role), user_id=f"{role}-user", **scope
            )
        ).token

    return {role: create(role, scope) for role, scope in scopes.items()}
