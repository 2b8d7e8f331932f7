"""Repair-request intake: customers and staff (web, app, hotline, email, walk-in) and partner platforms."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request as http_request
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, paginate
from backend.api.schemas import AwareDateTime, StrictSchema, latitude, longitude, validate_window
from backend.api.security import API_KEY, BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.work_orders import intake, lists
from backend.work_orders.access import get_visible_request
from backend.work_orders.intake import IDEMPOTENCY_HEADER, Confirmation, RequestInput
from backend.work_orders.models import Channel, Hazard, Priority, RepairRequest, RequestStatus, ServiceMode

blp = Blueprint(
    "requests", __name__, description="Repair requests from every channel and their confirmation."
)
partner_blp = Blueprint(
    "partner",
    __name__,
    url_prefix="/partner",
    description="Partner platforms push requests with their API key (idempotent).",
)


class RequestInSchema(StrictSchema):
    channel = ma.fields.String(validate=ma.validate.OneOf([c.value for c in Channel if c != Channel.PARTNER]))
    customer_id = ma.fields.String(
        validate=ma.validate.Length(max=36), metadata={"description": "Staff only: the customer filed for."}
    )
    contact_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    contact_phone = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^\+?[0-9\- ]{5,20}$"))
    address_text = ma.fields.String(validate=ma.validate.Length(min=1, max=300))
    lat = latitude()
    lng = longitude()
    product_category = ma.fields.String(validate=ma.validate.OneOf(intake.PRODUCT_CATEGORIES))
    product_model = ma.fields.String(validate=ma.validate.Length(max=100))
    product_serial = ma.fields.String(validate=ma.validate.Length(max=100))
    purchase_date = ma.fields.Date()
    fault_type = ma.fields.String(validate=ma.validate.OneOf(intake.FAULT_TYPES))
    fault_description = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    photos_expected = ma.fields.Integer(validate=ma.validate.Range(min=0, max=50))
    preferred_start = AwareDateTime()
    preferred_end = AwareDateTime()
    emergency = ma.fields.Boolean()

    @ma.validates_schema
    def _checks(self, data: dict[str, Any], **_: Any) -> None:
        validate_window(data, "preferred_start", "preferred_end")
        if ("lat" in data) != ("lng" in data):
            raise ma.ValidationError("lat and lng go together.", field_name="lng" if "lat" in data else "lat")

    @ma.post_load
    def _typed(self, data: dict[str, Any], **_: Any) -> RequestInput:
        return RequestInput(**data)


class PartnerRequestInSchema(RequestInSchema):
    partner_reference = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100),
        metadata={
            "description": "Your own id for the request; sending it again returns the same request. "
            "Required unless an `Idempotency-Key` header carries it."
        },
    )

    class Meta:
        exclude = ("channel", "customer_id")
        unknown = ma.RAISE


class RequestSchema(ma.Schema):
    id = ma.fields.String()
    channel = ma.fields.String()
    status = ma.fields.String()
    partner_reference = ma.fields.String(allow_none=True)
    customer_id = ma.fields.String(allow_none=True)
    contact_name = ma.fields.String()
    contact_phone = ma.fields.String()
    address_text = ma.fields.String(allow_none=True)
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)
    product_category = ma.fields.String(allow_none=True)
    product_model = ma.fields.String(allow_none=True)
    fault_type = ma.fields.String(allow_none=True)
    fault_description = ma.fields.String()
    emergency = ma.fields.Boolean()
    preferred_start = AwareDateTime(allow_none=True)
    preferred_end = AwareDateTime(allow_none=True)
    work_order_id = ma.fields.String(allow_none=True)
    rejection_reason = ma.fields.String(allow_none=True)
    missing = ma.fields.Method("_missing", metadata={"description": "What is needed before confirmation."})
    created_at = AwareDateTime()

    def _missing(self, obj: RepairRequest) -> list[str]:
        return intake.missing_fields(obj) if obj.status == RequestStatus.SUBMITTED else []


class RequestPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(RequestSchema))


class RequestListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in RequestStatus]))


class ConfirmSchema(StrictSchema):
    address_text = ma.fields.String(validate=ma.validate.Length(min=1, max=300))
    lat = latitude()
    lng = longitude()
    product_category = ma.fields.String(validate=ma.validate.OneOf(intake.PRODUCT_CATEGORIES))
    product_model = ma.fields.String(validate=ma.validate.Length(max=100))
    fault_type = ma.fields.String(validate=ma.validate.OneOf(intake.FAULT_TYPES))
    priority = ma.fields.String(validate=ma.validate.OneOf([p.value for p in Priority]))
    service_mode = ma.fields.String(validate=ma.validate.OneOf([m.value for m in ServiceMode]))
    hazards = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf([h.value for h in Hazard])))
    complex_job = ma.fields.Boolean()

    @ma.post_load
    def _typed(self, data: dict[str, Any], **_: Any) -> Confirmation:
        return Confirmation(**{**data, "hazards": tuple(data.get("hazards", ()))})


class RejectSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


@blp.route("/requests")
class Requests(MethodView):
    @blp.arguments(RequestListArgs, location="query")
    @blp.response(200, RequestPageSchema)
    @blp.doc(security=BEARER + API_KEY)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List repair requests you may see (customers: their own; staff: all), newest first."""
        principal = require(Permission.REQUEST_READ)
        stmt = lists.requests_query(principal=principal, status=args.get("status"))
        return paginate(db_session(), stmt, RepairRequest, args.get("cursor"), args["limit"])

    @blp.arguments(RequestInSchema)
    @blp.response(201, RequestSchema)
    @blp.doc(security=BEARER)
    def post(self, new: RequestInput) -> RepairRequest:
        """File a repair request. A complete request (located address, category, fault) becomes a work
        order at once; otherwise customer service completes and confirms it."""
        principal = require(Permission.REQUEST_CREATE)
        return intake.create_request(session=db_session(), new=new, by=principal)


