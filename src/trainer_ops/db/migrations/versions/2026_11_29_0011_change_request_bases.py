"""Change requests for operations that are not documents (ADR 0026): `change_requests.base`.

A hot reload, a release create or a release rollback has no document version to be checked against; it
is asked against what was active then (the lane's activation, the newest release, the current
release). `base` holds that as JSON; `base_version` keeps the number compared (the activation's
version, the newest release event's id). Null for document writes, whose `base_version` says it all.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("change_requests", sa.Column("base", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_requests") as batch:
        batch.drop_column("base")
