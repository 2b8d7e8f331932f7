"""The factories' session (bound per test by the `db` fixture) and their common base."""

from __future__ import annotations

from functools import cache

from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from backend.accounts.service import hash_password

PASSWORD = "correct horse battery staple"
_session: Session | None = None


def bind(session: Session) -> None:
    global _session
    _session = session


def current_session() -> Session:
    assert _session is not None, "use the `db` fixture before factories"
    return _session


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "commit"
