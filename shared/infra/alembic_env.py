"""The body of every service's Alembic ``env.py``: async engine, per-service version table."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.infra.sql_engine import private_sqlite_file


def run(target_metadata: MetaData, service: str) -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by shared.infra.migrations"
    version_table = f"alembic_version_{service}"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, version_table=version_table,
                          literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          version_table=version_table, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        private_sqlite_file(url)  # `trialwatch migrate` is often the database's first opener
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())
