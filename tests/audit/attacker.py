"""An attacker who can read and write the database (SQL or the SQLite file) but holds no key."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text

from trainer_ops.app import Ops
from trainer_ops.audit.types import canonical, chain_hash, entry_mac, leaf_hash

ENTRY_TABLES = ("audit_entries", "audit_checkpoints")


class Attacker:
    """Someone who can read and write the database (SQL or the SQLite file) but holds no key."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.engine = ops.database.engine
        self.dialect = self.engine.dialect.name

    def drop_triggers(self) -> None:
        with self.engine.begin() as conn:
            for table in ENTRY_TABLES:
                if self.dialect == "sqlite":
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
                else:
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))

    def sql(self, statement: str, **params: Any) -> None:
        self.drop_triggers()
        with self.engine.begin() as conn:
            conn.execute(text(statement), params)

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            result = conn.execute(text("SELECT * FROM audit_entries ORDER BY seq"))
            return [dict(r._mapping) for r in result]

    def replace_all(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite the whole entries table with `rows` (what a patient attacker would do)."""
        self.drop_triggers()
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_entries"))
            for row in rows:
                columns = ", ".join(row)
                values = ", ".join(f":{k}" for k in row)
                conn.execute(text(f"INSERT INTO audit_entries ({columns}) VALUES ({values})"), row)


def rechain(rows: list[dict], start: int, *, mac_key: bytes | None = None) -> None:
    """Recompute seq-dependent hashes from rows[start] on, as an attacker with SQL access would; the MAC
    is recomputed only if the attacker also stole the key."""
    prev = rows[start - 1]["hash"] if start else "0" * 64
    for row in rows[start:]:
        raw = row["body"].encode()
        row["prev_hash"] = prev
        row["hash"] = chain_hash(prev, raw)
        row["leaf_hash"] = leaf_hash(raw)
        if mac_key is not None:
            row["mac"] = entry_mac(mac_key, row["seq"], row["hash"])
        prev = row["hash"]


def rewrite_body(row: dict, **changes: object) -> None:
    body = orjson.loads(row["body"])
    body.update(changes)
    row["body"] = canonical(body).decode()
