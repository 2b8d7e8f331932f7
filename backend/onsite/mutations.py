"""Device mutations of the visit: appointment, check-in/out, safety checklists, consents and the
service record, pushed through `POST /sync/push`: validate (schemas), find the job (it is, or
was, the technician's: `backend.work_orders.field_facts.work_order_for_field_fact`), call the domain service
(`backend.onsite.service`).

Field facts (appointments, check-ins, checklists, consents, records) are kept even when
the job was reassigned, closed or cancelled meanwhile, and flagged for the dispatcher.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from backend.onsite import service as onsite
from backend.onsite.models import ConsentKind
from backend.sync.registry import MutationContext, mutation
from backend.validation import (
    AwareDateTime,
    StrictSchema,
    device_row_id,
    lat_lng_together,
    latitude,
    longitude,
    text_field,
    work_order_id_field,
)
from backend.work_orders.field_facts import job_version, work_order_for_field_fact
from backend.work_orders.models import Hazard


class AppointmentArgs(StrictSchema):
    id = device_row_id()
    work_order_id = work_order_id_field()
    window_start = AwareDateTime(required=True)
    window_end = AwareDateTime(required=True)
    agreed_with = text_field(
        100, required=True, metadata={"description": "Who agreed (the customer or contact)."}
    )
    channel = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["phone", "sms", "app", "in_person"])
    )
    note = text_field(500)
    device_time = AwareDateTime()

    @ma.validates_schema
    def _window(self, data: dict[str, Any], **_: Any) -> None:
        if data["window_end"] <= data["window_start"]:
            raise ma.ValidationError("Must be after the window's start.", field_name="window_end")


class CheckInArgs(StrictSchema):
    id = device_row_id()
    work_order_id = work_order_id_field()
    lat = latitude(required=True)
    lng = longitude(required=True)
    accuracy_m = ma.fields.Float(validate=ma.validate.Range(min=0, max=100_000))
    device_time = AwareDateTime()


class WhereAndWhenArgs(StrictSchema):
    """Where the device was (optional, both or neither) and its clock, recorded for audit only."""

    lat = latitude()
    lng = longitude()
    device_time = AwareDateTime()

    @ma.validates_schema
    def _coords(self, data: dict[str, Any], **_: Any) -> None:
        lat_lng_together(data)


class CheckOutArgs(WhereAndWhenArgs):
    visit_id = device_row_id()
    work_order_id = work_order_id_field()


class ChecklistArgs(WhereAndWhenArgs):
    id = device_row_id()
    work_order_id = work_order_id_field()
    hazard = ma.fields.String(required=True, validate=ma.validate.OneOf([h.value for h in Hazard]))
    answers = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(min=1, max=50)),
        values=ma.fields.Boolean(),
        required=True,
        metadata={"description": "Item code -> confirmed."},
    )
    note = text_field(1000)


class StopWorkArgs(WhereAndWhenArgs):
    id = device_row_id()
    work_order_id = work_order_id_field()
    hazard = ma.fields.String(validate=ma.validate.OneOf([h.value for h in Hazard]))
    description = text_field(2000, required=True)


class ConsentArgs(StrictSchema):
    id = device_row_id()
    work_order_id = work_order_id_field()
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf([k.value for k in ConsentKind]))
    subject = text_field(1000, required=True)
    granted = ma.fields.Boolean(required=True)
    signer_name = text_field(100, required=True)
    method = ma.fields.String(required=True, validate=ma.validate.OneOf(["signature", "verbal", "app"]))
    data_handling = text_field(
        500, metadata={"description": "Data access: restore, back up, wipe temporary data."}
    )
    device_time = AwareDateTime()


class FunctionTestSchema(StrictSchema):
    name = text_field(200, required=True)
    passed = ma.fields.Boolean(required=True)
    reading = text_field(200)


class FindingSchema(StrictSchema):
    description = text_field(1000, required=True)
    consent_id = ma.fields.String(validate=ma.validate.Length(min=1, max=36))
    worked_on = ma.fields.Boolean(load_default=False)


class ServiceRecordArgs(StrictSchema):
    work_order_id = work_order_id_field()
    cause = text_field(2000, required=True)
    method = text_field(2000, required=True)
    items_done = ma.fields.List(text_field(500), required=True, validate=ma.validate.Length(max=100))
    function_tests = ma.fields.List(
        ma.fields.Nested(FunctionTestSchema), load_default=list, validate=ma.validate.Length(max=100)
    )
    findings = ma.fields.List(
        ma.fields.Nested(FindingSchema), load_default=list, validate=ma.validate.Length(max=50)
    )
    touched_customer_data = ma.fields.Boolean(load_default=False)
    device_time = AwareDateTime()


def _fields(args: dict[str, Any], *also_skip: str) -> dict[str, Any]:
    """The loaded arguments a service input is built from: the job (and any row found from them
    first) is passed to the service already loaded."""
    skip = {"work_order_id", *also_skip}
    return {key: value for key, value in args.items() if key not in skip}


@mutation(
    "visit.confirm_appointment",
    AppointmentArgs,
    description="Record the time window agreed with the customer.",
)
def confirm_appointment(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    confirmation = onsite.confirm_appointment(
        session=ctx.session,
        order=order,
        actor=ctx.principal,
        appointment=onsite.AppointmentInput(**_fields(args)),
    )
    return {"appointment_confirmation": {"id": confirmation.id}, "work_order": job_version(order)}


@mutation("visit.check_in", CheckInArgs, description="Check in at the job address with GPS (WGS-84).")
def check_in(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    visit = onsite.check_in(
        session=ctx.session, order=order, actor=ctx.principal, arrival=onsite.CheckIn(**_fields(args))
    )
    if visit.far_from_job:
        ctx.flag(
            "visit.far_from_job",
            f"Checked in {visit.check_in_distance_m} m from the job address.",
            work_order_id=order.id,
            visit_id=visit.id,
            distance_m=visit.check_in_distance_m,
        )
    return {
        "visit": {
            "id": visit.id,
            "distance_m": visit.check_in_distance_m,
            "far_from_job": visit.far_from_job,
        },
        "work_order": job_version(order),
    }


@mutation("visit.check_out", CheckOutArgs, description="Check out when leaving the job.")
def check_out(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    visit = onsite.get_visit(session=ctx.session, visit_id=args["visit_id"], order=order)
    onsite.check_out(
        session=ctx.session,
        visit=visit,
        order=order,
        actor=ctx.principal,
        departure=onsite.CheckOut(**_fields(args, "visit_id")),
    )
    return {
        "visit": {
            "id": visit.id,
            "checked_out_at": visit.checked_out_at.isoformat() if visit.checked_out_at else None,
        }
    }


@mutation("checklist.submit", ChecklistArgs, description="Submit the safety checklist for a hazard.")
def submit_checklist(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    submission = onsite.submit_safety_checklist(
        session=ctx.session,
        order=order,
        actor=ctx.principal,
        checklist=onsite.ChecklistInput(**_fields(args)),
    )
    if not submission.passed:
        ctx.flag(
            "safety.checklist_failed",
            f"Required safety items not confirmed: {', '.join(submission.missing_items)}.",
            work_order_id=order.id,
            submission_id=submission.id,
        )
    return {
        "checklist_submission": {
            "id": submission.id,
            "passed": submission.passed,
            "missing_items": submission.missing_items,
        }
    }


@mutation(
    "safety.stop_work", StopWorkArgs, description="Stop work for a major hazard; alerts the dispatcher."
)
def stop_work(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    report = onsite.report_stop_work(
        session=ctx.session,
        order=order,
        actor=ctx.principal,
        hazard_report=onsite.StopWorkInput(**_fields(args)),
    )
    ctx.flag(
        "safety.stop_work",
        f"Work stopped for a hazard: {report.description}",
        work_order_id=order.id,
        stop_work_report_id=report.id,
    )
    return {"stop_work_report": {"id": report.id}, "work_order": job_version(order)}


@mutation(
    "consent.record", ConsentArgs, description="Record the customer's consent (device data, new finding)."
)
def record_consent(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    consent = onsite.record_consent(
        session=ctx.session, order=order, actor=ctx.principal, given=onsite.ConsentInput(**_fields(args))
    )
    return {"consent": {"id": consent.id, "granted": consent.granted}}


@mutation(
    "service_record.update", ServiceRecordArgs, description="Write the job's service record (latest wins)."
)
def save_service_record(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    record, check = onsite.save_service_record(
        session=ctx.session,
        order=order,
        actor=ctx.principal,
        written=onsite.ServiceRecordInput(**_fields(args)),
    )
    if check.data_without_consent:
        ctx.flag(
            "privacy.no_data_consent",
            "The record says customer data was touched, but no granted data consent is on file.",
            work_order_id=order.id,
        )
    if check.findings_without_consent:
        ctx.flag(
            "consent.missing_for_finding",
            "Work on new findings without the customer's consent on file.",
            work_order_id=order.id,
            findings=check.findings_without_consent,
        )
    return {"service_record": {"id": record.id, "revision": record.revision}}
