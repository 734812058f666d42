"""Statements straight through libpq for the writer's hottest PostgreSQL statements (ADR 0031).

psycopg's cursor costs 150-300 µs of CPU per statement (an `executemany` of one row 300 µs) where
libpq's `PQexecParams` costs 25-40 µs; the writer runs such statements for every change. A failure
raises psycopg's own exception class for its SQLSTATE, so `is_store_failure` and the writer see what
a cursor would have raised.

The writer's statements are not sent one by one either (ADR 0031, addendum 2): `defer` holds a
statement on the connection until it next talks to the server (a statement of its own, a cursor, a
commit), and they all go in one libpq pipeline, one round trip. So the batch start (BEGIN, the chain
lock, the chain head) goes with a change's first read, and its version row and audit entry go with the
COMMIT: two round trips a change instead of five, ~80 µs each here. A deferred statement's failure is
raised where it is sent; one whose rows are needed hands them to its callback then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

import psycopg
from psycopg import errors, pq
from psycopg.abc import PQGen
from psycopg.rows import TupleRow
from psycopg.waiting import Wait
from sqlalchemy.orm import Session

_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_PIPELINE = psycopg.capabilities.has_pipeline()
Params = list[bytes | None]
Result = pq.abc.PGresult
# A statement, its parameters, and what to do with its result (None: only success matters).
Deferred = tuple[bytes, Params, Callable[[Result], None] | None]


def text_params(values: Sequence[Any]) -> Params:
    """Parameters in libpq's text format: str and int as their text, None as NULL."""
    return [None if value is None else str(value).encode() for value in values]


def _raise_for(result: Result) -> NoReturn:
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    message = (result.error_message or b"no result").decode(errors="replace").strip()
    error_class = errors.lookup(sqlstate.decode()) if sqlstate else psycopg.OperationalError
    raise error_class(message)


def exec_params(driver: psycopg.Connection[Any], sql: bytes, values: Sequence[Any]) -> Result:
    """Run one statement with `$n` parameters on the connection's open transaction; its rows as text.
    What was deferred on the connection goes first, in the same message."""
    params = text_params(values)
    if isinstance(driver, DeferringConnection) and driver.holds_deferred:
        return driver.send_deferred(last=(sql, params))
    result = driver.pgconn.exec_params(sql, params)
    if result.status not in _OK:
        _raise_for(result)
    return result


def defer(
    driver: psycopg.Connection[Any],
    sql: bytes,
    values: Sequence[Any],
    then: Callable[[Result], None] | None = None,
    *,
    opens: bool = False,
) -> None:
    """Run a statement as late as possible: with whatever the connection sends next (see the module
    docstring); `then` gets its result when it has run. Only inside a transaction (or for the
    statements that open one, `opens`), and on a connection and a libpq that can hold it; otherwise
    it runs at once."""
    if _PIPELINE and isinstance(driver, DeferringConnection):
        status = driver.pgconn.transaction_status
        if status == pq.TransactionStatus.INTRANS or (opens and status == pq.TransactionStatus.IDLE):
            driver.defer(sql, text_params(values), then)
            return
    result = exec_params(driver, sql, values)
    if then is not None:
        then(result)


def send_now(session: Session) -> None:
    """Send what the session's connection holds deferred, now (nothing where nothing is deferred):
    where a failure must be the current unit's, before SQLAlchemy releases its savepoint (a savepoint
    whose release failed is not rolled back to, and the transaction would stay aborted), and where a
    deferred statement's result is needed (the chain head)."""
    driver = session.connection().connection.driver_connection
    if isinstance(driver, DeferringConnection):
        driver.send_deferred()


class DeferringConnection(psycopg.Connection[TupleRow]):
    """psycopg's connection holding deferred statements until it next talks to the server: before a
    cursor is made (every statement psycopg or SQLAlchemy runs makes one), with the writer's own
    statements and with a commit. A rollback drops them: they were never sent, so nothing of them is
    in the store."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Deferred] = []

    @property
    def holds_deferred(self) -> bool:
        return bool(self._deferred)

    def defer(self, sql: bytes, params: Params, then: Callable[[Result], None] | None = None) -> None:
        self._deferred.append((sql, params, then))

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        self.send_deferred()
        return super().cursor(*args, **kwargs)

    def commit(self) -> None:
        if self._deferred:  # with the COMMIT: the transaction has ended, psycopg's commit sends nothing
            self.send_deferred(last=(b"COMMIT", []))
        super().commit()

    def rollback(self) -> None:
        self._deferred = []
        super().rollback()

    def close(self) -> None:
        self._deferred = []
        super().close()

    def send_deferred(self, *, last: tuple[bytes, Params] | None = None) -> Result:
        """Send what was deferred, and `last` after it, in one pipeline; raise the first failure, else
        hand each deferred statement's result to its callback and return the last one's.

        psycopg's own non-blocking steps send it and read the answers, waited for through `wait`, so
        the thread's store budget bounds them (db/timeouts.py). (libpq's blocking PQgetResult can wait
        forever in pipeline mode for an answer that had not arrived yet.)"""
        statements, self._deferred = self._deferred, []
        if last is not None:
            statements.append((*last, None))
        if not statements:
            return _NOTHING
        results = self._send_pipelined(statements)
        for (_sql, _params, then), result in zip(statements, results, strict=True):
            if then is not None:
                then(result)
        return results[-1]

    def _send_pipelined(self, statements: list[Deferred]) -> list[Result]:
        pgconn = self.pgconn
        pgconn.enter_pipeline_mode()
        for sql, params, _then in statements:
            pgconn.send_query_params(sql, params)
        pgconn.pipeline_sync()
        results = self.wait(_exchange(pgconn))  # one wait for the lot: each costs ~15 µs of Python
        pgconn.exit_pipeline_mode()
        if len(results) != len(statements):
            raise psycopg.OperationalError("the store's answer to a pipeline did not match it")
        failure = next((r for r in results if r.status not in _OK and r.status != _ABORTED), None)
        if failure is not None:  # after a failure the server skipped the rest (PIPELINE_ABORTED)
            _raise_for(failure)
        return results


def _exchange(pgconn: pq.abc.PGconn) -> PQGen[list[Result]]:
    """Send what libpq holds and read every result up to the pipeline's sync, without blocking: the
    caller's `wait` waits for the socket (and bounds the wait)."""
    while pgconn.flush():  # 1: more to send once the socket takes it
        while not (yield Wait.W):
            continue
    results: list[Result] = []
    nulls = 0
    while True:
        while pgconn.is_busy() or nulls > 1:  # two nulls in a row: nothing more read yet
            while not (yield Wait.R):
                continue
            pgconn.consume_input()
            nulls = 0
        result = pgconn.get_result()
        if result is None:  # the end of one statement's results
            nulls += 1
            continue
        nulls = 0
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


class _Nothing:
    """The result of sending nothing: no rows."""

    status = pq.ExecStatus.EMPTY_QUERY
    ntuples = 0


_NOTHING = cast(Result, _Nothing())
