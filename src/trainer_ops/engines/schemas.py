"""Engine, ruleset and hot-reload request/response shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainer_ops.engines.builtin import BUILTIN_ENGINES


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


# OpenAPI: each built-in engine type's ruleset as a component, and the upload body as one of them, with
# each type's built-in initial ruleset as a named example (Swagger UI offers them in a list; ReDoc
# shows the eight schemas side by side). Plugin types are not known without a store: their schema is at
# GET /operator/ops/engines/{type}/schema, like every type's.
def _component_name(engine: str) -> str:
    return f"{engine.capitalize()}Ruleset"


def _without_dialect(schema: Any) -> Any:
    """The schema without `$schema`: OpenAPI 3.1 already says the dialect (2020-12), and the key may
    stand only at a schema resource's root, which a component inside the document is not."""
    if isinstance(schema, dict):
        return {k: _without_dialect(v) for k, v in schema.items() if k != "$schema"}
    if isinstance(schema, list):
        return [_without_dialect(v) for v in schema]
    return schema


def ruleset_components() -> dict[str, dict[str, Any]]:
    """`components.schemas` entries: one per built-in engine type, titled with its name."""
    return {
        _component_name(engine.name): {
            "title": f"{engine.name} ruleset",
            **_without_dialect(engine.schema),
        }
        for engine in BUILTIN_ENGINES
    }


def ruleset_upload_body() -> dict[str, Any]:
    """The `requestBody` of a ruleset upload: the engine type's ruleset, whole."""
    one_of = [{"$ref": f"#/components/schemas/{_component_name(e.name)}"} for e in BUILTIN_ENGINES]
    examples = {
        engine.name: {"summary": f"{engine.name}: the built-in initial ruleset", "value": engine.initial}
        for engine in BUILTIN_ENGINES
    }
    return {
        "required": True,
        "description": "The ruleset of the engine type in the path: one of these schemas "
        "(`GET /operator/ops/engines/{type}/schema` serves each type's, plugins' too).",
        "content": {
            "application/json": {"schema": {"oneOf": one_of}, "examples": examples},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a JSON file holding the ruleset",
                        }
                    },
                }
            },
        },
    }
