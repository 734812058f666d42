"""The group-commit writer on both stores: concurrent callers share commits, a failing unit fails
alone, a lone caller never waits for company, the held connection goes back when the writer stops, and a
closed writer refuses work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from trainer_ops.app import Ops
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.db.writer import BatchWriter
from trainer_ops.errors import Unavailable


def append(ops: Ops, session: Any, n: int) -> int:
    return ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"t-{n}")


def in_threads(work: Callable[[int], object], args: Iterable[int]) -> None:
    """work(arg) for every arg, each in a thread of its own, all at once; returns when all are done."""
    threads = [threading.Thread(target=work, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def prepared(ops: Ops) -> Ops:
    ops.prepare()
    return ops


def test_concurrent_callers_share_commits_and_every_entry_lands_in_order(ops: Ops) -> None:
    ops = prepared(ops)
    first_seq = ops.checkpoints.size() + 1
    callers, each = 8, 25
    batches_before, units_before = ops.writer.batches, ops.writer.units
    seqs: list[int] = []

    def work(w: int) -> None:
        for i in range(each):
            seqs.append(ops.write(lambda session, n=w * each + i: append(ops, session, n)))

    in_threads(work, range(callers))

    units = ops.writer.units - units_before
    batches = ops.writer.batches - batches_before
    assert units == callers * each
    # One commit per caller would be 200 batches; group commit shares them (typically 8 a batch).
    assert units / batches >= 2, (units, batches)
    assert sorted(seqs) == list(range(first_seq, first_seq + callers * each))
    assert ops.checkpoints.verify().status == "intact"


def test_a_failing_unit_fails_alone_and_leaves_no_gap(ops: Ops) -> None:
    ops = prepared(ops)
    start = threading.Barrier(6)
    results: dict[int, Any] = {}

    def failing(session: Any) -> None:
        append(ops, session, -1)
        raise ValueError("this unit is refused")

    def work(n: int) -> None:
        start.wait()
        try:
            results[n] = ops.write(failing if n == 3 else lambda session: append(ops, session, n))
        except ValueError as exc:
            results[n] = exc

    in_threads(work, range(6))

    assert isinstance(results.pop(3), ValueError)
    size = ops.checkpoints.size()
    assert sorted(results.values()) == list(range(size - 4, size + 1))  # five entries, no gap
    verdict = ops.checkpoints.verify()
    assert (verdict.status, verdict.size) == ("intact", size)


def test_a_lone_caller_never_waits_for_company(ops: Ops) -> None:
    ops = prepared(ops)
    # A gather window of a minute: a lone caller that waited for company would time the test out.
    writer = BatchWriter(ops.database, hooks=ops.audit, gather_seconds=60.0, linger_seconds=60.0)
    try:
        started = time.monotonic()
        for n in range(3):
            writer.run(lambda session, n=n: append(ops, session, n))
        assert time.monotonic() - started < 30
        assert (writer.batches, writer.units) == (3, 3)
    finally:
        writer.stop()


def test_the_writer_holds_one_connection_between_batches_and_returns_it_when_stopped(ops: Ops) -> None:
    ops = prepared(ops)
    pool: Any = ops.database.engine.pool
    ops.writer.stop()
    idle = pool.checkedout()
    for n in range(3):
        ops.write(lambda session, n=n: append(ops, session, n))
    assert pool.checkedout() == idle + 1
    ops.writer.stop()
    assert pool.checkedout() == idle
    ops.write(lambda session: append(ops, session, 9))  # it starts again when used
    assert ops.checkpoints.verify().status == "intact"


def test_a_batch_waits_for_the_callers_on_their_way_back(ops: Ops) -> None:
    ops = prepared(ops)
    # Two callers writing in turn: without the gather window each would mostly commit alone (one
    # answered while the other's unit already runs); with it, the writer waits for the other one.
    writer = BatchWriter(ops.database, hooks=ops.audit, gather_seconds=60.0)
    each = 40

    def work() -> None:
        for n in range(each):
            writer.run(lambda session, n=n: append(ops, session, n))

    try:
        in_threads(lambda _n: work(), range(2))
        assert writer.units == 2 * each
        assert writer.batches <= 0.75 * writer.units, (writer.batches, writer.units)
    finally:
        writer.stop()


def test_an_idle_writer_gives_its_connection_back(ops: Ops) -> None:
    ops = prepared(ops)
    pool: Any = ops.database.engine.pool
    ops.writer.stop()
    idle = pool.checkedout()
    writer = BatchWriter(ops.database, hooks=ops.audit, idle_seconds=0.05)
    try:
        writer.run(lambda session: append(ops, session, 1))
        deadline = time.monotonic() + 10
        while pool.checkedout() != idle:
            assert time.monotonic() < deadline, "the idle writer kept its connection"
            time.sleep(0.01)
        writer.run(lambda session: append(ops, session, 2))  # and takes one again when there is work
        assert ops.checkpoints.verify().status == "intact"
    finally:
        writer.stop()
    assert pool.checkedout() == idle


def test_a_closed_writer_refuses_work_and_takes_no_connection(ops: Ops) -> None:
    ops = prepared(ops)
    pool: Any = ops.database.engine.pool
    ops.writer.close()
    idle = pool.checkedout()
    ran: list[object] = []
    with pytest.raises(Unavailable):
        ops.writer.run(ran.append)
    with pytest.raises(Unavailable):
        ops.writer.submit(ran.append)
    time.sleep(0.05)  # a thread started by mistake would have taken its connection by now
    assert (ran, pool.checkedout()) == ([], idle)
