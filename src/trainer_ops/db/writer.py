"""Group commit: every audited write runs on one writer thread, many units of work per transaction.

A caller hands a unit of work (a function of the session) to `run` and waits. The writer thread takes
everything queued, runs the units in one transaction and commits once, then answers every caller. If
a unit fails, the batch runs again with each unit in a savepoint of its own, so a failing unit is
rolled back alone and its caller gets the error. Under load, N writers
cost one fsync instead of N, and since one thread appends, the audit chain cannot fork inside a process;
across processes and replicas the store's write lock (SQLite) or an advisory lock (PostgreSQL), taken by
the `begin` hook at the start of each batch, serialises the batches.

A caller is answered only after the commit: nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from trainer_ops.db.engine import Database, is_store_failure, store_unavailable
from trainer_ops.db.libpq import send_now
from trainer_ops.errors import Unavailable

T = TypeVar("T")
log = logging.getLogger("trainer_ops.writer")

_STOP = object()
# A queued unit of work, the future its caller holds, whether the caller waits for it, and the
# caller's trace (its span's context; None when tracing is off or the caller is in no trace).
Item = tuple[Callable[[Session], Any], Future[Any], bool, Any]
# What became of a unit: its future, whether it succeeded, and its result or exception.
Outcome = tuple[Future[Any], bool, Any]


class BatchHooks(Protocol):
    """What the audit log needs around a batch: lock and read the chain head, and undo a failed unit."""

    def begin(self, session: Session) -> None: ...

    def mark(self) -> Any: ...

    def flush(self, session: Session) -> None: ...

    def reset(self, mark: Any) -> None: ...

    def abort(self) -> None: ...


class BatchTracing(Protocol):
    """Traces the writer's batches when tracing is on (infra/tracing.py): the batch runs on the writer
    thread, outside every request's context, so each caller's trace is taken when it queues its unit
    and the batch's span is made from them."""

    def caller(self) -> Any: ...

    def batch(self, callers: list[Any], units: int) -> AbstractContextManager[Callable[[str], None]]:
        """Around a batch: a span of the callers' traces; what it yields records how the batch went."""
        ...


def _untraced(_how: str) -> None:
    pass


def _log_failure(future: Future[Any]) -> None:
    if future.exception() is not None:
        log.error("a queued unit of work failed: %s", future.exception())


