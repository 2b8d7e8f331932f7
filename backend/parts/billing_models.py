"""Money: the fee schedule, quotes with the customer's consent, settlement bills and payments.

All amounts are integer fen (1 yuan = 100 fen); the rounding rules live in `backend.parts.money`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.kernel.base import Base, IdMixin, TimestampMixin, utcnow
from backend.kernel.sync_spec import Scope, SyncSpec


class Difficulty(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    COMPLEX = "complex"


class LineKind(StrEnum):
    LABOUR = "labour"
    PART = "part"
    TRAVEL = "travel"
    DISCOUNT = "discount"


class QuoteStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


class PaymentMethod(StrEnum):
    WECHAT_PAY = "wechat_pay"
    ALIPAY = "alipay"
    CARD = "card"
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"


ONLINE_METHODS = frozenset({PaymentMethod.WECHAT_PAY, PaymentMethod.ALIPAY, PaymentMethod.CARD})


class LabourRate(IdMixin, TimestampMixin, Base):
    """Labour price for a product category × fault type × difficulty; fault type `*` = any fault."""

    __tablename__ = "labour_rates"
    __table_args__ = (sa.UniqueConstraint("product_category", "fault_type", "difficulty"),)
    __sync__ = SyncSpec(entity="fee_schedule", scope=Scope.GLOBAL)

    product_category: Mapped[str] = mapped_column(sa.String(50))
    fault_type: Mapped[str] = mapped_column(sa.String(50))
    difficulty: Mapped[str] = mapped_column(sa.String(16))
    amount_fen: Mapped[int]
    description: Mapped[str] = mapped_column(sa.String(200))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class TravelFee(IdMixin, TimestampMixin, Base):
    """The call-out fee for a region; `region_key` is a region id or `*` for everywhere else."""

    __tablename__ = "travel_fees"
    __sync__ = SyncSpec(entity="travel_fees", scope=Scope.GLOBAL)

    region_key: Mapped[str] = mapped_column(sa.String(36), unique=True)
    amount_fen: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class BillingPolicy(TimestampMixin, Base):
    """The one row (id `default`) of money settings that devices also need offline."""

    __tablename__ = "billing_policies"
    __sync__ = SyncSpec(entity="billing_policy", scope=Scope.GLOBAL)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default="default")
    # Parts priced at or above this need an approved quote before they are fitted.
    consent_threshold_fen: Mapped[int]
    quote_valid_hours: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Quote(IdMixin, TimestampMixin, Base):
    """An itemized price offer for a job; `content_hash` is what the customer's consent refers to."""

    __tablename__ = "quotes"
    __sync__ = SyncSpec(entity="quotes", scope=Scope.WORK_ORDER)

    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default=QuoteStatus.PROPOSED, index=True)
    # Set when the quote is for a problem found on site: work on it waits for consent.
    finding: Mapped[str | None] = mapped_column(sa.String(2000))
    in_warranty: Mapped[bool] = mapped_column(default=False)
    discount_bp: Mapped[int] = mapped_column(default=0)
    subtotal_fen: Mapped[int]
    covered_fen: Mapped[int]
    discount_fen: Mapped[int]
    total_fen: Mapped[int]
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime]
    created_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", lazy="selectin", order_by="QuoteLine.position"
    )
    consents: Mapped[list[QuoteConsent]] = relationship(
        back_populates="quote", lazy="selectin", order_by="QuoteConsent.created_at"
    )

    __mapper_args__ = {"version_id_col": version}


class QuoteLine(IdMixin, Base):
    __tablename__ = "quote_lines"
    __sync__ = SyncSpec(entity="quote_lines", scope=Scope.WORK_ORDER)

    quote_id: Mapped[str] = mapped_column(sa.ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))
    part_id: Mapped[str | None] = mapped_column(sa.ForeignKey("parts.id"))
    sku: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]  # what the customer pays for the line: 0 when covered by warranty
    covered_by_warranty: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    quote: Mapped[Quote] = relationship(back_populates="lines")


class QuoteConsent(IdMixin, Base):
    """The customer's decision on a quote, recorded like a signature: who, when, which quote they saw."""

    __tablename__ = "quote_consents"
    __sync__ = SyncSpec(entity="quote_consents", scope=Scope.WORK_ORDER)

    quote_id: Mapped[str] = mapped_column(sa.ForeignKey("quotes.id"), index=True)
    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    decision: Mapped[str] = mapped_column(sa.String(16))  # approved | declined
    quote_hash: Mapped[str] = mapped_column(sa.String(64))
    signer_name: Mapped[str] = mapped_column(sa.String(100))
    channel: Mapped[str] = mapped_column(sa.String(16))  # app | device
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    technician_id: Mapped[str | None] = mapped_column(sa.ForeignKey("technicians.id"))
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    mutation_id: Mapped[str | None] = mapped_column(sa.String(64))
    signature_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    device_time: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    quote: Mapped[Quote] = relationship(back_populates="consents")


class Bill(IdMixin, TimestampMixin, Base):
    """The settlement bill of a job: a frozen copy of `billing.job_charges` when finance issued it."""

    __tablename__ = "bills"

    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    customer_id: Mapped[str] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open | void
    # Unique while the bill is the job's current one; NULL once voided (a job has one open bill).
    open_key: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    labour_fen: Mapped[int]
    parts_fen: Mapped[int]
    travel_fen: Mapped[int]
    discount_fen: Mapped[int]
    total_fen: Mapped[int]
    issued_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[BillLine]] = relationship(
        back_populates="bill", cascade="all, delete-orphan", lazy="selectin", order_by="BillLine.position"
    )
    payments: Mapped[list[Payment]] = relationship(
        back_populates="bill", lazy="selectin", order_by="Payment.received_at"
    )

    __mapper_args__ = {"version_id_col": version}


class BillLine(IdMixin, Base):
    __tablename__ = "bill_lines"

    bill_id: Mapped[str] = mapped_column(sa.ForeignKey("bills.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))
    description: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]
    covered_by_warranty: Mapped[bool] = mapped_column(default=False)
    bill: Mapped[Bill] = relationship(back_populates="lines")


class Payment(IdMixin, Base):
    """Money in (`payment`, amount > 0) or back out (`refund`, amount > 0, `refund_of_id` set)."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("amount_fen > 0", name="positive_amount"),
        sa.UniqueConstraint("method", "reference"),
    )

    bill_id: Mapped[str] = mapped_column(sa.ForeignKey("bills.id"), index=True)
    work_order_id: Mapped[str] = mapped_column(sa.ForeignKey("work_orders.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # payment | refund
    method: Mapped[str] = mapped_column(sa.String(16))
    amount_fen: Mapped[int]
    # Online payments: the provider's transaction id; bank transfers: the bank's reference.
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    refund_of_id: Mapped[str | None] = mapped_column(sa.ForeignKey("payments.id"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_by_user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    bill: Mapped[Bill] = relationship(back_populates="payments")
