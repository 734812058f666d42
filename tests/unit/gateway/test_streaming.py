"""A started stream ends properly whatever fails in it, and OpenAI's reset durations read as OpenAI's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from trainer_ops.errors import TrainerOpsError
from trainer_ops.gateway.providers import UpstreamError
from trainer_ops.gateway.ratelimit import duration, rate_limit_headers
from trainer_ops.gateway.streaming import DONE, ended_properly
from trainer_ops.infra.limiter import CallBudget

FIRST = b'data: {"choices": []}\n\n'


class Source:
    """Yields one event, then fails with `failure`; records whether it was closed."""

    def __init__(self, failure: BaseException) -> None:
        self.failure = failure
        self.closed = False

    async def events(self) -> AsyncIterator[bytes]:
        try:
            yield FIRST
            raise self.failure
        finally:
            self.closed = True


def run(source: Source) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [chunk async for chunk in ended_properly(source.events(), request_id="req-1")]

    return asyncio.run(collect())


def error_of(event: bytes) -> dict[str, object]:
    error: dict[str, object] = orjson.loads(event.removeprefix(b"data: "))["error"]
    return error


def test_a_fault_in_our_relay_ends_with_an_internal_error_event_and_done() -> None:
    source = Source(KeyError("usage"))
    sent = run(source)
    assert sent[0] == FIRST
    assert sent[-1] == DONE
    error = error_of(sent[1])
    assert (error["type"], error["code"]) == ("server_error", "gateway.stream_failed")
    assert "req-1" in str(error["message"])
    assert source.closed


def test_an_upstream_failure_mid_stream_is_its_own_error_event() -> None:
    sent = run(Source(UpstreamError("gateway.upstream_unreachable", "the model server is unreachable")))
    assert error_of(sent[1]) == {
        "message": "the model server is unreachable",
        "type": "server_error",
        "param": None,
        "code": "gateway.upstream_unreachable",
    }
    assert sent[2:] == [DONE]


def test_a_cancelled_stream_is_no_failure_and_sends_nothing_more() -> None:
    source = Source(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        run(source)
    assert source.closed


def test_a_caller_leaving_closes_the_upstream_at_once() -> None:
    source = Source(TrainerOpsError("test.never_reached", "reached"))

    async def leave_after_the_first() -> None:
        stream = ended_properly(source.events(), request_id="r")
        assert await anext(stream) == FIRST
        await stream.aclose()

    asyncio.run(leave_after_the_first())
    assert source.closed


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "20ms"), (1, "1s"), (1.5, "1.5s"), (59.9996, "1m0s"), (360, "6m0s"), (61.25, "1m1.25s")],
)
def test_reset_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_retry_after_is_sent_only_on_a_refusal_and_in_whole_seconds() -> None:
    assert "retry-after" not in rate_limit_headers(CallBudget(True, 5, 4, 59.2))
    refused = rate_limit_headers(CallBudget(False, 5, 0, 0.2))
    assert refused == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "200ms",
        "retry-after": "1",
    }


def test_a_failure_after_done_sends_nothing_more() -> None:
    async def finished_then_fails() -> AsyncIterator[bytes]:
        yield FIRST
        yield DONE
        raise TrainerOpsError("store.closed", "the audit write failed")

    async def collect() -> list[bytes]:
        return [chunk async for chunk in ended_properly(finished_then_fails(), request_id="r")]

    assert asyncio.run(collect()) == [FIRST, DONE]
