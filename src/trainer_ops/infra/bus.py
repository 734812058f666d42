"""The reload bus: small JSON messages between the replicas of one deployment.

Hot reloads send their commands, rollbacks and every instance's answer over it (engines/reload.py).
`MemoryBus` reaches this process only (SQLite, or PostgreSQL with notifications off). `PostgresBus`
sends with `pg_notify` on the store the replicas already share; each replica's change listener
(infra/changes.py) LISTENs on the same connection it uses for change notifications and hands every
payload to `deliver`. No broker of our own: PostgreSQL delivers a notification to every listening
session once its transaction commits, in commit order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, text

log = logging.getLogger("trainer_ops.bus")

CHANNEL = "trainer_ops_reload"
# PostgreSQL refuses payloads of 8000 bytes or more; messages carry ids and digests, never rulesets.
MAX_PAYLOAD = 7900
Message = dict[str, Any]
Handler = Callable[[Message], None]


class Bus(Protocol):
    # True when the bus reaches other processes (the replicas of a fleet).
    shared: bool

    def publish(self, message: Message) -> None: ...

    def subscribe(self, handler: Handler) -> None: ...


class _Handlers:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def _dispatch(self, message: Message) -> None:
        for handler in self._handlers:
            try:
                handler(message)
            except Exception:  # one failing handler must not starve the others or kill the listener
                log.exception("reload bus handler failed on %s", message.get("op"))


class MemoryBus(_Handlers):
    """This process only: `publish` calls every handler at once, in the caller's thread."""

    shared = False

    def publish(self, message: Message) -> None:
        self._dispatch(message)


class PostgresBus(_Handlers):
    shared = True

    def __init__(
        self, engine: Engine, *, guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext
    ) -> None:
        super().__init__()
        self._engine = engine
        # Bounds each publish like any store call (Database.guarded): a frozen store answers 503.
        self._guard = guard

    def publish(self, message: Message) -> None:
        payload = orjson.dumps(message).decode()
        if len(payload.encode()) > MAX_PAYLOAD:
            raise ValueError(f"reload bus message too large ({len(payload)} bytes): {message.get('op')}")
        with self._guard(), self._engine.connect() as connection:
            connection.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
            )
            connection.commit()

    def deliver(self, payload: str) -> None:
        """Called by the listener thread for every notification on CHANNEL (ours included)."""
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("reload bus: dropped a payload that is not JSON")
            return
        if isinstance(message, dict):
            self._dispatch(message)
