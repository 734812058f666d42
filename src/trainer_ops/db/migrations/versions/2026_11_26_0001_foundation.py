"""Foundation: document versions, API tokens, the audit log and its signed checkpoints.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from trainer_ops.db.migrations.append_only import drop_append_only, make_append_only

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Rows of these tables are never changed or removed; the store itself refuses it.
APPEND_ONLY = ("audit_entries", "audit_checkpoints", "document_versions")


def upgrade() -> None:
    op.create_table(
        "document_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("change", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("actor_user_id", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("kind", "version", name="uq_document_versions_kind_version"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64)),
        sa.Column("country", sa.String(64)),
        sa.Column("branch", sa.String(64)),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger),
        sa.Column("revoked_at_ms", sa.BigInteger),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("leaf_hash", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_user_seq", "audit_entries", ["user_id", "seq"])
    op.create_index("ix_audit_user_action_seq", "audit_entries", ["user_id", "action", "seq"])
    op.create_index("ix_audit_action_seq", "audit_entries", ["action", "seq"])
    op.create_index("ix_audit_ts", "audit_entries", ["ts_ms", "seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("ts_ms", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("frontier", sa.Text, nullable=False),
    )
    for table in APPEND_ONLY:
        make_append_only(table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(table)
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_ts", "audit_entries")
    op.drop_index("ix_audit_action_seq", "audit_entries")
    op.drop_index("ix_audit_user_action_seq", "audit_entries")
    op.drop_index("ix_audit_user_seq", "audit_entries")
    op.drop_table("audit_entries")
    op.drop_table("api_tokens")
    op.drop_table("document_versions")
