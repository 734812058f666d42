"""Engine and session factories for SQLite (embedded default) and PostgreSQL (scale-out), with the
store timeouts of ADR 0016."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from trainer_ops.config import Settings
from trainer_ops.db.timeouts import Budget, GuardedConnection, StoreTimeout, Watchdog, bounded, current_budget
from trainer_ops.errors import Unavailable

# For a server whose host is gone (nothing acknowledges our bytes), the kernel ends the connection:
# the backstop for connections no budget bounds (idle ones in the pool, the start lock's, a migration's).
# A frozen server's kernel still answers these, so waits are bounded by the budget (db/timeouts.py).
TCP_OPTIONS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
}


# Store calls give up at this share of the caller's bound (store_timeout_seconds): the rest is for the
# 503 to reach the caller (thread hops, rendering, the network).
GIVE_UP_SHARE = 0.9


def give_up_seconds(settings: Settings) -> float:
    return settings.store_timeout_seconds * GIVE_UP_SHARE


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    # pysqlite's own transaction handling is off so that writers can take the write lock up front
    # (BEGIN IMMEDIATE): a read-modify-write then never fails half way with "database is locked".
    busy_ms = _ms(settings.store_lock_timeout_seconds)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we acknowledge it (nothing acknowledged is lost).
        cursor.execute("PRAGMA synchronous=FULL")
        # How long to wait for another process's write lock (the store's lock timeout).
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("write", False)
        # Straight on the sqlite3 connection: SQLAlchemy's execution path (context, events, result)
        # cost more than the statement, on every batch of the writer. A failure is still wrapped by
        # SQLAlchemy (Connection.begin translates what this hook raises).
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


def connect_seconds(settings: Settings) -> int:
    """libpq's connect timeout: whole seconds, at least 2."""
    return max(2, math.ceil(settings.store_connect_timeout_seconds))


def _configure_postgres(engine: Engine, settings: Settings, watchdog: Watchdog) -> None:
    connect = connect_seconds(settings)
    server = (
        f"-c statement_timeout={_ms(settings.store_statement_timeout_seconds)} "
        f"-c lock_timeout={_ms(settings.store_lock_timeout_seconds)}"
    )

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        budget = current_budget()
        # Not when it could not end in time (give or take a tenth). Early in a budget shorter than
        # libpq's 2 s minimum it is tried all the same, or the service would never connect.
        if budget is not None and budget.left() < 0.9 * min(connect, budget.seconds):
            raise StoreTimeout(f"the store did not answer within {budget.seconds:g} s (no time to connect)")
        cparams["options"] = f"{cparams.get('options', '')} {server}".strip()
        return GuardedConnection.connect(*cargs, **cparams)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        watchdog.own(dbapi_connection, record)

    def _disown(_dbapi_connection: Any, record: Any, *_exception: Any) -> None:
        watchdog.disown(record)

    for name in ("checkin", "close", "invalidate", "detach"):  # back in the pool, or gone
        event.listen(engine, name, _disown)


def make_engine(settings: Settings, *, watchdog: Watchdog | None = None) -> Engine:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=8)
        _configure_sqlite(engine, settings)
        return engine
    engine = create_engine(
        url,
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
        pool_timeout=give_up_seconds(settings),
        connect_args={"connect_timeout": connect_seconds(settings), **TCP_OPTIONS},
    )
    _configure_postgres(engine, settings, watchdog or Watchdog())
    return engine


def _track_backends(engine: Engine, pids: set[int]) -> None:
    """Keep `pids`: the PostgreSQL server process ids behind this engine's open connections. A change
    notification sent by one of them was made, and already published, by this process."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        pid = int(dbapi_connection.info.backend_pid)
        record.info["backend_pid"] = pid
        pids.add(pid)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        pids.discard(record.info.get("backend_pid", -1))


def is_store_failure(exc: BaseException) -> bool:
    """The store did not answer, timed out, or is busy: not the request's fault; 503, retry later."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig or exc
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True  # lost or given-up connections, lock and statement timeouts, deadlocks
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in ("locked", "busy", "disk I/O")
    )


def store_unavailable(detail: str = "the store did not answer or is busy; retry shortly") -> Unavailable:
    return Unavailable("store.unavailable", detail, headers={"Retry-After": "1"})


@contextmanager
def _as_unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if is_store_failure(exc):
            raise store_unavailable() from exc
        raise


@dataclass(frozen=True)
class Database:
    """One engine and two session factories: writers lock up front, readers do not."""

    engine: Engine
    reader: sessionmaker[Session]
    writer: sessionmaker[Session]
    # The same engine with writers' options (SQLite: BEGIN IMMEDIATE), for a connection held open.
    write_engine: Engine
    # PostgreSQL: the server process ids of this process's own connections (see _track_backends).
    backend_pids: set[int]
    # How long a store call may wait for an answer, and how long a writer's caller waits (ADR 0016).
    timeout_seconds: float = 2.7
    # PostgreSQL: ends the calls psycopg cannot bound (see db/timeouts.py).
    watchdog: Watchdog | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def bounded(self) -> AbstractContextManager[Budget]:
        """A context in which this thread's store calls give up after `timeout_seconds` without an
        answer (yields the Budget; nested blocks share the outer one)."""
        return bounded(self.timeout_seconds, self.watchdog)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Bounded like read() and write(), for work on a connection of its own (a lock held across
        calls, a notification): a store that does not answer in time raises 503 store.unavailable."""
        with self.bounded(), _as_unavailable():
            yield

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction for one unit of work: committed on success, rolled back on any error. A store
        that does not answer in time raises 503 store.unavailable."""
        with self.bounded(), _as_unavailable(), self.writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.bounded(), _as_unavailable(), self.reader() as session, session.begin():
            yield session


def make_database(settings: Settings) -> Database:
    watchdog = None if settings.is_sqlite else Watchdog()
    engine = make_engine(settings, watchdog=watchdog)
    write_engine = engine.execution_options(write=True)
    backend_pids: set[int] = set()
    if engine.dialect.name == "postgresql":
        _track_backends(engine, backend_pids)
    return Database(
        engine=engine,
        reader=sessionmaker(bind=engine, expire_on_commit=False),
        writer=sessionmaker(bind=write_engine, expire_on_commit=False),
        write_engine=write_engine,
        backend_pids=backend_pids,
        timeout_seconds=give_up_seconds(settings),
        watchdog=watchdog,
    )
