"""Append-only, enforced by the database: triggers reject UPDATE and DELETE (and TRUNCATE on
PostgreSQL); on PostgreSQL an application role gets SELECT and INSERT only.

The role name and whether it may log in come from AUDIT_APP_ROLE, AUDIT_APP_ROLE_LOGIN and
AUDIT_APP_ROLE_PASSWORD. Roles belong to the whole PostgreSQL cluster, so the downgrade revokes
this database's grants but leaves the role itself in place.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.settings import AuditSettings

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("audit_snapshot", "audit_record", "audit_access")
REJECT_FUNCTION = "audit_reject_change"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
        _postgresql_role(AuditSettings())
    else:
        _sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        role = _quoted(AuditSettings().app_role)
        if _role_exists(AuditSettings().app_role):
            op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {role}")
            op.execute(f"REVOKE ALL ON SEQUENCE audit_access_id_seq FROM {role}")
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {REJECT_FUNCTION}()")
    else:
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def _sqlite_triggers() -> None:
    for table in TABLES:
        for operation in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation} BEFORE {operation.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} rejected'); END"
            )


def _postgresql_triggers() -> None:
    op.execute(f"""
        CREATE FUNCTION {REJECT_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    for table in TABLES:
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {REJECT_FUNCTION}()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {REJECT_FUNCTION}()")


def _postgresql_role(settings: AuditSettings) -> None:
    role = _quoted(settings.app_role)
    login = "LOGIN" if settings.app_role_login else "NOLOGIN"
    # Concurrent migrations of two databases in one cluster may race to create the role.
    op.execute(f"""
        DO $$ BEGIN
            CREATE ROLE {role} {login};
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$
    """)
    if settings.app_role_login:
        op.execute(f"ALTER ROLE {role} LOGIN")
    if settings.app_role_password:
        password = settings.app_role_password.replace("'", "''")
        op.execute(f"ALTER ROLE {role} PASSWORD '{password}'")
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {role}")
    op.execute(f"GRANT SELECT, INSERT ON {', '.join(TABLES)} TO {role}")
    op.execute(f"GRANT USAGE ON SEQUENCE audit_access_id_seq TO {role}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(TABLES)} FROM PUBLIC")


def _role_exists(name: str) -> bool:
    query = sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name")
    return op.get_bind().execute(query, {"name": name}).scalar() is not None


def _quoted(name: str) -> str:
    return str(op.get_bind().dialect.identifier_preparer.quote_identifier(name))
