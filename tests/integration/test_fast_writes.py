"""The lean write path of ADR 0031 on both stores: each change reads the current version from the store
under the chain lock (never from what this process last wrote or last heard), so two replicas on one
store build every change on the other's; and `BatchWriter.run_async` answers like `run` (after the
commit, with the unit's own error, with 503 and nothing written when the writer is stuck)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from trainer_ops.access.types import Principal, Role
from trainer_ops.app import Ops, build_ops
from trainer_ops.audit.types import SYSTEM_ACTOR, Action
from trainer_ops.config import Settings
from trainer_ops.errors import PreconditionFailed, Unavailable

FEATURE = "quiz_auto_generate"


def _toggle(ops: Ops, who: str, enabled: bool, if_match: frozenset[int] | None) -> int:
    doc = ops.features.update(
        principal=Principal(who, Role.ADMIN),
        key=FEATURE,
        place=None,
        changes={"enabled": enabled},
        if_match=if_match,
        request_id=f"{who}-{enabled}",
    )
    return doc.version


def test_two_replicas_on_one_store_build_each_change_on_the_others(settings: Settings) -> None:
    # No poll and no change notifications (the test settings): B's snapshot never hears of A's
    # changes, so only a version read from the store, under the lock, can make these pass.
    a = build_ops(settings)
    a.prepare()  # makes the keys the second replica then reads: as replicas sharing them would
    b = build_ops(settings)
    try:
        b.prepare()
        versions = []
        for n in range(6):
            writer, other = (a, b) if n % 2 == 0 else (b, a)
            last = versions[-1] if versions else None
            # If-Match names the version the *other* replica wrote last: current, so it is accepted.
            versions.append(_toggle(writer, f"r{n % 2}", n % 2 == 0, frozenset({last}) if last else None))
            assert other.features.current().version < versions[-1] or n == 0
        assert versions == list(range(versions[0], versions[0] + 6))

        with pytest.raises(PreconditionFailed) as stale:  # b's own last write is not current any more
            _toggle(b, "r1", True, frozenset({versions[-2]}))
        assert stale.value.extra["currentVersion"] == versions[-1]

        history = a.features.history(cursor=None, limit=6).items
        assert [item["version"] for item in history] == versions[::-1]
        assert [item["document"]["features"][FEATURE]["enabled"] for item in history] == [
            n % 2 == 0 for n in reversed(range(6))
        ]
        assert a.checkpoints.verify().status == "intact"
    finally:
        a.close()
        b.close()


def _append(ops: Ops, session: Any) -> int:
    return ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target="async")


def test_run_async_answers_after_the_commit_and_passes_a_units_own_error(ops: Ops) -> None:
    ops.prepare()

    def refused(session: Any) -> None:
        _append(ops, session)
        raise ValueError("this unit is refused")

    async def main() -> tuple[int, int]:
        first = await ops.writer.run_async(lambda session: _append(ops, session))
        with pytest.raises(ValueError, match="refused"):
            await ops.writer.run_async(refused)
        second = await ops.writer.run_async(lambda session: _append(ops, session))
        return first, second

    first, second = asyncio.run(main())
    assert second == first + 1  # the refused unit's entry was rolled back with it: no gap
    with ops.database.read() as session:  # committed before the answer: a new transaction sees it
        assert ops.audit.entry(session, second).target == "async"
    assert ops.checkpoints.verify().status == "intact"


def test_run_async_behind_a_stuck_batch_is_refused_in_time_and_never_runs(settings: Settings) -> None:
    ops = build_ops(settings.model_copy(update={"store_timeout_seconds": 0.5}))
    release, ran = threading.Event(), []
    try:
        ops.prepare()
        ops.writer.submit(lambda _session: release.wait(10))
        time.sleep(0.1)  # the writer thread is inside the stuck unit now

        async def queued() -> None:
            await ops.writer.run_async(lambda _session: ran.append(True))

        started = time.monotonic()
        with pytest.raises(Unavailable, match="the change was not made") as refused:
            asyncio.run(queued())
        assert refused.value.code == "store.unavailable"
        assert time.monotonic() - started < 2.0

        release.set()
        ops.write(lambda _session: None)  # the writer goes on with later units
        assert ran == []
    finally:
        release.set()
        ops.close()
