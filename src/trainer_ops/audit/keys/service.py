"""Key use cases: at start, compare this process's keys with the fingerprints the store recorded (or
record them on its first start, or a signing-key rotation), report them, and say which retired signing
keys checkpoints may still be signed by (ADR 0017)."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainer_ops.audit.checkpoint import CheckpointError, parse_and_verify, parse_public_key, public_key_text
from trainer_ops.audit.keys.models import KeyFingerprintRow
from trainer_ops.audit.keys.store import KeyStore
from trainer_ops.audit.keys.types import (
    JWT,
    MAC,
    SIGNING,
    GivenKey,
    KeysRefused,
    ServiceKeys,
    public_fingerprint,
    rotation_statement,
    short,
    sign_rotation,
)
from trainer_ops.audit.types import entry_mac
from trainer_ops.db.engine import Database
from trainer_ops.infra.clock import Clock
from trainer_ops.infra.secrets import write_private

log = logging.getLogger("trainer_ops")


@dataclass
class _Plan:
    problems: list[str] = field(default_factory=list)
    rows: list[KeyFingerprintRow] = field(default_factory=list)
    # Keys made here that `rows` records: their files are written before the rows commit.
    new_files: list[tuple[Path, str]] = field(default_factory=list)


@dataclass(frozen=True)
class KeyReport:
    """One key: its fingerprint as given to this process and as the store recorded it."""

    name: str
    label: str
    source: str
    given: str | None  # None: no key given, one would be made here
    recorded: str | None  # None: the store has not recorded this key yet
    generation: int | None
    state: str  # match | mismatch | unrecorded
    problem: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label,
            "source": self.source,
            "given": self.given,
            "recorded": self.recorded,
            "generation": self.generation,
            "match": self.state == "match",
            "state": self.state,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class RetiredKey:
    generation: int
    fingerprint: str
    verifier_key: str
    # Vouched for by a trusted key: checkpoints it signed still verify.
    trusted: bool


class KeyCheck:
    def __init__(
        self, *, database: Database, keys: ServiceKeys, clock: Clock, store: KeyStore | None = None
    ) -> None:
        self._db = database
        self._keys = keys
        self._clock = clock
        self._store = store or KeyStore()
        self._table_seen = False

    @property
    def keys(self) -> ServiceKeys:
        return self._keys

    def check_or_record(self) -> None:
        """At start, after the migrations and before anything writes. On the store's first start, record
        every key (writing a key made here to its file first); on a signing-key rotation the operator
        asked for, record the new key. Otherwise each key must match its record. Raises KeysRefused
        naming every key that does not, having written nothing."""
        for attempt in range(2):
            with self._db.read() as session:
                plan = self._plan(session, rotate=True)
            if plan.problems:
                raise KeysRefused("keys.mismatch", "\n".join(plan.problems))
            if not plan.rows:
                return
            for path, content in plan.new_files:
                write_private(path, content)
            try:
                with self._db.write() as session:
                    self._store.add(session, plan.rows)
            except IntegrityError:
                # Another replica recorded its keys first: compare with those, and keep no file of
                # a key that is nobody's.
                for path, _content in plan.new_files:
                    path.unlink(missing_ok=True)
                if attempt:
                    raise
                continue
            for row in plan.rows:
                log.info("key recorded in the store: %s generation %d", row.name, row.generation)
            self._keys = self._keys.written()
            return

    def check(self, *names: str) -> None:
        """Compare only (for commands that write without starting the service); never records.
        Raises KeysRefused naming each key (of `names`, default all) that does not match."""
        with self._db.read() as session:
            if not self._has_table(session):
                return
            plan = self._plan(session, rotate=False, only=names or None)
        if plan.problems:
            raise KeysRefused("keys.mismatch", "\n".join(plan.problems))

    def report(self) -> tuple[list[KeyReport], list[RetiredKey]]:
        with self._db.read() as session:
            history = self._store.history(session) if self._has_table(session) else {}
            trusted = {_raw(key) for key in self._trusted(history.get(SIGNING, []))}
        reports = []
        for key in self._keys.all():
            recorded = history.get(key.name, [])
            current = recorded[-1] if recorded else None
            given = None if key.generated else key.fingerprint
            if current is None:
                state, problem = "unrecorded", None
            elif given == current.fingerprint:
                state, problem = "match", None
            else:
                state, problem = "mismatch", self._mismatch(key, recorded)
            reports.append(
                KeyReport(
                    name=key.name,
                    label=key.kind.label,
                    source=key.source,
                    given=given,
                    recorded=current.fingerprint if current else None,
                    generation=current.generation if current else None,
                    state=state,
                    problem=problem,
                )
            )
        retired = []
        for row in history.get(SIGNING, [])[:-1]:
            public = _parse(row.public_key)
            retired.append(
                RetiredKey(
                    generation=row.generation,
                    fingerprint=row.fingerprint,
                    verifier_key=row.public_key or "",
                    trusted=public is not None and _raw(public) in trusted,
                )
            )
        return reports, retired

    def trusted_signing_keys(self, session: Session) -> list[Ed25519PublicKey]:
        """The public keys a checkpoint may be signed by: this process's signing key, the retired
        keys named in TRAINER_OPS_AUDIT_VERIFY_KEYS, and the retired keys the store recorded, each
        vouched for by the rotation signature of a key already trusted. A key written into the store by
        someone without a trusted key gains no trust."""
        rows = self._store.history(session).get(SIGNING, []) if self._has_table(session) else []
        return self._trusted(rows)

    def replace_jwt_secret(self) -> KeyFingerprintRow | None:
        """Record the JWT secret given to this process as the store's (an operator's deliberate change).
        Returns the new row, or None when the store already has this secret."""
        key = self._keys.jwt
        if key.generated:
            env = key.kind.env
            raise KeysRefused("keys.config", f"no JWT secret given: set {env} or {env}_FILE to the new one")
        with self._db.write() as session:
            if not self._has_table(session):
                raise KeysRefused("keys.config", "the store is not initialised: run `trainer-ops init` first")
            recorded = self._store.history(session).get(JWT, [])
            if recorded and recorded[-1].fingerprint == key.fingerprint:
                return None
            row = self._row(key, generation=recorded[-1].generation + 1 if recorded else 1)
            self._store.add(session, [row])
        log.warning("JWT secret replaced: generation %d", row.generation)
        return row

    # ------------------------------------------------------------------------------------------------
    def _has_table(self, session: Session) -> bool:
        self._table_seen = self._table_seen or self._store.has_table(session)
        return self._table_seen

    def _plan(self, session: Session, *, rotate: bool, only: tuple[str, ...] | None = None) -> _Plan:
        history = self._store.history(session)
        plan = _Plan()
        for key in self._keys.all():
            if only is not None and key.name not in only:
                continue
            recorded = history.get(key.name, [])
            if not recorded:
                self._plan_first(session, key, plan)
            elif not key.generated and recorded[-1].fingerprint == key.fingerprint:
                continue
            elif rotate and (row := self._rotation(key, recorded[-1])) is not None:
                plan.rows.append(row)
            else:
                plan.problems.append(self._mismatch(key, recorded))
        return plan

    def _plan_first(self, session: Session, key: GivenKey, plan: _Plan) -> None:
        """A key the store has no record of: its first start, or a store written before 0005. Then the
        key must be the one that wrote what the store already holds."""
        rows = [self._row(key, generation=1)]
        if key.name == MAC:
            problem = self._mac_problem(session, key)
        elif key.name == SIGNING:
            problem, rows = self._signing_first(session, key)
        else:
            problem = None
        if problem is not None:
            plan.problems.append(problem)
            return
        plan.rows.extend(rows)
        if key.new_file is not None:
            plan.new_files.append(key.new_file)

    def _mac_problem(self, session: Session, key: GivenKey) -> str | None:
        last = self._store.last_entry(session)
        if last is None:
            return None
        seq, chain, mac = last
        if not key.generated and entry_mac(key.secret.encode(), seq, chain) == mac:
            return None
        given = self._given_text(key)
        return (
            f"{key.kind.label} does not verify the store's newest audit entry (seq {seq}; {given}): the "
            f"log was written with another key; give every replica that key in {key.kind.env}(_FILE)"
        )

    def _signing_first(self, session: Session, key: GivenKey) -> tuple[str | None, list[KeyFingerprintRow]]:
        note = self._store.latest_checkpoint_note(session)
        first = self._row(key, generation=1)
        if note is None:
            return None, [first]
        if not key.generated:
            if _signed_by(note, self._keys.signing_key.public_key()):
                return None, [first]
            for old in self._keys.verify_keys:
                if _signed_by(note, old):
                    # Signed with a key named as retired: record that key, then the rotation.
                    retired = KeyFingerprintRow(
                        name=SIGNING,
                        generation=1,
                        fingerprint=public_fingerprint(SIGNING, old),
                        public_key=public_key_text(old),
                        signature=None,
                        created_at_ms=self._now_ms(),
                    )
                    return None, [retired, self._rotation_row(key, retired)]
        return (
            f"{key.kind.label} did not sign the store's newest checkpoint ({self._given_text(key)}): give "
            f"every replica the key that did in {key.kind.env}(_FILE), or name that key's verifier key in "
            "TRAINER_OPS_AUDIT_VERIFY_KEYS to rotate to the given one",
            [],
        )

    def _rotation(self, key: GivenKey, current: KeyFingerprintRow) -> KeyFingerprintRow | None:
        """The row that makes the given signing key current, if the operator named the store's current
        key as retired in TRAINER_OPS_AUDIT_VERIFY_KEYS."""
        if key.name != SIGNING or key.generated or not current.public_key:
            return None
        named = {public_fingerprint(SIGNING, old) for old in self._keys.verify_keys}
        if current.fingerprint not in named:
            return None
        row = self._rotation_row(key, current)
        log.warning(
            "checkpoint signing key rotated: generation %d (%s) retires %s",
            row.generation,
            short(row.fingerprint),
            short(current.fingerprint),
        )
        return row

    def _rotation_row(self, key: GivenKey, current: KeyFingerprintRow) -> KeyFingerprintRow:
        row = self._row(key, generation=current.generation + 1)
        statement = rotation_statement(
            generation=row.generation,
            retired=current.public_key or "",
            current=row.public_key or "",
            at_ms=row.created_at_ms,
        )
        row.signature = sign_rotation(self._keys.signing_key, statement)
        return row

    def _row(self, key: GivenKey, *, generation: int) -> KeyFingerprintRow:
        return KeyFingerprintRow(
            name=key.name,
            generation=generation,
            fingerprint=key.fingerprint,
            public_key=key.verifier_key,
            signature=None,
            created_at_ms=self._now_ms(),
        )

    def _mismatch(self, key: GivenKey, recorded: list[KeyFingerprintRow]) -> str:
        current = recorded[-1]
        label, env = key.kind.label, key.kind.env
        if not key.generated:
            for old in recorded[:-1]:
                if old.fingerprint == key.fingerprint:
                    return (
                        f"{label} from {key.source} was retired (generation {old.generation}; the store's "
                        f"current one is generation {current.generation}, fingerprint "
                        f"{short(current.fingerprint)}): give every replica the current key in {env}(_FILE)"
                    )
        text = (
            f"{label} does not match the store's (fingerprint {short(current.fingerprint)} recorded, "
            f"{self._given_text(key)}): give every replica the same {env}(_FILE)"
        )
        if key.name == SIGNING and not key.generated and current.public_key:
            text += f"; to rotate to the given key, set TRAINER_OPS_AUDIT_VERIFY_KEYS={current.public_key}"
        if key.name == JWT and not key.generated:
            text += "; to change the JWT secret on purpose, run `trainer-ops keys replace-jwt-secret`"
        return text

    def _given_text(self, key: GivenKey) -> str:
        if key.new_file is not None:
            return f"none given and no {key.new_file[0]}: this process would make a new one"
        return f"{short(key.fingerprint)} given by {key.source}"

    def _trusted(self, rows: list[KeyFingerprintRow]) -> list[Ed25519PublicKey]:
        trusted = {_raw(k): k for k in (self._keys.signing_key.public_key(), *self._keys.verify_keys)}
        publics = [_parse(row.public_key) for row in rows]
        changed = True
        while changed:
            changed = False
            for i in range(1, len(rows)):
                previous, current, row = publics[i - 1], publics[i], rows[i]
                if previous is None or current is None or _raw(previous) in trusted:
                    continue
                signer = trusted.get(_raw(current))
                if signer is None or rows[i - 1].generation != row.generation - 1 or not row.signature:
                    continue
                statement = rotation_statement(
                    generation=row.generation,
                    retired=rows[i - 1].public_key or "",
                    current=row.public_key or "",
                    at_ms=row.created_at_ms,
                )
                try:
                    signer.verify(base64.b64decode(row.signature, validate=True), statement)
                except (InvalidSignature, binascii.Error, ValueError):
                    continue
                trusted[_raw(previous)] = previous
                changed = True
        return list(trusted.values())

    def _now_ms(self) -> int:
        return int(self._clock.now() * 1000)


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _parse(text: str | None) -> Ed25519PublicKey | None:
    try:
        return parse_public_key(text) if text else None
    except CheckpointError:
        return None


def _signed_by(note: str, public: Ed25519PublicKey) -> bool:
    try:
        parse_and_verify(note, public)
    except CheckpointError:
        return False
    return True
