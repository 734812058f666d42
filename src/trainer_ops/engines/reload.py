"""The reload coordinator: send a command to every instance of some engines on every replica, wait for
every ACK within the deadline, and on any NACK or timeout put every instance everywhere back.

The commands, the rollback and every answer travel on the reload bus (infra/bus.py), so the same code
runs one process or a fleet (ADR 0019):
1. `apply` publishes the commands. Each replica's `ReloadParticipant` (engines/participant.py) answers
   `joined` with the instances it has for the engine, applies the command on its in-process instances
   and forwards it to the SDK instances on its streams.
2. Every instance's ACK or NACK arrives as a `reply`: in-process ones from their replica, SDK ones from
   whichever replica their POST reached.
3. The round is settled when every live replica has joined and every instance it named has answered, or
   at the first NACK, or at the deadline. A replica that never joined counts as a NACK.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span, StatusCode, Tracer

from trainer_ops.engines.instances import Command
from trainer_ops.engines.participant import ReloadParticipant, command_message
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.types import Reply
from trainer_ops.infra.bus import Bus, Message

log = logging.getLogger("trainer_ops.reload")

# observer(phase, data): told of each step of one reload as it happens, for a live view (the console's).
# Phases: `joined` {engine, replica, instances}, `reply` {engine, instance, ok, error, durationMs},
# `timeout` (same fields, an instance or replica that never answered), `rollback` {engine, restore,
# version, reason}, `activated` {engine, targetId, version}; `rollback` and `activated` add `scope` for a
# scoped activation, and the other phases then name the lane (`content@KR`) as `engine`. It runs on
# whichever thread heard the event (the bus's, a worker's), so it must be quick and thread-safe; what it
# raises is logged and ignored.
Observer = Callable[[str, dict[str, Any]], None]


@dataclass
class Outcome:
    applied: bool
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    duration_ms: float = 0.0

    def failing(self) -> list[Reply]:
        return [r for replies in self.replies.values() for r in replies if not r.ok]

    def reason(self) -> str:
        return "; ".join(f"{r.instance_id}: {r.error}" for r in self.failing())


class Round:
    """One reload's answers as they arrive, per engine: who joined, which instances, what they said."""

    def __init__(
        self, commands: dict[str, Command], replicas: set[str], observer: Observer | None = None
    ) -> None:
        self.started = time.perf_counter()
        self.observer = observer
        self.expected = set(replicas)
        self.joined: dict[str, set[str]] = {engine: set() for engine in commands}
        self.members: dict[str, list[str]] = {engine: [] for engine in commands}
        self.replies: dict[str, dict[str, Reply]] = {engine: {} for engine in commands}
        self._changed = threading.Condition()

    def join(self, engine: str, replica: str, instances: list[str]) -> None:
        with self._changed:
            self.joined[engine].add(replica)
            self.members[engine].extend(i for i in instances if i not in self.members[engine])
            self._changed.notify_all()
        self.tell("joined", {"engine": engine, "replica": replica, "instances": instances})

    def answer(self, engine: str, reply: Reply) -> None:
        with self._changed:
            first = reply.instance_id not in self.replies[engine]
            if first:  # a retried POST repeats the first answer
                if not reply.duration_ms:
                    reply = Reply(reply.instance_id, reply.ok, reply.error, self._elapsed_ms())
                self.replies[engine][reply.instance_id] = reply
            self._changed.notify_all()
        if first:
            self.tell("reply", {"engine": engine, **reply.as_json(), "error": reply.error})

    def tell(self, phase: str, data: dict[str, Any]) -> None:
        """Tell the observer, outside the round's lock: a slow or failing observer never holds up or
        breaks the reload."""
        if self.observer is None:
            return
        try:
            self.observer(phase, data)
        except Exception:
            log.exception("reload observer failed on %s", phase)

    def unanswered(self, outcome: Outcome) -> list[tuple[str, Reply]]:
        """The failures `outcome` made up for instances and replicas that never answered."""
        with self._changed:
            return [
                (engine, r)
                for engine, replies in outcome.replies.items()
                for r in replies
                if self.replies[engine].get(r.instance_id) is not r
            ]

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def _settled(self) -> bool:
        if any(not r.ok for replies in self.replies.values() for r in replies.values()):
            return True  # one NACK decides: no need to wait for the others
        return all(
            self.expected <= self.joined[engine]
            and all(m in self.replies[engine] for m in self.members[engine])
            for engine in self.joined
        )

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._changed:
            while not self._settled():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def outcome(self, deadline_seconds: float) -> Outcome:
        """Every answer; the silent ones count as failures only when no NACK decided the round first
        (then they were merely not waited for)."""
        late = f"no answer within {deadline_seconds:g} s"
        outcome = Outcome(applied=True)
        with self._changed:
            nacked = any(not r.ok for replies in self.replies.values() for r in replies.values())
            for engine, members in self.members.items():
                answered = self.replies[engine]
                replies = [answered[m] for m in members if m in answered]
                replies += [r for i, r in answered.items() if i not in members]
                if not nacked:
                    replies += [Reply(m, False, late) for m in members if m not in answered]
                    replies += [
                        Reply(replica, False, f"replica did not answer within {deadline_seconds:g} s")
                        for replica in sorted(self.expected - self.joined[engine])
                    ]
                outcome.replies[engine] = replies
                outcome.applied = outcome.applied and not nacked and all(r.ok for r in replies)
        return outcome


