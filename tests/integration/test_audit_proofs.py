"""GET /operator/ops/audit/proof: RFC 9162 inclusion proofs that verify against the signed checkpoint,
across tile boundaries and as the log grows; refusals for entries outside it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from trainer_ops.app import Ops
from trainer_ops.audit.merkle import verify_inclusion
from trainer_ops.audit.types import SYSTEM_ACTOR, Action

from .support import assert_problem, bearer

PROOF = "/operator/ops/audit/proof"
CHECKPOINT = "/operator/ops/audit/checkpoint"


def grow(ops: Ops, count: int) -> None:
    def unit(session: Session) -> None:
        for n in range(count):
            ops.audit.append(session, actor=SYSTEM_ACTOR, action=Action.RELOAD, target=f"t-{n}")

    ops.write(unit)


def stored_leaf(ops: Ops, seq: int) -> str:
    with ops.database.read() as session:
        return str(
            session.execute(text("SELECT leaf_hash FROM audit_entries WHERE seq = :s"), {"s": seq}).scalar()
        )


def check(client: TestClient, ops: Ops, seq: int) -> None:
    response = client.get(PROOF, params={"seq": seq})
    assert response.status_code == 200, response.text
    proof = response.json()
    signed = client.get(CHECKPOINT).json()
    assert (proof["treeSize"], proof["rootHash"], proof["checkpoint"]) == (
        signed["size"],
        signed["rootHash"],
        signed["note"],
    )
    assert proof["leafHash"] == stored_leaf(ops, seq)
    assert verify_inclusion(
        bytes.fromhex(proof["leafHash"]),
        proof["leafIndex"],
        proof["treeSize"],
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(proof["rootHash"]),
    ), seq


def test_proofs_verify_against_the_signed_root_across_tiles_and_as_the_log_grows(
    client: TestClient, ops: Ops
) -> None:
    grow(ops, 700)
    size = client.post(CHECKPOINT).json()["size"]
    for seq in (1, 2, 255, 256, 257, 512, 513, size - 1, size):
        check(client, ops, seq)
    grow(ops, 300)  # the tree grows past more tiles; proofs follow the newest checkpoint
    grown = client.post(CHECKPOINT).json()["size"]
    assert grown == size + 300
    for seq in (1, 257, size, size + 1, grown):
        check(client, ops, seq)


def test_a_proof_outside_the_checkpoint_or_the_log_is_refused(
    client: TestClient, ops: Ops, token_for: Callable[..., str]
) -> None:
    size = client.post(CHECKPOINT).json()["size"]
    grow(ops, 3)
    assert_problem(client.get(PROOF, params={"seq": size + 1}), 409, code="CONFLICT")
    assert_problem(client.get(PROOF, params={"seq": 0}), 422, field="seq")
    assert_problem(client.get(PROOF, params={"seq": "x"}), 422)
    region = token_for("region", region="EU")
    assert_problem(client.get(PROOF, params={"seq": 1}, headers=bearer(region)), 403)
