"""Engine and session factory. One request = one session = one transaction, committed at its end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from backend.kernel.registration import installed

_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: Any) -> str:
    """JSON columns' text: orjson, several times faster than the json module on a push's hundreds of
    rows. As with the json module, a datetime or a dataclass is an error (store ISO text explicitly)."""
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    kwargs = {"json_serializer": json_text, "json_deserializer": orjson.loads, **kwargs}
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def schema_objects_of(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for a database of `dialect`: everything but the objects declared for
    another dialect only (`Index(...).ddl_if(dialect=...)`), which the migrations create there alone."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        wanted = condition.dialect
        return dialect == wanted if isinstance(wanted, str) else dialect in wanted

    return include


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for the app, the CLI and jobs. Refused before the domains are set up: the change feed,
    the transition guards and every model would not all be there (`backend.domains.setup()`)."""
    installed()
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
