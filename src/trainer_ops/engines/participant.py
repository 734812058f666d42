"""This replica's side of every reload, whoever coordinates it: answer `joined`, apply the command on
the in-process instances, forward it to the SDK instances on this replica's streams, put them all back
on a `restore`; and if the coordinator vanished mid-reload, go back to what the store says is active.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from trainer_ops.engines.instances import Command, ForwardedInstance, Instance, place_of
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.scopes import lane
from trainer_ops.engines.types import Reply
from trainer_ops.infra.bus import Bus, Message

log = logging.getLogger("trainer_ops.reload")

# How long after a command's deadline this replica waits for its activation or rollback before it goes
# back to the store's active ruleset on its own (the coordinating replica died mid-reload).
ORPHAN_GRACE_SECONDS = 2.0
ERROR_CHARS = 1000
# resolve(engine, targetId) -> (digest, ruleset): the stored ruleset a command names.
Resolver = Callable[[str, str], tuple[str, dict[str, Any]]]


def command_message(command: Command) -> dict[str, Any]:
    """A command on the bus: everything but the ruleset, which every replica reads from the store."""
    return {
        "engine": command.engine,
        "targetId": command.target_id,
        "digest": command.digest,
        "version": command.version,
        "epoch": command.epoch,
        "scope": command.scope,
    }


def _unresolved(_engine: str, _target: str) -> tuple[str, dict[str, Any]]:
    raise LookupError("no ruleset resolver wired")


class ReloadParticipant:
    def __init__(
        self,
        registry: EngineRegistry,
        *,
        bus: Bus,
        replica_id: str,
        deadline_seconds: float,
        workers: int = 16,
    ) -> None:
        self._registry = registry
        self._bus = bus
        self._replica_id = replica_id
        self._deadline = deadline_seconds
        self.resolve: Resolver = _unresolved
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trainer-ops-reload")
        # engine -> (command applied here but not yet activated nor rolled back, when to give up on it)
        self._pending: dict[str, tuple[Command, float]] = {}
        self._lock = threading.Lock()
        bus.subscribe(self._on_message)

    def _on_message(self, message: Message) -> None:
        op = message.get("op")
        if op == "apply":
            for data in message.get("commands", []):
                self._apply(data, float(message.get("seconds", self._deadline)))
        elif op == "restore" and message.get("from") != self._replica_id:
            self.restore_here(
                [
                    (str(d["engine"]), d.get("scope") and str(d["scope"]), int(d["epoch"]))
                    for d in message.get("commands", [])
                ]
            )

    # apply -------------------------------------------------------------------------------------------
    def _apply(self, data: dict[str, Any], seconds: float) -> None:
        engine = str(data.get("engine"))
        if engine not in self._registry.names():
            return
        slot = self._registry.slot(engine)
        # A scoped command asks only the instances it reaches (ADR 0025); the others keep running theirs.
        reached = slot.reached(data.get("scope") or None, self._registry.places())
        forwarded = [i for i in reached if isinstance(i, ForwardedInstance)]
        local: list[Instance] = [i for i in reached if not isinstance(i, ForwardedInstance)]
        epoch = int(data["epoch"])
        ids = [i.instance_id for i in local] + [f.instance_id for f in forwarded]
        self._bus.publish(
            {
                "op": "joined",
                "replica": self._replica_id,
                "engine": engine,
                "epoch": epoch,
                "instances": ids,
            }
        )
        try:
            command = self._command(data)
        except Exception as exc:  # this replica cannot even read the ruleset: every instance here NACKs
            for instance_id in ids:
                self.answer(engine, epoch, Reply(instance_id, False, f"ruleset unavailable: {exc}"))
            return
        assert command is not None
        with self._lock:
            self._pending[lane(engine, command.scope)] = (
                command,
                time.monotonic() + seconds + ORPHAN_GRACE_SECONDS,
            )
        for remote in forwarded:
            remote.send(command, deadline_seconds=seconds)
        for instance in local:
            self._pool.submit(self._answer, instance, command)

    def _answer(self, instance: Instance, command: Command) -> None:
        try:
            reply = instance.apply(command)
        except Exception as exc:  # an instance that raises NACKs; it never leaves the round hanging
            reply = Reply(instance.instance_id, False, f"{type(exc).__name__}: {exc}")
        try:
            self.answer(command.engine, command.epoch, reply)
        except Exception:
            log.exception("could not send %s's answer to reload %s", instance.instance_id, command.epoch)

    def answer(self, engine: str, epoch: int, reply: Reply) -> None:
        """Put an instance's ACK or NACK on the bus, for whichever replica coordinates the reload."""
        self._bus.publish(
            {
                "op": "reply",
                "engine": engine,
                "epoch": epoch,
                "instance": reply.instance_id,
                "ok": reply.ok,
                "error": reply.error[:ERROR_CHARS],
                "ms": round(reply.duration_ms, 2) or None,
            }
        )

    def _command(self, data: dict[str, Any]) -> Command | None:
        if data.get("none"):
            return None
        engine, target = str(data["engine"]), str(data["targetId"])
        digest, ruleset = self.resolve(engine, target)
        if digest != data["digest"]:
            raise LookupError(
                f"{engine} ruleset {target!r} has digest {digest[:12]}, not {str(data['digest'])[:12]}"
            )
        scope = data.get("scope")
        return Command(
            engine, target, digest, int(data["version"]), ruleset, int(data["epoch"]), scope and str(scope)
        )

    # restore and settle ------------------------------------------------------------------------------
    def restore_here(self, restores: list[tuple[str, str | None, int]]) -> None:
        """A rollback: every instance on this replica that a failed (engine, scope) command reached goes
        back to what its place runs, under the given (newer) epoch. Nothing was recorded, so the slot's
        activations still say what that is."""
        index = self._registry.places()
        for engine, scope, epoch in restores:
            if engine not in self._registry.names():
                continue
            self.settle(lane(engine, scope))
            slot = self._registry.slot(engine)
            for instance in slot.reached(scope, index):
                command = slot.resolve(place_of(instance), index)
                try:
                    instance.restore(command.again(epoch) if command is not None else None)
                except Exception:
                    log.exception("%s could not be restored", instance.instance_id)

    def settle(self, lane: str) -> None:
        """The reload of `lane` (an engine, or engine@scope) is decided: nothing pending here."""
        with self._lock:
            self._pending.pop(lane, None)

    def settle_engine(self, engine: str) -> None:
        """Every reload of `engine`, at any scope, is decided (the store's activations were installed)."""
        with self._lock:
            for key in [k for k, (c, _) in self._pending.items() if c.engine == engine]:
                del self._pending[key]

    def orphans(self) -> list[str]:
        """Engines whose applied command was neither activated nor rolled back in time: their
        coordinator is gone, so they must go back to what the store says."""
        now = time.monotonic()
        with self._lock:
            late = [key for key, (_, until) in self._pending.items() if until < now]
            engines = sorted({self._pending.pop(key)[0].engine for key in late})
        return engines

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
