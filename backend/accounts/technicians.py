"""Technicians: skills, level, region, home base, capacity, shifts and certificates."""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.accounts.regions import Region
from backend.accounts.users import User
from backend.kernel.base import Base, IdMixin, TimestampMixin


class SkillLevel(StrEnum):
    JUNIOR = "junior"
    SENIOR = "senior"
    EXPERT = "expert"


class CertificateType(StrEnum):
    ELECTRICIAN = "electrician"
    PLUMBER = "plumber"
    GAS = "gas"
    APPLIANCE = "appliance"
    HEIGHT = "height"


class Technician(IdMixin, TimestampMixin, Base):
    __tablename__ = "technicians"
    # Candidate search range-scans a bounding box around a job (backend.geo.candidates).
    __table_args__ = (sa.Index("ix_technicians_home_lat_home_lng", "home_lat", "home_lng"),)

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    employee_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    region_id: Mapped[str] = mapped_column(sa.ForeignKey("regions.id"), index=True)
    skill_level: Mapped[str] = mapped_column(sa.String(16), default=SkillLevel.JUNIOR)
    home_lat: Mapped[float]
    home_lng: Mapped[float]
    daily_capacity: Mapped[int] = mapped_column(default=6)
    active: Mapped[bool] = mapped_column(default=True)
    # The badge photo the customer sees on the identity link (an HTTPS URL or a blob key).
    photo_url: Mapped[str | None] = mapped_column(sa.String(500))

    user: Mapped[User] = relationship(lazy="joined")
    region: Mapped[Region] = relationship()
    skills: Mapped[list[TechnicianSkill]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", lazy="selectin"
    )
    certificates: Mapped[list[Certificate]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", lazy="selectin"
    )
    shifts: Mapped[list[Shift]] = relationship(
        back_populates="technician", cascade="all, delete-orphan", lazy="selectin"
    )


class TechnicianSkill(IdMixin, Base):
    """A product category the technician repairs; `fault_type` None means every fault of it."""

    __tablename__ = "technician_skills"
    __table_args__ = (sa.UniqueConstraint("technician_id", "product_category", "fault_type"),)

    technician_id: Mapped[str] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    product_category: Mapped[str] = mapped_column(sa.String(50))
    fault_type: Mapped[str | None] = mapped_column(sa.String(50))
    technician: Mapped[Technician] = relationship(back_populates="skills")


class Certificate(IdMixin, Base):
    __tablename__ = "certificates"

    technician_id: Mapped[str] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(sa.String(32))
    number: Mapped[str] = mapped_column(sa.String(64))
    issued_on: Mapped[date]
    expires_on: Mapped[date]
    technician: Mapped[Technician] = relationship(back_populates="certificates")

    def valid_on(self, day: date) -> bool:
        return self.issued_on <= day <= self.expires_on


class Shift(IdMixin, Base):
    """A weekly working window; weekday 0 is Monday, times are China Standard Time wall clock."""

    __tablename__ = "shifts"

    technician_id: Mapped[str] = mapped_column(
        sa.ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int]
    starts_at: Mapped[time]
    ends_at: Mapped[time]
    technician: Mapped[Technician] = relationship(back_populates="shifts")