@blp.route("/requests/<string:request_id>")
class RequestById(MethodView):
    @blp.response(200, RequestSchema)
    @blp.doc(security=BEARER + API_KEY)
    def get(self, request_id: str) -> RepairRequest:
        """One repair request, if it is yours to see."""
        principal = require(Permission.REQUEST_READ)
        return get_visible_request(session=db_session(), principal=principal, request_id=request_id)


@blp.route("/requests/<string:request_id>/confirm")
class ConfirmRequest(MethodView):
    @blp.arguments(ConfirmSchema)
    @blp.response(200, RequestSchema)
    @blp.doc(security=BEARER)
    def post(self, confirmation: Confirmation, request_id: str) -> RepairRequest:
        """Customer service completes a request and confirms it into a work order."""
        principal = require(Permission.REQUEST_CONFIRM)
        session = db_session()
        row = get_visible_request(session=session, principal=principal, request_id=request_id)
        intake.confirm_request(session=session, request=row, by=principal, confirmation=confirmation)
        return row


@blp.route("/requests/<string:request_id>/reject")
class RejectRequest(MethodView):
    @blp.arguments(RejectSchema)
    @blp.response(200, RequestSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], request_id: str) -> RepairRequest:
        """Customer service turns a request down (spam, duplicate, outside the service area)."""
        principal = require(Permission.REQUEST_CONFIRM)
        session = db_session()
        row = get_visible_request(session=session, principal=principal, request_id=request_id)
        return intake.reject_request(session=session, request=row, by=principal, reason=data["reason"])


@partner_blp.route("/requests")
class PartnerRequests(MethodView):
    @partner_blp.arguments(PartnerRequestInSchema)
    @partner_blp.response(201, RequestSchema)
    @partner_blp.alt_response(200, schema=RequestSchema, description="Already received: the same request.")
    @partner_blp.doc(security=API_KEY)
    def post(self, new: RequestInput) -> Any:
        """Push a request from a partner platform. `partner_reference` (or an `Idempotency-Key` header
        that must then equal it) makes retries safe: the same reference returns the same request."""
        principal = require(Permission.REQUEST_CREATE_PARTNER)
        row, created = intake.receive_partner_request(
            session=db_session(),
            new=new,
            by=principal,
            idempotency_key=http_request.headers.get(IDEMPOTENCY_HEADER),
        )
        return (row, 201) if created else (row, 200)


@partner_blp.route("/requests/<string:request_id>")
class PartnerRequestById(MethodView):
    @partner_blp.response(200, RequestSchema)
    @partner_blp.doc(security=API_KEY)
    def get(self, request_id: str) -> RepairRequest:
        """One of your own submissions, with its status and work order."""
        principal = require(Permission.REQUEST_CREATE_PARTNER)
        return get_visible_request(session=db_session(), principal=principal, request_id=request_id)
