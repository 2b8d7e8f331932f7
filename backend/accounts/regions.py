"""Service regions (a district of a city) that orders and technicians belong to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.kernel.base import Base, IdMixin, TimestampMixin


class Region(IdMixin, TimestampMixin, Base):
    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    city: Mapped[str] = mapped_column(sa.String(100))
    center_lat: Mapped[float]
    center_lng: Mapped[float]
