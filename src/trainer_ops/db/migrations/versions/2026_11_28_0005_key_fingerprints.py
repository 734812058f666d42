"""Key fingerprints: which audit MAC key, checkpoint signing key and JWT secret this store belongs to.

The first start records a fingerprint of each key (never the key); every later start compares its own
keys with them and refuses to run with a foreign one (ADR 0017). A signing-key rotation appends a row
for the new key, with its public key and a signature by it over the rotation, so the retired public
keys stay known and old checkpoints keep verifying.

Append-only: a row is never changed or removed, and on PostgreSQL the service role may only SELECT and
INSERT it. Whoever could rewrite it could make a replica with a foreign key look right, or erase the
record of a retired key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from trainer_ops.db.migrations.append_only import drop_append_only, make_append_only

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLE = "key_fingerprints"
ROLE = "trainer_ops_service"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # audit-mac-key, audit-signing-key or jwt-secret.
        sa.Column("name", sa.String(32), nullable=False),
        # 1 for the key recorded first, +1 for each rotation: two replicas racing to record a key
        # cannot both win.
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        # The signing key's verifier key (public), and its signature over the rotation that made it
        # current; empty for secrets.
        sa.Column("public_key", sa.Text),
        sa.Column("signature", sa.Text),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("name", "generation", name="uq_key_fingerprints_name_generation"),
    )
    make_append_only(TABLE)
    if op.get_bind().dialect.name != "postgresql":
        return
    # 0003's grants cover only the tables that existed then.
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'GRANT SELECT, INSERT ON {TABLE} TO {ROLE}';
            EXECUTE 'GRANT USAGE, SELECT ON SEQUENCE {TABLE}_id_seq TO {ROLE}';
          END IF;
        END $$""")


def downgrade() -> None:
    drop_append_only(TABLE)
    op.drop_table(TABLE)
