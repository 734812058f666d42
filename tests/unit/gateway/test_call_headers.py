"""The gateway's own headers: an unknown feature key or a session id never minted is a 422 naming the
header (before any audit); anything POST /v1/sessions mints passes."""

from __future__ import annotations

import pytest

from trainer_ops.errors import Invalid
from trainer_ops.gateway.headers import check_call_headers
from trainer_ops.infra.sessions import new_session_id

FEATURES = {"quiz_auto_generate": {}, "mission_auto_assign": {}}


def test_every_minted_session_id_and_every_feature_key_pass() -> None:
    for n in range(500):
        check_call_headers("quiz_auto_generate", new_session_id(f"user-{n}"), features=FEATURES)
    check_call_headers(None, None, features=FEATURES)


@pytest.mark.parametrize(
    "feature", ["", "no_such_feature", "QUIZ_AUTO_GENERATE", "quiz_auto_generate ", "\xff"]
)
def test_an_unknown_feature_key_is_a_422_naming_the_header(feature: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_call_headers(feature, None, features=FEATURES)
    assert refused.value.code == "gateway.unknown_feature"
    assert refused.value.errors[0]["field"] == "X-Trainer-Feature"


@pytest.mark.parametrize(
    "session",
    [
        "",
        "sess_nope",
        "sess_" + "a" * 22,
        "sess_" + "a" * 22 + ".0123456789ABCDEF",
        "x" * 10_000,
        "sess_\xff",
    ],
)
def test_a_session_id_of_a_shape_never_minted_is_a_422_naming_the_header(session: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_call_headers(None, session, features=FEATURES)
    assert refused.value.code == "gateway.malformed_session"
    assert refused.value.errors[0]["field"] == "X-Trainer-Session"
    assert len(refused.value.message) < 200  # the value is shown cut short
