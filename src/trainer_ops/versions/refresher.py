"""Keeps this replica's snapshot in step with the store when changes come from elsewhere
(another replica, the CLI), and tells health whether the store answers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from trainer_ops.db.engine import Database
from trainer_ops.errors import Unavailable
from trainer_ops.versions.service import DocumentService
from trainer_ops.versions.snapshot import SnapshotHolder

log = logging.getLogger("trainer_ops.snapshot")


class SnapshotRefresher:
    def __init__(
        self, *, database: Database, documents: DocumentService, holder: SnapshotHolder, kinds: list[str]
    ) -> None:
        self._db = database
        self._documents = documents
        self._holder = holder
        self._kinds = kinds
        # Other state kept in step by the same poll (engine activations made by other replicas).
        self.also: list[Callable[[], object]] = []
        self.last_ok: float | None = None
        self.last_error: str | None = None
        self._catching_up = threading.Lock()
        self._catch_up_rounds = 0
        self._catch_up_failed = False

    def load(self) -> None:
        """Load every document (at start)."""
        with self._db.read() as session:
            for doc in self._documents.load(session, self._kinds):
                self._holder.publish(doc)
        self.last_ok = time.time()

    def refresh(self) -> bool:
        """One cheap check (the latest version of each kind); loads only what changed. True if it did."""
        try:
            with self._db.read() as session:
                latest = self._documents.latest_versions(session)
                held = self._holder.current.versions()
                stale = [k for k in self._kinds if latest.get(k, 0) > held.get(k, 0)]
                docs = self._documents.load(session, stale) if stale else []
        except Exception as exc:  # the store being down must not kill the loop; health reports it
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("store check failed: %s", self.last_error)
            return False
        self.last_ok = time.time()
        self.last_error = None
        for doc in docs:
            self._holder.publish(doc)
        for follow in self.also:
            try:
                follow()
            except Exception as exc:  # one part failing must not stop the others; it is retried
                log.warning("refresh of %s failed: %s", getattr(follow, "__qualname__", follow), exc)
        return bool(docs)

    def holds(self, wanted: Mapping[str, int]) -> bool:
        """The snapshot already holds every `kind: version` of `wanted` or newer (no I/O)."""
        return self._holder.current.holds(wanted)

    def catch_up(self, wanted: Mapping[str, int]) -> bool:
        """Read-your-writes: refresh from the store at once unless the snapshot already holds every
        `kind: version` in `wanted` (or newer). True when it then does; False when the store does not
        have that version yet (the caller decides how long to keep asking). A store that does not
        answer is `Unavailable`, never an older answer.

        Readers behind the same change queue on one lock and look again before querying, so a burst of
        them costs the store one query, not one each; when the query they queued behind failed, they
        fail at once instead of each waiting for the store in turn.
        """
        if self._holder.current.holds(wanted):
            return True
        seen = self._catch_up_rounds
        with self._catching_up:
            if self._holder.current.holds(wanted):
                return True
            if self._catch_up_rounds == seen or not self._catch_up_failed:
                self.refresh()
                self._catch_up_rounds += 1
                self._catch_up_failed = self.last_error is not None
                if self._holder.current.holds(wanted):
                    return True
            if self._catch_up_failed:
                raise Unavailable(
                    "store.unavailable",
                    "the store does not answer or is busy; retry shortly",
                    headers={"Retry-After": "1"},
                )
        return False

    def probe(self) -> bool:
        """Ask the store directly (when no recent check says how it is). Bounded like every read: a
        store that gives no answer within the store timeout is down (ADR 0016), so `/readyz` and
        health never wait longer."""
        try:
            with self._db.read() as session:
                self._documents.latest_versions(session)
        except Exception as exc:  # any failure means: the store does not answer
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False
        self.last_ok = time.time()
        self.last_error = None
        return True

    def store_ok(self, *, max_age: float) -> bool:
        return self.last_error is None and self.last_ok is not None and time.time() - self.last_ok <= max_age
