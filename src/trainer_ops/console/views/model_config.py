"""Model config (spec section 1): the document as a validated form, its conflicts, history and restore.
Admin-only under the default policy (`model_config.read` / `model_config.update`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from trainer_ops.console.document_routes import document_router
from trainer_ops.console.documents import DocumentPage, Field
from trainer_ops.console.pages import Console
from trainer_ops.console.web import SignedIn
from trainer_ops.modelconfig.schemas import ModelConfigUpdate
from trainer_ops.modelconfig.types import Catalogs
from trainer_ops.versions.service import DocumentEditor

# Validation takes `auto` or any valid BCP-47 tag, so the field is text; these are only suggestions.
LANGUAGE_SUGGESTIONS = ("auto", "ko", "ko-KR", "en", "en-US", "en-GB", "ja", "zh-Hans", "zh-Hant", "de", "fr")


def _catalogs(console: Console) -> Catalogs:
    # The same catalogue create_app gives the validation: the built-in models and the settings' own.
    return Catalogs.with_extra_models(console.settings.models)


def _models(console: Console) -> list[tuple[str, str]]:
    return [(name, f"{name} (≤ {ceiling:,})") for name, ceiling in sorted(_catalogs(console).models.items())]


def _tones(console: Console) -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(_catalogs(console).tones)]


async def _tone_texts(request: Request, me: SignedIn) -> dict[str, Any]:
    # What each tone profile tells the model, so the operator chooses knowing what it does.
    return {"tones": sorted(_catalogs(me.console).tones.items())}


def _editor(console: Console) -> DocumentEditor:
    return console.model_config


PAGE = DocumentPage(
    key="model_config",
    path="/console/model-config",
    read="model_config.read",
    update="model_config.update",
    editor=_editor,
    schema=ModelConfigUpdate,
    fields=(
        Field("model", "select", options=_models),
        Field("temperature", "number", fine_step="0.01"),
        Field("maxTokens", "number"),
        Field("toneProfile", "select", options=_tones),
        Field("language", "text", suggestions=LANGUAGE_SUGGESTIONS),
        Field("enabled", "checkbox"),
    ),
    context=_tone_texts,
)

router = document_router(PAGE)
