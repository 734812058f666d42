"""Step 1's identity headers: a value is checked whole."""

from __future__ import annotations

import pytest

from trainer_ops.access.identity import HeaderIdentity
from trainer_ops.errors import Unauthorized


@pytest.mark.parametrize("user_id", ["alice\n", "alice\r", "", "a" * 129, "al ice", "alïce"])
def test_an_identity_value_with_anything_but_its_characters_is_refused(user_id: str) -> None:
    headers = {"x-user-id": user_id, "x-role": "admin", "x-scope": "global"}
    with pytest.raises(Unauthorized):
        HeaderIdentity("10.0.0.1").principal(headers.get)


def test_a_plain_identity_names_its_caller() -> None:
    headers = {"x-user-id": "alice", "x-role": "admin", "x-scope": "global"}
    assert HeaderIdentity("10.0.0.1").principal(headers.get) is not None
