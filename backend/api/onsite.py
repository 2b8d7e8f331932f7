"""The visit over HTTP: checklist templates, the job's on-site record, appointment confirmation by the
service desk, the technician's identity link for the customer, and stop-work reports for dispatchers.

Devices record field facts with sync mutations (backend.onsite.mutations); these resources are
for reading them and for the people who are online (service desk, dispatcher, the customer at the door).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate_by
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.onsite import service as onsite
from backend.onsite.models import AppointmentConfirmation, StopWorkReport
from backend.onsite.mutations import AppointmentArgs
from backend.work_orders.access import get_visible_work_order
from backend.work_orders.states import CUSTOMER_LABELS, Status

blp = Blueprint(
    "onsite", __name__, description="On site: appointment, visits, safety, consents, service record."
)


class ChecklistItemSchema(ma.Schema):
    code = ma.fields.String()
    label = ma.fields.String()
    required = ma.fields.Boolean()


class ChecklistTemplateSchema(ma.Schema):
    id = ma.fields.String()
    hazard = ma.fields.String()
    version = ma.fields.Integer()
    title = ma.fields.String()
    required_certificate = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(ChecklistItemSchema))


class AppointmentSchema(ma.Schema):
    id = ma.fields.String()
    window_start = AwareDateTime()
    window_end = AwareDateTime()
    agreed_with = ma.fields.String()
    channel = ma.fields.String()
    note = ma.fields.String(allow_none=True)
    confirmed_by_user_id = ma.fields.String(allow_none=True)
    technician_id = ma.fields.String(allow_none=True)
    confirmed_at = AwareDateTime()
    device_time = AwareDateTime(allow_none=True)


class VisitSchema(ma.Schema):
    id = ma.fields.String()
    technician_id = ma.fields.String()
    checked_in_at = AwareDateTime()
    check_in_device_time = AwareDateTime(allow_none=True)
    check_in_lat = ma.fields.Float()
    check_in_lng = ma.fields.Float()
    check_in_accuracy_m = ma.fields.Float(allow_none=True)
    check_in_distance_m = ma.fields.Integer(allow_none=True)
    far_from_job = ma.fields.Boolean()
    checked_out_at = AwareDateTime(allow_none=True)
    check_out_lat = ma.fields.Float(allow_none=True)
    check_out_lng = ma.fields.Float(allow_none=True)


class ChecklistSubmissionSchema(ma.Schema):
    id = ma.fields.String()
    hazard = ma.fields.String()
    template_id = ma.fields.String()
    technician_id = ma.fields.String()
    certificate_id = ma.fields.String()
    answers = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Boolean())
    passed = ma.fields.Boolean()
    missing_items = ma.fields.List(ma.fields.String())
    note = ma.fields.String(allow_none=True)
    submitted_at = AwareDateTime()


class StopWorkSchema(ma.Schema):
    id = ma.fields.String()
    work_order_id = ma.fields.String()
    technician_id = ma.fields.String()
    hazard = ma.fields.String(allow_none=True)
    description = ma.fields.String()
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)
    reported_at = AwareDateTime()
    resolved_at = AwareDateTime(allow_none=True)
    resolution = ma.fields.String(allow_none=True)


class ConsentSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String()
    subject = ma.fields.String()
    granted = ma.fields.Boolean()
    signer_name = ma.fields.String()
    method = ma.fields.String()
    data_handling = ma.fields.String(allow_none=True)
    recorded_at = AwareDateTime()


class FunctionTestOutSchema(ma.Schema):
    name = ma.fields.String()
    passed = ma.fields.Boolean()
    reading = ma.fields.String(allow_none=True)


class FindingOutSchema(ma.Schema):
    description = ma.fields.String()
    consent_id = ma.fields.String(allow_none=True)
    worked_on = ma.fields.Boolean()


class ServiceRecordSchema(ma.Schema):
    id = ma.fields.String()
    technician_id = ma.fields.String()
    cause = ma.fields.String()
    method = ma.fields.String()
    items_done = ma.fields.List(ma.fields.String())
    function_tests = ma.fields.List(ma.fields.Nested(FunctionTestOutSchema))
    findings = ma.fields.List(ma.fields.Nested(FindingOutSchema))
    touched_customer_data = ma.fields.Boolean()
    revision = ma.fields.Integer()
    updated_at = AwareDateTime()


class OnsiteRecordSchema(ma.Schema):
    work_order_id = ma.fields.String()
    appointments = ma.fields.List(ma.fields.Nested(AppointmentSchema))
    visits = ma.fields.List(ma.fields.Nested(VisitSchema))
    checklists = ma.fields.List(ma.fields.Nested(ChecklistSubmissionSchema))
    missing_checklists = ma.fields.List(ma.fields.String())
    stop_work_reports = ma.fields.List(ma.fields.Nested(StopWorkSchema))
    consents = ma.fields.List(ma.fields.Nested(ConsentSchema))
    service_record = ma.fields.Nested(ServiceRecordSchema, allow_none=True)


class StaffAppointmentArgs(AppointmentArgs):
    class Meta:
        exclude = ("id", "work_order_id", "device_time")
        unknown = ma.RAISE


class IdentityTokenSchema(ma.Schema):
    token = ma.fields.String()
    url = ma.fields.String(metadata={"description": "Put it in the badge's QR code."})
    expires_at = AwareDateTime()


class IdentityCertificateSchema(ma.Schema):
    type = ma.fields.String()
    number = ma.fields.String()
    expires_on = ma.fields.Date()


class IdentityCardSchema(ma.Schema):
    name = ma.fields.String()
    employee_no = ma.fields.String()
    photo_url = ma.fields.String(allow_none=True)
    certificates = ma.fields.List(ma.fields.Nested(IdentityCertificateSchema))
    job_number = ma.fields.String()
    job_status = ma.fields.String()
    product_category = ma.fields.String()
    appointment_start = AwareDateTime(allow_none=True)
    appointment_end = AwareDateTime(allow_none=True)
    checked_in_at = AwareDateTime()
    valid_until = AwareDateTime()


class StopWorkPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(StopWorkSchema))


STOP_WORK_ORDER = (
    SortKey(StopWorkReport.reported_at, descending=True),
    SortKey(StopWorkReport.id, descending=True),
)


class StopWorkListArgs(PageArgs):
    open = ma.fields.Boolean(load_default=True, metadata={"description": "Only unresolved reports."})


class ResolveArgs(StrictSchema):
    resolution = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))


@blp.route("/checklist-templates")
class ChecklistTemplates(MethodView):
    @blp.response(200, ChecklistTemplateSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self) -> list[Any]:
        """Safety checklists per hazard (electrical, gas, height); devices also get them by sync."""
        require(Permission.ONSITE_READ)
        return onsite.ensure_checklist_templates(session=db_session())


@blp.route("/work-orders/<string:work_order_id>/onsite")
class OnsiteRecord(MethodView):
    @blp.response(200, OnsiteRecordSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> onsite.OnsiteRecord:
        """Everything recorded on site for a job: appointments, visits, checklists, stop-work
        reports, consents and the service record (the job's technician and staff)."""
        principal = require(Permission.ONSITE_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        return onsite.onsite_record_of(session=session, order=order)


@blp.route("/work-orders/<string:work_order_id>/appointment")
class Appointment(MethodView):
    @blp.arguments(StaffAppointmentArgs)
    @blp.response(201, AppointmentSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> AppointmentConfirmation:
        """Record the visit window agreed with the customer (service desk on the phone, or the
        technician online); an accepted job becomes scheduled."""
        principal = require(Permission.ONSITE_APPOINTMENT)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        return onsite.confirm_appointment(
            session=session, order=order, actor=principal, appointment=onsite.AppointmentInput(**data)
        )


@blp.route("/visits/<string:visit_id>/identity-token")
class IdentityToken(MethodView):
    @blp.response(201, IdentityTokenSchema)
    @blp.doc(security=BEARER)
    def post(self, visit_id: str) -> dict[str, Any]:
        """The technician's identity link for the badge QR code, valid only while the visit is open."""
        principal = require(Permission.IDENTITY_ISSUE)
        token, expires_at = onsite.issue_identity_token(
            session=db_session(), visit_id=visit_id, actor=principal, secret=current_app.config["SECRET_KEY"]
        )
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        return {"token": token, "url": f"{base}/identity/{token}", "expires_at": expires_at}


@blp.route("/identity/<string:token>")
class Identity(MethodView):
    @blp.response(200, IdentityCardSchema)
    def get(self, token: str) -> dict[str, Any]:
        """Who is at your door (no login: the customer scans the badge): name, photo, valid
        certificates and the job, while the visit lasts. The customer's address and name are not shown."""
        card = onsite.read_identity_token(
            session=db_session(), token=token, secret=current_app.config["SECRET_KEY"]
        )
        return {
            "name": card.technician.user.display_name,
            "employee_no": card.technician.employee_no,
            "photo_url": card.technician.photo_url,
            "certificates": card.certificates,
            "job_number": card.order.number,
            "job_status": CUSTOMER_LABELS[Status(card.order.status)],
            "product_category": card.order.product_category,
            "appointment_start": card.order.appointment_start,
            "appointment_end": card.order.appointment_end,
            "checked_in_at": card.visit.checked_in_at,
            "valid_until": card.valid_until,
        }


@blp.route("/stop-work-reports")
class StopWorkReports(MethodView):
    @blp.arguments(StopWorkListArgs, location="query")
    @blp.response(200, StopWorkPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Stop-work reports for the dispatcher's attention, newest first, one page at a time:
        repeat with `cursor` set to `next_cursor` while `has_more`."""
        principal = require(Permission.SAFETY_RESOLVE)
        stmt = onsite.stop_work_reports_query(principal, open_only=args["open"])
        return paginate_by(db_session(), stmt, STOP_WORK_ORDER, args.get("cursor"), args["limit"])


@blp.route("/stop-work-reports/<string:report_id>/resolve")
class ResolveStopWork(MethodView):
    @blp.arguments(ResolveArgs)
    @blp.response(200, StopWorkSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], report_id: str) -> StopWorkReport:
        """The dispatcher clears a stop-work after the hazard was dealt with; repair may resume."""
        principal = require(Permission.SAFETY_RESOLVE)
        return onsite.resolve_stop_work(
            session=db_session(), report_id=report_id, actor=principal, resolution=data["resolution"]
        )
