"""Engine instances that misbehave on purpose (fakes, not mocks): one that NACKs, one that never answers."""

from __future__ import annotations

import threading

from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply


class NackingInstance:
    """Refuses every reload, as an engine in another process would whose validation disagrees."""

    def __init__(self, instance_id: str = "replica-b/flaky", error: str = "cannot parse rule 7") -> None:
        self.instance_id = instance_id
        self.error = error
        self.restored: list[Command | None] = []

    def apply(self, command: Command) -> Reply:
        return Reply(self.instance_id, False, self.error)

    def restore(self, command: Command | None) -> None:
        self.restored.append(command)


class SilentInstance:
    """Never answers a reload (until released): a hung engine."""

    def __init__(self, instance_id: str = "replica-c/hung") -> None:
        self.instance_id = instance_id
        self.release = threading.Event()
        self.restored: list[Command | None] = []

    def apply(self, command: Command) -> Reply:
        self.release.wait(timeout=10)
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        self.restored.append(command)


class SlowInstance:
    """ACKs, but only after a while: keeps a reload in progress."""

    def __init__(self, seconds: float, instance_id: str = "replica-d/slow") -> None:
        self.instance_id = instance_id
        self.seconds = seconds

    def apply(self, command: Command) -> Reply:
        threading.Event().wait(self.seconds)
        return Reply(self.instance_id, True)

    def restore(self, command: Command | None) -> None:
        pass
