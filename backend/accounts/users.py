"""People and machines that call the API: users with one role each, and partner platforms."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(32), index=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    active: Mapped[bool] = mapped_column(default=True)


class Partner(IdMixin, TimestampMixin, Base):
    """A partner platform pushing repair requests with an API key (only its sha256 is stored)."""

    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    api_key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    api_key_prefix: Mapped[str] = mapped_column(sa.String(12))
    webhook_url: Mapped[str | None] = mapped_column(sa.String(500))
    active: Mapped[bool] = mapped_column(default=True)
