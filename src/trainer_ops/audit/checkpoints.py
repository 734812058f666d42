"""Signed checkpoints and verification use cases: make a checkpoint (re-verifying what is new first),
verify the whole log, prove that an entry is in a checkpoint and that one tree size extends another."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainer_ops.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    key_id,
    parse_and_verify,
    public_key_text,
    sign,
)
from trainer_ops.audit.merkle import Frontier
from trainer_ops.audit.models import AuditCheckpointRow
from trainer_ops.audit.store import AuditStore
from trainer_ops.audit.tiles import MissingLeaves, TileCache
from trainer_ops.audit.verify import TAMPERED, ChainState, Verdict, check_entries, verify
from trainer_ops.db.engine import Database
from trainer_ops.errors import Conflict, Invalid
from trainer_ops.infra.clock import Clock


@dataclass(frozen=True)
class Proof:
    seq: int
    leaf_hash: str
    checkpoint: Checkpoint
    path: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leafIndex": self.seq - 1,
            "leafHash": self.leaf_hash,
            "treeSize": self.checkpoint.size,
            "rootHash": self.checkpoint.root.hex(),
            "proof": self.path,
            "checkpoint": self.checkpoint.note,
        }


@dataclass(frozen=True)
class Consistency:
    """An RFC 9162 consistency proof between two tree sizes, with the roots this server computes for
    them (a witness checks the proof against the roots it holds signed, never these)."""

    first: int
    second: int
    first_root: bytes
    second_root: bytes
    path: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "firstRoot": self.first_root.hex(),
            "secondRoot": self.second_root.hex(),
            "proof": [p.hex() for p in self.path],
        }


def _bad_range(message: str, field: str) -> Invalid:
    return Invalid("audit.bad_range", message, errors=[{"field": field, "message": message}])


class CheckpointService:
    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        mac_key: bytes,
        signing_key: Ed25519PrivateKey,
        store: AuditStore | None = None,
        trusted_keys: Callable[[Session], Sequence[Ed25519PublicKey]] | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self._mac_key = mac_key
        self._signing_key = signing_key
        self.public_key: Ed25519PublicKey = signing_key.public_key()
        self._store = store or AuditStore()
        # The keys a checkpoint may be signed by, read in the caller's session: this log's key and the
        # retired ones that still count (ADR 0017). Default: this log's key alone.
        self._trusted_keys = trusted_keys or (lambda _session: [self.public_key])
        self.last_made_at = time.monotonic()
        # Roots of the log's complete 256-leaf tiles, filled by the first proof: later proofs read
        # at most two tiles' leaves instead of the whole log.
        self._tiles = TileCache()

    @property
    def verifier_key(self) -> str:
        return public_key_text(self.public_key)

    @property
    def key_id(self) -> str:
        """The 4-byte key id (hex) that this log's signature lines carry."""
        return key_id(self.public_key).hex()

    def latest(self) -> Checkpoint | None:
        with self._db.read() as session:
            row = self._store.latest_checkpoint(session)
            trusted = self._trusted_keys(session)
        return self._verified(row, trusted) if row is not None else None

    def _verified(self, row: AuditCheckpointRow, trusted: Sequence[Ed25519PublicKey]) -> Checkpoint:
        try:
            return parse_and_verify(row.note, self.public_key, also=trusted)
        except CheckpointError as exc:
            raise Conflict(
                "audit.tampered",
                f"the stored checkpoint at size {row.size} is invalid: {exc}; run `trainer-ops audit verify`",
            ) from None

    def recent(self, limit: int) -> list[Checkpoint]:
        """The newest `limit` signed checkpoints, newest first, each signature-checked."""
        with self._db.read() as session:
            rows = self._store.recent_checkpoints(session, limit)
            trusted = self._trusted_keys(session)
        return [self._verified(row, trusted) for row in rows]

    def pending(self) -> int:
        """How many entries the next make() re-verifies: those after the newest stored checkpoint."""
        with self._db.read() as session:
            row = self._store.latest_checkpoint(session)
            return self._store.last_seq(session) - (row.size if row else 0)

    def make(self, *, progress: Callable[[int], None] | None = None) -> Checkpoint:
        """Sign a checkpoint over every committed entry, after re-verifying the entries since the last
        one (`progress` is told each batch of entries checked). Refuses (409) to sign a log that does
        not verify."""
        with self._db.read() as session:
            row = self._store.latest_checkpoint(session)
            trusted = self._trusted_keys(session)
            state = self._state_after(row, trusted)
            signed = state.size
            # Streamed from the store: 200k entries are never all in memory at once.
            rows = self._store.scan(session, after_seq=signed)
            bad = check_entries(rows, mac_key=self._mac_key, state=state, progress=progress)
        if state.size == signed and row is not None and bad is None:
            self.last_made_at = time.monotonic()
            return self._verified(row, trusted)
        if bad is not None:
            seq, reason = bad
            raise Conflict(
                "audit.tampered",
                f"refusing to sign: entry {seq} does not verify ({reason}); run `trainer-ops audit verify`",
                extra={"firstBadSeq": seq},
            )
        checkpoint = sign(
            Checkpoint(state.size, state.frontier.root(), state.chain, int(self._clock.now() * 1000)),
            self._signing_key,
        )
        try:
            with self._db.write() as session:
                self._store.add_checkpoint(
                    session,
                    AuditCheckpointRow(
                        size=checkpoint.size,
                        ts_ms=checkpoint.ts_ms,
                        root_hash=checkpoint.root.hex(),
                        chain_hash=checkpoint.chain,
                        note=checkpoint.note,
                        frontier=orjson.dumps(state.frontier.to_hex()).decode(),
                    ),
                )
        except IntegrityError:
            # Another replica signed the same size first; its checkpoint covers the same entries.
            pass
        self.last_made_at = time.monotonic()
        return checkpoint

    def due(self, *, every_entries: int, every_seconds: float) -> bool:
        with self._db.read() as session:
            last = self._store.last_seq(session)
            row = self._store.latest_checkpoint(session)
        signed = row.size if row else 0
        if last <= signed:
            return False
        return last - signed >= every_entries or time.monotonic() - self.last_made_at >= every_seconds

    def verify(
        self, *, extra: list[str] | None = None, progress: Callable[[int], None] | None = None
    ) -> Verdict:
        """Verify the whole log against every checkpoint in the store and the notes in `extra`."""
        checkpoints: list[Checkpoint] = []
        with self._db.read() as session:
            trusted = self._trusted_keys(session)
            rows = self._store.checkpoints(session)
            for row in rows:
                try:
                    checkpoints.append(parse_and_verify(row.note, self.public_key, also=trusted))
                except CheckpointError as exc:
                    return Verdict(TAMPERED, reason=f"stored checkpoint at size {row.size}: {exc}")
            for number, note in enumerate(extra or [], 1):
                try:
                    checkpoints.append(parse_and_verify(note, self.public_key, also=trusted))
                except CheckpointError as exc:
                    return Verdict(TAMPERED, reason=f"checkpoint file {number}: {exc}")
            return verify(
                self._store.scan(session), mac_key=self._mac_key, checkpoints=checkpoints, progress=progress
            )

    def size(self) -> int:
        with self._db.read() as session:
            return self._store.last_seq(session)

    def proof(self, seq: int) -> Proof:
        checkpoint = self.latest()
        if checkpoint is None or seq > checkpoint.size:
            raise Conflict(
                "audit.not_checkpointed",
                f"entry {seq} is not covered by a signed checkpoint yet; "
                "POST /operator/ops/audit/checkpoint first",
            )
        if seq < 1:
            raise Invalid("audit.bad_seq", "seq starts at 1", errors=[{"field": "seq", "message": ">= 1"}])
        leaf, path = self._path(checkpoint, seq - 1)
        return Proof(seq, leaf.hex(), checkpoint, [p.hex() for p in path])

    def _path(self, checkpoint: Checkpoint, index: int) -> tuple[bytes, list[bytes]]:
        """(leaf hash, inclusion path) of the leaf at `index` in the checkpoint's tree, from the tile
        cache and the few leaves it does not cover."""
        with self._db.read() as session:

            def read_leaves(start: int, end: int) -> list[bytes]:
                return self._store.leaf_hashes(session, start, end)

            try:
                return self._tiles.verified_proof(read_leaves, index, checkpoint.size, checkpoint.root)
            except MissingLeaves as exc:
                raise Conflict(
                    "audit.tampered",
                    f"entries covered by the checkpoint at size {checkpoint.size} are missing ({exc}); "
                    "run `trainer-ops audit verify`",
                ) from None

    def consistency(self, first: int, second: int) -> Consistency:
        """PROOF(first, D[second]) of RFC 9162 section 2.1.4, from the tile cache and the few leaves it
        does not cover. 422 unless 0 < first <= second <= the log's size."""
        if first < 1:
            raise _bad_range("first must be at least 1", "first")
        if second < first:
            raise _bad_range(f"second ({second}) must be at least first ({first})", "second")
        with self._db.read() as session:
            size = self._store.last_seq(session)
            if second > size:
                raise _bad_range(f"second ({second}) is beyond the log's {size} entries", "second")
            signed = self._store.checkpoint_roots(session, (first, second))

            def read_leaves(start: int, end: int) -> list[bytes]:
                return self._store.leaf_hashes(session, start, end)

            try:
                first_root, second_root, path = self._tiles.verified_consistency(
                    read_leaves, first, second, signed
                )
            except MissingLeaves as exc:
                raise Conflict(
                    "audit.tampered",
                    f"entries below {second} are missing ({exc}); run `trainer-ops audit verify`",
                ) from None
        return Consistency(first, second, first_root, second_root, path)

    def _state_after(self, row: AuditCheckpointRow | None, trusted: Sequence[Ed25519PublicKey]) -> ChainState:
        if row is None:
            return ChainState()
        checkpoint = self._verified(row, trusted)
        frontier = Frontier.from_hex(row.size, orjson.loads(row.frontier))
        if frontier.root() != checkpoint.root:
            raise Conflict(
                "audit.tampered",
                f"the stored frontier at size {row.size} does not match its signed "
                "root; run `trainer-ops audit verify`",
            )
        return ChainState(frontier=frontier, chain=checkpoint.chain)
