"""An attacker who can read and write the database (SQL or the SQLite file) but holds no key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from trainer_ops.app import Ops

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
