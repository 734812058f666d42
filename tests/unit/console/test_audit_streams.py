"""Verify now's stream: a page that leaves stops the verifier's run instead of leaving it to finish."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from trainer_ops.console.views.audit_streams import _verification


class SlowLog:
    """A verifier over a long log: reports progress every 10,000 entries until it is stopped."""

    def __init__(self) -> None:
        self.reported = 0
        self.stopped = threading.Event()

    def size(self) -> int:
        return 10_000_000

    def verify(self, *, progress: Callable[[int], None]) -> Any:
        try:
            for _ in range(1_000):
                progress(10_000)
                self.reported += 1
                threading.Event().wait(0.005)
        finally:
            self.stopped.set()
        return SimpleNamespace(size=self.reported * 10_000)


def test_closing_the_stream_stops_the_verifier_at_its_next_report() -> None:
    log = SlowLog()
    console = SimpleNamespace(checkpoints=log, render_text=lambda *args, **values: "")
    me = SimpleNamespace(console=console)

    async def read_two_events_then_leave() -> bool:
        events = _verification(request=None, me=me)  # type: ignore[arg-type]
        await anext(events)
        await anext(events)
        await events.aclose()  # what Starlette does when the client disconnects
        # The loop keeps running, as a server's does, while the verifier gets its chance to stop.
        for _ in range(100):
            if log.stopped.is_set():
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(read_two_events_then_leave()), "the verifier kept running"
    assert log.reported < 10
