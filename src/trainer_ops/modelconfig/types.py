"""Model-config rules and catalogs: which models and tones exist, and what a valid config is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import langcodes

KIND = "model_config"

# Spec 1.1's example values are a fresh store's defaults (design.md).
DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "model": "gpt-5.1",
    "temperature": 0.4,
    "maxTokens": 4096,
    "toneProfile": "professional",
    "language": "auto",
    "enabled": True,
}

# Output-token ceilings. maxTokens may not exceed the chosen model's ceiling.
DEFAULT_MODELS: dict[str, int] = {
    "gpt-5.1": 128_000,
    "gpt-5.1-mini": 128_000,
    "gpt-5": 128_000,
    "gpt-5-mini": 128_000,
    "gpt-4.1": 32_768,
    "gpt-4.1-mini": 32_768,
    "gpt-4o": 16_384,
    "gpt-4o-mini": 16_384,
    "o3": 100_000,
    "o4-mini": 100_000,
    "llama-3.1-8b-instruct": 8_192,
    "llama-3.3-70b-instruct": 8_192,
    "qwen2.5-7b-instruct": 8_192,
    "mistral-small": 8_192,
    # The built-in offline provider (no network).
    "offline": 32_768,
}

# Tone profiles: the system message the AI runtime puts before every conversation.
DEFAULT_TONES: dict[str, str] = {
    "professional": "Answer in a clear, courteous and professional tone suited to retail staff training.",
    "coaching": "Act as a supportive coach: ask guiding questions, give specific feedback, and encourage "
    "the trainee to reflect before giving the answer.",
    "friendly": "Answer in a warm, friendly and approachable tone, as a helpful colleague would.",
    "concise": "Answer briefly and to the point: short sentences, no filler, key facts first.",
    "encouraging": "Answer in an upbeat, encouraging tone: recognise progress and motivate the trainee.",
}

_BCP47_SHAPE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Catalogs:
    models: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    tones: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TONES))

    @classmethod
    def with_extra_models(cls, extra: dict[str, int]) -> Catalogs:
        return cls(models={**DEFAULT_MODELS, **extra})


def is_language(value: str) -> bool:
    return value == "auto" or (bool(_BCP47_SHAPE.fullmatch(value)) and langcodes.tag_is_valid(value))


def check_config(config: dict[str, Any], catalogs: Catalogs) -> list[dict[str, str]]:
    """Rules that span fields or need the catalogs. Returns field errors; empty when valid."""
    errors = []
    model = config["model"]
    ceiling = catalogs.models.get(model)
    if ceiling is None:
        known = ", ".join(sorted(catalogs.models))
        errors.append({"field": "model", "message": f"unknown model {model!r}; known models: {known}"})
    elif config["maxTokens"] > ceiling:
        errors.append(
            {"field": "maxTokens", "message": f"must be at most {ceiling}, the ceiling of model {model!r}"}
        )
    if config["toneProfile"] not in catalogs.tones:
        known = ", ".join(sorted(catalogs.tones))
        errors.append(
            {
                "field": "toneProfile",
                "message": f"unknown tone profile {config['toneProfile']!r}; known: {known}",
            }
        )
    if not is_language(config["language"]):
        errors.append(
            {"field": "language", "message": "must be 'auto' or a BCP-47 tag such as 'ko' or 'en-US'"}
        )
    return errors
