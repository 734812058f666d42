"""One test per attack class: `audit verify` must fail and name the right entry; a clean log passes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trainer_ops.app import Ops
from trainer_ops.audit.checkpoint import Checkpoint, sign
from trainer_ops.audit.verify import Verdict

from .attacker import Attacker, rechain, rewrite_body

Verify = Callable[..., Verdict]


def test_untouched_log_verifies_intact(log: Ops, verify: Verify) -> None:
    verdict = verify()
    assert verdict.status == "intact"
    assert verdict.size >= 20
    assert verdict.first_bad_seq is None


def test_changed_entry_is_named(attacker: Attacker, verify: Verify) -> None:
    row = attacker.rows()[4]
    rewrite_body(row, after={"temperature": 1.9})
    attacker.sql("UPDATE audit_entries SET body = :body WHERE seq = :seq", body=row["body"], seq=row["seq"])
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 5)
    assert "hash" in verdict.reason


def test_changed_entry_with_every_later_hash_recomputed_fails_on_the_mac(
    attacker: Attacker, verify: Verify
) -> None:
    rows = attacker.rows()
    rewrite_body(rows[6], outcome="denied")
    rechain(rows, 6)
    attacker.replace_all(rows)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 7)
    assert "MAC" in verdict.reason


def test_deleted_entry_is_named(attacker: Attacker, verify: Verify) -> None:
    attacker.sql("DELETE FROM audit_entries WHERE seq = 8")
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 8)


def test_delete_and_renumber_is_caught(attacker: Attacker, verify: Verify) -> None:
    rows = [r for r in attacker.rows() if r["seq"] != 8]
    for position, row in enumerate(rows, 1):
        if row["seq"] != position:
            row["seq"] = position
            rewrite_body(row, seq=position)
    rechain(rows, 7)
    attacker.replace_all(rows)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 8)


def test_reordered_entries_are_caught(attacker: Attacker, verify: Verify) -> None:
    rows = attacker.rows()
    first, second = rows[9], rows[10]
    for key in (
        "body",
        "prev_hash",
        "hash",
        "leaf_hash",
        "mac",
        "ts_ms",
        "user_id",
        "role",
        "action",
        "target",
        "request_id",
    ):
        first[key], second[key] = second[key], first[key]
    attacker.replace_all(rows)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 10)


def test_inserted_entry_is_caught(attacker: Attacker, verify: Verify) -> None:
    rows = attacker.rows()
    forged = dict(rows[11])
    rewrite_body(forged, requestId="forged")
    forged["request_id"] = "forged"
    rows.insert(12, forged)
    for position, row in enumerate(rows, 1):
        if row["seq"] != position:
            row["seq"] = position
            rewrite_body(row, seq=position)
    rechain(rows, 12)
    attacker.replace_all(rows)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 13)


def test_forged_entry_appended_at_the_tail_is_caught(attacker: Attacker, verify: Verify) -> None:
    rows = attacker.rows()
    forged = dict(rows[-1])
    seq = forged["seq"] + 1
    forged["seq"] = seq
    rewrite_body(forged, seq=seq, action="update_config", after={"enabled": False})
    rows.append(forged)
    rechain(rows, len(rows) - 1)
    forged["mac"] = hashlib.sha256(b"guess").hexdigest()
    attacker.replace_all(rows)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", seq)


def test_replayed_entry_is_caught(attacker: Attacker, verify: Verify) -> None:
    rows = attacker.rows()
    replay = dict(rows[3])
    replay["seq"] = rows[-1]["seq"] + 1
    attacker.sql(
        "INSERT INTO audit_entries (seq, ts_ms, user_id, role, action, target, request_id, body,"
        " prev_hash, hash, leaf_hash, mac) VALUES (:seq, :ts_ms, :user_id, :role, :action, :target,"
        " :request_id, :body, :prev_hash, :hash, :leaf_hash, :mac)",
        **replay,
    )
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", replay["seq"])


def test_edited_index_column_to_hide_an_entry_is_caught(attacker: Attacker, verify: Verify) -> None:
    attacker.sql("UPDATE audit_entries SET action = 'predict', user_id = 'nobody' WHERE seq = 6")
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", 6)
    assert "indexed columns" in verdict.reason


def test_truncation_below_an_exported_checkpoint_is_caught(
    attacker: Attacker, log: Ops, verify: Verify
) -> None:
    exported = log.checkpoints.make().note
    size = int(exported.splitlines()[1])
    attacker.sql("DELETE FROM audit_entries WHERE seq > :keep", keep=size - 3)
    attacker.sql("DELETE FROM audit_checkpoints")
    assert verify().status == "intact"  # without the witness's copy, a clean truncation is invisible
    verdict = verify(exported)
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", size - 2)
    assert "truncated" in verdict.reason


def test_stored_checkpoint_alone_catches_truncation(attacker: Attacker, log: Ops, verify: Verify) -> None:
    size = log.checkpoints.make().size
    attacker.sql("DELETE FROM audit_entries WHERE seq > :keep", keep=size - 1)
    verdict = verify()
    assert (verdict.status, verdict.first_bad_seq) == ("tampered", size)


def test_mac_key_thief_is_caught_up_to_the_last_signed_checkpoint(
    attacker: Attacker, log: Ops, verify: Verify
) -> None:
    exported = log.checkpoints.make().note
    mac_key = (log.settings.home / "audit-mac-key").read_text().strip().encode()
    rows = attacker.rows()
    rewrite_body(rows[2], after={"temperature": 0.0})
    rechain(rows, 2, mac_key=mac_key)
    attacker.replace_all(rows)
    attacker.sql("DELETE FROM audit_checkpoints")
    verdict = verify(exported)
    assert verdict.status == "tampered"
    assert "signed checkpoint" in verdict.reason


def test_forged_or_edited_checkpoint_is_refused(log: Ops, verify: Verify) -> None:
    good = log.checkpoints.make()
    edited = good.note.replace(f"\n{good.size}\n", f"\n{good.size + 5}\n")
    verdict = verify(edited)
    assert verdict.status == "tampered"
    assert "signature" in verdict.reason
    other_key = Ed25519PrivateKey.generate()
    forged = sign(Checkpoint(good.size + 5, good.root, good.chain, good.ts_ms), other_key).note
    verdict = verify(forged)
    assert verdict.status == "tampered"
    assert "no signature by this log's key" in verdict.reason


def test_service_refuses_to_sign_a_tampered_log(attacker: Attacker, log: Ops) -> None:
    from trainer_ops.errors import Conflict

    attacker.sql("UPDATE audit_entries SET target = 'elsewhere' WHERE seq = 3")
    with pytest.raises(Conflict, match="refusing to sign: entry 3"):
        log.checkpoints.make()
