"""Settings: read once from the environment (TRAINER_OPS_*) in an entry point and passed down."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> tuple[Network, ...]:
    """Addresses or CIDR blocks, comma-separated ("10.0.0.5, 10.1.0.0/16")."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINER_OPS_", extra="ignore")

    # Where secret files live (mode 0600). The embedded store is ./trainer-ops.db unless database_url says.
    home: Path = Path(".trainer-ops")
    database_url: str = ""
    redis_url: str = ""
    # Prefix of every Redis key, so several deployments (or test runs) can share one Redis.
    redis_prefix: str = "trainer-ops"

    # Store timeouts (ADR 0016). No caller waits for the store longer than store_timeout_seconds: a
    # write answers 503 store.unavailable, a read or /readyz fails, and a store call that gets no answer
    # for 90 % of it is given up on (its connection closed), so no thread waits forever. The others act
    # below it, on PostgreSQL: connecting (libpq counts whole seconds, at least 2), and the server's own
    # statement and lock timeouts. The lock timeout is SQLite's busy_timeout too.
    store_timeout_seconds: float = Field(3.0, gt=0)
    store_connect_timeout_seconds: float = Field(2.0, gt=0)
    store_statement_timeout_seconds: float = Field(2.5, gt=0)
    store_lock_timeout_seconds: float = Field(2.0, gt=0)

    host: str = "127.0.0.1"
    port: int = 8080

    # Graceful shutdown (`serve`, ADR 0018). On SIGTERM /readyz answers 503, the server stops accepting,
    # streams are told to reconnect, in-flight requests get three quarters of this to finish and the
    # ordered shutdown the rest: the process has exited after this long at the latest.
    shutdown_seconds: float = Field(10.0, gt=0)

    # Tokens. A bootstrap admin token set here is registered on first start instead of a generated one.
    bootstrap_admin_token: str = ""
    jwt_secret: str = ""
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    token_cache_seconds: float = 5.0
    # Step 1's identity headers (X-User-Id, X-Role, X-Scope) are believed only on connections from these
    # addresses or CIDR blocks, comma-separated (a gateway that authenticated the user). Empty: off.
    trusted_proxies: str = ""
    # How long a console sign-in lasts (never longer than the JWT it was made from). 8 h: a working day.
    console_session_seconds: float = Field(8 * 3600, gt=0)
    # How often each replica deletes expired console sessions (one indexed DELETE; idempotent).
    console_purge_seconds: float = Field(300, gt=0)

    # The audit log's MAC key; by default a file under `home`, never in the store.
    audit_mac_key: str = ""
    # Signed checkpoints: one every N entries or T seconds (when there are new entries), and on demand.
    audit_checkpoint_every: int = 1000
    audit_checkpoint_seconds: float = 60.0

    # Keys every replica shares (ADR 0017): the audit MAC key (audit_mac_key above), the checkpoint
    # signing key (Ed25519, PKCS#8 PEM) and the JWT secret (jwt_secret above), each given as a value or
    # as the path of a file holding it (a secret store's or a Kubernetes Secret's mount), never both.
    # Without either, a file under `home`, made on the store's first start. The store records their
    # fingerprints and a replica with another key refuses to start.
    audit_mac_key_file: str = ""
    audit_signing_key: str = ""
    audit_signing_key_file: str = ""
    jwt_secret_file: str = ""
    # Verifier keys (origin+keyid+base64, comma-separated) of retired signing keys. Naming the store's
    # current one here while giving a new signing key rotates to the new key at start.
    audit_verify_keys: str = ""

    # Hot reload: how long every instance has to ACK before the reload is rolled back.
    reload_deadline_seconds: float = 5.0
    # The fleet (ADR 0019): a replica, or an engine instance's binding to its user, not seen for this long
    # no longer counts. Replicas refresh theirs every third of it.
    instance_ttl_seconds: float = Field(15.0, gt=0)

    # AI gateway. Without an upstream URL the built-in offline provider answers (no network).
    upstream_url: str = ""
    upstream_api_key: str = ""
    upstream_timeout_seconds: float = 60.0
    session_idle_seconds: float = 900.0
    # Audit prompt text with each gateway call (off: metadata only).
    audit_prompts: bool = False

    # Step 1 compatibility: "bare" (Step 10's bodies) or "step1" (the Foundation envelope) by default;
    # a request chooses for itself with the header `X-Envelope: step1`.
    envelope: Literal["bare", "step1"] = "bare"

    # Logs (README, "Logs and traces"). `serve` writes one access log line per request to stdout (off:
    # none), and the service's own messages to stderr from log_level up; both in log_format.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True

    # HTTP edge.
    max_json_body_bytes: int = 1_048_576
    slow_endpoint_ms: float = 500.0
    metrics_window_seconds: int = 300
    # How often this replica records a sample for the console Overview's charts (an hour is kept).
    overview_sample_seconds: float = Field(10.0, ge=0.5, le=300)
    # How long a read with `minVersion` waits for a version the store does not have yet (then 504).
    min_version_wait_seconds: float = Field(3.0, ge=0, le=60)

    # How often a replica checks the store for changes made elsewhere (another replica, the CLI).
    # 0 disables the check (single process, every change made through this process).
    snapshot_poll_seconds: float = 1.0
    # PostgreSQL: LISTEN for the NOTIFY every committed change sends (migration 0004) and reload at once;
    # the poll above stays as the safety net. Ignored on SQLite.
    change_notifications: bool = True

    # Extra models for the model catalog: {"name": maxTokensCeiling}.
    models: dict[str, int] = Field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL; PostgreSQL URLs are pinned to the psycopg 3 driver."""
        url = self.database_url or "sqlite:///trainer-ops.db"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value  # INFO as info, JSON as json

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_networks(value)  # a bad address fails at start, naming itself
        return value
