"""Fixtures: every test runs once on SQLite and once on PostgreSQL (`TEST_POSTGRES_URL`).

Chain: `database_url` (migrated once per worker) -> `app` -> `db` (a session for arranging and
asserting) -> factories; `client` calls the API as a user would. Each test owns its data: the tables
are emptied after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token
from sqlalchemy.orm import Session

from backend import create_app
from backend.accounts.users import Partner, User
from backend.cli import upgrade_database
from backend.config import Settings
from backend.domains import setup as setup_domains
from backend.kernel.base import Base
from backend.work_orders.models import RepairRequest, WorkOrder, WorkOrderEvent
from tests import factories

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]
# Every domain registered (models, mutations, guards, permissions), as in the app and in job workers.
setup_domains()


def _pg_reachable(url: str) -> str | None:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        return str(exc).splitlines()[0]


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database for this test worker: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        build_schema(url)
        yield url
        return
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    error = _pg_reachable(base)
    if error:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required (REQUIRE_POSTGRES=1) but unreachable at {base}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {base}: {error}")
    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = _with_search_path(base, schema)
        build_schema(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def build_schema(url: str) -> None:
    """The suite runs on the schema production gets: Alembic's head (tests/test_schema.py proves it
    equals the models)."""
    upgrade_database(url)


def fresh_database(request: pytest.FixtureRequest, tmp_path: Any, kind: str) -> Iterator[str]:
    """An empty database of `kind` for tests that build the schema themselves (migrations)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG)
    if _pg_reachable(base):
        pytest.skip("PostgreSQL unreachable")
    schema = f"f_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def backend_name(database_url: str) -> str:
    """'sqlite' or 'postgresql': for the few tests that only make sense on one of them."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def app(database_url: str, tmp_path: Any) -> Iterator[Flask]:
    """The app on the test database, with blobs under the test's temporary folder."""
    settings = Settings(
        database_url=database_url,
        blob_dir=str(tmp_path / "blobs"),
        secret_key="test-secret-key-with-enough-length-0123456789",
    )
    application = create_app(settings, TESTING=True)
    yield application
    engine = application.extensions["repairops.engine"]
    _empty_tables(engine)
    engine.dispose()


def _empty_tables(engine: sa.Engine) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session for arranging data and reading it back; factories commit through it."""
    session: Session = app.extensions["repairops.session_factory"]()
    factories.bind(session)
    with app.app_context():
        yield session
    session.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(app: Flask, user: User) -> dict[str, str]:
    """Authorization header for `user` without going through the (deliberately slow) password hash."""
    with app.app_context():
        token = create_access_token(identity=user.id, additional_claims={"role": user.role})
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(app: Flask, db: Session) -> Any:
    """`auth(user)` -> headers for that user; `auth(partner_key)` for a partner's API key."""

    def make(who: User | str) -> dict[str, str]:
        if isinstance(who, str):
            return {"X-API-Key": who}
        return bearer(app, who)

    return make


@pytest.fixture
def partner_with_key(db: Session) -> tuple[Partner, str]:
    """A partner platform and its API key."""
    return factories.partner_with_key()


@pytest.fixture
def staff(db: Session) -> Any:
    """`staff("dispatcher")` -> a user of that role (one per role per test)."""
    made: dict[str, User] = {}

    def make(role: str) -> User:
        if role not in made:
            made[role] = factories.UserFactory(role=role)
        return made[role]

    return make


@pytest.fixture
def row_counts(db: Session) -> Any:
    """`row_counts()` -> how many requests, work orders and events exist (to prove nothing was written)."""

    def count() -> dict[str, int]:
        db.expire_all()
        return {
            model.__tablename__: db.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (RepairRequest, WorkOrder, WorkOrderEvent)
        }

    return count
