"""The visit (seed 002 二.(三)): appointment, check-in/out, the technician's identity for the customer,
safety checklists and stop-work reports, consents, and the service record."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from backend.accounts.customers import Address
from backend.accounts.technicians import Certificate, Technician
from backend.errors import Problem, conflict, not_found
from backend.geo import geodesic_km
from backend.kernel.base import utcnow
from backend.kernel.china_time import china_day
from backend.kernel.roles import SYSTEM_ROLE
from backend.onsite.models import (
    AppointmentConfirmation,
    ChecklistSubmission,
    ChecklistTemplate,
    Consent,
    ConsentKind,
    ServiceRecord,
    StopWorkReport,
    Visit,
)
from backend.policy import Principal
from backend.work_orders.access import get_visible_work_order, visible_work_orders
from backend.work_orders.hazards import CERTIFICATE_FOR_HAZARD
from backend.work_orders.models import Hazard, WorkOrder
from backend.work_orders.service import add_event, transition_work_order
from backend.work_orders.states import ACTIVE, Status

# A check-in farther than this from the job address is kept but flagged for the dispatcher.
FAR_CHECK_IN_METRES = 500
# The identity link works while the visit is open, and never longer than this after it was issued.
IDENTITY_TOKEN_MAX_AGE = timedelta(hours=12)
IDENTITY_SALT = "technician-identity"

SCHEDULER = Principal(role=SYSTEM_ROLE, display_name="appointment confirmation")

_TEMPLATE_NAMESPACE = uuid.UUID("5b0c6c2e-2f57-4c1e-9a43-0d7a3c1f4e21")


def _item(code: str, label: str, required: bool = True) -> dict[str, Any]:
    return {"code": code, "label": label, "required": required}


# The checklists, defined once; `ensure_checklist_templates` mirrors them into the synced table.
DEFAULT_TEMPLATES: dict[str, dict[str, Any]] = {
    Hazard.ELECTRICAL: {
        "title": "电气作业安全检查",
        "items": [
            _item("isolation", "已断电、验电，并挂牌上锁"),
            _item("insulated_gloves", "佩戴合格的绝缘手套"),
            _item("insulated_tools", "绝缘工具完好"),
            _item("warning_signs", "现场已设置安全警示标志"),
            _item("helmet", "佩戴安全帽", required=False),
        ],
    },
    Hazard.GAS: {
        "title": "燃气作业安全检查",
        "items": [
            _item("isolation", "已关闭燃气阀门"),
            _item("ventilation", "已开窗通风"),
            _item("leak_test", "检漏仪检测无泄漏"),
            _item("no_open_flame", "现场无明火、无火源"),
            _item("warning_signs", "现场已设置安全警示标志"),
            _item("extinguisher", "灭火器就位", required=False),
        ],
    },
    Hazard.HEIGHT: {
        "title": "登高作业安全检查",
        "items": [
            _item("helmet", "佩戴安全帽"),
            _item("harness", "安全带已系挂牢固"),
            _item("ladder", "梯子或脚手架检查完好"),
            _item("warning_signs", "作业区下方已设置警示区"),
            _item("spotter", "有人监护", required=False),
        ],
    },
}


def template_id(hazard: str, version: int = 1) -> str:
    """Stable ids, so a device and every server agree on a template before any sync."""
    return str(uuid.uuid5(_TEMPLATE_NAMESPACE, f"checklist:{hazard}:v{version}"))


def ensure_checklist_templates(*, session: Session) -> list[ChecklistTemplate]:
    """Insert the built-in templates that are missing; return the active ones."""
    existing = {t.id: t for t in session.scalars(sa.select(ChecklistTemplate))}
    for hazard, spec in DEFAULT_TEMPLATES.items():
        tid = template_id(hazard)
        if tid not in existing:
            existing[tid] = ChecklistTemplate(
                id=tid,
                hazard=hazard,
                version=1,
                title=spec["title"],
                required_certificate=CERTIFICATE_FOR_HAZARD[hazard],
                items=spec["items"],
            )
            session.add(existing[tid])
    session.flush()
    return sorted((t for t in existing.values() if t.active), key=lambda t: (t.hazard, t.version))


def active_template(*, session: Session, hazard: str) -> ChecklistTemplate:
    templates = [t for t in ensure_checklist_templates(session=session) if t.hazard == hazard]
    if not templates:
        raise Problem(
            "safety.unknown_hazard",
            f"There is no checklist for '{hazard}'.",
            status=422,
            errors={"hazard": [f"Must be one of: {', '.join(h.value for h in Hazard)}."]},
        )
    return templates[-1]


def job_day(order: WorkOrder) -> date:
    """The job's date in China: the appointment's day, else today."""
    return china_day(order.appointment_start or utcnow())


# --- appointment and check-in/out --------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentInput:
    """The visit window agreed with the customer; `id` and `device_time` come from a device."""

    window_start: datetime
    window_end: datetime
    agreed_with: str
    channel: str
    note: str | None = None
    id: str | None = None
    device_time: datetime | None = None


def confirm_appointment(
    *, session: Session, order: WorkOrder, actor: Principal, appointment: AppointmentInput
) -> AppointmentConfirmation:
    """Record the window agreed with the customer; an accepted job becomes scheduled."""
    if order.status not in (Status.ACCEPTED, Status.SCHEDULED, Status.REWORK):
        raise conflict(
            "appointment.not_schedulable",
            f"An order in '{order.status}' cannot get an appointment.",
            current_status=order.status,
        )
    confirmation = AppointmentConfirmation(
        id=appointment.id or str(uuid.uuid4()),
        work_order_id=order.id,
        technician_id=actor.technician_id,
        confirmed_by_user_id=actor.user_id,
        window_start=appointment.window_start,
        window_end=appointment.window_end,
        agreed_with=appointment.agreed_with,
        channel=appointment.channel,
        note=appointment.note,
        device_time=appointment.device_time,
    )
    session.add(confirmation)
    order.appointment_start = confirmation.window_start
    order.appointment_end = confirmation.window_end
    if order.status == Status.ACCEPTED:
        # Whoever agreed the window with the customer (technician or service desk) schedules the job.
        transition_work_order(session=session, order=order, to_status=Status.SCHEDULED, actor=SCHEDULER)
    add_event(
        session=session,
        order=order,
        kind="appointment",
        actor=actor,
        message=f"已与{confirmation.agreed_with}确认上门时间",
        data={
            "appointment_confirmation_id": confirmation.id,
            "window_start": confirmation.window_start.isoformat(),
            "window_end": confirmation.window_end.isoformat(),
            "channel": confirmation.channel,
        },
        device_time=confirmation.device_time,
    )
    return confirmation


def job_point(*, session: Session, order: WorkOrder) -> tuple[float, float] | None:
    if order.lat is not None and order.lng is not None:
        return (order.lat, order.lng)
    if order.address_id:
        address = session.get(Address, order.address_id)
        if address is not None and address.lat is not None and address.lng is not None:
            return (address.lat, address.lng)
    return None


@dataclass(frozen=True)
class CheckIn:
    """Where the technician's device was (WGS-84) when they arrived."""

    lat: float
    lng: float
    accuracy_m: float | None = None
    id: str | None = None
    device_time: datetime | None = None


