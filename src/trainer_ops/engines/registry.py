"""The live engines of this process: their instances, what each runs, and their health.

Health: `down` when nothing is loaded, `degraded` after a rollback (a NACK or a timeout) in the last
15 minutes, `ok` otherwise.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from trainer_ops.access.places import EMPTY_INDEX, PlaceIndex
from trainer_ops.engines import scopes
from trainer_ops.engines.instances import Command, ForwardedInstance, Instance, LocalInstance, place_of
from trainer_ops.engines.types import EngineType, Loaded

DEGRADED_AFTER_ROLLBACK_SECONDS = 15 * 60


@dataclass
class EngineSlot:
    engine: EngineType
    local: LocalInstance
    others: list[Instance | ForwardedInstance] = field(default_factory=list)
    # The global activation: what every instance without a scoped one runs (None: nothing loaded yet).
    active: Command | None = None
    # Scoped activations, place code -> command (ADR 0025): instances under that place run it.
    scoped: dict[str, Command] = field(default_factory=dict)
    applied_at: float | None = None
    last_rollback_at: float | None = None
    last_rollback_reason: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def instances(self) -> list[Instance | ForwardedInstance]:
        return [self.local, *self.others]

    def command_for(self, scope: str | None) -> Command | None:
        """The activation recorded at exactly `scope` (None: the global one)."""
        return self.scoped.get(scope) if scope else self.active

    def set_command(self, command: Command) -> None:
        if command.scope:
            self.scoped = {**self.scoped, command.scope: command}  # readers see one whole dict
        else:
            self.active = command

    def latest_version(self) -> int:
        """The newest activation this process knows, any scope: versions are one sequence per engine."""
        versions = [c.version for c in (self.active, *self.scoped.values()) if c is not None]
        return max(versions, default=0)

    def resolve(self, place: str | None, index: PlaceIndex) -> Command | None:
        """What an instance at `place` runs: its most specific place's activation, else the global one."""
        return scopes.resolve(place, index, self.scoped, self.active)

    def reached(self, scope: str | None, index: PlaceIndex) -> list[Instance | ForwardedInstance]:
        """The instances an activation at `scope` reaches (those a reload of that scope asks to ACK)."""
        return [i for i in self.instances() if scopes.affected(place_of(i), scope, index, self.scoped)]

    def status(self, now: float) -> str:
        if self.local.current is None:
            return "down"
        recent = (
            self.last_rollback_at is not None
            and now - self.last_rollback_at < DEGRADED_AFTER_ROLLBACK_SECONDS
        )
        return "degraded" if recent else "ok"


class EngineRegistry:
    def __init__(self, types: dict[str, EngineType]) -> None:
        self.types = types
        host = f"{os.uname().nodename}:{os.getpid()}"
        self._slots = {name: EngineSlot(t, LocalInstance(t, f"{host}/{name}")) for name, t in types.items()}
        self.replica_id = host
        # Reload epochs: a counter here; fleet-wide (PostgreSQL's sequence) once set_epochs is called.
        counter = itertools.count(1)
        self._epochs: Callable[[], int] = lambda: next(counter)
        # listener(engine, command now active) after every change of an engine's active ruleset.
        self.listeners: list[Callable[[str, Command | None], None]] = []
        # The places catalogue in force, for resolving scoped activations (app.py wires the real one).
        self.places: Callable[[], PlaceIndex] = lambda: EMPTY_INDEX

    def notify(self, engine: str, command: Command | None = None) -> None:
        """Tell listeners `command` became active (default: the global activation)."""
        active = command if command is not None else self._slots[engine].active
        for listener in self.listeners:
            listener(engine, active)

    def names(self) -> tuple[str, ...]:
        return tuple(self._slots)

    def slot(self, engine: str) -> EngineSlot:
        return self._slots[engine]

    def next_epoch(self) -> int:
        return self._epochs()

    def set_epochs(self, source: Callable[[], int]) -> None:
        self._epochs = source

    def name_local(self, replica_id: str) -> None:
        """Name this process's instances after its replica, as the fleet knows it."""
        self.replica_id = replica_id
        for name, slot in self._slots.items():
            slot.local.instance_id = f"{replica_id}/{name}"

    def current(self, engine: str) -> Loaded | None:
        """What requests of this process read: one reference, one whole ruleset."""
        return self._slots[engine].local.current

    def add_instance(self, engine: str, instance: Instance | ForwardedInstance) -> None:
        self._slots[engine].others.append(instance)

    def remove_instance(self, engine: str, instance_id: str) -> None:
        slot = self._slots[engine]
        slot.others = [i for i in slot.others if i.instance_id != instance_id]

    def statuses(self, now: float | None = None) -> dict[str, str]:
        moment = now if now is not None else time.time()
        return {name: slot.status(moment) for name, slot in self._slots.items()}

    def active(self) -> dict[str, str | None]:
        return {name: slot.active.target_id if slot.active else None for name, slot in self._slots.items()}
