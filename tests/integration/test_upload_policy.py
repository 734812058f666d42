"""Who may upload (POST /v1/files) is the policy operation `gateway.upload`, on new and older stores."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from trainer_ops.access.types import DEFAULT_POLICY
from trainer_ops.app import Ops

from .support import bearer, store_document

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
FILE = {"file": ("notes.md", b"# Returns policy\n", "text/markdown")}


def store_policy(ops: Ops, operations: dict[str, Any]) -> None:
    """Store a policy document as the next version (as an older release, or an operator, wrote it)."""
    store_document(ops, "policy", {"operations": operations}, request_id="policy-test")


def upload(client: TestClient, token: str) -> int:
    return client.post("/v1/files", files=FILE, headers=bearer(token)).status_code


def test_a_stored_policy_from_before_gateway_upload_gets_its_default(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    older = copy.deepcopy(DEFAULT_POLICY["operations"])
    del older["gateway.upload"]
    store_policy(ops, older)

    assert upload(client, token_for("branch", branch="B1")) == 403
    assert upload(client, token_for("service", user="content-engine")) == 200


def test_a_stored_policy_may_let_region_operators_upload(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    operations = copy.deepcopy(DEFAULT_POLICY["operations"])
    operations["gateway.upload"] = {"admin": {}, "service": {}, "region": {}}
    store_policy(ops, operations)

    assert upload(client, token_for("region", region="EU")) == 200
    assert upload(client, token_for("country", country="KR")) == 403