def check_in(*, session: Session, order: WorkOrder, actor: Principal, arrival: CheckIn) -> Visit:
    """Open a visit at the technician's position; an en-route job becomes on-site.

    A check-in far from the job is a field fact: kept, and `visit.far_from_job` is set for a flag.
    """
    if actor.technician_id is None:
        raise Problem("visit.technician_only", "Only a technician checks in.", status=403)
    point = job_point(session=session, order=order)
    distance = None
    if point is not None:
        distance = round(geodesic_km(point, (arrival.lat, arrival.lng)) * 1000)
    visit = Visit(
        id=arrival.id or str(uuid.uuid4()),
        work_order_id=order.id,
        technician_id=actor.technician_id,
        check_in_device_time=arrival.device_time,
        check_in_lat=arrival.lat,
        check_in_lng=arrival.lng,
        check_in_accuracy_m=arrival.accuracy_m,
        check_in_distance_m=distance,
        far_from_job=distance is not None and distance > FAR_CHECK_IN_METRES,
    )
    session.add(visit)
    session.flush()
    if order.status == Status.EN_ROUTE and order.assignee_id == actor.technician_id:
        transition_work_order(session=session, order=order, to_status=Status.ON_SITE, actor=actor)
    add_event(
        session=session,
        order=order,
        kind="check_in",
        actor=actor,
        message="师傅已签到",
        data={"visit_id": visit.id, "distance_m": distance, "far_from_job": visit.far_from_job},
        device_time=visit.check_in_device_time,
    )
    return visit


