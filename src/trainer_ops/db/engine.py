"""Engine and session factories for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from trainer_ops.config import Settings


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is off so that writers can take the write lock up front
    # (BEGIN IMMEDIATE): a read-modify-write then never fails half way with "database is locked".
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we acknowledge it (nothing acknowledged is lost).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(settings: Settings) -> Engine:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=8)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)


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

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction for one unit of work: committed on success, rolled back on any error."""
        with self.writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.reader() as session, session.begin():
            yield session


def make_database(settings: Settings) -> Database:
    engine = make_engine(settings)
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
    )
