"""PostgreSQL: announce committed changes of documents and engine activations with NOTIFY.

Every replica LISTENs on `trainer_ops_changes` (infra/changes.py) and reloads what changed at once,
instead of at its next poll. The triggers fire in the changing transaction and PostgreSQL delivers the
notification only when it commits, so a rolled-back change announces nothing. Any writer is covered:
the service, the CLI, another replica. On SQLite there is one process: this does nothing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNEL = "trainer_ops_changes"
ANNOUNCED = ("document_versions", "engine_activations")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The payload names the table; listeners re-read the latest versions, so one per statement is enough.
    op.execute(f"""
        CREATE FUNCTION trainer_ops_announce_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
          RETURN NULL;
        END $$""")
    for table in ANNOUNCED:
        op.execute(f"""
            CREATE TRIGGER {table}_announce AFTER INSERT ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION trainer_ops_announce_change()""")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_announce")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ANNOUNCED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_announce ON {table}")
    op.execute("DROP FUNCTION IF EXISTS trainer_ops_announce_change()")