def get_visit(*, session: Session, visit_id: str, order: WorkOrder) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None or visit.work_order_id != order.id:
        raise not_found("visit")
    return visit


@dataclass(frozen=True)
class CheckOut:
    """Where and when the technician left, if the device knew."""

    lat: float | None = None
    lng: float | None = None
    device_time: datetime | None = None


def check_out(
    *, session: Session, visit: Visit, order: WorkOrder, actor: Principal, departure: CheckOut
) -> Visit:
    if visit.checked_out_at is not None:
        return visit  # a repeated check-out is the same fact
    visit.checked_out_at = utcnow()
    visit.check_out_device_time = departure.device_time
    visit.check_out_lat = departure.lat
    visit.check_out_lng = departure.lng
    add_event(
        session=session,
        order=order,
        kind="check_out",
        actor=actor,
        message="师傅已离开",
        data={"visit_id": visit.id},
        device_time=visit.check_out_device_time,
    )
    return visit


# --- the technician's identity for the customer ------------------------------------------------------


def _identity_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=IDENTITY_SALT)


def issue_identity_token(
    *, session: Session, visit_id: str, actor: Principal, secret: str
) -> tuple[str, datetime]:
    """A signed token for the badge QR code, for the technician's own open visit; it names only the
    visit (another technician's visit is not found)."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.technician_id != actor.technician_id:
        raise not_found("visit")
    if visit.checked_out_at is not None:
        raise conflict("visit.closed", "The visit is over; the identity link is only for the visit.")
    token = _identity_serializer(secret).dumps({"visit_id": visit.id})
    return token, utcnow() + IDENTITY_TOKEN_MAX_AGE


@dataclass(frozen=True)
class IdentityCard:
    technician: Technician
    visit: Visit
    order: WorkOrder
    certificates: list[Certificate]
    valid_until: datetime


def read_identity_token(*, session: Session, token: str, secret: str) -> IdentityCard:
    """Who is at the door: valid while the visit is open and the technician still has the job."""
    invalid = Problem("identity.invalid", "This identity link is not valid.", status=404, title="Not found")
    try:
        payload, issued = _identity_serializer(secret).loads(
            token, max_age=int(IDENTITY_TOKEN_MAX_AGE.total_seconds()), return_timestamp=True
        )
    except SignatureExpired:
        raise Problem(
            "identity.expired", "This identity link has expired.", status=410, title="Gone"
        ) from None
    except BadSignature:
        raise invalid from None
    visit = session.get(Visit, payload.get("visit_id"))
    if visit is None:
        raise invalid
    order = session.get(WorkOrder, visit.work_order_id)
    technician = session.get(Technician, visit.technician_id)
    if order is None or technician is None:
        raise invalid
    if visit.checked_out_at is not None or order.assignee_id != technician.id or order.status not in ACTIVE:
        raise Problem(
            "identity.expired",
            "The visit is over; this identity link no longer works.",
            status=410,
            title="Gone",
        )
    day = job_day(order)
    certificates = sorted(
        (c for c in technician.certificates if c.valid_on(day)), key=lambda c: (c.type, c.expires_on)
    )
    return IdentityCard(technician, visit, order, certificates, issued + IDENTITY_TOKEN_MAX_AGE)


# --- safety ------------------------------------------------------------------------------------------


def valid_certificate(technician: Technician, certificate_type: str, day: date) -> Certificate | None:
    candidates = [c for c in technician.certificates if c.type == certificate_type and c.valid_on(day)]
    return max(candidates, key=lambda c: c.expires_on, default=None)


@dataclass(frozen=True)
class ChecklistInput:
    """A safety checklist as answered on site: item code -> confirmed."""

    hazard: str
    answers: dict[str, bool]
    note: str | None = None
    id: str | None = None
    lat: float | None = None
    lng: float | None = None
    device_time: datetime | None = None


def submit_safety_checklist(
    *, session: Session, order: WorkOrder, actor: Principal, checklist: ChecklistInput
) -> ChecklistSubmission:
    """Keep a safety checklist; refused when the technician lacks the hazard's certificate that day.

    Unconfirmed required items are kept too (the checklist then did not pass and `in_repair` stays
    closed), because "no harness on site" is a fact the dispatcher must see.
    """
    technician = session.get(Technician, actor.technician_id) if actor.technician_id else None
    if technician is None:
        raise Problem("safety.technician_only", "Only a technician submits a safety checklist.", status=403)
    hazard = checklist.hazard
    template = active_template(session=session, hazard=hazard)
    day = job_day(order)
    certificate = valid_certificate(technician, template.required_certificate, day)
    if certificate is None:
        raise Problem(
            "safety.certificate_invalid",
            f"No valid {template.required_certificate} certificate on {day.isoformat()}: "
            f"this technician may not do {hazard} work on this job.",
            status=422,
            extra={
                "hazard": hazard,
                "required_certificate": template.required_certificate,
                "job_day": str(day),
            },
        )
    answers: dict[str, bool] = checklist.answers
    known = {item["code"] for item in template.items}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise Problem(
            "safety.unknown_items",
            "The answers name items that are not on the checklist.",
            status=422,
            errors={"answers": [f"Unknown items: {', '.join(unknown)}."]},
        )
    missing = [item["code"] for item in template.items if item["required"] and not answers.get(item["code"])]
    submission = ChecklistSubmission(
        id=checklist.id or str(uuid.uuid4()),
        work_order_id=order.id,
        template_id=template.id,
        hazard=hazard,
        technician_id=technician.id,
        certificate_id=certificate.id,
        answers=answers,
        passed=not missing,
        missing_items=missing,
        note=checklist.note,
        lat=checklist.lat,
        lng=checklist.lng,
        device_time=checklist.device_time,
    )
    session.add(submission)
    session.flush()
    add_event(
        session=session,
        order=order,
        kind="safety_checklist",
        actor=actor,
        message=f"{template.title}：{'通过' if not missing else '未通过'}",
        data={"submission_id": submission.id, "hazard": hazard, "passed": not missing, "missing": missing},
        customer_visible=False,
        device_time=submission.device_time,
    )
    return submission


def missing_checklists(*, session: Session, order: WorkOrder) -> list[str]:
    """Hazards of the job without a passed checklist by its current technician."""
    if not order.hazards:
        return []
    passed = set(
        session.scalars(
            sa.select(ChecklistSubmission.hazard).where(
                ChecklistSubmission.work_order_id == order.id,
                ChecklistSubmission.technician_id == order.assignee_id,
                ChecklistSubmission.passed.is_(True),
            )
        )
    )
    return [hazard for hazard in order.hazards if hazard not in passed]


def open_stop_work(*, session: Session, order_id: str) -> list[StopWorkReport]:
    return list(
        session.scalars(
            sa.select(StopWorkReport).where(
                StopWorkReport.work_order_id == order_id, StopWorkReport.resolved_at.is_(None)
            )
        )
    )


def safety_before_repair(session: Session, order: WorkOrder, target: Status, actor: Principal) -> None:
    """No repair on a hazardous job without its checklists, and none while work is stopped."""
    if target not in (Status.IN_REPAIR, Status.COMPLETED):
        return
    stopped = open_stop_work(session=session, order_id=order.id)
    if stopped:
        raise conflict(
            "safety.stop_work_active",
            "Work on this job was stopped for a hazard; a dispatcher must resolve it first.",
            stop_work_report_ids=[r.id for r in stopped],
        )
    if target == Status.IN_REPAIR:
        missing = missing_checklists(session=session, order=order)
        if missing:
            raise conflict(
                "safety.checklist_required",
                f"Submit the safety checklist for {', '.join(missing)} before starting the repair.",
                missing_hazards=missing,
            )


@dataclass(frozen=True)
class StopWorkInput:
    """A major hazard the technician found: what it is and where they were."""

    description: str
    hazard: str | None = None
    id: str | None = None
    lat: float | None = None
    lng: float | None = None
    device_time: datetime | None = None


def report_stop_work(
    *, session: Session, order: WorkOrder, actor: Principal, hazard_report: StopWorkInput
) -> StopWorkReport:
    """Stop work for a major hazard: kept, written to the history for the dispatcher, blocks repair."""
    if actor.technician_id is None:
        raise Problem("safety.technician_only", "Only a technician reports a stop-work.", status=403)
    report = StopWorkReport(
        id=hazard_report.id or str(uuid.uuid4()),
        work_order_id=order.id,
        technician_id=actor.technician_id,
        hazard=hazard_report.hazard,
        description=hazard_report.description,
        lat=hazard_report.lat,
        lng=hazard_report.lng,
        device_time=hazard_report.device_time,
    )
    session.add(report)
    session.flush()
    add_event(
        session=session,
        order=order,
        kind="stop_work",
        actor=actor,
        message="发现重大安全隐患，已停止作业",
        data={"stop_work_report_id": report.id, "hazard": report.hazard, "description": report.description},
        device_time=report.device_time,
    )
    return report


def stop_work_reports_query(principal: Principal, *, open_only: bool) -> sa.Select[StopWorkReport]:
    """The stop-work reports on jobs the caller may see (only unresolved ones if `open_only`);
    the caller pages it, newest first."""
    stmt = (
        sa.select(StopWorkReport)
        .join(WorkOrder, WorkOrder.id == StopWorkReport.work_order_id)
        .where(visible_work_orders(principal))
    )
    if open_only:
        stmt = stmt.where(StopWorkReport.resolved_at.is_(None))
    return stmt


def resolve_stop_work(
    *, session: Session, report_id: str, actor: Principal, resolution: str
) -> StopWorkReport:
    """The dispatcher clears a stop-work once the hazard was dealt with (once: again is a 409)."""
    report = session.get(StopWorkReport, report_id)
    if report is None:
        raise not_found("stop_work_report")
    order = get_visible_work_order(
        session=session, principal=actor, work_order_id=report.work_order_id, lock=True
    )
    if report.resolved_at is not None:
        raise conflict("safety.stop_work_resolved", "This stop-work report was already resolved.")
    report.resolved_at = utcnow()
    report.resolved_by_user_id = actor.user_id
    report.resolution = resolution
    add_event(
        session=session,
        order=order,
        kind="stop_work_resolved",
        actor=actor,
        message="安全隐患已排除，可以继续作业",
        data={"stop_work_report_id": report.id, "resolution": resolution},
    )
    return report


# --- consents and the service record -----------------------------------------------------------------


@dataclass(frozen=True)
class ConsentInput:
    """The customer's yes or no, to what, and how it was given."""

    kind: str
    subject: str
    granted: bool
    signer_name: str
    method: str
    data_handling: str | None = None
    id: str | None = None
    device_time: datetime | None = None


