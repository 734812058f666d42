"""Engine instances and the reload protocol they speak.

A reload is a `Command` (engine, ruleset id, digest, version, the ruleset, an epoch). Each instance
builds the new state off to the side, swaps one reference and ACKs, or NACKs with the error. On any NACK
or timeout the coordinator sends every instance the previous command with a newer epoch; an instance
drops any command older than the newest epoch it has seen, so a late ACK can never win over a rollback.
The in-process `LocalInstance` is one kind (`Instance`: it answers `apply` itself). An SDK client is a
`ForwardedInstance`: it is sent the command over its stream and answers later, at whichever replica its
reply reaches, over the reload bus (engines/reload.py).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from trainer_ops.engines.types import EngineType, Loaded, Reply
from trainer_ops.engines.validation import ruleset_errors


@dataclass(frozen=True)
class Command:
    engine: str
    target_id: str
    digest: str
    version: int
    ruleset: dict[str, Any]
    epoch: int
    # The place this activation holds for (None: every place without one of its own; ADR 0025).
    scope: str | None = None

    def again(self, epoch: int) -> Command:
        """The same activation under a newer epoch (a restore, which must win over older commands)."""
        return Command(
            self.engine, self.target_id, self.digest, self.version, self.ruleset, epoch, self.scope
        )


def place_of(instance: object) -> str | None:
    """The place an instance declared (SDK `place=`); None: global, like in-process instances."""
    place = getattr(instance, "place", None)
    return place if isinstance(place, str) else None


class Instance(Protocol):
    instance_id: str

    def apply(self, command: Command) -> Reply:
        """Validate, build and swap in `command`'s ruleset; ACK or NACK. May block (remote)."""
        ...

    def restore(self, command: Command | None) -> None:
        """Go back to `command` (the previous ruleset; None: nothing loaded)."""
        ...


@runtime_checkable
class ForwardedInstance(Protocol):
    instance_id: str

    def send(self, command: Command, *, deadline_seconds: float) -> None:
        """Hand `command` to the instance; its ACK or NACK arrives on the reload bus."""
        ...

    def restore(self, command: Command | None) -> None: ...

    def holds(self, command: Command) -> bool:
        """Was this instance sent `command`'s ruleset (same digest and version) last?"""
        ...


def holds(instance: Instance | ForwardedInstance, command: Command) -> bool:
    """Does `instance` already run `command`'s ruleset? Then installing it again would only repeat work."""
    check = getattr(instance, "holds", None)
    return bool(check(command)) if check is not None else False


class LocalInstance:
    """The engine as it runs inside this process. Requests read `current` once per request."""

    def __init__(self, engine: EngineType, instance_id: str, validated: set[str] | None = None) -> None:
        self.engine = engine
        self.instance_id = instance_id
        # Digests of rulesets this process has already validated for this engine: rulesets are
        # content-addressed and immutable, so a digest that validated once always does.
        self.validated = validated if validated is not None else set()
        self.current: Loaded | None = None
        self._epoch = 0
        self._lock = threading.Lock()

    def apply(self, command: Command) -> Reply:
        started = time.perf_counter()
        errors = [] if command.digest in self.validated else ruleset_errors(self.engine, command.ruleset)
        if errors:
            first = errors[0]
            return Reply(
                self.instance_id,
                False,
                f"{first['field']}: {first['message']}",
                (time.perf_counter() - started) * 1000,
            )
        try:
            state = self.engine.compile(command.ruleset)
        except Exception as exc:  # an engine's compile failing is a NACK, never a crash
            return Reply(
                self.instance_id,
                False,
                f"{type(exc).__name__}: {exc}",
                (time.perf_counter() - started) * 1000,
            )
        self.validated.add(command.digest)
        loaded = Loaded(command.target_id, command.digest, command.version, state)
        with self._lock:
            if command.epoch < self._epoch:
                return Reply(
                    self.instance_id,
                    False,
                    "superseded by a newer reload",
                    (time.perf_counter() - started) * 1000,
                )
            self._epoch = command.epoch
            self.current = loaded  # the swap: one reference assignment
        return Reply(self.instance_id, True, "", (time.perf_counter() - started) * 1000)

    def holds(self, command: Command) -> bool:
        current = self.current
        return current is not None and (current.digest, current.version) == (command.digest, command.version)

    def restore(self, command: Command | None) -> None:
        with self._lock:
            if command is None:
                self.current = None
                return
            self._epoch = max(self._epoch, command.epoch)
            self.current = Loaded(
                command.target_id, command.digest, command.version, self.engine.compile(command.ruleset)
            )
