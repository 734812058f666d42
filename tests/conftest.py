"""Shared fixtures: a fresh store per test on SQLite and on PostgreSQL, the app, and tokens per role."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import Role
from trainer_ops.app import Ops, build_ops, create_app
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings

ADMIN_TOKEN = "tops_test-admin-token-0123456789abcdef"
# No access log in tests, except where it is the subject (tests/integration/test_access_log.py turns it
# on): thousands of servers writing lines to the workers' stdout say nothing and cost time.
os.environ.setdefault("TRAINER_OPS_ACCESS_LOG", "false")
PG_ADMIN_DSN = os.environ.get("TRAINER_OPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two tests with one id run as one under xdist (the other silently never runs): refuse that.
    (pytest 9.2 dropped the `[METHOD /path]` of schemathesis' tests, so every operation shared an id.)"""
    counts = Counter(item.nodeid for item in items)
    twins = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if twins:
        raise pytest.UsageError(f"{len(twins)} test ids are collected twice, e.g. {twins[0]}")


@pytest.fixture(autouse=True)
def no_cli_server(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test picks up the developer's CLI contexts or server variables: with one, the governance
    commands would go to that server instead of the test's store (ADR 0028)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    for name in ("TRAINER_OPS_SERVER", "TRAINER_OPS_TOKEN", "TRAINER_OPS_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _create_pg_database(template: str | None = None) -> str:
    name = f"trainer_ops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


def _pg_url(name: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """One migrated database per test session; each test's database is a copy of it (much faster
    than migrating every time). Migrations themselves are tested from empty in test_migrations."""
    from sqlalchemy import create_engine

    from trainer_ops.db import migrate

    if os.environ.get("TRAINER_OPS_SKIP_PG") == "1":
        yield ""
        return
    name = _create_pg_database()
    engine = create_engine(Settings(database_url=_pg_url(name)).resolved_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    _drop_pg_database(name)


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store of its own: a SQLite file, or a new PostgreSQL database (a copy of the migrated
    template) dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if os.environ.get("TRAINER_OPS_SKIP_PG") == "1":
        pytest.skip("TRAINER_OPS_SKIP_PG=1")
    name = _create_pg_database(template=request.getfixturevalue("pg_template"))
    try:
        yield _pg_url(name)
    finally:
        _drop_pg_database(name)


# The bound on a store call (ADR 0016) in tests that do not test it: three workers creating and
# dropping PostgreSQL databases on 2 cores can keep a first connection waiting past the 3 s default.
# The tests of the bound set their own (tests/integration/test_store_faults.py tests the default).
ROOMY_STORE_TIMEOUT = 10.0


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / ".trainer-ops",
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        change_notifications=False,
        token_cache_seconds=0,
        store_timeout_seconds=ROOMY_STORE_TIMEOUT,
    )


@pytest.fixture
def ops(settings: Settings) -> Iterator[Ops]:
    built = build_ops(settings)
    yield built
    built.close()


@pytest.fixture
def client(settings: Settings, ops: Ops) -> Iterator[TestClient]:
    app = create_app(settings, ops=ops)
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        yield test_client


@pytest.fixture
def token_for(ops: Ops, client: TestClient) -> Callable[..., str]:
    """token_for(role, region=..., country=..., branch=..., user=...) -> a bearer token."""

    def make(
        role: str,
        *,
        user: str | None = None,
        region: str | None = None,
        country: str | None = None,
        branch: str | None = None,
    ) -> str:
        new = ops.write(
            lambda session: ops.tokens.create(
                session,
                actor=SYSTEM_ACTOR,
                role=Role(role),
                user_id=user or f"{role}-user",
                region=region,
                country=country,
                branch=branch,
            )
        )
        return new.token

    return make


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveServer:
    """The app served by uvicorn on 127.0.0.1 in a thread, for clients that need a real socket
    (the openai package, the SDK's stream). Can be stopped and started again on the same port."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or _free_port()
        self.ops: Ops | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ops: Ops | None = None) -> LiveServer:
        import uvicorn

        self.ops = ops or build_ops(self.settings)
        config = uvicorn.Config(
            create_app(self.settings, ops=self.ops),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "server did not start"
            assert self._thread.is_alive(), "server thread died"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = self._thread = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    yield server
    server.stop()


def change_model_config_elsewhere(settings: Settings, **changes: Any) -> None:
    """Change the model config from another process's point of view (another replica, the CLI): its own
    Ops on the same store, nothing shared with the app under test."""
    from trainer_ops.access.types import Principal

    other = build_ops(settings)
    try:
        other.prepare()
        other.model_config.update(
            principal=Principal("elsewhere", Role.ADMIN),
            changes=changes,
            if_match=None,
            request_id="elsewhere",
        )
    finally:
        other.close()
