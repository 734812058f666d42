"""GET /operator/ops/audit/consistency and /audit/checkpoints: RFC 9162 consistency proofs between signed
checkpoints, across tiles and as the log grows; readable by every role; bad ranges refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from trainer_ops.app import Ops
from trainer_ops.audit.checkpoint import parse_and_verify, parse_public_key
from trainer_ops.audit.merkle import verify_consistency
from trainer_ops.audit.types import SYSTEM_ACTOR, Action

from .support import assert_problem, bearer

AUDIT = "/operator/ops/audit"


def grow(ops: Ops, count: int) -> None:
    def unit(session: Session) -> None:
        for n in range(count):
            ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"t-{n}")

    ops.write(unit)


def signed(client: TestClient) -> dict[str, Any]:
    response = client.post(f"{AUDIT}/checkpoint")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def proves(client: TestClient, old: dict[str, Any], new: dict[str, Any], **headers: str) -> bool:
    response = client.get(
        f"{AUDIT}/consistency", params={"first": old["size"], "second": new["size"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["first"], body["second"]) == (old["size"], new["size"])
    assert (body["firstRoot"], body["secondRoot"]) == (old["rootHash"], new["rootHash"])
    return verify_consistency(
        old["size"],
        new["size"],
        bytes.fromhex(old["rootHash"]),
        bytes.fromhex(new["rootHash"]),
        [bytes.fromhex(node) for node in body["proof"]],
    )


def test_proofs_between_signed_checkpoints_verify_across_tiles_as_the_log_grows(
    client: TestClient, ops: Ops
) -> None:
    checkpoints = [signed(client)]
    for count in (1, 300, 255, 700):
        grow(ops, count)
        checkpoints.append(signed(client))
    for i, old in enumerate(checkpoints):
        for new in checkpoints[i:]:
            assert proves(client, old, new), (old["size"], new["size"])
    listed = client.get(f"{AUDIT}/checkpoints", params={"limit": 3}).json()["items"]
    assert [c["size"] for c in listed] == [c["size"] for c in reversed(checkpoints)][:3]
    key = parse_public_key(listed[0]["verifierKey"])
    assert listed[0]["verifierKey"].split("+")[1] == listed[0]["keyId"]
    assert parse_and_verify(listed[0]["note"], key).size == checkpoints[-1]["size"]


def test_every_role_reads_checkpoints_and_proofs_but_not_the_entries(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    old = signed(client)
    grow(ops, 5)
    new = signed(client)
    for role, scope in (("service", {}), ("branch", {"branch": "B1"}), ("region", {"region": "EU"})):
        headers = bearer(token_for(role, **scope))
        assert client.get(f"{AUDIT}/checkpoint", headers=headers).json()["size"] == new["size"]
        assert client.get(f"{AUDIT}/checkpoints", headers=headers).status_code == 200
        assert proves(client, old, new, **headers)
        assert_problem(client.get(AUDIT, headers=headers), 403)
        assert_problem(client.post(f"{AUDIT}/checkpoint", headers=headers), 403)
    anonymous = {"Authorization": ""}
    assert_problem(client.get(f"{AUDIT}/consistency?first=1&second=1", headers=anonymous), 401)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("first=0&second=3", "first"),
        ("first=-2&second=3", "first"),
        ("first=4&second=3", "second"),
        ("first=1&second=999999", "second"),
        ("first=x&second=3", "first"),
        ("second=3", "first"),
        ("first=1", "second"),
    ],
)
def test_a_range_outside_0_lt_first_le_second_le_size_is_refused(
    client: TestClient, query: str, field: str
) -> None:
    response = client.get(f"{AUDIT}/consistency?{query}")
    assert_problem(response, 422, field=field)


def test_missing_entries_below_second_answer_409_not_500(client: TestClient, ops: Ops) -> None:
    grow(ops, 20)
    size = signed(client)["size"]
    with ops.database.engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_entries_no_delete"))
        else:
            connection.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        connection.execute(text("DELETE FROM audit_entries WHERE seq = :seq"), {"seq": size - 2})
    # The log's size is its last seq, so the hole is below it.
    assert_problem(
        client.get(f"{AUDIT}/consistency", params={"first": 2, "second": size}), 409, code="CONFLICT"
    )
