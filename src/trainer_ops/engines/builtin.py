"""The eight built-in engine types: ruleset schemas, semantic checks, compiled state, initial rulesets.

Outside packages add engine types through the `trainer_ops.engines` entry point group (see plugins.py).
"""

from __future__ import annotations

import itertools
import string
from types import MappingProxyType
from typing import Any

from trainer_ops.engines.types import EngineType

_META = {"type": "object", "description": "free-form metadata (author, ticket, notes)"}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {**properties, "meta": _META},
        "required": required,
        "additionalProperties": False,
    }


def _strings(min_items: int = 0) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": min_items}


def _unique(items: list[dict[str, Any]], key: str, what: str) -> list[str]:
    seen: set[str] = set()
    errors = []
    for item in items:
        if item[key] in seen:
            errors.append(f"{what} id {item[key]!r} appears twice")
        seen.add(item[key])
    return errors


def _frozen(ruleset: dict[str, Any]) -> MappingProxyType[str, Any]:
    """Compiled state that requests read: a read-only view, so no request can change a live ruleset."""
    return MappingProxyType(ruleset)


# scenario ----------------------------------------------------------------------------------------------
SCENARIO = EngineType(
    name="scenario",
    schema=_object(
        {
            "scenarios": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "id": {"type": "string", "minLength": 1},
                        "title": {"type": "string", "minLength": 1},
                        "persona": {"type": "string"},
                        "objectives": _strings(1),
                        "difficulty": {"type": "integer", "minimum": 1, "maximum": 5},
                    },
                    ["id", "title", "objectives", "difficulty"],
                ),
            }
        },
        ["scenarios"],
    ),
    initial={
        "scenarios": [
            {
                "id": "greeting",
                "title": "Greet a customer",
                "persona": "first-time visitor",
                "objectives": ["greet within 10 seconds", "ask an open question"],
                "difficulty": 1,
            }
        ]
    },
    check=lambda r: _unique(r["scenarios"], "id", "scenario"),
    compile=_frozen,
)


# prompt ------------------------------------------------------------------------------------------------
def _check_templates(ruleset: dict[str, Any]) -> list[str]:
    errors = []
    for name, template in ruleset["templates"].items():
        for part in ("system", "user"):
            try:
                list(string.Formatter().parse(template[part]))
            except ValueError as exc:
                errors.append(f"template {name!r} {part}: {exc}")
    return errors


PROMPT = EngineType(
    name="prompt",
    schema=_object(
        {
            "templates": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": _object(
                    {"system": {"type": "string"}, "user": {"type": "string"}}, ["system", "user"]
                ),
            }
        },
        ["templates"],
    ),
    initial={
        "templates": {
            "roleplay": {"system": "You play a customer in a retail store.", "user": "Scenario: {scenario}"}
        }
    },
    check=_check_templates,
    compile=_frozen,
)


# difficulty --------------------------------------------------------------------------------------------
def _check_levels(ruleset: dict[str, Any]) -> list[str]:
    levels = sorted(ruleset["levels"], key=lambda level: level["minScore"])
    errors = [
        f"level {lv['name']!r}: minScore is above maxScore"
        for lv in levels
        if lv["minScore"] > lv["maxScore"]
    ]
    for lower, upper in itertools.pairwise(levels):
        if upper["minScore"] <= lower["maxScore"]:
            errors.append(f"levels {lower['name']!r} and {upper['name']!r} overlap")
    return errors


DIFFICULTY = EngineType(
    name="difficulty",
    schema=_object(
        {
            "levels": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "minScore": {"type": "number", "minimum": 0, "maximum": 100},
                        "maxScore": {"type": "number", "minimum": 0, "maximum": 100},
                    },
                    ["name", "minScore", "maxScore"],
                ),
            },
            "adaptiveStep": {"type": "number", "minimum": 0, "maximum": 1},
        },
        ["levels"],
    ),
    initial={
        "levels": [
            {"name": "beginner", "minScore": 0, "maxScore": 49},
            {"name": "intermediate", "minScore": 50, "maxScore": 79},
            {"name": "advanced", "minScore": 80, "maxScore": 100},
        ],
        "adaptiveStep": 0.1,
    },
    check=_check_levels,
    compile=lambda r: _frozen({**r, "levels": tuple(sorted(r["levels"], key=lambda lv: lv["minScore"]))}),
)


