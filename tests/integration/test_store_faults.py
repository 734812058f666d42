"""A frozen or locked store answers 503 within the store timeout instead of hanging (issue 10, item 8;
ADR 0016).

A frozen PostgreSQL (its processes stopped) keeps its sockets open and answers nothing. The shared test
server must not be frozen, so the app reaches it through `FreezableProxy`, which stops forwarding bytes
in both directions (and holds new connections unanswered) while frozen, exactly what a client sees."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from conftest import ADMIN_TOKEN, PG_ADMIN_DSN, LiveServer, _create_pg_database, _drop_pg_database
from freezable_proxy import FreezableProxy
from trainer_ops.access.types import Role
from trainer_ops.app import build_ops
from trainer_ops.audit.types import SYSTEM_ACTOR
from trainer_ops.config import Settings
from trainer_ops.errors import Unavailable

from .support import MODEL_CONFIG, assert_problem

BOUND: float = Settings.model_fields["store_timeout_seconds"].default  # the default under test: 3 s
SLACK = 1.5  # HTTP, thread hops and a busy 2-core machine
_PG = conninfo_to_dict(PG_ADMIN_DSN)
PG_SERVER = (str(_PG.get("host", "127.0.0.1")), int(str(_PG.get("port", 5432))))


@pytest.fixture
def pg_name(pg_available: bool, pg_template: str) -> Iterator[str]:
    if os.environ.get("TRAINER_OPS_SKIP_PG") == "1" or not pg_available:
        pytest.skip("needs the local PostgreSQL server")
    name = _create_pg_database(template=pg_template)
    try:
        yield name
    finally:
        _drop_pg_database(name)


@pytest.fixture
def proxy() -> Iterator[FreezableProxy]:
    made = FreezableProxy(PG_SERVER)
    yield made
    made.close()


def server_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / ".trainer-ops",
        database_url=database_url,
        bootstrap_admin_token=ADMIN_TOKEN,
        snapshot_poll_seconds=0,
        change_notifications=False,
        token_cache_seconds=300,  # the admin token stays cached: a write's own wait is what is measured
    )


@pytest.fixture
def server(tmp_path: Path, pg_name: str, proxy: FreezableProxy) -> Iterator[LiveServer]:
    url = f"postgresql://{_PG.get('user', 'postgres')}@127.0.0.1:{proxy.port}/{pg_name}"
    live = LiveServer(server_settings(tmp_path, url)).start()
    try:
        yield live
    finally:
        proxy.thaw()  # before stopping: a server whose threads hang would not stop
        live.stop()


def client_for(server: LiveServer, token: str = ADMIN_TOKEN) -> httpx2.Client:
    # The client's own timeout is far above the bound: a hang shows as a failure, not as a stuck test.
    return httpx2.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=15.0)


def timed(call: Any) -> tuple[httpx2.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_store_unavailable(response: httpx2.Response, elapsed: float) -> None:
    body = assert_problem(response, 503)
    assert body["reason"] == "store.unavailable", body
    assert elapsed < BOUND + SLACK, f"answered after {elapsed:.2f} s"


def checked_out(server: LiveServer) -> int:
    assert server.ops is not None
    pool: Any = server.ops.database.engine.pool
    return int(pool.checkedout())


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_frozen_store_write_answers_503_within_the_bound_and_recovers_after_thaw(
    server: LiveServer, proxy: FreezableProxy
) -> None:
    with client_for(server) as client:
        assert client.patch(MODEL_CONFIG, json={"temperature": 0.5}).status_code == 200  # token cached
        proxy.freeze()

        response, elapsed = timed(lambda: client.patch(MODEL_CONFIG, json={"temperature": 0.6}))

        assert_store_unavailable(response, elapsed)
        assert response.headers["retry-after"] == "1"
        # No thread is left waiting on the store: every connection was given up on and returned.
        assert wait_until(lambda: checked_out(server) == 0, BOUND + SLACK), checked_out(server)
        proxy.thaw()
        assert wait_until(
            lambda: client.patch(MODEL_CONFIG, json={"temperature": 0.7}).status_code == 200, 10
        ), "writes did not recover after the store came back"
        assert client.get(MODEL_CONFIG).json()["temperature"] == 0.7


def test_frozen_store_makes_readyz_answer_503_within_the_bound(
    server: LiveServer, proxy: FreezableProxy
) -> None:
    with client_for(server) as client:
        assert client.get("/readyz").status_code == 200
        proxy.freeze()

        response, elapsed = timed(lambda: client.get("/readyz"))

        assert response.status_code == 503, response.text
        assert elapsed < BOUND + SLACK, f"answered after {elapsed:.2f} s"
        proxy.thaw()
        assert wait_until(lambda: client.get("/readyz").status_code == 200, 10)


def test_frozen_store_health_probe_says_down_within_the_bound(
    server: LiveServer, proxy: FreezableProxy
) -> None:
    ops = server.ops
    assert ops is not None
    assert ops.refresher.probe() is True
    proxy.freeze()
    answers: list[bool] = []

    # In a thread of its own, so a probe that hangs fails the test instead of hanging it.
    probe = threading.Thread(target=lambda: answers.append(ops.refresher.probe()), daemon=True)
    probe.start()
    probe.join(BOUND + SLACK)

    assert answers == [False], "the probe did not answer within the bound"


def test_frozen_store_read_with_an_uncached_token_answers_503_within_the_bound(
    server: LiveServer, proxy: FreezableProxy
) -> None:
    ops = server.ops
    assert ops is not None
    token = ops.write(
        lambda session: ops.tokens.create(session, actor=SYSTEM_ACTOR, role=Role.ADMIN, user_id="late")
    ).token
    proxy.freeze()

    with client_for(server, token) as client:
        response, elapsed = timed(lambda: client.get(MODEL_CONFIG))

        assert_store_unavailable(response, elapsed)
        proxy.thaw()
        assert wait_until(lambda: client.get(MODEL_CONFIG).status_code == 200, 10)


@pytest.fixture
def locked_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = LiveServer(server_settings(tmp_path, database_url)).start()
    try:
        yield live
    finally:
        live.stop()


def hold_lock(database_url: str) -> Any:
    """Another client holding what every change needs: the document table (PostgreSQL), the database's
    write lock (SQLite). Returns the open connection; closing it releases the lock."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn
    conn = psycopg.connect(database_url)
    conn.execute("LOCK TABLE document_versions IN ACCESS EXCLUSIVE MODE")
    return conn


