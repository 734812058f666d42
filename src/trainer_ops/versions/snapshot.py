"""The live snapshot: every current document, pre-serialised, replaced as a whole on each change.

Readers take `holder.current` once and use only that object, so a request never sees half of a change,
and a read costs a dictionary lookup: no I/O, no serialisation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class VersionedDocument:
    kind: str
    version: int
    document: dict[str, Any]
    body: bytes = b""
    etag: str = ""

    @classmethod
    def of(cls, kind: str, version: int, document: dict[str, Any]) -> VersionedDocument:
        return cls(kind, version, document, orjson.dumps(document), make_etag(version))


def make_etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True)
class Snapshot:
    documents: dict[str, VersionedDocument] = field(default_factory=dict)

    def get(self, kind: str) -> VersionedDocument:
        return self.documents[kind]

    def versions(self) -> dict[str, int]:
        return {kind: doc.version for kind, doc in self.documents.items()}

    def holds(self, wanted: Mapping[str, int]) -> bool:
        """Every kind in `wanted` is at that version or newer (read-your-writes: "not older than")."""
        documents = self.documents
        for kind, version in wanted.items():
            doc = documents.get(kind)
            if doc is None or doc.version < version:
                return False
        return True

    def with_document(self, doc: VersionedDocument) -> Snapshot:
        documents = dict(self.documents)
        documents[doc.kind] = doc
        return Snapshot(documents)


class SnapshotHolder:
    """Holds the current snapshot; replacing it is one reference assignment (atomic under the GIL)."""

    def __init__(self) -> None:
        self.current = Snapshot()
        self._listeners: list[Any] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Any) -> None:
        """listener(snapshot) runs after every replacement (derived caches, the change stream)."""
        self._listeners.append(listener)

    def publish(self, doc: VersionedDocument) -> None:
        """Install `doc` unless the snapshot already holds the same or a newer version of it."""
        with self._lock:
            held = self.current.documents.get(doc.kind)
            if held is not None and held.version >= doc.version:
                return
            self.current = self.current.with_document(doc)
            snapshot = self.current
        for listener in self._listeners:
            listener(snapshot)