class _Held:
    """The writer thread's own connection, kept between batches: a checkout from the pool pre-pings
    PostgreSQL, one more round trip on every batch. Given back when the thread idles, when a batch
    fails (it may be broken) and when the thread ends. Only its thread touches it."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._connection: Connection | None = None

    def __bool__(self) -> bool:
        return self._connection is not None

    def session(self) -> Session:
        if self._connection is None:
            self._connection = self._db.write_engine.connect()
        return Session(bind=self._connection, expire_on_commit=False)

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except Exception as exc:  # a broken connection: the pool discards it; nothing else to do
            log.warning("could not give the writer's connection back: %s", exc)


class BatchWriter:
    def __init__(
        self,
        database: Database,
        *,
        hooks: BatchHooks,
        max_batch: int = 512,
        linger_seconds: float = 0.01,
        gather_seconds: float = 0.0005,
        idle_seconds: float = 1.0,
        tracing: BatchTracing | None = None,
    ) -> None:
        self._db = database
        self._hooks = hooks
        self._max_batch = max_batch
        # A batch of queued records only (nobody waiting on them) waits this long for company, so a
        # busy gateway writes its audit entries tens at a time instead of one commit each.
        self._linger = linger_seconds
        # With several callers waiting in `run`, a batch waits up to this long for the callers that
        # are not queued yet (PostgreSQL's commit_delay idea): they were answered a moment ago and are
        # about to come back, and one fsync for all of them beats one for each half. A lone caller
        # never waits.
        self._gather = gather_seconds
        self._callers = 0
        # The writer thread gives its connection back after this long without work (see _Held).
        self._idle_seconds = idle_seconds
        self._tracing = tracing
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        self.units = 0

    @property
    def queued(self) -> int:
        """Units queued and not yet taken into a batch."""
        return self._queue.qsize()

    def run(self, unit: Callable[[Session], T]) -> T:
        """Run `unit` in the next batch and return its result once the batch is committed. Waits at
        most the store timeout (ADR 0016), then raises 503 store.unavailable: a unit not started by
        then never runs; one already running may still commit."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a unit of work may not wait for another one")
        future: Future[T] = Future()
        with self._lock:
            self._enqueue(unit, future, waiting=True)
        with self._waiting_caller():
            return self._wait(future)

    async def run_async(self, unit: Callable[[Session], T]) -> T:
        """`run` for a caller on the event loop: the unit is queued from the loop and its result is
        awaited there, so no thread of the pool sits blocked until the commit (two thread hops fewer
        per write, ADR 0031). The same bound, answers and errors as `run`."""
        future: Future[T] = Future()
        with self._lock:  # held for a queue put: never long enough to stall the loop
            self._enqueue(unit, future, waiting=True)
        with self._waiting_caller():
            try:
                # On time-out wait_for cancels the wrapper, which cancels `future` if still queued.
                return await asyncio.wait_for(asyncio.wrap_future(future), self._db.timeout_seconds)
            except TimeoutError:
                return self._timed_out(future)

    @contextmanager
    def _waiting_caller(self) -> Iterator[None]:
        """Around a caller's wait for its unit (`run`, `run_async`): a store failure is the 503 of
        ADR 0016, and the caller stops being counted (it was counted in `_enqueue`)."""
        try:
            yield
        except Exception as exc:
            if is_store_failure(exc):
                raise store_unavailable() from exc
            raise
        finally:
            with self._lock:
                self._callers -= 1

    def _wait(self, future: Future[T]) -> T:
        try:
            return future.result(timeout=self._db.timeout_seconds)
        except TimeoutError:
            return self._timed_out(future)

    def _timed_out(self, future: Future[T]) -> T:
        within = f"the store did not answer within {self._db.timeout_seconds:g} s"
        if future.cancel():  # still queued (or cancelled already): the writer skips it
            raise store_unavailable(f"{within}; the change was not made, retry shortly") from None
        if not future.done():
            raise store_unavailable(
                f"{within}; the change may have been made: read it back before retrying"
            ) from None
        return future.result()  # it ended meanwhile, or the unit itself raised TimeoutError

    def submit(self, unit: Callable[[Session], Any]) -> Future[Any]:
        """Queue `unit` for the next batch without waiting (for records whose caller must not wait,
        such as a gateway call's audit entry). A failure is logged."""
        future: Future[Any] = Future()
        future.add_done_callback(_log_failure)
        with self._lock:
            self._enqueue(unit, future, waiting=False)
        return future

    def _enqueue(self, unit: Callable[[Session], Any], future: Future[Any], *, waiting: bool) -> None:
        """Under the lock: so nothing is queued behind `stop`'s marker, where no thread would run it."""
        if self._closed:
            # Shutting down on purpose (draining): a refusal, not a fault.
            raise Unavailable(
                "store.closed", "the service is shutting down; retry on another replica", fault=False
            )
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="trainer-ops-writer", daemon=True)
            self._thread.start()
        if waiting:  # counted before the writer can see the unit (see _gather_batch)
            self._callers += 1
        caller = self._tracing.caller() if self._tracing is not None else None
        self._queue.put((unit, future, waiting, caller))

    def _optimistic(self, batch: list[Item], held: _Held) -> list[Outcome] | None:
        """The whole batch in one transaction, no savepoints: the usual case, and the cheap one.
        None (and nothing written) when any unit raised; the caller then isolates the units."""
        outcomes: list[Outcome] = []
        with held.session() as session:
            transaction = session.begin()
            try:
                self._hooks.begin(session)
                for unit, future, _waiting, _caller in batch:
                    outcomes.append((future, True, unit(session)))
                self._hooks.flush(session)
                # On PostgreSQL the units' last writes were deferred to ride with the COMMIT
                # (db/libpq.py): a unit's failure may show here, and is isolated like any other.
                transaction.commit()
            except Exception as exc:
                try:
                    transaction.rollback()
                finally:
                    self._hooks.abort()
                if is_store_failure(exc):
                    raise  # the store failed, not a unit: running the units again cannot help
                return None
        return outcomes

    def _isolated(self, batch: list[Item], held: _Held) -> list[Outcome]:
        """Each waiting unit in a savepoint, so a failing unit is rolled back alone."""
        outcomes: list[Outcome] = []
        with held.session() as session, session.begin():
            self._hooks.begin(session)
            # Records nobody waits on (audit entries of gateway calls) go first, without a savepoint
            # each: their entries are inserted together, one statement for the lot.
            for unit, future, waiting, _caller in batch:
                if not waiting:
                    try:
                        outcomes.append((future, True, unit(session)))
                    except Exception as exc:  # nothing of it was inserted yet: it alone fails
                        outcomes.append((future, False, exc))
            self._hooks.flush(session)
            # On PostgreSQL the batch start and those entries may still be deferred (db/libpq.py):
            # sent now, so the chain head is known before the first savepoint's mark.
            send_now(session)
            for unit, future, waiting, _caller in batch:
                if not waiting:
                    continue
                mark = self._hooks.mark()
                savepoint = session.begin_nested()
                try:
                    result = unit(session)
                    self._hooks.flush(session)
                    send_now(session)  # its deferred writes fail here, as its own
                    savepoint.commit()
                    outcomes.append((future, True, result))
                except BaseException as exc:  # the unit's own failure goes back to its caller
                    savepoint.rollback()
                    self._hooks.reset(mark)
                    outcomes.append((future, False, exc))
        return outcomes

    def stop(self) -> None:
        """Finish what is queued and give the connection back; the next unit of work starts again."""
        self._halt(close=False)

    def close(self) -> None:
        """Stop for good: a later unit of work is refused (the store is about to close, and a thread
        started now would hold a connection that nothing closes)."""
        self._halt(close=True)

    def _halt(self, *, close: bool) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._closed = self._closed or close
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout=10)

    def _loop(self) -> None:
        held = _Held(self._db)
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self._idle_seconds) if held else self._queue.get()
                except queue.Empty:
                    held.release()  # idle: the next checkout pings it again (the server may restart)
                    continue
                if first is _STOP:
                    return
                batch, stop = self._gather_batch(first)
                self._run_batch(batch, held)
                if stop:
                    return
        finally:
            held.release()

    def _gather_batch(self, first: Item) -> tuple[list[Item], bool]:
        """`first` and whatever joins it: everything queued now; then, when callers wait, the callers
        on their way back (up to `gather_seconds`); when nobody waits, more records (up to `linger`)."""
        batch = [first]
        waiting = int(first[2])
        now = time.monotonic()
        linger_until, gather_until = now + self._linger, now + self._gather
        while len(batch) < self._max_batch:
            if waiting:
                # Callers in `run` not yet in the batch are on their way: wait briefly for them.
                left = gather_until - time.monotonic() if self._callers > waiting else 0.0
                left = min(left, 0.0002)  # look at the caller count again soon: some may be done
            else:
                left = linger_until - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                if waiting and self._callers > waiting and time.monotonic() < gather_until:
                    continue
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
            waiting += int(item[2])
        return batch, False

    def _run_batch(self, batch: list[Item], held: _Held) -> None:
        # Callers that stopped waiting before their unit started have cancelled it: skip those.
        batch = [item for item in batch if item[1].set_running_or_notify_cancel()]
        if not batch:
            return
        # Every store call of the batch gives up after the store timeout without an answer, so the
        # thread never hangs on a frozen store (ADR 0016). Its span (tracing on) ends before the
        # callers are answered, so a caller's trace is whole when its answer leaves.
        with self._db.bounded(), self._traced(batch) as record:
            how, outcomes = self._run_bounded(batch, held)
            record(how)
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _traced(self, batch: list[Item]) -> AbstractContextManager[Callable[[str], None]]:
        if self._tracing is None:
            return nullcontext(_untraced)
        return self._tracing.batch([item[3] for item in batch], len(batch))

    def _run_bounded(self, batch: list[Item], held: _Held) -> tuple[str, list[Outcome]]:
        """How the batch went ("committed", "isolated": a unit failed and the batch ran again with
        each unit in a savepoint, or "failed": nothing of it happened), and each caller's answer."""
        how = "committed"
        try:
            outcomes = self._optimistic(batch, held)
            if outcomes is None:  # a unit failed: run the batch again, each unit in a savepoint
                how, outcomes = "isolated", self._isolated(batch, held)
        except BaseException as exc:  # the commit itself failed: no unit of this batch happened
            self._hooks.abort()
            held.release()  # it may be broken: the next batch takes a checked one
            log.warning("batch of %d failed to commit: %s", len(batch), exc)
            return "failed", [(future, False, exc) for _unit, future, _waiting, _caller in batch]
        self.batches += 1
        self.units += len(batch)
        return how, outcomes
