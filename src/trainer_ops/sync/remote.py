"""Engine instances in other processes (engines embedding the SDK), reached over their change stream.

`send` puts a `reload` event on the instance's own stream; the instance answers by POSTing to any
replica, which puts the answer on the reload bus for the coordinating replica (engines/reload.py).
`restore` sends a `restore` event.
"""

from __future__ import annotations

from trainer_ops.engines.instances import Command
from trainer_ops.engines.participant import command_message
from trainer_ops.sync.broadcaster import Event, Subscriber


def command_json(command: Command) -> dict[str, object]:
    """A command as clients see it: what the reload bus carries, with the ruleset itself."""
    return {**command_message(command), "ruleset": command.ruleset}


class RemoteInstance:
    def __init__(self, instance_id: str, subscriber: Subscriber, place: str | None = None) -> None:
        self.instance_id = instance_id
        # The place the SDK declared when it attached (checked against the catalogue): which scoped
        # activation it runs and which scoped reloads ask it (ADR 0025).
        self.place = place
        self._subscriber = subscriber
        # engine -> (digest, version) it was last given: by a command, or by the snapshot it attached with.
        self._last: dict[str, tuple[str, int]] = {}

    def given(self, command: Command) -> None:
        """The instance already has `command` (its stream's snapshot held it): installing it again after
        another replica's activation elsewhere would only call its handler for nothing."""
        self._last[command.engine] = (command.digest, command.version)

    def send(self, command: Command, *, deadline_seconds: float) -> None:
        self.given(command)
        data = {**command_json(command), "deadlineMs": int(deadline_seconds * 1000)}
        self._subscriber.push(Event(f"cmd-{command.epoch}", "reload", data))

    def restore(self, command: Command | None) -> None:
        if command is not None:
            self.given(command)
        data = command_json(command) if command else {"engine": None}
        self._subscriber.push(Event(f"restore-{command.epoch if command else 0}", "restore", data))

    def holds(self, command: Command) -> bool:
        return self._last.get(command.engine) == (command.digest, command.version)
