"""ModelConfigUpdate: validated as the HTTP edge does it (JSON, strict), so types are never coerced."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trainer_ops.modelconfig.schemas import ModelConfigUpdate

SPEC_1_2 = '{"model": "gpt-5.1", "temperature": 0.2, "toneProfile": "coaching", "language": "ko"}'


def parse(raw: str) -> ModelConfigUpdate:
    # http.body.parse_body validates exactly like this.
    return ModelConfigUpdate.model_validate_json(raw, strict=True)


def error_types(raw: str) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        parse(raw)
    return [(".".join(str(p) for p in e["loc"]), e["type"]) for e in caught.value.errors()]


def test_spec_example_changes_exactly_its_fields() -> None:
    assert parse(SPEC_1_2).changes() == {
        "model": "gpt-5.1",
        "temperature": 0.2,
        "toneProfile": "coaching",
        "language": "ko",
    }


def test_empty_object_changes_nothing() -> None:
    assert parse("{}").changes() == {}


def test_integer_temperature_is_a_number() -> None:
    assert parse('{"temperature": 1}').changes() == {"temperature": 1.0}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"temperature": "0.2"}', "temperature"),
        ('{"maxTokens": 4096.0}', "maxTokens"),
        ('{"maxTokens": "4096"}', "maxTokens"),
        ('{"enabled": 1}', "enabled"),
        ('{"enabled": "true"}', "enabled"),
        ('{"model": 5}', "model"),
        ('{"language": ["ko"]}', "language"),
    ],
)
def test_wrong_json_types_are_refused_not_coerced(raw: str, field: str) -> None:
    assert [loc for loc, _ in error_types(raw)] == [field]


def test_unknown_field_is_refused() -> None:
    assert error_types('{"temperature": 0.2, "topP": 0.9}') == [("topP", "extra_forbidden")]


@pytest.mark.parametrize("field", ["model", "temperature", "maxTokens", "toneProfile", "language", "enabled"])
def test_null_is_refused_for_every_field(field: str) -> None:
    assert [loc for loc, _ in error_types(f'{{"{field}": null}}')] == [field]


@pytest.mark.parametrize("value", ["0", "0.0", "2", "2.0", "1.37"])
def test_temperature_range_bounds_are_accepted(value: str) -> None:
    assert parse(f'{{"temperature": {value}}}').temperature == float(value)


@pytest.mark.parametrize("value", ["-0.01", "2.01", "1e9", "NaN", "Infinity", "-Infinity"])
def test_temperature_outside_zero_to_two_is_refused(value: str) -> None:
    assert [loc for loc, _ in error_types(f'{{"temperature": {value}}}')] == ["temperature"]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_max_tokens_below_one_is_refused(value: str) -> None:
    assert error_types(f'{{"maxTokens": {value}}}') == [("maxTokens", "greater_than_equal")]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('{"model": ""}', "string_too_short"),
        ('{"model": "' + "m" * 129 + '"}', "string_too_long"),
        ('{"toneProfile": ""}', "string_too_short"),
        ('{"language": "' + "a" * 36 + '"}', "string_too_long"),
    ],
)
def test_string_lengths_are_bounded(raw: str, kind: str) -> None:
    assert [t for _, t in error_types(raw)] == [kind]
