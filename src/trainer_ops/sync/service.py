"""Sync use cases: the full snapshot, change events for the stream, remote instances and their replies."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from trainer_ops.engines.fleet import Fleet
from trainer_ops.engines.instances import Command
from trainer_ops.engines.participant import ReloadParticipant
from trainer_ops.engines.registry import EngineRegistry
from trainer_ops.engines.types import Reply
from trainer_ops.errors import NotFound
from trainer_ops.policy.types import KIND as POLICY
from trainer_ops.policy.types import in_force
from trainer_ops.sync.broadcaster import Broadcaster, Subscriber
from trainer_ops.sync.remote import RemoteInstance, command_json
from trainer_ops.versions.snapshot import Snapshot, SnapshotHolder

# The places catalogue travels too: an engine checks the place it declares against it (ADR 0023).
DOCUMENT_KEYS = {
    "model_config": "modelConfig",
    "features": "features",
    "limits": "limits",
    "places": "places",
}
# The stream event each kind's changes go out as. SDKs released before the catalogue existed fail on a
# `document` event of a kind they do not know, and skip events they do not know: so places get their
# own event, with the same data (ADR 0023).
EVENT_OF = {"places": "places"}
# The policy goes out as an event of its own name, not as a `document`: SDKs released before it was
# on the stream fail on a `document` of a kind they do not know, and skip an event they do not know.
POLICY_EVENT = "policy"
SCOPED_RULESET_EVENT = "scoped_ruleset"


class SyncService:
    def __init__(
        self,
        *,
        holder: SnapshotHolder,
        registry: EngineRegistry,
        broadcaster: Broadcaster,
        fleet: Fleet,
        participant: ReloadParticipant,
    ) -> None:
        self._holder = holder
        self._registry = registry
        self.broadcaster = broadcaster
        self._fleet = fleet
        self._participant = participant
        self._remotes: dict[str, tuple[RemoteInstance, list[str]]] = {}
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()
        holder.subscribe(self._on_snapshot)
        registry.listeners.append(self._on_engine)

    # what clients read -----------------------------------------------------------------------------
    def snapshot(self, place: str | None = None) -> dict[str, Any]:
        """Everything an engine obeys, each part with its version, and the stream position it is at.
        `rulesets` are what an instance at `place` runs (None: the global activations); `scopedRulesets`
        every scoped activation, so a client can follow scoped `ruleset` events (ADR 0025)."""
        position = self.broadcaster.last_id
        current = self._holder.current
        out: dict[str, Any] = {"id": position, "versions": {}}
        for kind, key in DOCUMENT_KEYS.items():
            doc = current.get(kind)
            out[key] = doc.document
            out["versions"][kind] = doc.version
        policy = current.documents.get(POLICY)
        if policy is not None:
            out["policy"] = in_force(policy.document)
            out["versions"][POLICY] = policy.version
        out["rulesets"] = {}
        out["scopedRulesets"] = {}
        index = self._registry.places()
        for engine in self._registry.names():
            slot = self._registry.slot(engine)
            active = slot.resolve(place, index)
            if active is not None:
                out["rulesets"][engine] = command_json(active)
            if slot.scoped:
                out["scopedRulesets"][engine] = {s: command_json(c) for s, c in sorted(slot.scoped.items())}
        return out

    # change events ---------------------------------------------------------------------------------
    def _on_snapshot(self, snapshot: Snapshot) -> None:
        for kind in DOCUMENT_KEYS:
            doc = snapshot.documents.get(kind)
            with self._lock:
                if doc is None or doc.version <= self._last.get(kind, 0):
                    continue
                self._last[kind] = doc.version
                self.broadcaster.publish(
                    EVENT_OF.get(kind, "document"),
                    {
                        "kind": kind,
                        "key": DOCUMENT_KEYS[kind],
                        "version": doc.version,
                        "document": doc.document,
                    },
                )

        self._on_policy(snapshot)

    def _on_policy(self, snapshot: Snapshot) -> None:
        doc = snapshot.documents.get(POLICY)
        with self._lock:
            if doc is None or doc.version <= self._last.get(POLICY, 0):
                return
            self._last[POLICY] = doc.version
            self.broadcaster.publish(
                POLICY_EVENT,
                {"kind": POLICY, "version": doc.version, "document": in_force(doc.document)},
            )

    def _on_engine(self, engine: str, active: Command | None) -> None:
        if active is not None:
            # A scoped activation has an event of its own: SDKs released before scopes would take a
            # `ruleset` event as the global activation, and they skip events they do not know.
            event = SCOPED_RULESET_EVENT if active.scope else "ruleset"
            self.broadcaster.publish(event, command_json(active))

    # remote instances ------------------------------------------------------------------------------
    def claim(self, instance_id: str, *, user_id: str, engines: list[str]) -> bool:
        """Bind `instance_id` to `user_id` and hold it here; False when another user owns it."""
        return self._fleet.attach(instance_id=instance_id, user_id=user_id, engines=engines)

    def attach(
        self, instance_id: str, engines: list[str], subscriber: Subscriber, place: str | None = None
    ) -> RemoteInstance:
        remote = RemoteInstance(instance_id, subscriber, place)
        self.detach(instance_id)
        index = self._registry.places()
        for engine in engines:
            active = self._registry.slot(engine).resolve(place, index)
            if active is not None:
                remote.given(active)  # what the stream's first snapshot gives it
            self._registry.add_instance(engine, remote)
        with self._lock:
            self._remotes[instance_id] = (remote, engines)
        return remote

    def detach(self, instance_id: str, remote: RemoteInstance | None = None) -> None:
        """Forget the instance's stream here (only `remote`'s, if given: a newer stream may have
        replaced it under the same id)."""
        with self._lock:
            found = self._remotes.get(instance_id)
            if found is None or (remote is not None and found[0] is not remote):
                return
            del self._remotes[instance_id]
        if found is not None:
            for engine in found[1]:
                self._registry.remove_instance(engine, instance_id)

    def held(self) -> list[str]:
        """The instance ids whose streams this replica holds (the fleet heartbeat keeps them bound)."""
        with self._lock:
            return list(self._remotes)

    def reply(self, instance_id: str, *, user_id: str, engine: str, epoch: int, ok: bool, error: str) -> bool:
        """An instance's answer, whichever replica holds its stream: on the bus for the coordinator.
        False (nothing sent) when the instance id belongs to another user."""
        owner = self._fleet.owner(instance_id)
        if owner is None:
            raise NotFound(
                "sync.instance_unknown",
                f"instance {instance_id!r} is not attached to any replica; open the stream with "
                "?instance= first",
            )
        if owner != user_id:
            return False
        self._participant.answer(engine, epoch, Reply(instance_id, ok, error))
        return True

    def subscribe(self) -> Subscriber:
        return self.broadcaster.subscribe(asyncio.get_running_loop())
