"""Who may take a job: the facts about a job and its technicians, loaded in bulk, and the hard rules.

The rules are defined once here (`ineligibility`) and used by candidate search, auto-assignment and
the batch planner. Facts are loaded with a handful of set-based queries for a list of technicians, so
that checking a short list costs a few queries, not a few per technician.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.technicians import Certificate, Shift, SkillLevel, Technician, TechnicianSkill
from backend.errors import Problem
from backend.geo.models import TechnicianPosition
from backend.kernel.base import utcnow
from backend.kernel.china_time import CHINA_TZ, china_day, china_day_bounds, china_today
from backend.work_orders.hazards import CERTIFICATE_FOR_HAZARD
from backend.work_orders.models import Priority, WorkOrder
from backend.work_orders.states import ACTIVE, Status

# Orders that take a slot of the technician's day (a completed job awaiting sign-off no longer does).
LOAD_STATUSES = frozenset(ACTIVE - {Status.COMPLETED})
VISITED_STATUSES = (Status.COMPLETED, Status.ACCEPTED_BY_CUSTOMER, Status.CLOSED)
UNSCHEDULED_WINDOW = timedelta(hours=24)
MAX_WINDOW_DAYS = 8
LEVEL_RANK = {SkillLevel.JUNIOR: 0, SkillLevel.SENIOR: 1, SkillLevel.EXPERT: 2}


@dataclass(frozen=True)
class JobFacts:
    """What dispatch needs to know about a work order, independent of the ORM row."""

    id: str
    lat: float
    lng: float
    region_id: str | None
    customer_id: str
    priority: str
    hazards: tuple[str, ...]
    product_category: str
    fault_type: str | None
    needs_expert: bool
    window_start: datetime
    window_end: datetime
    respond_due_at: datetime | None
    assignee_id: str | None = None

    @property
    def job_date(self) -> date:
        """The China-local day the visit happens on (certificates and capacity are per day)."""
        return china_day(self.window_start)


def job_facts(order: WorkOrder, now: datetime | None = None) -> JobFacts:
    """An appointment window when one is set; else from now until the response is due (SLA)."""
    now = now or utcnow()
    if order.lat is None or order.lng is None:
        raise Problem(
            "dispatch.order_not_located",
            "The work order has no coordinates; locate its address first.",
            status=409,
            title="Not located",
        )
    if order.appointment_start is not None:
        start = order.appointment_start
        end = order.appointment_end or start + timedelta(hours=2)
    else:
        start = now
        end = max(order.respond_due_at or now + UNSCHEDULED_WINDOW, now + timedelta(hours=1))
    high_end = bool(order.product is not None and order.product.high_end)
    return JobFacts(
        id=order.id,
        lat=order.lat,
        lng=order.lng,
        region_id=order.region_id,
        customer_id=order.customer_id,
        priority=order.priority or Priority.NORMAL,
        hazards=tuple(order.hazards or ()),
        product_category=order.product_category,
        fault_type=order.fault_type,
        needs_expert=bool(order.complex_job or high_end),
        window_start=start,
        window_end=end,
        respond_due_at=order.respond_due_at,
        assignee_id=order.assignee_id,
    )


@dataclass
class TechFacts:
    id: str
    region_id: str
    skill_level: str
    active: bool
    daily_capacity: int
    home_lat: float
    home_lng: float
    pos_lat: float | None = None
    pos_lng: float | None = None
    pos_accuracy_m: float | None = None
    pos_reported_at: datetime | None = None
    skills: list[tuple[str, str | None]] = field(default_factory=list)
    certificates: list[tuple[str, date, date]] = field(default_factory=list)
    shifts: list[tuple[int, time, time]] = field(default_factory=list)
    load: int = 0
    previous_visits: int = 0

    @property
    def has_report(self) -> bool:
        return self.pos_lat is not None and self.pos_lng is not None

    def position(self) -> tuple[float, float]:
        """Last reported position, else home base."""
        if self.pos_lat is not None and self.pos_lng is not None:
            return self.pos_lat, self.pos_lng
        return self.home_lat, self.home_lng


def load_tech_facts(*, session: Session, ids: list[str], job: JobFacts) -> dict[str, TechFacts]:
    """Everything the rules and the score need about `ids` for one job, in a few set-based queries."""
    needed = sorted({CERTIFICATE_FOR_HAZARD[h] for h in job.hazards if h in CERTIFICATE_FOR_HAZARD})
    return load_fleet_facts(
        session=session,
        ids=ids,
        day=job.job_date,
        category=job.product_category,
        certificate_types=needed,
        customer_id=job.customer_id,
        exclude_order_id=job.id,
    )


def load_fleet_facts(
    *,
    session: Session,
    ids: list[str],
    day: date,
    category: str | None = None,
    certificate_types: list[str] | None = None,
    customer_id: str | None = None,
    exclude_order_id: str | None = None,
) -> dict[str, TechFacts]:
    """Facts for many technicians on `day`; filters narrow what is loaded when one job is in view."""
    facts: dict[str, TechFacts] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        _load_rows(session, chunk, facts)
        _load_qualifications(session, chunk, facts, category, certificate_types)
        for load_row in session.execute(_load_query(chunk, day, exclude_order_id)):
            facts[str(load_row[0])].load = int(load_row[1])
        if customer_id is not None:
            _load_visits(session, chunk, facts, customer_id, exclude_order_id)
    return facts


CHUNK = 900  # stays under SQLite's bound-parameter limit


def _load_rows(session: Session, ids: list[str], facts: dict[str, TechFacts]) -> None:
    t = Technician
    for row in session.execute(
        sa.select(t.id, t.region_id, t.skill_level, t.active, t.daily_capacity, t.home_lat, t.home_lng).where(
            t.id.in_(ids)
        )
    ):
        facts[row.id] = TechFacts(*row)
    p = TechnicianPosition
    for pos in session.execute(
        sa.select(p.technician_id, p.lat, p.lng, p.accuracy_m, p.reported_at).where(p.technician_id.in_(ids))
    ):
        f = facts.get(pos.technician_id)
        if f is not None:
            f.pos_lat, f.pos_lng, f.pos_accuracy_m, f.pos_reported_at = (
                pos.lat,
                pos.lng,
                pos.accuracy_m,
                pos.reported_at,
            )


def _load_qualifications(
    session: Session,
    ids: list[str],
    facts: dict[str, TechFacts],
    category: str | None,
    certificate_types: list[str] | None,
) -> None:
    skills = sa.select(
        TechnicianSkill.technician_id, TechnicianSkill.product_category, TechnicianSkill.fault_type
    ).where(TechnicianSkill.technician_id.in_(ids))
    if category is not None:
        skills = skills.where(TechnicianSkill.product_category == category)
    for tid, cat, fault in session.execute(skills):
        facts[tid].skills.append((cat, fault))
    if certificate_types != []:
        certs = sa.select(
            Certificate.technician_id, Certificate.type, Certificate.issued_on, Certificate.expires_on
        ).where(Certificate.technician_id.in_(ids))
        if certificate_types is not None:
            certs = certs.where(Certificate.type.in_(certificate_types))
        for tid, kind, issued, expires in session.execute(certs):
            facts[tid].certificates.append((kind, issued, expires))
    for tid, weekday, starts, ends in session.execute(
        sa.select(Shift.technician_id, Shift.weekday, Shift.starts_at, Shift.ends_at).where(
            Shift.technician_id.in_(ids)
        )
    ):
        facts[tid].shifts.append((weekday, starts, ends))


def _load_visits(
    session: Session,
    ids: list[str],
    facts: dict[str, TechFacts],
    customer_id: str,
    exclude_order_id: str | None,
) -> None:
    stmt = (
        sa.select(WorkOrder.assignee_id, sa.func.count())
        .where(
            WorkOrder.assignee_id.in_(ids),
            WorkOrder.customer_id == customer_id,
            WorkOrder.status.in_(VISITED_STATUSES),
        )
        .group_by(WorkOrder.assignee_id)
    )
    if exclude_order_id is not None:
        stmt = stmt.where(WorkOrder.id != exclude_order_id)
    for visit_row in session.execute(stmt):
        facts[str(visit_row[0])].previous_visits = int(visit_row[1])


def _load_query(ids: list[str], day: date, exclude_order_id: str | None) -> Any:
    """Jobs on the technician's plate that day: appointments that day, and (for today) unscheduled ones."""
    day_start, day_end = china_day_bounds(day)
    on_day = sa.and_(WorkOrder.appointment_start >= day_start, WorkOrder.appointment_start < day_end)
    if day == china_today():
        on_day = sa.or_(on_day, WorkOrder.appointment_start.is_(None))
    stmt = (
        sa.select(WorkOrder.assignee_id, sa.func.count())
        .where(WorkOrder.assignee_id.in_(ids), WorkOrder.status.in_(LOAD_STATUSES), on_day)
        .group_by(WorkOrder.assignee_id)
    )
    if exclude_order_id is not None:
        stmt = stmt.where(WorkOrder.id != exclude_order_id)
    return stmt


