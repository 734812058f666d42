"""The reload coordinator's observer hook: each answer, timeout, rollback and activation is told as it
happens, in order, and an observer that fails changes nothing about the reload."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from trainer_ops.engines.builtin import CONTENT
from trainer_ops.engines.instances import Command
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.reload import ReloadCoordinator
from trainer_ops.engines.types import Reply
from trainer_ops.infra.bus import MemoryBus

GOOD = {"transforms": [], "allowedFormats": ["text/plain"]}


class Nacking:
    def __init__(self, instance_id: str = "sdk-1") -> None:
        self.instance_id = instance_id

    def apply(self, command: Command) -> Reply:
        return Reply(self.instance_id, False, "unsupported format")

    def restore(self, command: Command | None) -> None:
        pass


class Silent:
    def __init__(self) -> None:
        self.instance_id = "hung-1"
        self.release = threading.Event()

    def apply(self, command: Command) -> Reply:
        self.release.wait(5)
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        pass


@pytest.fixture
def coordinator() -> Iterator[tuple[EngineRegistry, ReloadCoordinator]]:
    registry = EngineRegistry({"content": CONTENT})
    coordinator = ReloadCoordinator(registry, bus=MemoryBus(), replica_id="r1", deadline_seconds=0.3)
    coordinator.participant.resolve = lambda engine, target: (target, GOOD)
    first = Command("content", "c1", "c1", 1, GOOD, registry.next_epoch())
    assert coordinator.apply({"content": first}).applied
    yield registry, coordinator
    coordinator.close()


def heard() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    events: list[tuple[str, dict[str, Any]]] = []
    return events, lambda phase, data: events.append((phase, data))


def command(registry: EngineRegistry, target: str) -> Command:
    return Command("content", target, target, 2, GOOD, registry.next_epoch())


def test_acks_are_told_before_the_activation(coordinator: tuple[EngineRegistry, ReloadCoordinator]) -> None:
    registry, coord = coordinator
    events, observer = heard()

    outcome = coord.apply({"content": command(registry, "c2")}, observer=observer)

    assert outcome.applied
    assert [phase for phase, _ in events] == ["joined", "reply", "activated"]
    assert events[0][1]["instances"] == [registry.slot("content").local.instance_id]
    assert events[1][1]["ok"] is True
    assert events[2][1] == {"engine": "content", "targetId": "c2", "version": 2}


def test_a_nack_is_told_then_the_rollback(coordinator: tuple[EngineRegistry, ReloadCoordinator]) -> None:
    registry, coord = coordinator
    registry.add_instance("content", Nacking())
    events, observer = heard()

    outcome = coord.apply({"content": command(registry, "c2")}, observer=observer)

    assert not outcome.applied
    phases = [phase for phase, _ in events]
    assert phases[0] == "joined"
    assert phases[-1] == "rollback"
    nack = next(data for phase, data in events if phase == "reply" and not data["ok"])
    assert (nack["instance"], nack["error"]) == ("sdk-1", "unsupported format")
    assert phases.index("reply") < phases.index("rollback")
    assert events[-1][1]["restore"] == "c1"
    assert "activated" not in phases


def test_an_instance_that_never_answers_is_told_as_a_timeout(
    coordinator: tuple[EngineRegistry, ReloadCoordinator],
) -> None:
    registry, coord = coordinator
    hung = Silent()
    registry.add_instance("content", hung)
    events, observer = heard()
    try:
        outcome = coord.apply({"content": command(registry, "c2")}, observer=observer)
    finally:
        hung.release.set()

    assert not outcome.applied
    timeouts = [data for phase, data in events if phase == "timeout"]
    assert [t["instance"] for t in timeouts] == ["hung-1"]
    assert "no answer within" in timeouts[0]["error"]
    assert [phase for phase, _ in events][-1] == "rollback"


def test_a_failing_observer_changes_nothing(coordinator: tuple[EngineRegistry, ReloadCoordinator]) -> None:
    registry, coord = coordinator

    def broken(phase: str, data: dict[str, Any]) -> None:
        raise RuntimeError("the page went away")

    outcome = coord.apply({"content": command(registry, "c2")}, observer=broken)

    assert outcome.applied
    assert registry.slot("content").active is not None
    assert registry.slot("content").active.target_id == "c2"
