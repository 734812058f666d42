"""SnapshotRefresher.catch_up (read-your-writes): a snapshot behind the wanted version is refreshed at
once and only then; a version the store lacks is False; a store that does not answer is Unavailable,
and readers queued behind a failed query fail without asking the store again."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import pytest

from trainer_ops.errors import Unavailable
from trainer_ops.versions.refresher import SnapshotRefresher
from trainer_ops.versions.snapshot import SnapshotHolder, VersionedDocument


class FakeStore:
    """Stands for the database and the DocumentService: versions per kind, a query counter, and an
    optional failure (after a delay) in place of an answer."""

    def __init__(self, versions: dict[str, int]) -> None:
        self.versions = versions
        self.queries = 0
        self.failure: Exception | None = None
        self.delay = 0.0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        yield None

    def latest_versions(self, _session: Any) -> dict[str, int]:
        self.queries += 1
        time.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return dict(self.versions)

    def load(self, _session: Any, kinds: list[str]) -> list[VersionedDocument]:
        return [VersionedDocument.of(kind, self.versions[kind], {"v": self.versions[kind]}) for kind in kinds]


def refresher(store: FakeStore, holder: SnapshotHolder) -> SnapshotRefresher:
    return SnapshotRefresher(
        database=cast(Any, store), documents=cast(Any, store), holder=holder, kinds=["model_config", "limits"]
    )


@pytest.fixture
def holder() -> SnapshotHolder:
    held = SnapshotHolder()
    held.publish(VersionedDocument.of("model_config", 3, {"v": 3}))
    held.publish(VersionedDocument.of("limits", 1, {"v": 1}))
    return held


def test_a_snapshot_that_holds_the_version_costs_no_query(holder: SnapshotHolder) -> None:
    store = FakeStore({"model_config": 5, "limits": 1})
    assert refresher(store, holder).catch_up({"model_config": 2, "limits": 1}) is True
    assert store.queries == 0


def test_a_snapshot_behind_is_refreshed_at_once(holder: SnapshotHolder) -> None:
    store = FakeStore({"model_config": 5, "limits": 1})
    assert refresher(store, holder).catch_up({"model_config": 5}) is True
    assert holder.current.get("model_config").version == 5
    assert store.queries == 1


def test_a_version_the_store_does_not_have_is_false_and_nothing_older_is_installed(
    holder: SnapshotHolder,
) -> None:
    store = FakeStore({"model_config": 4, "limits": 1})
    assert refresher(store, holder).catch_up({"model_config": 9}) is False
    assert holder.current.get("model_config").version == 4


def test_a_store_that_does_not_answer_is_unavailable(holder: SnapshotHolder) -> None:
    store = FakeStore({"model_config": 5, "limits": 1})
    store.failure = TimeoutError("no answer")
    with pytest.raises(Unavailable) as raised:
        refresher(store, holder).catch_up({"model_config": 5})
    assert raised.value.code == "store.unavailable"
    assert raised.value.headers == {"Retry-After": "1"}


def test_readers_queued_behind_a_failed_query_fail_without_asking_again(holder: SnapshotHolder) -> None:
    store = FakeStore({"model_config": 5, "limits": 1})
    store.failure, store.delay = TimeoutError("frozen"), 0.3
    refreshing = refresher(store, holder)
    outcomes: list[str] = []

    def read() -> None:
        try:
            refreshing.catch_up({"model_config": 5})
            outcomes.append("answered")
        except Unavailable:
            outcomes.append("unavailable")

    readers = [threading.Thread(target=read) for _ in range(5)]
    for reader in readers:
        reader.start()
        time.sleep(0.01)  # the first one is querying when the others queue
    for reader in readers:
        reader.join(5)
    assert outcomes == ["unavailable"] * 5
    assert store.queries == 1
