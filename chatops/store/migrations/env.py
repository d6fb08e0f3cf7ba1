"""Alembic environment: migrates the connection the store hands over, or `sqlalchemy.url` if run by hand."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool
from sqlmodel import SQLModel

from chatops.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares only our tables: others (the scheduler's job store) share the database."""
    return type_ != "table" or name in target_metadata.tables


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    # render_as_batch: SQLite can't ALTER most things, so later migrations copy-and-move tables.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():  # inside the store's transaction this neither begins nor commits
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        run_offline()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_online(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.begin() as own:
        run_online(own)


main()
