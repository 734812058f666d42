"""Parsing `minVersion`: the snapshot's kind:version pairs (422 naming the parameter otherwise), and the
fast path's cheap check, which answers only the exact `minVersion=N` form and leaves the rest to the
routes."""

from __future__ import annotations

import pytest

from trainer_ops.errors import Invalid
from trainer_ops.http.fastreads import _min_version
from trainer_ops.http.responses import parse_min_versions

KINDS = ("model_config", "features", "limits")


def test_pairs_parse_into_versions_per_kind() -> None:
    assert parse_min_versions("model_config:7,features:3", KINDS) == {"model_config": 7, "features": 3}
    assert parse_min_versions(" limits:0 , ", KINDS) == {"limits": 0}
    assert parse_min_versions("", KINDS) == {}
    assert parse_min_versions(None, KINDS) == {}


@pytest.mark.parametrize(
    "text",
    [
        "7",
        "model_config",
        "model_config:",
        "model_config:x",
        "model_config:-1",
        "policy:1",
        "model_config:1,model_config:2",
        "model_config:99999999999",
        "model_config:2147483648",
    ],
)
def test_anything_else_is_a_422_naming_min_version(text: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_min_versions(text, KINDS)
    assert raised.value.code == "versions.bad_min_version"
    assert [error["field"] for error in raised.value.errors] == ["minVersion"]


def test_the_fast_path_takes_only_the_exact_form() -> None:
    assert _min_version(b"minVersion=7") == 7
    assert _min_version(b"minVersion=0") == 0
    assert _min_version(b"minVersion=123456789") == 123456789
    for query in (
        b"minVersion=",
        b"minVersion=1234567890",
        b"minVersion=x",
        b"minVersion=-1",
        b"minVersion=7&region=EU",
        b"region=EU",
        b"minversion=7",
        b"minVersion=%37",
    ):
        assert _min_version(query) == -1, query