class ReloadCoordinator:
    def __init__(
        self,
        registry: EngineRegistry,
        *,
        bus: Bus,
        replica_id: str,
        peers: Callable[[], set[str]] = lambda: set(),
        deadline_seconds: float = 5.0,
        workers: int = 16,
        tracer: Tracer | None = None,
    ) -> None:
        self._registry = registry
        # With tracing on (infra/tracing.py), a span per reload with an event per instance's answer.
        self._tracer = tracer
        self._bus = bus
        self._replica_id = replica_id
        self._peers = peers
        self.deadline_seconds = deadline_seconds
        self._rounds: dict[int, tuple[str, Round]] = {}
        self._lock = threading.Lock()
        self.participant = ReloadParticipant(
            registry, bus=bus, replica_id=replica_id, deadline_seconds=deadline_seconds, workers=workers
        )
        bus.subscribe(self._on_message)

    def apply(self, commands: dict[str, Command], *, observer: Observer | None = None) -> Outcome:
        """Apply every command (keyed by lane: `content`, or `content@KR` for a scoped activation, see
        engines/scopes.py) on the instances it reaches; all ACK, or all go back (all or none).
        `observer`, if given, hears each join, answer, timeout, rollback and activation as it happens."""
        if not commands:
            return Outcome(applied=True)
        if self._tracer is None:
            return self._apply(commands, observer)
        with self._tracer.start_as_current_span("reload", attributes=_attributes(commands)) as span:
            outcome = self._apply(commands, SpanEvents(span, observer))
            span.set_attribute("trainer_ops.reload.outcome", "applied" if outcome.applied else "rolled_back")
            if not outcome.applied:
                span.set_status(StatusCode.ERROR, outcome.reason())
            return outcome

    def _apply(self, commands: dict[str, Command], observer: Observer | None) -> Outcome:
        round_ = Round(commands, self._peers() | {self._replica_id}, observer)
        with self._lock:
            for lane, command in commands.items():
                self._rounds[command.epoch] = (lane, round_)
        try:
            self._bus.publish(
                {
                    "op": "apply",
                    "from": self._replica_id,
                    "seconds": self.deadline_seconds,
                    "commands": [command_message(c) for c in commands.values()],
                }
            )
            round_.wait(self.deadline_seconds)
        finally:
            with self._lock:
                for command in commands.values():
                    self._rounds.pop(command.epoch, None)
        outcome = round_.outcome(self.deadline_seconds)
        if observer is not None:
            for lane, reply in round_.unanswered(outcome):
                round_.tell("timeout", {"engine": lane, **reply.as_json(), "error": reply.error})
        if outcome.applied:
            for lane, command in commands.items():
                slot = self._registry.slot(command.engine)
                slot.set_command(command)
                slot.applied_at = time.time()
                self.participant.settle(lane)
                self._registry.notify(command.engine, command)
                round_.tell(
                    "activated",
                    {
                        "engine": command.engine,
                        **({"scope": command.scope} if command.scope else {}),
                        "targetId": command.target_id,
                        "version": command.version,
                    },
                )
        else:
            self._roll_back(commands, outcome, round_)
        outcome.duration_ms = (time.perf_counter() - round_.started) * 1000
        return outcome

    def _on_message(self, message: Message) -> None:
        op = message.get("op")
        if op not in ("joined", "reply"):
            return
        with self._lock:
            found = self._rounds.get(int(message.get("epoch", -1)))
        if found is None:
            return  # another replica coordinates that reload, or it is over
        engine, round_ = found
        if op == "joined":
            round_.join(engine, str(message["replica"]), [str(i) for i in message.get("instances", [])])
        else:
            round_.answer(engine, _reply(message))

    def _roll_back(self, commands: dict[str, Command], outcome: Outcome, round_: Round) -> None:
        """Every instance each command reached goes back to what it ran before: the activations are
        unchanged (nothing was recorded), so each instance re-resolves its own place, under an epoch newer
        than the failed command's so that a late ACK can no longer take over."""
        now = time.time()
        restores = [(c.engine, c.scope, self._registry.next_epoch()) for c in commands.values()]
        # This replica at once, before the caller is answered; the others from the bus.
        self.participant.restore_here(restores)
        for engine, scope, epoch in restores:
            slot = self._registry.slot(engine)
            previous = slot.command_for(scope)
            if previous is not None:
                slot.set_command(previous.again(epoch))
                self._registry.notify(engine, slot.command_for(scope))
            slot.last_rollback_at = now
            slot.last_rollback_reason = outcome.reason()
            round_.tell(
                "rollback",
                {
                    "engine": engine,
                    **({"scope": scope} if scope else {}),
                    "restore": previous.target_id if previous else None,
                    "version": previous.version if previous else 0,
                    "reason": outcome.reason(),
                },
            )
        self._bus.publish(
            {
                "op": "restore",
                "from": self._replica_id,
                "commands": [{"engine": e, "scope": s, "epoch": n} for e, s, n in restores],
            }
        )

    def put_back(self, lanes: list[tuple[str, str | None]]) -> None:
        """Put every instance that (engine, scope) commands reached back on what the slots say now, on
        every replica (an activation that could not be recorded)."""
        restores = [(engine, scope, self._registry.next_epoch()) for engine, scope in lanes]
        self.participant.restore_here(restores)
        for engine, scope, _ in restores:
            self._registry.notify(engine, self._registry.slot(engine).command_for(scope))
        self._bus.publish(
            {
                "op": "restore",
                "from": self._replica_id,
                "commands": [{"engine": e, "scope": s, "epoch": n} for e, s, n in restores],
            }
        )

    def close(self) -> None:
        self.participant.close()