def record_consent(*, session: Session, order: WorkOrder, actor: Principal, given: ConsentInput) -> Consent:
    if actor.technician_id is None:
        raise Problem(
            "consent.technician_only", "Consents are recorded on the technician's device.", status=403
        )
    consent = Consent(
        id=given.id or str(uuid.uuid4()),
        work_order_id=order.id,
        technician_id=actor.technician_id,
        kind=given.kind,
        subject=given.subject,
        granted=given.granted,
        signer_name=given.signer_name,
        method=given.method,
        data_handling=given.data_handling,
        device_time=given.device_time,
    )
    session.add(consent)
    session.flush()
    words = "同意" if consent.granted else "不同意"
    what = "维修人员接触设备内数据" if consent.kind == ConsentKind.DATA_ACCESS else consent.subject
    add_event(
        session=session,
        order=order,
        kind="consent",
        actor=actor,
        message=f"{consent.signer_name}{words}：{what}",
        data={"consent_id": consent.id, "kind": consent.kind, "granted": consent.granted},
        device_time=consent.device_time,
    )
    return consent


@dataclass(frozen=True)
class RecordCheck:
    """What the service record claims without the customer's consent on file."""

    data_without_consent: bool
    findings_without_consent: list[str]


def _granted(session: Session, order_id: str, kind: str) -> set[str]:
    return set(
        session.scalars(
            sa.select(Consent.id).where(
                Consent.work_order_id == order_id, Consent.kind == kind, Consent.granted.is_(True)
            )
        )
    )


