"""Model-config rules: the catalogs (models with token ceilings, tones) and language tags."""

from __future__ import annotations

from typing import Any

import pytest

from trainer_ops.modelconfig.types import DEFAULT_MODEL_CONFIG, Catalogs, check_config, is_language

CATALOGS = Catalogs()


def config(**changes: Any) -> dict[str, Any]:
    return {**DEFAULT_MODEL_CONFIG, **changes}


def fields(errors: list[dict[str, str]]) -> list[str]:
    return [error["field"] for error in errors]


@pytest.mark.parametrize("tag", ["auto", "ko", "en-US", "zh-Hant-TW", "ko-KR", "pt-BR", "de"])
def test_is_language_accepts_auto_and_bcp47_tags(tag: str) -> None:
    assert is_language(tag)


@pytest.mark.parametrize("tag", ["xx-123", "english", "", "en_US", "en--US", "AUTO-x", "ko\n", " ko"])
def test_is_language_refuses_other_text(tag: str) -> None:
    assert not is_language(tag)


def test_check_config_accepts_the_defaults() -> None:
    assert check_config(config(), CATALOGS) == []


def test_check_config_accepts_spec_update_example() -> None:
    # Spec 1.2 applied to the defaults.
    updated = config(model="gpt-5.1", temperature=0.2, toneProfile="coaching", language="ko")

    assert check_config(updated, CATALOGS) == []


def test_check_config_refuses_unknown_model_and_names_known_ones() -> None:
    errors = check_config(config(model="gpt-9"), CATALOGS)

    assert fields(errors) == ["model"]
    assert "'gpt-9'" in errors[0]["message"]
    assert "gpt-5.1" in errors[0]["message"]


def test_check_config_accepts_max_tokens_at_the_models_ceiling() -> None:
    assert check_config(config(model="gpt-4o", maxTokens=16_384), CATALOGS) == []


def test_check_config_refuses_max_tokens_above_the_models_ceiling() -> None:
    errors = check_config(config(model="gpt-4o", maxTokens=16_385), CATALOGS)

    assert fields(errors) == ["maxTokens"]
    assert "16384" in errors[0]["message"]


def test_check_config_refuses_unknown_tone() -> None:
    errors = check_config(config(toneProfile="sarcastic"), CATALOGS)

    assert fields(errors) == ["toneProfile"]
    assert "coaching" in errors[0]["message"]


def test_check_config_refuses_bad_language() -> None:
    assert fields(check_config(config(language="english"), CATALOGS)) == ["language"]


def test_check_config_reports_every_bad_field_at_once() -> None:
    errors = check_config(config(model="nope", toneProfile="nope", language="xx-123"), CATALOGS)

    assert fields(errors) == ["model", "toneProfile", "language"]


def test_extra_models_extend_the_catalog_with_their_ceiling() -> None:
    catalogs = Catalogs.with_extra_models({"house-model": 2048})

    assert check_config(config(model="house-model", maxTokens=2048), catalogs) == []
    assert fields(check_config(config(model="house-model", maxTokens=4096), catalogs)) == ["maxTokens"]
    assert check_config(config(), catalogs) == []


def test_every_default_tone_has_a_system_message() -> None:
    assert {"professional", "coaching"} <= set(CATALOGS.tones)
    assert all(message.strip() for message in CATALOGS.tones.values())
