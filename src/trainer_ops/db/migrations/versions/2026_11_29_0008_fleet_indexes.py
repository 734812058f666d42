"""Indexes for reading the fleet: which replicas are alive, and the SDK instances they hold.

The console's Overview lists the fleet every few seconds per open page (ADR 0022):
- `ix_fleet_replicas_seen_at_ms`: the replicas seen within the liveness window (also what a reload
  waits for);
- `ix_engine_instances_replica_seen`: a live replica's instances seen within the window, reached from
  the replica (also the heartbeat's updates of one replica's instances).

Indexes only: nothing to grant.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fleet_replicas_seen_at_ms", "fleet_replicas", ["seen_at_ms"])
    op.create_index("ix_engine_instances_replica_seen", "engine_instances", ["replica_id", "seen_at_ms"])


def downgrade() -> None:
    op.drop_index("ix_engine_instances_replica_seen", "engine_instances")
    op.drop_index("ix_fleet_replicas_seen_at_ms", "fleet_replicas")
