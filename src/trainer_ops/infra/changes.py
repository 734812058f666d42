"""The change bus between replicas: PostgreSQL LISTEN/NOTIFY, or nothing for the one-process store.

Migration 0004 makes every committed insert into the document and activation tables NOTIFY
`trainer_ops_changes`. A `PostgresChangeListener` holds one connection of its own, LISTENs, and calls
`on_change` for each notification, and once after every (re)connect, since notifications sent while it
was away are lost and the call resyncs by version. The poll of the snapshot refresher stays as the
safety net; this makes a change reach every replica in milliseconds instead of at the next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import psycopg

log = logging.getLogger("trainer_ops.changes")

CHANNEL = "trainer_ops_changes"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "trainer-ops-changes"


class ChangeListener(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait_listening(self, timeout: float) -> bool:
        """Block until notifications are heard (or `timeout` passes): a replica joins the fleet only
        once it can hear the reloads it must answer."""
        ...


class NoChangeListener:
    """SQLite: one process writes, and it publishes its own changes as it makes them."""

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def wait_listening(self, timeout: float) -> bool:
        return True


class PostgresChangeListener:
    def __init__(
        self,
        dsn: str,
        on_change: Callable[[], object],
        *,
        own: Callable[[int], bool] = lambda _pid: False,
        channels: dict[str, Callable[[str], object]] | None = None,
        retry_seconds: float = 0.5,
        max_retry_seconds: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._on_change = on_change
        # own(pid): was the notification sent by one of this process's connections? Such a change was
        # published here as it was made; refreshing for it again would only cost a query.
        self._own = own
        # Further channels heard on the same connection (the reload bus): channel -> handler(payload).
        self._channels = dict(channels or {})
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Set while LISTENing (tests wait on it); cleared when the connection is lost.
        self.listening = threading.Event()
        self.notifications = 0
        self.own_skipped = 0
        self.connections = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="trainer-ops-changes", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_listening(self, timeout: float) -> bool:
        return self.listening.wait(timeout)

    def _run(self) -> None:
        delay = self._retry
        while not self._stop.is_set():
            try:
                self._listen()
                delay = self._retry
            except psycopg.Error as exc:
                log.warning("change notifications lost (%s); reconnecting in %.1f s", exc, delay)
            finally:
                self.listening.clear()
            self._stop.wait(delay)
            delay = min(delay * 2, self._max_retry)

    def _listen(self) -> None:
        with psycopg.connect(
            self._dsn, autocommit=True, connect_timeout=5, application_name=APPLICATION_NAME
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            for channel in self._channels:
                connection.execute(f"LISTEN {channel}")
            self.connections += 1
            self.listening.set()
            self._call()  # whatever changed while nobody listened
            while not self._stop.is_set():
                # Wakes at least twice a second to see whether to stop.
                for notification in connection.notifies(timeout=0.5):
                    other = self._channels.get(notification.channel)
                    if other is not None:
                        self._deliver(other, notification.payload)
                        continue
                    self.notifications += 1
                    if self._own(notification.pid):
                        self.own_skipped += 1
                        continue
                    self._call()

    @staticmethod
    def _deliver(handler: Callable[[str], object], payload: str) -> None:
        try:
            handler(payload)
        except Exception:  # the listener must outlive a failing handler
            log.exception("handling a notification failed")

    def _call(self) -> None:
        try:
            self._on_change()
        except Exception:  # the listener must outlive a failed refresh; the poll retries it
            log.exception("refresh after a change notification failed")
