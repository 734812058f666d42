"""The witness's verdicts on what a server answers, against a fake server (httpx.MockTransport): forged
signatures, refusals, vanished checkpoints, malformed proofs, and a state file replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer_ops.audit import merkle
from trainer_ops.audit.checkpoint import Checkpoint, sign
from trainer_ops.cli.witness import ALARM, OK, UNREACHABLE, USAGE, Outcome, Witness

KEY = Ed25519PrivateKey.generate()
LEAVES = [bytes([i]) * 32 for i in range(40)]


def note(size: int, *, key: Ed25519PrivateKey = KEY, leaves: list[bytes] = LEAVES) -> str:
    return sign(Checkpoint(size, merkle.root(leaves[:size]), "c" * 64, 1_764_000_000_000 + size), key).note


class FakeServer:
    """Answers GET .../audit/checkpoint and .../audit/consistency from what a test sets."""

    def __init__(self, checkpoint: tuple[int, Any], consistency: tuple[int, Any] | None = None) -> None:
        self.checkpoint = checkpoint
        self.consistency = consistency or (200, None)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/checkpoint"):
            status, body = self.checkpoint
        else:
            status, body = self.consistency
            if body is None:
                first, second = int(request.url.params["first"]), int(request.url.params["second"])
                body = {"proof": [p.hex() for p in merkle.consistency_proof(LEAVES[:second], first)]}
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)


def run(server: FakeServer, state: Path) -> Outcome:
    with httpx.Client(base_url="http://ops.test", transport=httpx.MockTransport(server)) as client:
        return Witness(client, [KEY.public_key()], state).run()


def held(state: Path, size: int) -> None:
    state.write_text(json.dumps({"checkpoint": note(size)}))


def test_a_consistent_growth_is_kept_atomically_and_nothing_else_is_left_in_the_directory(
    tmp_path: Path,
) -> None:
    state = tmp_path / "w.json"
    held(state, 10)
    outcome = run(FakeServer((200, {"note": note(33)})), state)
    assert (outcome.code, outcome.status) == (OK, "consistent")
    kept = json.loads(state.read_text())
    assert (kept["size"], kept["checkpoint"], kept["server"]) == (33, note(33), "http://ops.test")
    assert [p.name for p in tmp_path.iterdir()] == ["w.json"]


def test_a_checkpoint_whose_body_was_edited_is_a_bad_signature(tmp_path: Path) -> None:
    edited = note(20).replace("\n20\n", "\n21\n", 1)
    outcome = run(FakeServer((200, {"note": edited})), tmp_path / "w.json")
    assert (outcome.code, outcome.status) == (ALARM, "bad_signature")
    assert "does not verify" in outcome.message
    assert not (tmp_path / "w.json").exists()


def test_a_malformed_or_wrong_proof_is_an_alarm_naming_both_checkpoints(tmp_path: Path) -> None:
    state = tmp_path / "w.json"
    held(state, 10)
    for proof in (["zz"], [], [bytes(32).hex()]):
        outcome = run(FakeServer((200, {"note": note(33)}), (200, {"proof": proof})), state)
        assert (outcome.code, outcome.status) == (ALARM, "rewritten")
        assert "size 10, root" in outcome.message
        assert "size 33, root" in outcome.message
    assert json.loads(state.read_text())["checkpoint"] == note(10)


@pytest.mark.parametrize(
    ("answer", "with_state", "code", "status"),
    [
        ((404, {"detail": "no checkpoint yet"}), True, ALARM, "vanished"),
        ((404, {"detail": "no checkpoint yet"}), False, OK, "no_checkpoint"),
        ((409, {"detail": "the stored checkpoint is invalid"}), False, ALARM, "tampered"),
        ((401, {"detail": "no token"}), True, USAGE, "refused"),
        ((403, {"detail": "denied"}), True, USAGE, "refused"),
        ((503, {"detail": "store down"}), True, UNREACHABLE, "unavailable"),
        ((200, "<html>proxy</html>"), True, UNREACHABLE, "bad_answer"),
    ],
)
def test_what_each_answer_of_the_server_means_for_a_witness(
    tmp_path: Path, answer: tuple[int, Any], with_state: bool, code: int, status: str
) -> None:
    state = tmp_path / "w.json"
    if with_state:
        held(state, 10)
    before = state.read_text() if with_state else None
    outcome = run(FakeServer(answer), state)
    assert (outcome.code, outcome.status) == (code, status)
    assert (state.read_text() if with_state else None) == before


def test_a_shorter_log_that_cannot_be_proven_is_an_alarm(tmp_path: Path) -> None:
    state = tmp_path / "w.json"
    held(state, 10)
    refused = (422, {"detail": "second (33) is beyond the log's 12 entries"})
    outcome = run(FakeServer((200, {"note": note(33)}), refused), state)
    assert (outcome.code, outcome.status) == (ALARM, "tampered")


def test_an_unreadable_state_file_is_a_usage_error(tmp_path: Path) -> None:
    state = tmp_path / "w.json"
    for content in ("not json", "{}", json.dumps({"checkpoint": note(5, key=Ed25519PrivateKey.generate())})):
        state.write_text(content)
        outcome = run(FakeServer((200, {"note": note(33)})), state)
        assert (outcome.code, outcome.status) == (USAGE, "bad_state")
