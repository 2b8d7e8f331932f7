"""Settlement: a job's charges, its bill, payments and refunds, and finance's daily reconciliation."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.errors import not_found
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.parts import billing as service
from backend.parts.billing_models import Bill, Payment, PaymentMethod
from backend.work_orders.access import get_visible_work_order, get_visible_work_order_of

blp = Blueprint("billing", __name__, description="Charges, settlement bills, payments and reconciliation.")


def _fen(**kwargs: Any) -> ma.fields.Integer:
    """Integer fen: a fraction of a fen is refused, never rounded."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=10**11), **kwargs)


class ChargeLineSchema(ma.Schema):
    kind = ma.fields.String()
    description = ma.fields.String()
    quantity = ma.fields.Integer()
    unit_price_fen = ma.fields.Integer()
    amount_fen = ma.fields.Integer()
    covered_by_warranty = ma.fields.Boolean()


class ChargesSchema(ma.Schema):
    lines = ma.fields.List(ma.fields.Nested(ChargeLineSchema))
    labour_fen = ma.fields.Integer()
    parts_fen = ma.fields.Integer()
    travel_fen = ma.fields.Integer()
    discount_fen = ma.fields.Integer()
    total_fen = ma.fields.Integer()


class PaymentSchema(ma.Schema):
    id = ma.fields.String()
    bill_id = ma.fields.String()
    work_order_id = ma.fields.String()
    kind = ma.fields.String()
    method = ma.fields.String()
    amount_fen = ma.fields.Integer()
    reference = ma.fields.String(allow_none=True)
    refund_of_id = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    received_at = AwareDateTime()


class BillSchema(ChargesSchema):
    id = ma.fields.String()
    number = ma.fields.String()
    work_order_id = ma.fields.String()
    customer_id = ma.fields.String()
    status = ma.fields.String()
    created_at = AwareDateTime()
    payments = ma.fields.List(ma.fields.Nested(PaymentSchema))
    paid_fen = ma.fields.Integer()
    refunded_fen = ma.fields.Integer()
    outstanding_fen = ma.fields.Integer()
    payment_state = ma.fields.String(metadata={"description": "unpaid | partially_paid | paid | void"})


class PaymentInSchema(StrictSchema):
    method = ma.fields.String(required=True, validate=ma.validate.OneOf([m.value for m in PaymentMethod]))
    amount_fen = _fen(required=True)
    reference = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": "WeChat Pay / Alipay / card transaction id, or the bank's reference."},
    )
    received_at = AwareDateTime()


class RefundInSchema(StrictSchema):
    amount_fen = _fen(required=True)
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    reference = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    refunded_at = AwareDateTime()


class ReconciliationArgs(ma.Schema):
    day = ma.fields.Date(required=True, metadata={"description": "Business day (China time), YYYY-MM-DD."})


class MethodTotalsSchema(ma.Schema):
    method = ma.fields.String()
    payments_count = ma.fields.Integer()
    payments_fen = ma.fields.Integer()
    refunds_count = ma.fields.Integer()
    refunds_fen = ma.fields.Integer()
    net_fen = ma.fields.Integer()


class ReconciliationSchema(ma.Schema):
    day = ma.fields.Date()
    methods = ma.fields.List(ma.fields.Nested(MethodTotalsSchema))
    payments_fen = ma.fields.Integer()
    refunds_fen = ma.fields.Integer()
    net_fen = ma.fields.Integer()
    entries = ma.fields.List(ma.fields.Nested(PaymentSchema))


def _bill_view(bill: Bill) -> dict[str, Any]:
    balance = service.bill_balance(bill)
    view = {column: getattr(bill, column) for column in BillSchema._declared_fields if hasattr(bill, column)}
    view.update(
        paid_fen=balance.paid_fen,
        refunded_fen=balance.refunded_fen,
        outstanding_fen=balance.outstanding_fen,
        payment_state=balance.state,
    )
    return view


def _visible_bill(bill_id: str, action: Permission) -> Bill:
    principal = require(action)
    session = db_session()
    bill = service.get_bill(session=session, bill_id=bill_id)
    get_visible_work_order_of(
        session=session, principal=principal, work_order_id=bill.work_order_id, what="bill"
    )
    return bill


@blp.route("/work-orders/<string:work_order_id>/charges")
class Charges(MethodView):
    @blp.response(200, ChargesSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> service.JobCharges:
        """What the job costs now: approved quotes + parts actually used, warranty, contract discount."""
        principal = require(Permission.BILL_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        return service.job_charges(session=session, work_order_id=order.id)


@blp.route("/work-orders/<string:work_order_id>/bill")
class WorkOrderBill(MethodView):
    @blp.response(200, BillSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> dict[str, Any]:
        """The job's current settlement bill."""
        principal = require(Permission.BILL_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        bill = service.current_bill(session=session, work_order_id=order.id)
        if bill is None:
            raise not_found("bill")
        return _bill_view(bill)

    @blp.response(201, BillSchema)
    @blp.doc(security=BEARER)
    def post(self, work_order_id: str) -> dict[str, Any]:
        """Issue (or reissue, while unpaid) the settlement bill of a completed job (finance)."""
        principal = require(Permission.BILL_ISSUE)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        return _bill_view(service.issue_bill(session=session, order=order, actor=principal))


@blp.route("/bills/<string:bill_id>")
class BillById(MethodView):
    @blp.response(200, BillSchema)
    @blp.doc(security=BEARER)
    def get(self, bill_id: str) -> dict[str, Any]:
        """A bill with its lines, payments and what is outstanding (404 unless the job is yours)."""
        return _bill_view(_visible_bill(bill_id, Permission.BILL_READ))


@blp.route("/bills/<string:bill_id>/payments")
class BillPayments(MethodView):
    @blp.arguments(PaymentInSchema)
    @blp.response(201, BillSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], bill_id: str) -> dict[str, Any]:
        """Record a payment, full or partial: online with the provider's reference, cash or bank transfer."""
        principal = require(Permission.PAYMENT_RECORD)
        session = db_session()
        bill = service.bill_for_update(session=session, bill_id=bill_id)
        service.record_payment(session=session, bill=bill, actor=principal, **data)
        return _bill_view(bill)


@blp.route("/payments/<string:payment_id>/refunds")
class PaymentRefunds(MethodView):
    @blp.arguments(RefundInSchema)
    @blp.response(201, PaymentSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], payment_id: str) -> Payment:
        """Refund part or all of a payment, by its original method, with the reason."""
        principal = require(Permission.PAYMENT_RECORD)
        session = db_session()
        payment = service.payment_for_refund(session=session, payment_id=payment_id)
        return service.record_refund(session=session, payment=payment, actor=principal, **data)


@blp.route("/reconciliation")
class ReconciliationReport(MethodView):
    @blp.arguments(ReconciliationArgs, location="query")
    @blp.response(200, ReconciliationSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> service.Reconciliation:
        """Money in and out on one day, per payment method, with every payment and refund (finance)."""
        require(Permission.RECONCILIATION_READ)
        return service.reconciliation(session=db_session(), day=args["day"])
