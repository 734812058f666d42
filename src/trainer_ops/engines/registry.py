"""Which engines exist and what each one runs now; health reads its status from here.

The foundation registers every engine with its built-in initial ruleset. Versioned rulesets, hot reload
and rollback (spec sections 3 and 4) extend `EngineState` through `mark_applied` and `mark_rollback`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

ENGINE_TYPES: tuple[str, ...] = (
    "scenario",
    "prompt",
    "difficulty",
    "content",
    "gamification",
    "missions",
    "upm",
    "insights",
)
# The spec writes `mission` in hot reload and `missions` elsewhere.
ALIASES = {"mission": "missions"}
DEGRADED_AFTER_ROLLBACK_SECONDS = 15 * 60


def canonical_engine(name: str) -> str | None:
    name = ALIASES.get(name, name)
    return name if name in ENGINE_TYPES else None


@dataclass(frozen=True)
class EngineState:
    active_ruleset: str | None = None
    applied_at: float | None = None
    last_rollback_at: float | None = None
    pending_nack: str | None = None

    def status(self, now: float) -> str:
        if self.active_ruleset is None:
            return "down"
        recent_rollback = (
            self.last_rollback_at is not None
            and now - self.last_rollback_at < DEGRADED_AFTER_ROLLBACK_SECONDS
        )
        if recent_rollback or self.pending_nack:
            return "degraded"
        return "ok"


class EngineRegistry:
    def __init__(self) -> None:
        self._states: dict[str, EngineState] = {name: EngineState() for name in ENGINE_TYPES}
        self._lock = threading.Lock()

    def mark_applied(self, engine: str, ruleset: str, *, at: float | None = None) -> None:
        with self._lock:
            state = self._states[engine]
            self._states[engine] = replace(
                state, active_ruleset=ruleset, applied_at=at or time.time(), pending_nack=None
            )

    def mark_rollback(self, engine: str, reason: str, *, at: float | None = None) -> None:
        with self._lock:
            self._states[engine] = replace(self._states[engine], last_rollback_at=at or time.time())

    def load_builtin(self) -> None:
        for engine in ENGINE_TYPES:
            self.mark_applied(engine, f"builtin:{engine}")

    def statuses(self, now: float | None = None) -> dict[str, str]:
        moment = now if now is not None else time.time()
        return {name: state.status(moment) for name, state in self._states.items()}

    def active(self) -> dict[str, str | None]:
        return {name: state.active_ruleset for name, state in self._states.items()}