@dataclass(frozen=True)
class ServiceRecordInput:
    """The technician's account of the job; tests and findings as loaded (name/passed/reading,
    description/consent_id/worked_on)."""

    cause: str
    method: str
    items_done: list[str]
    function_tests: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    touched_customer_data: bool = False
    device_time: datetime | None = None


def save_service_record(
    *, session: Session, order: WorkOrder, actor: Principal, written: ServiceRecordInput
) -> tuple[ServiceRecord, RecordCheck]:
    """Write the job's service record (the latest write wins; each revision is kept as an event)."""
    if actor.technician_id is None:
        raise Problem(
            "service_record.technician_only", "The technician writes the service record.", status=403
        )
    record = session.scalars(
        sa.select(ServiceRecord).where(ServiceRecord.work_order_id == order.id)
    ).one_or_none()
    if record is None:
        record = ServiceRecord(work_order_id=order.id, revision=0)
        session.add(record)
    record.technician_id = actor.technician_id
    record.cause = written.cause
    record.method = written.method
    record.items_done = written.items_done
    record.function_tests = written.function_tests
    record.findings = written.findings
    record.touched_customer_data = written.touched_customer_data
    record.device_time = written.device_time
    record.revision += 1
    session.flush()
    finding_consents = _granted(session, order.id, ConsentKind.NEW_FINDING)
    check = RecordCheck(
        data_without_consent=record.touched_customer_data
        and not _granted(session, order.id, ConsentKind.DATA_ACCESS),
        findings_without_consent=[
            f["description"]
            for f in record.findings
            if f.get("worked_on") and f.get("consent_id") not in finding_consents
        ],
    )
    add_event(
        session=session,
        order=order,
        kind="service_record",
        actor=actor,
        message="维修记录已更新",
        data={"service_record_id": record.id, "revision": record.revision},
        customer_visible=False,
        device_time=record.device_time,
    )
    return record, check


