"""Alembic environment: the URL comes from the caller (`backend.cli.upgrade_database`) or DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig

from sqlalchemy.engine import make_url

from alembic import context
from backend.config import Settings
from backend.db import make_engine, schema_objects_of
from backend.domains import setup as setup_domains
from backend.kernel.base import Base

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

setup_domains()  # every domain's models, so that the metadata is complete
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or Settings().database_url


def run_migrations_offline() -> None:
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=schema_objects_of(make_url(url).get_dialect().name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite ALTERs go through batch mode
        compare_type=True,
        include_object=schema_objects_of(connection.dialect.name),  # type: ignore[attr-defined]
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
