"""Progress of long CLI jobs: lines every few seconds off a terminal, a bar on one, nothing when quiet."""

from __future__ import annotations

import io

from trainer_ops.cli.progress import BAR_MIN_TOTAL, Lines, progress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_come_every_few_seconds_with_the_share_done_and_a_last_line_when_one_was_printed() -> None:
    clock, stream = Clock(), io.StringIO()
    with progress("verifying", 200_000, stream=stream, every_seconds=5, clock=clock) as advance:
        for _ in range(20):
            clock.now += 1
            advance(10_000)
    lines = stream.getvalue().splitlines()
    assert lines == [
        "verifying: 50,000 of 200,000 entries (25%), 5 s, running",
        "verifying: 100,000 of 200,000 entries (50%), 10 s, running",
        "verifying: 150,000 of 200,000 entries (75%), 15 s, running",
        "verifying: 200,000 of 200,000 entries (100%), 20 s, running",
        "verifying: 200,000 of 200,000 entries (100%), 20 s, done",
    ]


def test_a_quick_job_prints_nothing_and_an_unknown_total_counts_entries() -> None:
    clock, stream = Clock(), io.StringIO()
    with progress("exporting", None, stream=stream, every_seconds=5, clock=clock) as advance:
        advance(500)
    assert stream.getvalue() == ""
    lines = Lines("exporting", None, stream, every_seconds=1, clock=clock)
    clock.now = 3
    lines.advance(1_500)
    lines.finish()
    assert stream.getvalue().splitlines() == [
        "exporting: 1,500 entries, 3 s, running",
        "exporting: 1,500 entries, 3 s, done",
    ]


def test_quiet_prints_nothing_even_on_a_terminal() -> None:
    clock, stream = Clock(), Terminal()
    with progress("verifying", 10 * BAR_MIN_TOTAL, quiet=True, stream=stream, clock=clock) as advance:
        clock.now = 60
        advance(10 * BAR_MIN_TOTAL)
    assert stream.getvalue() == ""


def test_a_terminal_gets_a_bar_for_a_long_job_and_nothing_for_a_short_one() -> None:
    stream = Terminal()
    with progress("verifying", BAR_MIN_TOTAL - 1, stream=stream) as advance:
        advance(BAR_MIN_TOTAL - 1)
    assert stream.getvalue() == ""
    with progress("verifying", 2 * BAR_MIN_TOTAL, stream=stream) as advance:
        advance(BAR_MIN_TOTAL)
        advance(BAR_MIN_TOTAL)
    assert "verifying" in stream.getvalue()