@dataclass(frozen=True)
class OnsiteRecord:
    """Everything recorded on site for a job, each list in the order it happened."""

    work_order_id: str
    appointments: list[AppointmentConfirmation]
    visits: list[Visit]
    checklists: list[ChecklistSubmission]
    missing_checklists: list[str]
    stop_work_reports: list[StopWorkReport]
    consents: list[Consent]
    service_record: ServiceRecord | None


def onsite_record_of(*, session: Session, order: WorkOrder) -> OnsiteRecord:
    def rows(model: Any, order_by: Any) -> list[Any]:
        return list(
            session.scalars(sa.select(model).where(model.work_order_id == order.id).order_by(order_by))
        )

    return OnsiteRecord(
        work_order_id=order.id,
        appointments=rows(AppointmentConfirmation, AppointmentConfirmation.confirmed_at),
        visits=rows(Visit, Visit.checked_in_at),
        checklists=rows(ChecklistSubmission, ChecklistSubmission.submitted_at),
        missing_checklists=missing_checklists(session=session, order=order),
        stop_work_reports=rows(StopWorkReport, StopWorkReport.reported_at),
        consents=rows(Consent, Consent.recorded_at),
        service_record=service_record_of(session=session, order_id=order.id),
    )


def service_record_of(*, session: Session, order_id: str) -> ServiceRecord | None:
    return session.scalars(
        sa.select(ServiceRecord).where(ServiceRecord.work_order_id == order_id)
    ).one_or_none()
