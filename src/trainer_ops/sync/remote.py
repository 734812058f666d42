"""Engine instances in other processes (engines embedding the SDK), reached over their change stream.

`apply` sends a `reload` event on the instance's own stream and waits for its reply (POSTed back);
`restore` sends a `restore` event. The coordinator's deadline bounds the wait, as for any instance.
"""

from __future__ import annotations

import threading
import time

from trainer_ops.engines.instances import Command
from trainer_ops.engines.types import Reply
from trainer_ops.sync.broadcaster import Event, Subscriber


def command_json(command: Command) -> dict[str, object]:
    return {
        "engine": command.engine,
        "targetId": command.target_id,
        "digest": command.digest,
        "version": command.version,
        "epoch": command.epoch,
        "ruleset": command.ruleset,
    }


class RemoteInstance:
    def __init__(self, instance_id: str, subscriber: Subscriber, *, wait_seconds: float) -> None:
        self.instance_id = instance_id
        self._subscriber = subscriber
        self._wait = wait_seconds
        self._replies: dict[int, Reply] = {}
        self._arrived = threading.Condition()

    def apply(self, command: Command) -> Reply:
        started = time.perf_counter()
        self._subscriber.push(Event(f"cmd-{command.epoch}", "reload", command_json(command)))
        deadline = time.monotonic() + self._wait
        with self._arrived:
            while command.epoch not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    return Reply(self.instance_id, False, "no reply")
                self._arrived.wait(left)
            reply = self._replies.pop(command.epoch)
        return Reply(self.instance_id, reply.ok, reply.error, (time.perf_counter() - started) * 1000)

    def restore(self, command: Command | None) -> None:
        data = command_json(command) if command else {"engine": None}
        self._subscriber.push(Event(f"restore-{command.epoch if command else 0}", "restore", data))

    def reply(self, *, epoch: int, ok: bool, error: str) -> None:
        with self._arrived:
            self._replies[epoch] = Reply(self.instance_id, ok, error)
            self._arrived.notify_all()
