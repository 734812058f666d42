"""Console sessions: an operator signed in to the web console, shared by every replica.

The browser holds only a random session id in an HttpOnly cookie; the store holds its SHA-256, never
the id, so a read of the table signs nobody in. A row keeps who signed in (user, role, scope), what
proved it (an API token's row id, whose revocation ends the session at once, or a JWT whose expiry
caps it), the session's CSRF secret, and when it began and ends.

Mutable (sign-out and expiry delete rows); on PostgreSQL the service role may read, add and delete them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "console_sessions"
ROLE = "trainer_ops_service"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64)),
        sa.Column("country", sa.String(64)),
        sa.Column("branch", sa.String(64)),
        # `token` (an API token: token_id names its row) or `jwt` (expiry only: a JWT cannot be revoked).
        sa.Column("token_kind", sa.String(8), nullable=False),
        sa.Column("token_id", sa.Integer),
        sa.Column("csrf_secret", sa.String(64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_console_sessions_token_id", TABLE, ["token_id"])
    op.create_index("ix_console_sessions_expires_at_ms", TABLE, ["expires_at_ms"])
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0003's grants cover only the tables that existed then.
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'GRANT SELECT, INSERT, DELETE ON {TABLE} TO {ROLE}';
          END IF;
        END $$""")


def downgrade() -> None:
    op.drop_index("ix_console_sessions_expires_at_ms", TABLE)
    op.drop_index("ix_console_sessions_token_id", TABLE)
    op.drop_table(TABLE)
