"""Alembic environment of the incident store.

:func:`geozone.store.sql.migrate` runs it over an open connection (passed in
``config.attributes["connection"]``, already inside the transaction and lock it holds). Run
standalone (``alembic -x`` style with ``sqlalchemy.url`` set), it opens its own connection.
One history serves SQLite and PostgreSQL: migrations branch on the connection's dialect.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    if context.is_offline_mode():
        raise RuntimeError(
            "offline (SQL script) migrations are not supported: they branch on the live dialect"
        )
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    section = config.get_section(config.config_ini_section) or {}
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.begin() as connection:
        _run(connection)


_main()
