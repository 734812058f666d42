"""A change's last writes ride with the commit on PostgreSQL (db/libpq.py, ADR 0031 addendum 2), and the
writer's guarantees hold as if they had been sent at once: a unit reads what it wrote, a write that fails
at the commit fails its own unit alone, a failed unit leaves nothing behind for the next batch. The same
tests run on SQLite, where nothing is deferred; the PostgreSQL connection itself is tested below them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors

from conftest import _create_pg_database, _drop_pg_database, _pg_url
from freezable_proxy import FreezableProxy
from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.db.libpq import defer, exec_params
from trainer_ops.db.timeouts import GuardedConnection, StoreTimeout, bounded
from trainer_ops.versions.store import VersionStore

from .test_batch_writer import in_threads

KIND = "deferred_test"  # a kind of its own: no service reads or publishes it
VERSIONS = VersionStore()


def version_row(version: int) -> tuple[Any, ...]:
    return (KIND, version, f'{{"n": {version}}}', "{}", 1, "tester", "admin", f"req-{version}")


def insert(session: Any, version: int) -> None:
    VERSIONS.insert(session, version_row(version))


def entry(ops: Ops, session: Any, n: int) -> int:
    return ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"t-{n}")


@pytest.fixture
def store(ops: Ops) -> Ops:
    ops.prepare()
    return ops


def test_a_unit_reads_its_own_deferred_write_through_every_path(store: Ops) -> None:
    def unit(session: Any) -> tuple[Any, Any]:
        insert(session, 1)
        latest = VERSIONS.latest(session, KIND)  # SQLAlchemy's ORM: a cursor sends it first
        return (latest.version if latest else None), VERSIONS.current(session, KIND)  # libpq

    assert store.write(unit) == (1, (1, '{"n": 1}'))


def test_a_write_refused_at_the_commit_fails_its_own_unit_alone_and_the_others_land(store: Ops) -> None:
    store.write(lambda session: insert(session, 1))
    start = threading.Barrier(6)
    results: dict[int, Any] = {}

    def duplicate(session: Any) -> int:
        insert(session, 1)  # (kind, version) is unique: refused, on PostgreSQL only when sent
        return entry(store, session, -1)

    def work(n: int) -> None:
        start.wait()
        try:
            results[n] = store.write(duplicate if n == 3 else lambda session: entry(store, session, n))
        except Exception as exc:  # the unit's own error, as the store's driver raised it
            results[n] = exc

    in_threads(work, range(6))

    refused = results.pop(3)
    assert "unique" in str(refused).lower(), repr(refused)
    size = store.checkpoints.size()
    assert sorted(results.values()) == list(range(size - 4, size + 1))  # five entries, no gap
    assert store.checkpoints.verify().status == "intact"


def test_a_unit_that_fails_after_a_deferred_write_leaves_nothing_for_the_next_batch(store: Ops) -> None:
    def fails(session: Any) -> None:
        insert(session, 1)
        raise ValueError("refused after writing")

    with pytest.raises(ValueError, match="refused after writing"):
        store.write(fails)
    # The same held connection: a statement left over from the failed unit would be sent with the
    # next one, and this insert of the same version would then be refused as a duplicate.
    assert store.write(lambda session: VERSIONS.current(session, KIND)) is None
    store.write(lambda session: insert(session, 1))
    assert store.write(lambda session: VERSIONS.current(session, KIND)) == (1, '{"n": 1}')


# ------------------------------------------------------------------ the PostgreSQL connection itself


@pytest.fixture
def pg_url(pg_available: bool, pg_template: str) -> Iterator[str]:
    if not pg_available or not pg_template:
        pytest.skip("needs the local PostgreSQL server")
    name = _create_pg_database(template=pg_template)
    try:
        yield _pg_url(name)
    finally:
        _drop_pg_database(name)


INSERT = b"INSERT INTO document_versions (kind, version, document, change, created_at_ms, actor_user_id, actor_role, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"  # noqa: E501


def rows(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT version FROM document_versions WHERE kind = %s ORDER BY 1", [KIND])
        return [row[0] for row in found]


def begun(url: str) -> GuardedConnection:
    conn = GuardedConnection.connect(url)
    conn.pgconn.exec_(b"BEGIN")  # as the writer's batch start opens it: on libpq, not psycopg
    return conn


def test_deferred_statements_wait_for_the_commit_and_go_with_it(pg_url: str) -> None:
    with begun(pg_url) as conn:
        defer(conn, INSERT, version_row(1))
        defer(conn, INSERT, version_row(2))
        assert rows(pg_url) == []  # not sent yet (nor committed)
        conn.commit()
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert rows(pg_url) == [1, 2]


def test_a_transaction_opened_by_deferred_statements_answers_them_with_the_next_one(pg_url: str) -> None:
    seen: list[bytes | None] = []
    with GuardedConnection.connect(pg_url) as conn:
        defer(conn, b"BEGIN", (), opens=True)  # as the writer's batch start: nothing sent yet
        defer(conn, b"SELECT $1::int", (7,), lambda result: seen.append(result.get_value(0, 0)), opens=True)
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert seen == []
        result = exec_params(conn, b"SELECT $1::int + 1", (41,))  # one message for the three
        assert (seen, result.get_value(0, 0)) == ([b"7"], b"42")
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        conn.rollback()


def test_a_refused_deferred_statement_raises_its_own_error_and_nothing_commits(pg_url: str) -> None:
    with begun(pg_url) as conn:
        defer(conn, INSERT, version_row(1))
        defer(conn, INSERT, version_row(1))  # a duplicate: the pipeline stops here
        defer(conn, INSERT, version_row(2))
        with pytest.raises(errors.UniqueViolation):
            conn.commit()
        conn.rollback()
        defer(conn, INSERT, version_row(3))  # outside a transaction: runs at once
    assert rows(pg_url) == [3]


def test_a_rollback_drops_what_was_deferred(pg_url: str) -> None:
    with begun(pg_url) as conn:
        defer(conn, INSERT, version_row(1))
        conn.rollback()
        conn.pgconn.exec_(b"BEGIN")
        defer(conn, INSERT, version_row(2))
        conn.commit()
    assert rows(pg_url) == [2]


def test_a_commit_to_a_frozen_store_gives_up_within_the_budget(pg_url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(pg_url)
    proxy = FreezableProxy((str(info.get("host", "127.0.0.1")), int(str(info.get("port", 5432)))))
    try:
        url = psycopg.conninfo.make_conninfo(pg_url, host="127.0.0.1", port=proxy.port)
        conn = begun(url)
        defer(conn, INSERT, version_row(1))
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(StoreTimeout), bounded(1.0, None):
            conn.commit()
        assert time.monotonic() - started < 5
        # Given up on: closed, so the pool discards it. The COMMIT had been sent, so whether it lands
        # is unknown, which is what the writer's 503 says ("the change may have been made").
        assert conn.closed
    finally:
        proxy.close()
