"""Recompute the audit log and say whether it is intact, and if not, which entry is the first bad one.

Per entry: the seq follows the previous one (no gap, no reorder, no duplicate); the indexed columns
match the hashed body; prevHash is the previous hash; hash = SHA-256(prevHash || body); the leaf hash
is RFC 9162's; the HMAC (key outside the store) holds. Over the whole log: every signed checkpoint
(from the store or from outside) matches the Merkle root and chain head recomputed at its size, and a
checkpoint larger than the log means the log was truncated or rolled back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from trainer_ops.audit.checkpoint import Checkpoint
from trainer_ops.audit.merkle import Frontier
from trainer_ops.audit.types import GENESIS_HASH

INTACT, TAMPERED, UNVERIFIABLE = "intact", "tampered", "unverifiable"


@dataclass
class Verdict:
    status: str
    size: int = 0
    first_bad_seq: int | None = None
    reason: str = ""
    root: str = ""
    chain: str = GENESIS_HASH
    checkpoints_checked: int = 0

    @property
    def exit_code(self) -> int:
        return {INTACT: 0, TAMPERED: 1}.get(self.status, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "size": self.size,
            "firstBadSeq": self.first_bad_seq,
            "reason": self.reason,
            "rootHash": self.root,
            "chainHash": self.chain,
            "checkpointsChecked": self.checkpoints_checked,
        }


@dataclass
class ChainState:
    """Where a verification stands: enough to resume after the last verified entry."""

    frontier: Frontier = field(default_factory=Frontier)
    chain: str = GENESIS_HASH
    ts_ms: int = 0

    @property
    def size(self) -> int:
        return self.frontier.size


def check_entries(
    rows: Iterable[tuple[Any, ...]],
    *,
    mac_key: bytes,
    state: ChainState,
    checkpoints: dict[int, Checkpoint] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, str] | None:
    """Advance `state` over `rows` (audit store ENTRY_COLUMNS, in seq order). Returns (seq, reason) of
    the first bad entry, or None. `checkpoints` by size are compared as their size is reached."""
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest
    frontier = state.frontier
    prev = state.chain
    prev_bytes = bytes.fromhex(prev)
    pending = checkpoints or {}
    done = 0
    last_ts = state.ts_ms
    for seq, ts_ms, user_id, role, action, target, request_id, body, prev_hash, digest, leaf, mac in rows:
        expected = frontier.size + 1
        if seq != expected:
            return (
                expected,
                f"entry {expected} is missing (found seq {seq} next): deleted, reordered or renumbered",
            )
        raw = body.encode()
        if prev_hash != prev:
            return seq, "prevHash does not match the previous entry's hash"
        if sha256(prev_bytes + raw).hexdigest() != digest:
            return seq, "hash does not match the entry's content"
        if hmac_digest(mac_key, f"{seq}:{digest}".encode(), "sha256").hex() != mac:
            return seq, "MAC does not verify: entry forged or re-chained without the key"
        leaf_bytes = sha256(b"\x00" + raw).digest()
        if leaf_bytes.hex() != leaf:
            return seq, "leaf hash does not match the entry's content"
        parsed = orjson.loads(raw)
        actor = parsed["actor"]
        if (
            parsed["seq"],
            parsed["tsMs"],
            actor["userId"],
            actor["role"],
            parsed["action"],
            parsed["target"],
            parsed["requestId"],
        ) != (seq, ts_ms, user_id, role, action, target, request_id):
            return seq, "the indexed columns (seq, time, user, role, action, target, requestId) were edited"
        if ts_ms < last_ts:
            return seq, "time goes backwards: entries were reordered or their time edited"
        frontier.append(leaf_bytes)
        prev, prev_bytes, last_ts = digest, bytes.fromhex(digest), ts_ms
        state.chain, state.ts_ms = prev, ts_ms
        checkpoint = pending.get(seq)
        if checkpoint is not None and (frontier.root() != checkpoint.root or checkpoint.chain != prev):
            return seq, (
                f"differs from the signed checkpoint at size {seq}: an entry at or before it "
                "was changed and re-signed (MAC key compromised?)"
            )
        done += 1
        if progress is not None and done % 10_000 == 0:
            progress(10_000)
    if progress is not None:
        progress(done % 10_000)
    return None


def verify(
    rows: Iterable[tuple[Any, ...]],
    *,
    mac_key: bytes,
    checkpoints: list[Checkpoint],
    progress: Callable[[int], None] | None = None,
) -> Verdict:
    """Full verification from the first entry. `checkpoints` must already be signature-checked."""
    by_size: dict[int, Checkpoint] = {}
    for checkpoint in checkpoints:
        known = by_size.get(checkpoint.size)
        if known is not None and (known.root, known.chain) != (checkpoint.root, checkpoint.chain):
            return Verdict(TAMPERED, reason=f"two signed checkpoints disagree at size {checkpoint.size}")
        by_size[checkpoint.size] = checkpoint
    state = ChainState()
    bad = check_entries(rows, mac_key=mac_key, state=state, checkpoints=by_size, progress=progress)
    verdict = Verdict(
        INTACT,
        size=state.size,
        root=state.frontier.root().hex(),
        chain=state.chain,
        checkpoints_checked=sum(1 for s in by_size if s <= state.size),
    )
    if bad is not None:
        verdict.status, (verdict.first_bad_seq, verdict.reason) = TAMPERED, bad
        return verdict
    beyond = [s for s in by_size if s > state.size]
    if beyond:
        verdict.status = TAMPERED
        verdict.first_bad_seq = state.size + 1
        verdict.reason = (
            f"the log has {state.size} entries but a signed checkpoint covers {max(beyond)}: "
            "entries were truncated or the store was rolled back"
        )
    return verdict
