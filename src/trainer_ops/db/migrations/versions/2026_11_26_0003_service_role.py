"""PostgreSQL: a service role that may only INSERT and SELECT the append-only tables.

Run the service as a login role that is a member of `trainer_ops_service` (and not the tables' owner):
it can then neither change nor delete audit entries, checkpoints, versions, rulesets or releases, nor
disable the triggers that guard them (only the owner may). On SQLite there are no roles: this does nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLE = "trainer_ops_service"
APPEND_ONLY = (
    "audit_entries",
    "audit_checkpoints",
    "document_versions",
    "ruleset_blobs",
    "rulesets",
    "engine_activations",
    "releases",
    "release_events",
)
MUTABLE = ("api_tokens",)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Roles belong to the cluster: create it once, only where the migrating user may create roles.
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')
             AND (SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            CREATE ROLE {ROLE} NOLOGIN;
          END IF;
        END $$""")
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'GRANT SELECT, INSERT ON {", ".join(APPEND_ONLY)} TO {ROLE}';
            EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON {", ".join(MUTABLE)}, alembic_version TO {ROLE}';
            EXECUTE 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ROLE}';
          END IF;
        END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        DO $$ BEGIN
          IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
            EXECUTE 'REVOKE ALL ON {", ".join(APPEND_ONLY + MUTABLE)}, alembic_version FROM {ROLE}';
            EXECUTE 'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}';
          END IF;
        END $$""")
