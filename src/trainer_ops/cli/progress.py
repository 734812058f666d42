"""Progress of long CLI jobs on stderr: a bar on a terminal, a line every few seconds otherwise, nothing
when quiet (`--json`, `--quiet`), so scripts reading stdout never see it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Advance = Callable[[int], None]
# A bar for a job this small would only flicker; the line form waits `every_seconds` anyway.
BAR_MIN_TOTAL = 10_000
# Seconds between two lines when stderr is not a terminal (cron mail, CI logs).
EVERY_SECONDS = 5.0


class Lines:
    """The form for logs and cron mail: one line every `every_seconds` while the job runs, and a last
    line only if the job ran long enough to print one (a quick job prints nothing)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO,
        *,
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label, self._total, self._stream = label, total, stream
        self._every, self._clock = every_seconds, clock
        self._start = self._last = clock()
        self.done = 0
        self.printed = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            self._print(now)

    def finish(self) -> None:
        if self.printed:
            self._print(self._clock(), final=True)

    def _print(self, now: float, *, final: bool = False) -> None:
        seconds = now - self._start
        if self._total:
            share = f" of {self._total:,} entries ({min(100, self.done * 100 // self._total)}%)"
        else:
            share = " entries"
        state = "done" if final else "running"
        self._stream.write(f"{self._label}: {self.done:,}{share}, {seconds:.0f} s, {state}\n")
        self._stream.flush()
        self.printed += 1


@contextmanager
def progress(
    label: str,
    total: int | None,
    *,
    quiet: bool = False,
    stream: TextIO | None = None,
    every_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Advance]:
    """Yield `advance(n)`, to be called as batches of entries are done."""
    out = stream or sys.stderr
    if quiet:
        yield lambda _count: None
        return
    if out.isatty():
        if total is not None and total < BAR_MIN_TOTAL:
            yield lambda _count: None
            return
        with _bar(label, total, out) as advance:
            yield advance
        return
    every = EVERY_SECONDS if every_seconds is None else every_seconds
    lines = Lines(label, total, out, every_seconds=every, clock=clock)
    yield lines.advance
    lines.finish()


@contextmanager
def _bar(label: str, total: int | None, out: TextIO) -> Iterator[Advance]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda count: bar.advance(task, count)
