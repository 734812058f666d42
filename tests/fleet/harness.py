"""A fleet as production runs it: N `trainer-ops serve` processes on one new, empty PostgreSQL database
and one Redis (a key prefix of their own), behind HAProxy (round robin, no stickiness). Each replica has
its own home and working directory, as separate containers would; the secrets reach every replica
through the environment, as docs/deploy.md says.

No pytest in here, so a script can use it too:

    with Fleet(size=3) as fleet:
        httpx.get(f"{fleet.lb_url}/readyz")

Everything listens on 127.0.0.1, every wait is bounded, and `close()` removes everything it made (the
processes, the database, the Redis keys, the temporary directory), also after a failed start.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psycopg
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer_ops.config import Settings

from .haproxy import LoadBalancer, haproxy_binary
from .replica import TRAINER_OPS, FleetError, Replica, free_ports

PG_ADMIN_DSN = os.environ.get("TRAINER_OPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class FleetSecrets:
    """What every replica must share: the bootstrap admin token, the audit MAC key, the JWT secret and
    the checkpoint signing key (Ed25519, PKCS#8 PEM)."""

    admin_token: str
    mac_key: str
    jwt_secret: str
    signing_key_pem: str

    @classmethod
    def generate(cls) -> FleetSecrets:
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls(
            admin_token=f"tops_fleet-{secrets.token_hex(16)}",
            mac_key=secrets.token_urlsafe(32),
            jwt_secret=secrets.token_urlsafe(32),
            signing_key_pem=pem.decode(),
        )


class Fleet:
    """`size` replicas, optionally behind HAProxy. Not started until `start()` (or `with`)."""

    def __init__(
        self,
        *,
        size: int = 3,
        load_balancer: bool = True,
        env: Mapping[str, str] | None = None,
        pg_admin_dsn: str = PG_ADMIN_DSN,
        redis_url: str = REDIS_URL,
    ) -> None:
        # A short path of our own, not pytest's: HAProxy's admin socket lives in it.
        self.root = Path(tempfile.mkdtemp(prefix="trainer-ops-fleet-"))
        self.secrets = FleetSecrets.generate()
        self.database = f"trainer_ops_fleet_{uuid.uuid4().hex[:12]}"
        self.redis_prefix = f"trainer-ops-fleet-{uuid.uuid4().hex[:8]}"
        self.signing_key_path = self.root / "secrets" / "audit-signing-key.pem"
        self._pg_admin_dsn = pg_admin_dsn
        self._redis_url = redis_url
        self._extra_env = dict(env or {})
        self._database_created = False
        ports = free_ports(size + 1)
        self.replicas = [self._replica(f"r{i + 1}", ports[i]) for i in range(size)]
        self.extras: list[Replica] = []
        self.lb: LoadBalancer | None = None
        if load_balancer:
            binary = haproxy_binary()
            if binary is None:
                raise FleetError("haproxy is not installed")
            servers = [(r.name, r.address) for r in self.replicas]
            self.lb = LoadBalancer(binary, ports[-1], self.root, servers)

    # set-up --------------------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        return self._pg_admin_dsn.rsplit("/", 1)[0] + f"/{self.database}"

    def shared_env(self) -> dict[str, str]:
        """The environment every replica gets: the same store, Redis, prefix and secrets. No other
        TRAINER_OPS_ variable is inherited from the caller's environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINER_OPS_")}
        env.update(
            PYTHONUNBUFFERED="1",
            TRAINER_OPS_DATABASE_URL=self.database_url,
            TRAINER_OPS_REDIS_URL=self._redis_url,
            TRAINER_OPS_REDIS_PREFIX=self.redis_prefix,
            TRAINER_OPS_BOOTSTRAP_ADMIN_TOKEN=self.secrets.admin_token,
            TRAINER_OPS_AUDIT_MAC_KEY=self.secrets.mac_key,
            TRAINER_OPS_AUDIT_SIGNING_KEY_FILE=str(self.signing_key_path),  # as a mounted secret
            TRAINER_OPS_JWT_SECRET=self.secrets.jwt_secret,
            # The issue's own set-up: a reload nobody answers is rolled back after 3 s, not 5.
            TRAINER_OPS_RELOAD_DEADLINE_SECONDS="3",
        )
        env.update(self._extra_env)
        return env

    def _replica(self, name: str, port: int, env: Mapping[str, str] | None = None) -> Replica:
        return Replica(name, port, self.root / name, {**self.shared_env(), **(env or {})})

    def add_replica(self, name: str, env: Mapping[str, str] | None = None) -> Replica:
        """One more replica on the same store, outside the load balancer (`env` overrides the shared
        settings). It is not started; `close()` stops it."""
        replica = self._replica(name, free_ports(1)[0], env)
        self.extras.append(replica)
        return replica

    def start(self, *, together: bool = True, timeout: float = 90.0) -> Fleet:
        """Launch the replicas and wait until all are ready and in the load balancer. `together`: all
        at the same instant, racing for the empty database; otherwise the first one alone (it creates
        the schema), then the others at once."""
        try:
            self.signing_key_path.parent.mkdir(mode=0o700, exist_ok=True)
            self.signing_key_path.write_text(self.secrets.signing_key_pem)
            self.signing_key_path.chmod(0o600)
            with psycopg.connect(self._pg_admin_dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{self.database}"')
            self._database_created = True
            deadline = time.monotonic() + timeout
            waves = [self.replicas] if together else [self.replicas[:1], self.replicas[1:]]
            for wave in waves:
                for replica in wave:
                    replica.start()
                for replica in wave:
                    replica.wait_ready(timeout=max(1.0, deadline - time.monotonic()))
            if self.lb is not None:
                self.lb.start()
                self.lb.wait_states({r.name: "UP" for r in self.replicas})
        except BaseException as exc:
            logs = self.logs()
            self.close()
            if isinstance(exc, FleetError):
                raise FleetError(f"{exc}\n{logs}") from None
            raise
        return self

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # using it ------------------------------------------------------------------------------------
    @property
    def lb_url(self) -> str:
        if self.lb is None:
            raise FleetError("this fleet has no load balancer")
        return self.lb.url

    def admin_client(self, base_url: str | None = None, timeout: float = 10.0) -> httpx.Client:
        """An httpx client with the admin token, on the load balancer unless `base_url` says."""
        headers = {"Authorization": f"Bearer {self.secrets.admin_token}"}
        return httpx.Client(base_url=base_url or self.lb_url, headers=headers, timeout=timeout)

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """`trainer-ops ARGS` with the first replica's settings, home and working directory."""
        replica = self.replicas[0]
        return subprocess.run(
            [str(TRAINER_OPS), *args],
            cwd=replica.workdir,
            env=replica.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def create_token(self, *, role: str, user: str) -> str:
        """`trainer-ops token create`, as an operator makes a token."""
        done = self.cli("token", "create", "--role", role, "--user", user)
        if done.returncode != 0:
            raise FleetError(f"token create failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout.strip().splitlines()[-1]

    def ensure_running(self, timeout: float = 60.0) -> None:
        """Start every replica that is not running, wait until the load balancer uses them all, and
        until the fleet has forgotten any replica that was killed."""
        stopped = [r for r in self.replicas if not r.running]
        for replica in stopped:
            replica.start()
        for replica in stopped:
            replica.wait_ready(timeout)
        if self.lb is not None:
            self.lb.wait_states({r.name: "UP" for r in self.replicas})
        self._wait_until_killed_replicas_are_forgotten()

    def _wait_until_killed_replicas_are_forgotten(self) -> None:
        """A replica ended by SIGKILL never left the fleet: hot reloads wait for its answer (and roll
        back) until it has not been seen for the instance TTL. Waiting that out keeps a test after a
        kill -9 independent of how long ago the kill was."""
        everyone = [*self.replicas, *self.extras]
        killed = [r.killed_at for r in everyone if r.killed_at is not None]
        if not killed:
            return
        ttl = float(
            self.shared_env().get("TRAINER_OPS_INSTANCE_TTL_SECONDS") or _default("instance_ttl_seconds")
        )
        time.sleep(max(0.0, max(killed) + ttl + 0.5 - time.monotonic()))
        for replica in everyone:
            replica.killed_at = None

    def logs(self, tail: int = 60) -> str:
        """The last lines of every log, for a failure report ("" once the fleet is closed)."""
        if not self.root.exists():
            return ""
        sources = [(r.name, r.log_text()) for r in [*self.replicas, *self.extras]]
        if self.lb is not None:
            sources.append(("haproxy", self.lb.log_text()))
        parts = []
        for name, text in sources:
            lines = text.splitlines()
            shown = "\n".join(lines[-tail:])
            parts.append(f"===== {name} (last {min(tail, len(lines))} of {len(lines)} lines) =====\n{shown}")
        return "\n".join(parts)

    # tear-down -----------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop everything and remove what was made; every step runs even if an earlier one fails."""
        errors: list[BaseException] = []
        steps: list[Callable[[], None]] = [self._stop_replicas]
        if self.lb is not None:
            steps.append(self.lb.stop)
        steps += [self._drop_database, self._delete_redis_keys]
        for step in steps:
            try:
                step()
            except Exception as exc:  # keep tearing down; report the first failure below
                errors.append(exc)
        shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise FleetError(f"tear-down failed: {errors[0]!r}") from errors[0]

    def _stop_replicas(self, grace: float = 5.0) -> None:
        """SIGTERM to all at once, SIGKILL to whichever still runs after `grace` seconds."""
        running = [r for r in [*self.replicas, *self.extras] if r.running]
        for replica in running:
            replica.signal_stop()
        deadline = time.monotonic() + grace
        for replica in running:
            if replica.wait_exit(max(0.0, deadline - time.monotonic())) is None:
                replica.kill()

    def _drop_database(self) -> None:
        if not self._database_created:
            return
        with psycopg.connect(self._pg_admin_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self._database_created = False

    def _delete_redis_keys(self) -> None:
        client = redis.Redis.from_url(self._redis_url, socket_timeout=5)
        try:
            for key in client.scan_iter(f"{self.redis_prefix}*", count=500):
                client.delete(key)
        finally:
            client.close()


def _default(field: str) -> float:
    """A setting's default, read from Settings so it follows the code."""
    return float(Settings.model_fields[field].default)


def services_missing(pg_admin_dsn: str = PG_ADMIN_DSN, redis_url: str = REDIS_URL) -> list[str]:
    """What a fleet needs and this machine lacks: PostgreSQL, Redis, haproxy."""
    missing = []
    try:
        with psycopg.connect(pg_admin_dsn, connect_timeout=3):
            pass
    except psycopg.OperationalError:
        missing.append(f"PostgreSQL at {pg_admin_dsn}")
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        missing.append(f"Redis at {redis_url}")
    finally:
        client.close()
    if haproxy_binary() is None:
        missing.append("haproxy (apt-get install haproxy)")
    return missing
