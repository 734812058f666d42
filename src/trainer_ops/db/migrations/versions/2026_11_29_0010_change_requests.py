"""Change requests and scheduled changes (ADR 0026).

`change_requests`: a governed write held until it has its approvals or its time (`apply_at_ms`): the
operation, the document kind and the version it was asked against, the body and route parameters to
replay, the author, the approvals the policy asked for, the reviews so far (JSON), and how it ended.
Rows are updated as the request moves (pending -> approved -> applied, or rejected, cancelled,
conflicted, suspended) and never deleted: they are the record of who asked and who approved. The
index serves the scheduler's question, "which approved changes are due".

On PostgreSQL the service role may read, add and update them (no DELETE).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "change_requests"
INDEX = "ix_change_requests_state_apply_at"
ROLE = "trainer_ops_service"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("author_user_id", sa.String(128), nullable=False),
        sa.Column("author_role", sa.String(16), nullable=False),
        sa.Column("author_scope", sa.Text, nullable=False),
        sa.Column("min_approvals", sa.Integer, nullable=False),
        sa.Column("approvers", sa.Text, nullable=False),
        sa.Column("self_approval", sa.Boolean, nullable=False),
        sa.Column("reviews", sa.Text, nullable=False),
        sa.Column("apply_at_ms", sa.BigInteger),
        sa.Column("bypass_reason", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("applied_version", sa.Integer),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index(INDEX, TABLE, ["state", "apply_at_ms"])
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0003's grants cover only the tables that existed then.
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'GRANT SELECT, INSERT, UPDATE ON {TABLE} TO {ROLE}';
          END IF;
        END $$""")


def downgrade() -> None:
    op.drop_index(INDEX, TABLE)
    op.drop_table(TABLE)