def test_write_behind_a_held_lock_answers_503_within_the_bound_instead_of_waiting(
    locked_server: LiveServer, database_url: str
) -> None:
    with client_for(locked_server) as client:
        assert client.patch(MODEL_CONFIG, json={"temperature": 0.5}).status_code == 200
        holder = hold_lock(database_url)
        try:
            response, elapsed = timed(lambda: client.patch(MODEL_CONFIG, json={"temperature": 0.6}))
        finally:
            holder.close()

        assert_store_unavailable(response, elapsed)
        assert client.get(MODEL_CONFIG).json()["temperature"] == 0.5
        assert client.patch(MODEL_CONFIG, json={"temperature": 0.6}).status_code == 200


def test_a_write_queued_behind_a_stuck_batch_is_refused_in_time_and_never_runs(settings: Settings) -> None:
    starter = build_ops(settings)  # the first start (migrations, keys, defaults) under the usual bound
    starter.prepare()
    starter.close()
    ops = build_ops(settings.model_copy(update={"store_timeout_seconds": 0.5}))
    release, ran = threading.Event(), []
    try:
        ops.prepare()  # finds it all done: quick, even on a loaded machine

        def write_stuck() -> None:
            with contextlib.suppress(Unavailable):  # its caller gives up too; not what is tested here
                ops.write(lambda _session: release.wait(10))

        stuck = threading.Thread(target=write_stuck, daemon=True)
        stuck.start()
        time.sleep(0.1)  # the writer thread is inside the stuck unit now

        with pytest.raises(Unavailable, match="the change was not made") as refused:
            ops.write(lambda _session: ran.append(True))

        assert refused.value.code == "store.unavailable"
        release.set()
        stuck.join(10)
        ops.write(lambda _session: None)  # the writer goes on with later units
        assert ran == []
    finally:
        release.set()
        ops.close()
