"""Engine kinds and their rulesets as values: what an engine type is, what an instance answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
SYSTEM = "system"
# The spec writes `mission` in hot reload and `missions` elsewhere.
ALIASES = {"mission": "missions"}


def canonical_engine(name: str, *, known: tuple[str, ...] = ENGINE_TYPES) -> str | None:
    name = ALIASES.get(name, name)
    return name if name in known else None


@dataclass(frozen=True, eq=False)  # identity equality and hash: one object per engine type
class EngineType:
    """One engine type: the JSON Schema of its rulesets, a semantic check beyond the schema, how a
    ruleset is compiled into the state requests read, and the ruleset a fresh store starts from."""

    name: str
    schema: dict[str, Any]
    initial: dict[str, Any]
    check: Callable[[dict[str, Any]], list[str]] = field(default=lambda _ruleset: [])
    compile: Callable[[dict[str, Any]], Any] = field(default=lambda ruleset: ruleset)


@dataclass(frozen=True)
class Loaded:
    """What an instance runs: one ruleset, compiled. Replaced whole, never edited."""

    target_id: str
    digest: str
    version: int
    state: Any


@dataclass(frozen=True)
class Reply:
    """An instance's answer to a reload: ACK (ok) or NACK with the error."""

    instance_id: str
    ok: bool
    error: str = ""
    duration_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instance": self.instance_id,
            "ok": self.ok,
            "durationMs": round(self.duration_ms, 2),
        }
        if self.error:
            out["error"] = self.error
        return out
