"""Fee schedule and quotes: published prices, quotes per job, the customer's consent in the app."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate_by
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.parts import fee_schedule, pricing
from backend.parts import quotes as service
from backend.parts.billing_models import BillingPolicy, Difficulty, LabourRate, Quote, TravelFee
from backend.work_orders.access import get_visible_work_order, get_visible_work_order_of

blp = Blueprint("quotes", __name__, description="Fee schedule, quotes and the customer's consent.")


def _fen(**kwargs: Any) -> ma.fields.Integer:
    """Integer fen: a fraction of a fen is refused, never rounded."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=10**11), **kwargs)


# --- fee schedule ---------------------------------------------------------------------------------


class LabourRateSchema(ma.Schema):
    id = ma.fields.String()
    product_category = ma.fields.String()
    fault_type = ma.fields.String()
    difficulty = ma.fields.String()
    amount_fen = ma.fields.Integer()
    description = ma.fields.String()
    version = ma.fields.Integer()


class LabourRateInSchema(StrictSchema):
    product_category = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))
    fault_type = ma.fields.String(
        load_default=pricing.ANY_FAULT,
        validate=ma.validate.Length(min=1, max=50),
        metadata={"description": "`*` = any fault of the category."},
    )
    difficulty = ma.fields.String(required=True, validate=ma.validate.OneOf([d.value for d in Difficulty]))
    amount_fen = _fen(required=True)
    description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class TravelFeeSchema(ma.Schema):
    id = ma.fields.String()
    region_key = ma.fields.String()
    amount_fen = ma.fields.Integer()
    version = ma.fields.Integer()


class TravelFeeInSchema(StrictSchema):
    region_key = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=36),
        metadata={"description": "Region id or `*`."},
    )
    amount_fen = _fen(required=True)


class PolicySchema(ma.Schema):
    consent_threshold_fen = ma.fields.Integer()
    quote_valid_hours = ma.fields.Integer()


class PolicyInSchema(StrictSchema):
    consent_threshold_fen = _fen(required=True)
    quote_valid_hours = ma.fields.Integer(
        strict=True, required=True, validate=ma.validate.Range(min=1, max=24 * 90)
    )


class FeeScheduleSchema(ma.Schema):
    labour = ma.fields.List(ma.fields.Nested(LabourRateSchema))
    travel = ma.fields.List(ma.fields.Nested(TravelFeeSchema))
    policy = ma.fields.Nested(PolicySchema)


@blp.route("/fee-schedule")
class FeeSchedule(MethodView):
    @blp.response(200, FeeScheduleSchema)
    @blp.doc(security=BEARER)
    def get(self) -> fee_schedule.FeeSchedule:
        """The published prices: labour by product category × fault type × difficulty, travel fees by
        region, and the consent threshold. Technicians also receive it read-only through sync."""
        require(Permission.FEES_READ)
        return fee_schedule.fee_schedule(session=db_session())


@blp.route("/fee-schedule/labour-rates")
class LabourRates(MethodView):
    @blp.arguments(LabourRateInSchema)
    @blp.response(200, LabourRateSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any]) -> LabourRate:
        """Set the labour price of a category × fault type × difficulty (finance)."""
        require(Permission.FEES_MANAGE)
        rate = fee_schedule.LabourRateInput(**data)
        return fee_schedule.set_labour_rate(session=db_session(), rate=rate)


@blp.route("/fee-schedule/travel-fees")
class TravelFees(MethodView):
    @blp.arguments(TravelFeeInSchema)
    @blp.response(200, TravelFeeSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any]) -> TravelFee:
        """Set the call-out fee of a region, or `*` for all others (finance)."""
        require(Permission.FEES_MANAGE)
        fee = fee_schedule.TravelFeeInput(**data)
        return fee_schedule.set_travel_fee(session=db_session(), fee=fee)


@blp.route("/fee-schedule/policy")
class Policy(MethodView):
    @blp.arguments(PolicyInSchema)
    @blp.response(200, PolicySchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any]) -> BillingPolicy:
        """Change the consent threshold and how long quotes stay valid (finance)."""
        require(Permission.FEES_MANAGE)
        policy = fee_schedule.BillingPolicyInput(**data)
        return fee_schedule.set_billing_policy(session=db_session(), policy=policy)


# --- quotes ---------------------------------------------------------------------------------------


class QuoteLineSchema(ma.Schema):
    position = ma.fields.Integer()
    kind = ma.fields.String()
    sku = ma.fields.String(allow_none=True)
    description = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price_fen = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    covered_by_warranty = ma.fields.Boolean()