def _reply(message: Message) -> Reply:
    ms: Any = message.get("ms") or 0.0
    return Reply(str(message["instance"]), bool(message["ok"]), str(message.get("error", "")), float(ms))


def _attributes(commands: dict[str, Command]) -> dict[str, Any]:
    return {
        "trainer_ops.reload.lanes": list(commands),
        "trainer_ops.reload.targets": [c.target_id for c in commands.values()],
        "trainer_ops.reload.epochs": [c.epoch for c in commands.values()],
    }


class SpanEvents:
    """An observer that records each instance's answer on the reload's span (`ack`, `nack`, `timeout`:
    the lane, the instance, the replica that has it, the time and the error), then tells `inner`."""

    def __init__(self, span: Span, inner: Observer | None) -> None:
        self._span = span
        self._inner = inner
        self._replica: dict[tuple[str, str], str] = {}

    def __call__(self, phase: str, data: dict[str, Any]) -> None:
        if phase == "joined":
            for instance in data["instances"]:
                self._replica[data["engine"], instance] = data["replica"]
        elif phase in ("reply", "timeout"):
            instance = str(data["instance"])
            name = phase if phase == "timeout" else ("ack" if data["ok"] else "nack")
            attributes = {
                "engine": data["engine"],
                "instance": instance,
                # A replica that never joined is its own instance in a timeout.
                "replica": self._replica.get((data["engine"], instance), instance),
                "durationMs": float(data.get("durationMs", 0.0)),
            }
            if data.get("error"):
                attributes["error"] = str(data["error"])
            self._span.add_event(name, attributes)
        if self._inner is not None:
            self._inner(phase, data)
