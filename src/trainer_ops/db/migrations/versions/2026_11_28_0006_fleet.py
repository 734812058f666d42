"""The fleet: live replicas, engine instances bound to their owner, fleet-wide reload epochs.

- `fleet_replicas`: one row per running replica, refreshed by its heartbeat. A hot reload waits for
  the answer of every replica seen within the attachment TTL (ADR 0019).
- `engine_instances`: an SDK engine instance id, the user whose token first attached it, the engines
  it runs, and the replica whose stream holds it now. Another user can neither attach under the id nor
  answer for it until the binding has gone stale.
- PostgreSQL: the sequence `trainer_ops_reload_epoch`, so that every replica draws reload epochs from
  one counter and an instance can always tell the newer of two commands.

Both tables are mutable (heartbeats); on PostgreSQL the service role may change them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROLE = "trainer_ops_service"
SEQUENCE = "trainer_ops_reload_epoch"


def upgrade() -> None:
    op.create_table(
        "fleet_replicas",
        sa.Column("replica_id", sa.String(128), primary_key=True),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("seen_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "engine_instances",
        sa.Column("instance_id", sa.String(128), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("engines", sa.String(512), nullable=False),
        sa.Column("replica_id", sa.String(128), nullable=True),
        sa.Column("attached_at_ms", sa.BigInteger, nullable=False),
        sa.Column("seen_at_ms", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"CREATE SEQUENCE {SEQUENCE}")
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON fleet_replicas, engine_instances TO {ROLE}';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE {SEQUENCE} TO {ROLE}';
          END IF;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")
    op.drop_table("engine_instances")
    op.drop_table("fleet_replicas")
