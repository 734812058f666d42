"""Broadcaster.close (graceful shutdown): every subscriber's queue ends with CLOSED after what it had,
and a subscriber that comes later is closed from the start."""

from __future__ import annotations

import asyncio

from trainer_ops.sync.broadcaster import CLOSED, Broadcaster, reconnect_notice


def test_close_ends_every_subscriber_after_its_queued_events_and_every_later_one_at_once() -> None:
    async def scenario() -> None:
        hub = Broadcaster()
        loop = asyncio.get_running_loop()
        first, second = hub.subscribe(loop), hub.subscribe(loop)
        hub.publish("document", {"n": 1})
        hub.close()
        await asyncio.sleep(0)  # the loop runs what close() scheduled
        for subscriber in (first, second):
            assert subscriber.closed
            assert (await subscriber.queue.get()).data == {"n": 1}
            assert await subscriber.queue.get() is CLOSED
        late = hub.subscribe(loop)
        assert late.closed
        assert await late.queue.get() is CLOSED
        assert hub.subscribers == 2  # the streams unsubscribe as they end; the late one never joined

    asyncio.run(scenario())


def test_the_reconnect_notice_is_a_comment_and_a_spread_retry() -> None:
    notices = {reconnect_notice() for _ in range(50)}
    for notice in notices:
        comment, retry, end = notice.decode().split("\n", 2)
        assert comment.startswith(": ")
        assert retry.startswith("retry: ")
        assert 500 <= int(retry.removeprefix("retry: ")) <= 1500
        assert end == "\n"
    assert len(notices) > 1
