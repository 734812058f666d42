"""The reload coordinator: send a command to every instance of some engines, wait for every ACK within
the deadline, and on any NACK or timeout put every instance of every engine back where it was."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from trainer_ops.engines.instances import Command
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.types import Reply


@dataclass
class Outcome:
    applied: bool
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    duration_ms: float = 0.0

    def failing(self) -> list[Reply]:
        return [r for replies in self.replies.values() for r in replies if not r.ok]

    def reason(self) -> str:
        return "; ".join(f"{r.instance_id}: {r.error}" for r in self.failing())


class ReloadCoordinator:
    def __init__(self, registry: EngineRegistry, *, deadline_seconds: float = 5.0, workers: int = 16) -> None:
        self._registry = registry
        self.deadline_seconds = deadline_seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trainer-ops-reload")

    def apply(self, commands: dict[str, Command]) -> Outcome:
        """Apply every engine's command on all its instances; all ACK, or all go back (all or none)."""
        started = time.perf_counter()
        previous = {engine: self._registry.slot(engine).active for engine in commands}
        sent: list[tuple[str, str, Future[Reply]]] = []
        for engine, command in commands.items():
            for instance in self._registry.slot(engine).instances():
                sent.append((engine, instance.instance_id, self._pool.submit(instance.apply, command)))
        done, _ = wait([future for _, _, future in sent], timeout=self.deadline_seconds)
        outcome = Outcome(applied=True)
        for engine, instance_id, future in sent:
            if future in done:
                reply = future.result()
            else:
                reply = Reply(instance_id, False, f"no answer within {self.deadline_seconds:g} s")
            outcome.replies.setdefault(engine, []).append(reply)
            outcome.applied = outcome.applied and reply.ok
        if outcome.applied:
            for engine, command in commands.items():
                slot = self._registry.slot(engine)
                slot.active, slot.applied_at = command, time.time()
                self._registry.notify(engine)
        else:
            self._roll_back(previous, outcome)
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        return outcome

    def _roll_back(self, previous: dict[str, Command | None], outcome: Outcome) -> None:
        now = time.time()
        for engine, command in previous.items():
            restore = None
            if command is not None:
                # A newer epoch than the failed command: a late ACK can no longer take over.
                restore = Command(
                    command.engine,
                    command.target_id,
                    command.digest,
                    command.version,
                    command.ruleset,
                    self._registry.next_epoch(),
                )
            slot = self._registry.slot(engine)
            for instance in slot.instances():
                instance.restore(restore)
            slot.active = restore
            slot.last_rollback_at = now
            slot.last_rollback_reason = outcome.reason()
            self._registry.notify(engine)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