class QuoteConsentOutSchema(ma.Schema):
    id = ma.fields.String()
    decision = ma.fields.String()
    quote_hash = ma.fields.String()
    signer_name = ma.fields.String()
    channel = ma.fields.String()
    created_at = AwareDateTime()
    device_time = AwareDateTime(allow_none=True)


class QuoteSchema(ma.Schema):
    id = ma.fields.String()
    number = ma.fields.String()
    work_order_id = ma.fields.String()
    status = ma.fields.String()
    finding = ma.fields.String(allow_none=True)
    in_warranty = ma.fields.Boolean()
    discount_bp = ma.fields.Integer()
    subtotal_fen = ma.fields.Integer()
    covered_fen = ma.fields.Integer()
    discount_fen = ma.fields.Integer()
    total_fen = ma.fields.Integer()
    content_hash = ma.fields.String(metadata={"description": "sha256 of the canonical quote document."})
    expires_at = AwareDateTime()
    decided_at = AwareDateTime(allow_none=True)
    version = ma.fields.Integer()
    lines = ma.fields.List(ma.fields.Nested(QuoteLineSchema))
    consents = ma.fields.List(ma.fields.Nested(QuoteConsentOutSchema))


class QuotePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(QuoteSchema))


QUOTE_ORDER = (SortKey(Quote.created_at), SortKey(Quote.id))


class QuoteLineInSchema(StrictSchema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(["labour", "part", "travel"]))
    sku = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    quantity = ma.fields.Integer(strict=True, load_default=1, validate=ma.validate.Range(min=1, max=10_000))
    difficulty = ma.fields.String(validate=ma.validate.OneOf([d.value for d in Difficulty]))


class QuoteInSchema(StrictSchema):
    finding = ma.fields.String(
        validate=ma.validate.Length(min=1, max=2000),
        metadata={"description": "Set for a problem found on site: work on it waits for consent."},
    )
    lines = ma.fields.List(
        ma.fields.Nested(QuoteLineInSchema), required=True, validate=ma.validate.Length(min=1)
    )


class QuoteConsentInSchema(StrictSchema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(["approved", "declined"]))
    quote_hash = ma.fields.String(
        required=True,
        validate=ma.validate.Length(equal=64),
        metadata={"description": "The `content_hash` of the quote the customer was shown."},
    )


def _visible_quote(quote_id: str, action: Permission) -> Quote:
    principal = require(action)
    session = db_session()
    quote = service.get_quote(session=session, quote_id=quote_id)
    get_visible_work_order_of(
        session=session, principal=principal, work_order_id=quote.work_order_id, what="quote"
    )
    return quote


@blp.route("/work-orders/<string:work_order_id>/quotes")
class WorkOrderQuotes(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, QuotePageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """A job's quotes, oldest first, a page at a time (the customer sees their own jobs' quotes
        only)."""
        principal = require(Permission.QUOTE_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        page = paginate_by(
            session, service.quotes_of(order=order), QUOTE_ORDER, args.get("cursor"), args["limit"]
        )
        page["items"] = [service.refresh_expiry(quote) for quote in page["items"]]
        return page

    @blp.arguments(QuoteInSchema)
    @blp.response(201, QuoteSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> Quote:
        """Propose an itemized quote priced from the catalog and fee schedule (warranty and contract
        discount applied). The technician's device can do the same offline (`quote.propose`)."""
        principal = require(Permission.QUOTE_CREATE)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        lines = [service.LineRequest(**line) for line in data["lines"]]
        return service.create_quote(
            session=session, order=order, actor=principal, lines=lines, finding=data.get("finding")
        )


@blp.route("/quotes/<string:quote_id>")
class QuoteById(MethodView):
    @blp.response(200, QuoteSchema)
    @blp.doc(security=BEARER)
    def get(self, quote_id: str) -> Quote:
        """One quote with its lines and consents (404 unless the job is yours to see)."""
        return _visible_quote(quote_id, Permission.QUOTE_READ)


@blp.route("/quotes/<string:quote_id>/consent")
class QuoteConsentResource(MethodView):
    @blp.arguments(QuoteConsentInSchema)
    @blp.response(200, QuoteSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], quote_id: str) -> Quote:
        """The customer approves or declines the quote they were shown (matched by `quote_hash`)."""
        quote = _visible_quote(quote_id, Permission.QUOTE_CONSENT)
        principal = require(Permission.QUOTE_CONSENT)
        service.record_consent(
            session=db_session(),
            quote=quote,
            decision=data["decision"],
            quote_hash_shown=data["quote_hash"],
            signer_name=principal.display_name,
            channel="app",
            actor=principal,
        )
        return quote
