"""Audit entries as values: canonical bytes and the hash chain (no I/O)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
import rfc8785

GENESIS_HASH = "0" * 64


class Action(StrEnum):
    # The spec's four (section 7).
    PREDICT = "predict"
    PUBLISH = "publish"
    RELOAD = "reload"
    UPDATE_CONFIG = "update_config"
    # Ours.
    ACCESS_DENIED = "access_denied"
    TOKEN_CREATED = "token_created"  # noqa: S105 - an action name
    TOKEN_REVOKED = "token_revoked"  # noqa: S105 - an action name
    ROLLBACK = "rollback"
    RULESET_UPLOADED = "ruleset_uploaded"
    CONSOLE_SIGN_IN = "console_sign_in"
    CONSOLE_SIGN_OUT = "console_sign_out"
    # Every state change of a change request (ADR 0026): created, approved, rejected, cancelled,
    # applied, conflicted, suspended; `details.event` says which.
    CHANGE_REQUEST = "change_request"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    role: str
    scope: dict[str, str]
    # How the actor came: "console" for the operator console. Not part of the actor's JSON: the entry's
    # details carry it (AuditService.append), so every console action is marked without each service
    # having to remember.
    via: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"userId": self.user_id, "role": self.role, "scope": self.scope}


SYSTEM_ACTOR = Actor(user_id="system", role="system", scope={})


def entry_body(
    *,
    seq: int,
    ts_ms: int,
    actor: Actor,
    action: str,
    target: str,
    before: Any,
    after: Any,
    outcome: str,
    request_id: str,
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """The hashed part of an entry. seq and time are inside it, so neither can be changed unseen."""
    return {
        "seq": seq,
        "tsMs": ts_ms,
        "actor": actor.as_json(),
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "outcome": outcome,
        "requestId": request_id,
        "details": details or {},
    }


def canonical(body: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON: the same entry always has the same bytes, hence the same hash.

    The `rfc8785` package is the reference but costs ~100 us an entry. orjson with sorted keys writes
    the very same bytes whenever every key sorts the same in UTF-16 and code-point order and every
    number is an integer or a float ECMAScript prints without an exponent; such entries (nearly all)
    take the fast path (~1 us), the rest the reference. tests/unit/audit proves the two agree.
    """
    if _fast_safe(body):
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return bytes(rfc8785.dumps(body))


_MAX_SAFE_INT = 2**53


def _fast_safe(value: Any) -> bool:
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT < value < _MAX_SAFE_INT
    if isinstance(value, float):
        magnitude = abs(value)
        return not value.is_integer() and 1e-5 <= magnitude < 1e21
    if isinstance(value, dict):
        # Keys below U+E000 sort identically by UTF-16 unit and by code point.
        return all(
            isinstance(k, str) and (k.isascii() or max(k) < "\ue000") and _fast_safe(v)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return all(_fast_safe(v) for v in value)
    return False


def chain_hash(prev_hash: str, canonical_body: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_body).hexdigest()


def leaf_hash(canonical_body: bytes) -> str:
    """RFC 9162 leaf hash: SHA-256(0x00 || entry); the Merkle tree's leaves."""
    return hashlib.sha256(b"\x00" + canonical_body).hexdigest()


def entry_mac(key: bytes, seq: int, chain: str) -> str:
    """HMAC-SHA256 over seq and the chain hash, with a key that never lives in the store: whoever can
    write the store but lacks the key cannot forge an entry, nor re-chain the ones after a change."""
    return hmac.new(key, f"{seq}:{chain}".encode(), hashlib.sha256).hexdigest()
