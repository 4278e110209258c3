"""A decision may reference an input snapshot audit does not hold: drop the foreign key from
``audit_record.snapshot_hash`` to ``audit_snapshot``.

Decisions now reference their input by hash (schema version 2); the snapshot travels once as
its own event ahead of them. A decision whose snapshot never arrived is still recorded (never
silently dropped) and ``audit verify`` flags it as ``snapshot-missing``, which it already does
for a snapshot deleted afterwards.

PostgreSQL drops the constraint in place. SQLite cannot drop a constraint: the table is rebuilt
from its own stored definition without the FOREIGN KEY clause, its rows copied in order, its
indexes and append-only triggers created again (a DROP TABLE fires no DELETE trigger).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FOREIGN_KEY = "FOREIGN KEY(snapshot_hash) REFERENCES audit_snapshot (snapshot_hash)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for key in sa.inspect(op.get_bind()).get_foreign_keys("audit_record"):
            if key["referred_table"] == "audit_snapshot" and key["name"]:
                op.drop_constraint(key["name"], "audit_record", type_="foreignkey")
        return
    _rebuild_sqlite(lambda ddl: re.sub(r",\s*FOREIGN KEY\(snapshot_hash\)[^,)]*\([^)]*\)", "",
                                       ddl))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key("audit_record_snapshot_hash_fkey", "audit_record",
                              "audit_snapshot", ["snapshot_hash"], ["snapshot_hash"])
        return
    _rebuild_sqlite(lambda ddl: ddl[:ddl.rstrip().rindex(")")].rstrip()
                    + f", \n\t{FOREIGN_KEY}\n)")


def _rebuild_sqlite(change: object) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'audit_record' "
        "AND sql IS NOT NULL")).all()
    [table_sql] = [sql for kind, _, sql in rows if kind == "table"]
    others = [sql for kind, _, sql in rows if kind in ("index", "trigger")]
    new_sql = change(table_sql)  # type: ignore[operator]
    # after a rename SQLite stores the name quoted
    new_sql = re.sub(r'^CREATE TABLE "?audit_record"?', "CREATE TABLE audit_record_rebuilt",
                     new_sql)
    op.execute(new_sql)
    op.execute("INSERT INTO audit_record_rebuilt SELECT * FROM audit_record ORDER BY sequence")
    op.execute("DROP TABLE audit_record")
    op.execute("ALTER TABLE audit_record_rebuilt RENAME TO audit_record")
    for sql in others:
        op.execute(sql)
