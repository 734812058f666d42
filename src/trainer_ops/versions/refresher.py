"""Keeps this replica's snapshot in step with the store when changes come from elsewhere
(another replica, the CLI), and tells health whether the store answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from trainer_ops.db.engine import Database
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

    def probe(self) -> bool:
        """Ask the store directly (when no recent check says how it is)."""
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
