"""User accounts and partner API keys: creation and credential checks (argon2id password hashes)."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy.orm import Session

from backend.accounts.users import Partner, User

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that timing does not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_api_key(key: str) -> str:
    """API keys are 32 random bytes, so a plain sha256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    user = session.scalars(sa.select(User).where(User.username == username)).one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return user


def create_partner(*, session: Session, name: str, api_key: str | None = None) -> tuple[Partner, str]:
    """Create a partner platform; returns it with its API key, shown once and stored only hashed."""
    key = api_key or "rk_" + secrets.token_urlsafe(32)
    partner = Partner(name=name, api_key_hash=hash_api_key(key), api_key_prefix=key[:8])
    session.add(partner)
    session.flush()
    return partner, key
