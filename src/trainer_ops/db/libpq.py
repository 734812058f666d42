"""Statements straight through libpq for the writer's hottest PostgreSQL statements (ADR 0031).

psycopg's cursor costs 150-300 µs of CPU per statement (an `executemany` of one row 300 µs) where
libpq's `PQexecParams` costs 25-40 µs; the writer runs three such statements for every change. The
call blocks in libpq, as the audit chain's batch start always has: inside `Database.bounded()` the
watchdog bounds it (db/timeouts.py). A failure raises psycopg's own exception class for its SQLSTATE,
so `is_store_failure` and the writer see what a cursor would have raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


def text_params(values: Sequence[Any]) -> list[bytes | None]:
    """Parameters in libpq's text format: str and int as their text, None as NULL."""
    return [None if value is None else str(value).encode() for value in values]


def exec_params(driver: psycopg.Connection[Any], sql: bytes, values: Sequence[Any]) -> pq.abc.PGresult:
    """Run one statement with `$n` parameters on the connection's open transaction; its rows as text."""
    result = driver.pgconn.exec_params(sql, text_params(values))
    if result.status not in _OK:
        sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
        message = (result.error_message or b"no result").decode(errors="replace").strip()
        error_class = errors.lookup(sqlstate.decode()) if sqlstate else psycopg.OperationalError
        raise error_class(message)
    return result
