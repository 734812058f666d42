"""Run the Alembic migrations programmatically (on `serve` and `trainer-ops db upgrade`), and the start
lock that lets any number of processes start on one store at once (ADR 0016)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_lock key of the start lock ("tops-ini" in ASCII); the audit chain lock is another key.
START_LOCK_KEY = 0x746F70732D696E69


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def _without_timeouts(connection: Connection) -> None:
    """A migration may rewrite a large table or wait for running replicas' locks: the store's statement
    and lock timeouts (ADR 0016) are for requests, not for this transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        _without_timeouts(connection)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        _without_timeouts(connection)
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def start_lock(engine: Engine) -> Iterator[None]:
    """Held while a process migrates and initialises the store, so processes starting at once take
    turns: the first migrates and writes the defaults, the others find them done. It waits as long as
    the holder needs (a migration may take minutes); a holder that dies releases it with its connection."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
    else:
        with _file_lock(engine):
            yield


@contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    """A session-level advisory lock on a connection of its own, in autocommit (no transaction stays
    open while the lock is held), without the store's timeouts (the wait may be long)."""
    with engine.connect() as connection:
        locked = connection.execution_options(isolation_level="AUTOCOMMIT")
        locked.exec_driver_sql("SET statement_timeout = 0")
        locked.exec_driver_sql("SET lock_timeout = 0")
        locked.exec_driver_sql(f"SELECT pg_advisory_lock({START_LOCK_KEY})")
        try:
            yield
        finally:
            _unlock(locked)


def _unlock(connection: Connection) -> None:
    try:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({START_LOCK_KEY})")
        connection.exec_driver_sql("RESET statement_timeout")
        connection.exec_driver_sql("RESET lock_timeout")
    except Exception:
        # The connection broke: closing it (instead of pooling it) is what releases the lock now.
        connection.invalidate()
        raise


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite is one host's file: an exclusive lock on a file beside it (flock, released by the kernel
    if the process dies). The store's own write lock cannot serve: the migration and the writer's
    batches use other connections of this process, which would wait for it."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}.start-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