# content -----------------------------------------------------------------------------------------------
CONTENT = EngineType(
    name="content",
    schema=_object(
        {
            "transforms": {
                "type": "array",
                "items": _object(
                    {
                        "name": {"type": "string", "minLength": 1},
                        "enabled": {"type": "boolean"},
                        "maxChars": {"type": "integer", "minimum": 1},
                    },
                    ["name", "enabled"],
                ),
            },
            "allowedFormats": _strings(1),
        },
        ["transforms", "allowedFormats"],
    ),
    initial={
        "transforms": [
            {"name": "summarise", "enabled": True, "maxChars": 4000},
            {"name": "quiz_from_text", "enabled": True, "maxChars": 8000},
        ],
        "allowedFormats": ["text/markdown", "application/pdf", "text/plain"],
    },
    check=lambda r: _unique(r["transforms"], "name", "transform"),
    compile=_frozen,
)


# gamification ------------------------------------------------------------------------------------------
GAMIFICATION = EngineType(
    name="gamification",
    schema=_object(
        {
            "points": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "badges": {
                "type": "array",
                "items": _object(
                    {
                        "id": {"type": "string", "minLength": 1},
                        "threshold": {"type": "integer", "minimum": 1},
                    },
                    ["id", "threshold"],
                ),
            },
        },
        ["points", "badges"],
    ),
    initial={
        "points": {"mission_complete": 50, "quiz_passed": 20, "roleplay_done": 30},
        "badges": [{"id": "rookie", "threshold": 100}, {"id": "pro", "threshold": 1000}],
    },
    check=lambda r: _unique(r["badges"], "id", "badge"),
    compile=_frozen,
)


# missions ----------------------------------------------------------------------------------------------
MISSIONS = EngineType(
    name="missions",
    schema=_object(
        {
            "templates": {
                "type": "array",
                "minItems": 1,
                "items": _object(
                    {
                        "id": {"type": "string", "minLength": 1},
                        "title": {"type": "string", "minLength": 1},
                        "durationDays": {"type": "integer", "minimum": 1, "maximum": 90},
                        "tasks": _strings(1),
                    },
                    ["id", "title", "durationDays", "tasks"],
                ),
            },
            "maxActivePerUser": {"type": "integer", "minimum": 1, "maximum": 100},
        },
        ["templates"],
    ),
    initial={
        "templates": [
            {
                "id": "week1",
                "title": "First week on the floor",
                "durationDays": 7,
                "tasks": ["complete the greeting scenario", "pass the product quiz"],
            }
        ],
        "maxActivePerUser": 3,
    },
    check=lambda r: _unique(r["templates"], "id", "mission template"),
    compile=_frozen,
)


# upm (user performance model) --------------------------------------------------------------------------
def _check_weights(ruleset: dict[str, Any]) -> list[str]:
    total = sum(ruleset["weights"].values())
    return [] if abs(total - 1) < 1e-6 else [f"weights must sum to 1 (they sum to {total:g})"]


UPM = EngineType(
    name="upm",
    schema=_object(
        {
            "weights": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "decayDays": {"type": "integer", "minimum": 1, "maximum": 365},
        },
        ["weights"],
    ),
    initial={"weights": {"quiz": 0.3, "roleplay": 0.5, "missions": 0.2}, "decayDays": 30},
    check=_check_weights,
    compile=_frozen,
)


# insights ----------------------------------------------------------------------------------------------
def _check_thresholds(ruleset: dict[str, Any]) -> list[str]:
    thresholds = ruleset.get("thresholds")
    if thresholds and thresholds["low"] >= thresholds["high"]:
        return ["thresholds.low must be below thresholds.high"]
    return []


INSIGHTS = EngineType(
    name="insights",
    schema=_object(
        {
            "scoring": _object(
                {"weights": {"type": "object", "additionalProperties": {"type": "number"}}}, ["weights"]
            ),
            "minSamples": {"type": "integer", "minimum": 1},
            "thresholds": _object({"low": {"type": "number"}, "high": {"type": "number"}}, ["low", "high"]),
        },
        ["scoring", "minSamples"],
    ),
    initial={
        "scoring": {"weights": {"accuracy": 0.6, "empathy": 0.4}},
        "minSamples": 5,
        "thresholds": {"low": 0.4, "high": 0.8},
    },
    check=_check_thresholds,
    compile=_frozen,
)

BUILTIN_ENGINES: tuple[EngineType, ...] = (
    SCENARIO,
    PROMPT,
    DIFFICULTY,
    CONTENT,
    GAMIFICATION,
    MISSIONS,
    UPM,
    INSIGHTS,
)
