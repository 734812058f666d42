"""Background jobs of a running app (snapshot poll, process sampling, audit checkpoints), each every few
seconds, and a stop that lets a running job finish.

Why not cancel the tasks: a job runs its store work in a worker thread, and cancelling the task that
awaits the thread does not stop the thread. The app would then close the store under it, and the
thread would give its connection back to a pool that is already gone (or start the writer again),
leaving a connection that nothing closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("trainer_ops.periodic")


class Periodic:
    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job` every `seconds` (the first time after `seconds`) until `stop`."""
        self._tasks.append(asyncio.create_task(self._loop(seconds, job)))

    async def stop(self) -> None:
        """No job starts any more; returns once the running ones are done."""
        self._stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
            except TimeoutError:
                try:
                    await job()
                except Exception:  # one failed run must not end the job; the next run retries
                    log.exception("background job %s failed", getattr(job, "__qualname__", job))
