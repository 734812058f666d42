"""Scoped activations: an engine activation may hold for one place (region, country or branch) only.

`engine_activations.scope` is the place code a hot reload named (upper case), NULL for the global
activation, so every row written before this migration stays global. Versions stay one sequence per
engine across all scopes (the unique (engine, version) key is unchanged), so a (digest, version) pair
still names one activation. The index serves "the latest activation of each scope of an engine".

A nullable column and an index: no table rebuild, so the append-only triggers and the grants of 0002
and 0003 stay as they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("engine_activations", sa.Column("scope", sa.String(32), nullable=True))
    op.create_index(
        "ix_engine_activations_engine_scope", "engine_activations", ["engine", "scope", "version"]
    )


def downgrade() -> None:
    op.drop_index("ix_engine_activations_engine_scope", "engine_activations")
    # SQLite (3.35+) drops a column in place; the append-only triggers do not name it.
    op.drop_column("engine_activations", "scope")
