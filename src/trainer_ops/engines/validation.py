"""Ruleset validation: the engine type's JSON Schema, then its own semantic check."""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from trainer_ops.engines.types import EngineType


@cache
def _validator(engine: EngineType) -> Draft202012Validator:
    return Draft202012Validator(engine.schema)


def ruleset_errors(engine: EngineType, ruleset: Any) -> list[dict[str, str]]:
    """Every problem with `ruleset`, as {field, message}; empty when the engine can run it."""
    errors = [
        {"field": "/".join(str(p) for p in error.absolute_path) or "(root)", "message": error.message}
        for error in sorted(_validator(engine).iter_errors(ruleset), key=lambda e: list(e.absolute_path))
    ]
    if errors:
        return errors
    return [{"field": "(rules)", "message": message} for message in engine.check(ruleset)]
