"""Customers, their addresses (WGS-84 coordinates) and their products/devices."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.accounts.users import User
from backend.kernel.base import Base, IdMixin, TimestampMixin
from backend.kernel.sync_spec import Scope, SyncSpec


class Customer(IdMixin, TimestampMixin, Base):
    __tablename__ = "customers"
    # A technician sees only what they need to reach the customer, and only while a job of theirs does.
    __sync__ = SyncSpec(
        entity="customers",
        scope=Scope.REFERENCED,
        # A technician sees whom to call and, for pricing a quote offline, the contract discount.
        fields=("id", "name", "phone", "is_contract", "contract_discount_bp", "updated_at"),
    )

    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str] = mapped_column(sa.String(32), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(200))
    is_contract: Mapped[bool] = mapped_column(default=False)
    # Contract discount in basis points (1/100 of a percent): 1500 = 15 % off.
    contract_discount_bp: Mapped[int] = mapped_column(default=0)

    user: Mapped[User | None] = relationship()

    addresses: Mapped[list[Address]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )


class Address(IdMixin, TimestampMixin, Base):
    __tablename__ = "addresses"
    __sync__ = SyncSpec(
        entity="addresses",
        scope=Scope.REFERENCED,
        fields=("id", "customer_id", "label", "text", "region_id", "lat", "lng", "updated_at"),
    )

    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    label: Mapped[str | None] = mapped_column(sa.String(50))
    text: Mapped[str] = mapped_column(sa.String(300))
    region_id: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.id"), index=True)
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    customer: Mapped[Customer] = relationship(back_populates="addresses")


class Product(IdMixin, TimestampMixin, Base):
    """A customer's device: what gets repaired."""

    __tablename__ = "products"
    __sync__ = SyncSpec(
        entity="products",
        scope=Scope.REFERENCED,
        fields=(
            "id",
            "customer_id",
            "category",
            "brand",
            "model",
            "serial",
            "purchase_date",
            "warranty_end",
            "high_end",
            "updated_at",
        ),
    )

    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(sa.String(50))
    brand: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str] = mapped_column(sa.String(100))
    serial: Mapped[str | None] = mapped_column(sa.String(100))
    purchase_date: Mapped[date | None]
    warranty_end: Mapped[date | None]
    high_end: Mapped[bool] = mapped_column(default=False)
    customer: Mapped[Customer] = relationship()

    def in_warranty_on(self, day: date) -> bool:
        return self.warranty_end is not None and day <= self.warranty_end
