"""Periodic: background jobs that survive a failed run and a stop that waits for the running one."""

from __future__ import annotations

import asyncio

from trainer_ops.infra.periodic import Periodic


def test_a_failed_run_does_not_end_the_job() -> None:
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    async def main() -> None:
        jobs = Periodic()
        jobs.every(0.001, flaky)
        while len(runs) < 3:
            await asyncio.sleep(0.001)
        await jobs.stop()

    asyncio.run(asyncio.wait_for(main(), timeout=10))
    assert runs[:3] == [0, 1, 2]


def test_stop_waits_for_the_running_job_and_starts_no_other() -> None:
    events: list[str] = []

    async def slow() -> None:
        events.append("start")
        await asyncio.sleep(0.05)
        events.append("end")

    async def main() -> None:
        jobs = Periodic()
        jobs.every(0.001, slow)
        while not events:
            await asyncio.sleep(0.001)
        await jobs.stop()
        events.append("stopped")
        await asyncio.sleep(0.01)

    asyncio.run(asyncio.wait_for(main(), timeout=10))
    assert events == ["start", "end", "stopped"]
