"""Client-side bounds on waiting for PostgreSQL (ADR 0016). A frozen server (stopped, or its host
stalled) still has a kernel that accepts and acknowledges bytes, so TCP keepalives and the server's own
statement timeout never fire: only the client can stop waiting.

Inside `bounded(seconds)` every store call of the thread waits at most until the budget's deadline,
which starts `seconds` away and moves to `seconds` after each answer (so a long scan that keeps
answering is not cut short, and a store that stops answering is given up on within `seconds`):
- psycopg's waits (queries, commits, the pool's pre-ping) through `GuardedConnection.wait`;
- a new connection is not attempted when the budget left is shorter than the connect timeout;
- libpq's blocking calls that psycopg cannot bound (`PQexec`, used by the audit chain's batch start)
  through the `Watchdog`, which shuts the socket of the thread's connections when the deadline has
  passed, so the call returns with an error instead of waiting forever.
A connection given up on is closed, and the pool discards it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from trainer_ops.db.libpq import DeferringConnection

log = logging.getLogger("trainer_ops.store")
RV = TypeVar("RV")

# Taken to close or shut down a driver connection's socket, so the watchdog never shuts a socket
# number that was closed meanwhile and reused by another connection.
_SOCKETS = threading.Lock()


class Budget:
    """How long this thread's store calls may still wait: `seconds` from the start, and again from
    each answer."""

    __slots__ = ("deadline", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def answered(self) -> None:
        self.deadline = time.monotonic() + self.seconds


_BUDGET: ContextVar[Budget | None] = ContextVar("trainer_ops_store_budget", default=None)


def current_budget() -> Budget | None:
    return _BUDGET.get()


class StoreTimeout(psycopg.OperationalError):
    """The store did not answer within the budget; the connection was closed."""


class GuardedConnection(DeferringConnection):
    """psycopg's connection, whose waits end at the thread's budget (see the module docstring), and
    which holds the writer's deferred statements (db/libpq.py)."""

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        budget = _BUDGET.get()
        if budget is None:
            return super().wait(gen, interval, timeout)
        left = budget.left()
        if timeout is not None and timeout <= left:  # psycopg's own, shorter bound (a cancel)
            return super().wait(gen, interval, timeout)
        if left <= 0:
            self._give_up(budget)
        try:
            result = super().wait(gen, interval, left)
        except psycopg.OperationalError:
            if budget.left() <= 0:  # psycopg's wait timed out: the protocol state is unknown
                self._give_up(budget)
            raise
        budget.answered()
        return result

    def _give_up(self, budget: Budget) -> None:
        with _SOCKETS:
            self.pgconn.finish()
        raise StoreTimeout(f"the store did not answer within {budget.seconds:g} s")


class Watchdog:
    """Shuts the sockets of a thread's connections once its budget has run out (plus `grace`, so
    psycopg's own bounded waits end first and cleanly). Knows which connections a thread holds from
    the pool's checkout and checkin events. Its thread starts when needed and ends when idle."""

    def __init__(self, *, grace: float = 0.2, idle: float = 5.0) -> None:
        self._grace = grace
        self._idle = idle
        self._cond = threading.Condition(_SOCKETS)
        self._owned: dict[int, dict[int, Any]] = {}  # thread ident -> id(pool record) -> dbapi conn
        self._watched: dict[int, tuple[int, Budget]] = {}  # key -> (thread ident, budget)
        self._next = 0
        self._wake = float("inf")  # when the thread looks next
        self._thread: threading.Thread | None = None

    def own(self, dbapi_connection: Any, record: Any) -> None:
        ident = threading.get_ident()
        with _SOCKETS:
            record.info["trainer_ops_owner"] = ident
            self._owned.setdefault(ident, {})[id(record)] = dbapi_connection

    def disown(self, record: Any) -> None:
        with _SOCKETS:
            ident = record.info.pop("trainer_ops_owner", None)
            held = self._owned.get(ident) if ident is not None else None
            if held is not None:
                held.pop(id(record), None)
                if not held:
                    del self._owned[ident]

    def watch(self, budget: Budget) -> int:
        with self._cond:
            self._next += 1
            self._watched[self._next] = (threading.get_ident(), budget)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="trainer-ops-store-watchdog", daemon=True
                )
                self._thread.start()
            elif budget.deadline + self._grace < self._wake:
                self._cond.notify()
            return self._next

    def unwatch(self, key: int) -> None:
        with _SOCKETS:
            self._watched.pop(key, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for key, (ident, budget) in list(self._watched.items()):
                    if budget.deadline + self._grace <= now:
                        del self._watched[key]
                        self._shut(ident, budget)
                if self._watched:
                    self._wake = (
                        min(budget.deadline for _ident, budget in self._watched.values()) + self._grace
                    )
                    self._cond.wait(max(self._wake - now, 0.01))
                    continue
                self._wake = float("inf")
                if not self._cond.wait(self._idle) and not self._watched:
                    self._thread = None
                    return

    def _shut(self, ident: int, budget: Budget) -> None:
        """Under the lock: shut down (not close: libpq still owns the descriptor) each socket."""
        for connection in self._owned.get(ident, {}).values():
            if connection.closed:
                continue
            try:
                with socket.socket(fileno=os.dup(connection.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                continue
            log.warning("the store did not answer within %g s: connection shut", budget.seconds)


@contextmanager
def bounded(seconds: float, watchdog: Watchdog | None) -> Iterator[Budget]:
    """Bound the thread's store calls inside the block (see the module docstring). Nested blocks
    share the outer budget."""
    outer = _BUDGET.get()
    if outer is not None:
        yield outer
        return
    budget = Budget(seconds)
    token = _BUDGET.set(budget)
    key = watchdog.watch(budget) if watchdog is not None else None
    try:
        yield budget
    finally:
        if watchdog is not None and key is not None:
            watchdog.unwatch(key)
        _BUDGET.reset(token)
