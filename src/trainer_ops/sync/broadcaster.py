"""In-process fan-out of changes to every stream subscriber, with a short replay log.

Event ids are `<epoch>-<seq>`: the epoch is drawn when the process starts, so a client resuming with an
id from another process (a restart, another replica) is told to resync instead of missing changes.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        return f"id: {self.id}\nevent: {self.kind}\ndata: ".encode() + orjson.dumps(self.data) + b"\n\n"


@dataclass(eq=False)
class Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False

    def push(self, event: Event) -> None:
        """Thread-safe: hand `event` to this subscriber's event loop."""
        self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the stream then ends; the client resumes and resyncs


class Broadcaster:
    def __init__(self, *, replay: int = 2000) -> None:
        self.epoch = secrets.token_hex(4)
        self._seq = 0
        self._log: deque[Event] = deque(maxlen=replay)
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

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
        if epoch != self.epoch or not seq_text.isdigit():
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
        subscriber = Subscriber(loop)
        with self._lock:
            self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)
