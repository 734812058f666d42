"""In-process fan-out of changes to every stream subscriber, with a short replay log.

Event ids are `<epoch>-<seq>`: the epoch is drawn when the process starts, so a client resuming with an
id from another process (a restart, another replica) is told to resync instead of missing changes.
At shutdown `close` tells every subscriber to end its stream, so that the client reconnects elsewhere.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

_SEQ = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        return f"id: {self.id}\nevent: {self.kind}\ndata: ".encode() + orjson.dumps(self.data) + b"\n\n"


# The last item a closed subscriber's queue yields: its stream then tells the client to reconnect.
CLOSED = Event("", "closed", {})


def reconnect_notice() -> bytes:
    """A stream's last bytes at shutdown: a comment saying why, and the reconnection delay for
    EventSource clients, spread over 0.5-1.5 s so that hundreds of them do not all come back in the
    same moment (the SDK reconnects on its own backoff)."""
    return f": shutting down, reconnect\nretry: {secrets.choice(range(500, 1501))}\n\n".encode()


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False
    closed: bool = False

    def push(self, event: Event) -> None:
        """Thread-safe: hand `event` to this subscriber's event loop."""
        self.loop.call_soon_threadsafe(self._put, event)

    def close(self) -> None:
        """Thread-safe: end this subscriber; its queue yields CLOSED after what was already queued."""
        self.loop.call_soon_threadsafe(self._close)

    def _put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream then ends; the client resumes and resyncs

    def _close(self) -> None:
        self.closed = True
        self._put(CLOSED)


class Broadcaster:
    def __init__(self, *, replay: int = 2000) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._log: deque[Event] = deque(maxlen=replay)
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self.closed = False

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self._seq}"

    def publish(self, kind: str, data: dict[str, Any]) -> Event:
        with self._lock:
            self._seq += 1
            event = Event(f"{self.epoch}-{self._seq}", kind, data)
            self._log.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.push(event)
        return event

    def since(self, last_id: str) -> list[Event] | None:
        """Events after `last_id`, or None when they cannot all be replayed (resync instead)."""
        epoch, _, seq_text = last_id.partition("-")
        # ASCII digits only: str.isdigit() also takes '²' or '٣', which int() then refuses.
        if epoch != self.epoch or not _SEQ.fullmatch(seq_text):
            return None
        seq = int(seq_text)
        with self._lock:
            if seq > self._seq:
                return None
            events = [e for e in self._log if int(e.id.rsplit("-", 1)[1]) > seq]
            oldest = int(self._log[0].id.rsplit("-", 1)[1]) if self._log else self._seq + 1
        if seq + 1 < oldest and seq < self._seq:
            return None
        return events

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscriber:
        """A new subscriber; once the broadcaster is closed, one that is closed already."""
        subscriber = Subscriber(loop)
        with self._lock:
            if self.closed:
                subscriber.closed = True
                subscriber.queue.put_nowait(CLOSED)
            else:
                self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    def close(self) -> None:
        """Shutdown: end every subscriber's stream, and every later one's at once (thread-safe)."""
        with self._lock:
            self.closed = True
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