def on_shift(shifts: list[tuple[int, time, time]], start: datetime, end: datetime) -> bool:
    """Does a weekly shift (China wall clock) overlap the window? Overnight shifts run past midnight."""
    local_start, local_end = start.astimezone(CHINA_TZ), end.astimezone(CHINA_TZ)
    first = local_start.date() - timedelta(days=1)  # yesterday's overnight shift may still be running
    days = min((local_end.date() - first).days + 1, MAX_WINDOW_DAYS + 1)
    for offset in range(days):
        day = first + timedelta(days=offset)
        for weekday, starts, ends in shifts:
            if weekday != day.weekday():
                continue
            s = datetime.combine(day, starts, tzinfo=CHINA_TZ)
            e = datetime.combine(day, ends, tzinfo=CHINA_TZ)
            if e <= s:
                e += timedelta(days=1)
            if s < local_end and e > local_start:
                return True
    return False


def skill_match(tech: TechFacts, job: JobFacts) -> str | None:
    """'fault' for a skill naming this fault, 'category' for an all-faults skill, None for neither."""
    best: str | None = None
    for category, fault in tech.skills:
        if category != job.product_category:
            continue
        if fault is not None and fault == job.fault_type:
            return "fault"
        if fault is None:
            best = "category"
    return best


def ineligibility(tech: TechFacts, job: JobFacts, *, any_region: bool = False) -> list[str]:
    """Reason codes why `tech` may not take `job`; empty means eligible."""
    reasons: list[str] = []
    if not tech.active:
        reasons.append("inactive")
    if not any_region and job.region_id is not None and tech.region_id != job.region_id:
        reasons.append("other_region")
    if skill_match(tech, job) is None:
        reasons.append("no_skill")
    if job.needs_expert and tech.skill_level != SkillLevel.EXPERT:
        reasons.append("expert_required")
    day = job.job_date
    for hazard in job.hazards:
        kind = CERTIFICATE_FOR_HAZARD.get(hazard)
        if kind and not any(
            k == kind and issued <= day <= expires for k, issued, expires in tech.certificates
        ):
            reasons.append(f"certificate_missing:{kind}")
    if not on_shift(tech.shifts, job.window_start, job.window_end):
        reasons.append("off_shift")
    if tech.load >= tech.daily_capacity:
        reasons.append("at_capacity")
    return reasons
