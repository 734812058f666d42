"""Engine, ruleset and hot-reload request/response shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class HotReloadRequest(BaseModel):
    """Spec 3.1. `target` (the prompt step's name for it) is accepted for `targetId`; `scope` (Step 1)
    limits the reload to a region, country or branch the caller holds."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=32)
    targetId: str | None = Field(None, min_length=1, max_length=128)
    target: str | None = Field(None, min_length=1, max_length=128)
    scope: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_target(self) -> HotReloadRequest:
        if (self.targetId is None) == (self.target is None):
            raise ValueError("send targetId (or target), exactly one of them")
        return self

    @property
    def target_id(self) -> str:
        return self.targetId or self.target or ""


class InstanceReply(BaseModel):
    instance: str
    ok: bool
    durationMs: float
    error: str | None = None


class HotReloadResult(BaseModel):
    status: str
    type: str
    scope: str | None = None
    targetId: str
    previousTargetId: str | None = None
    version: int | None = None
    durationMs: float | None = None
    instances: list[InstanceReply] = []


class RulesetRead(BaseModel):
    type: str
    targetId: str
    digest: str
    sizeBytes: int
    createdAt: int
    createdBy: str
    active: bool
    ruleset: dict[str, Any] | None = None


class ActivationRef(BaseModel):
    """Which activation an instance runs: the place it holds for (null: the global one)."""

    scope: str | None = None
    targetId: str
    version: int


class ActiveRead(BaseModel):
    type: str
    scope: str | None = None
    targetId: str
    digest: str
    version: int
    activation: ActivationRef
    ruleset: dict[str, Any]
