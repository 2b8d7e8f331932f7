"""The dispatch console's actions: batch plans and their confirmation, region rules, notices, offers.

Views parse and authorize; every rule about which orders, which technicians and which leads lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final, TypedDict

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.directory import get_technician
from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.errors import Problem, conflict, not_found
from backend.geo.access import visible_notifications
from backend.geo.auto_assign import QUEUED, rule_for
from backend.geo.batch import BatchPlan, plan_for_orders
from backend.geo.candidates import search_candidates
from backend.geo.coords import BBox, parse_bbox, to_wgs84
from backend.geo.eligibility import ineligibility, job_facts, load_tech_facts
from backend.geo.maps import open_orders_geojson, technician_day_route, technicians_geojson
from backend.geo.models import AutoAssignRule, DispatchNotification
from backend.geo.settings import DispatchSettings
from backend.kernel.base import utcnow
from backend.kernel.china_time import china_today
from backend.policy import Principal, may_lead_team
from backend.work_orders.access import get_visible_work_order
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from backend.work_orders.service import assign_work_order

MAX_BATCH_ORDERS = 2000
MAX_BATCH_TECHNICIANS = 1000
MAX_EXCLUDED_SHOWN = 50
# The history line of an assignment confirmed from a batch plan.
BATCH_ASSIGN_REASON = "批量派单"

# --- batch plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedAssignment:
    work_order_id: str
    work_order_version: int
    technician_id: str
    distance_km: float


@dataclass
class BatchProposal:
    """A plan for one day, each line carrying the order version it was planned on."""

    date: date
    assignments: list[ProposedAssignment]
    unassigned: list[dict[str, Any]]
    total_distance_km: float
    greedy_total_distance_km: float
    greedy_assigned: int
    stats: dict[str, Any]


def batch_orders(
    *, session: Session, region_id: str | None = None, work_order_ids: list[str] | None = None
) -> list[WorkOrder]:
    """Orders a batch may plan: queued (new or declined) and located, of the region and/or the listed
    ids, oldest first, at most MAX_BATCH_ORDERS."""
    stmt = sa.select(WorkOrder).where(WorkOrder.status.in_(QUEUED), WorkOrder.lat.is_not(None))
    if work_order_ids:
        stmt = stmt.where(WorkOrder.id.in_(work_order_ids))
    if region_id:
        stmt = stmt.where(WorkOrder.region_id == region_id)
    return list(session.scalars(stmt.order_by(WorkOrder.created_at).limit(MAX_BATCH_ORDERS)))


def batch_technician_pool(
    *,
    session: Session,
    orders: list[WorkOrder],
    region_id: str | None = None,
    technician_ids: list[str] | None = None,
    any_region: bool = False,
) -> list[str]:
    """Active technicians a batch may use: the listed ones, else (unless `any_region`) those of the
    batch's region and of the orders' regions; at most MAX_BATCH_TECHNICIANS, by id."""
    stmt = sa.select(Technician.id).where(Technician.active.is_(True))
    if technician_ids:
        stmt = stmt.where(Technician.id.in_(technician_ids))
    elif not any_region:
        regions = {o.region_id for o in orders if o.region_id} | ({region_id} if region_id else set())
        stmt = stmt.where(Technician.region_id.in_(regions))
    return list(session.scalars(stmt.order_by(Technician.id).limit(MAX_BATCH_TECHNICIANS)))


def propose_batch(
    *,
    session: Session,
    region_id: str | None = None,
    work_order_ids: list[str] | None = None,
    technician_ids: list[str] | None = None,
    date: date | None = None,
    max_km: float | None = None,
    any_region: bool = False,
) -> BatchProposal:
    """Plan the batch's orders onto its technician pool for the day (China today by default).
    Nothing is assigned: `apply_batch_plan` confirms."""
    day = date or china_today()
    orders = batch_orders(session=session, region_id=region_id, work_order_ids=work_order_ids)
    pool = batch_technician_pool(
        session=session,
        orders=orders,
        region_id=region_id,
        technician_ids=technician_ids,
        any_region=any_region,
    )
    plan = plan_for_orders(
        session=session, orders=orders, technician_ids=pool, day=day, max_km=max_km, any_region=any_region
    )
    return _proposal(day, plan, {o.id: o.version for o in orders})


def _proposal(day: date, plan: BatchPlan, versions: dict[str, int]) -> BatchProposal:
    return BatchProposal(
        date=day,
        assignments=[
            ProposedAssignment(a.work_order_id, versions[a.work_order_id], a.technician_id, a.distance_km)
            for a in plan.assignments
        ],
        unassigned=plan.unassigned,
        total_distance_km=plan.total_distance_km,
        greedy_total_distance_km=plan.greedy_total_distance_km,
        greedy_assigned=plan.greedy_assigned,
        stats=plan.stats,
    )


class PlanLine(TypedDict):
    work_order_id: str
    technician_id: str
    work_order_version: int


@dataclass
class AppliedPlan:
    applied: list[dict[str, Any]]
    skipped: list[dict[str, Any]]


def assign_planned(*, session: Session, actor: Principal, line: PlanLine) -> WorkOrderEvent:
    """Assign one confirmed line after re-checking it: the order is unchanged since the plan (version)
    and the technician is still eligible for it (`dispatch.not_eligible`, with the reasons)."""
    order = get_visible_work_order(
        session=session, principal=actor, work_order_id=line["work_order_id"], lock=True
    )
    technician = get_technician(session=session, technician_id=line["technician_id"])
    job = job_facts(order)
    reasons = ineligibility(
        load_tech_facts(session=session, ids=[technician.id], job=job)[technician.id], job
    )
    if reasons:
        raise conflict(
            "dispatch.not_eligible", "The technician can no longer take this order.", reasons=reasons
        )
    return assign_work_order(
        session=session,
        order=order,
        technician=technician,
        actor=actor,
        reason=BATCH_ASSIGN_REASON,
        base_version=line["work_order_version"],
    )


def apply_batch_plan(*, session: Session, actor: Principal, lines: list[PlanLine]) -> AppliedPlan:
    """Each line in its own savepoint: lines that no longer hold are skipped with their problem, the
    others applied."""
    result = AppliedPlan([], [])
    for line in lines:
        try:
            with session.begin_nested():
                event = assign_planned(session=session, actor=actor, line=line)
        except Problem as problem:
            result.skipped.append({"work_order_id": line["work_order_id"], "problem": problem.to_dict()})
            continue
        result.applied.append(
            {
                "work_order_id": line["work_order_id"],
                "technician_id": line["technician_id"],
                "event_id": event.id,
            }
        )
    return result


# --- auto-assignment rules --------------------------------------------------------------------------


class _Keep:
    """The team lead was not mentioned: an existing rule keeps its lead."""


KEEP_LEAD: Final = _Keep()


def list_auto_assign_rules(*, session: Session) -> list[AutoAssignRule]:
    return list(session.scalars(sa.select(AutoAssignRule).order_by(AutoAssignRule.region_id)))


def check_team_lead(*, session: Session, user_id: str) -> None:
    """A region's team lead must be a user whose role may lead a team (the policy decides which)."""
    user = session.get(User, user_id)
    if user is None or not may_lead_team(user.role):
        raise Problem(
            "dispatch.bad_team_lead",
            "The team lead must be a dispatcher or an admin.",
            status=422,
            errors={"team_lead_user_id": ["Not a dispatcher or admin."]},
        )


def set_auto_assign_rule(
    *,
    session: Session,
    region_id: str,
    enabled: bool,
    radius_km: float,
    strategy: str,
    accept_timeout_minutes: int,
    team_lead_user_id: str | None | _Keep = KEEP_LEAD,
) -> AutoAssignRule:
    """Create or replace a region's rule; a lead left unmentioned is kept, None clears it."""
    if session.get(Region, region_id) is None:
        raise not_found("region")
    if isinstance(team_lead_user_id, str):
        check_team_lead(session=session, user_id=team_lead_user_id)
    rule = rule_for(session=session, region_id=region_id)
    if rule is None:
        rule = AutoAssignRule(region_id=region_id)
        session.add(rule)
    rule.enabled = enabled
    rule.radius_km = radius_km
    rule.strategy = strategy
    rule.accept_timeout_minutes = accept_timeout_minutes
    if not isinstance(team_lead_user_id, _Keep):
        rule.team_lead_user_id = team_lead_user_id
    rule.updated_at = utcnow()
    session.flush()
    return rule


# --- notifications ----------------------------------------------------------------------------------


def notifications_for(principal: Principal, *, unread: bool = False) -> sa.Select[DispatchNotification]:
    """The caller's notices (theirs and those for every dispatcher), optionally only the unread."""
    stmt = sa.select(DispatchNotification).where(visible_notifications(principal))
    if unread:
        stmt = stmt.where(DispatchNotification.read_at.is_(None))
    return stmt


def mark_notification_read(
    *, session: Session, principal: Principal, notification_id: str
) -> DispatchNotification:
    """Idempotent: a notice read twice keeps its first read time; another lead's notice is not found."""
    note = session.scalars(
        notifications_for(principal).where(DispatchNotification.id == notification_id)
    ).one_or_none()
    if note is None:
        raise not_found("notification")
    if note.read_at is None:
        note.read_at = utcnow()
    return note


# --- offers and routes ------------------------------------------------------------------------------


def _names(session: Session, ids: list[str]) -> dict[str, tuple[str, str, str]]:
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Technician.id, User.display_name, Technician.employee_no, Technician.skill_level)
        .join(User, User.id == Technician.user_id)
        .where(Technician.id.in_(ids))
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def offer_candidates(
    *,
    session: Session,
    principal: Principal,
    work_order_id: str,
    settings: DispatchSettings,
    limit: int = 10,
    radius_km: float | None = None,
    any_region: bool = False,
) -> dict[str, Any]:
    """Eligible technicians for a visible order other than its assignee, best first, with who they
    are; the nearest technicians not offered (at most MAX_EXCLUDED_SHOWN) with their reasons."""
    order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
    job = job_facts(order)
    result = search_candidates(
        session=session,
        job=job,
        settings=settings,
        limit=limit,
        max_radius_km=radius_km,
        any_region=any_region,
        exclude_ids=frozenset({order.assignee_id}) if order.assignee_id else frozenset(),
    )
    names = _names(session, [c.technician_id for c in result.candidates])
    return {
        "work_order_id": order.id,
        "job_date": job.job_date,
        "window_start": job.window_start,
        "window_end": job.window_end,
        "radius_km": result.radius_km,
        "candidates": [
            {
                "technician_id": c.technician_id,
                "name": names[c.technician_id][0],
                "employee_no": names[c.technician_id][1],
                "skill_level": names[c.technician_id][2],
                "distance_km": round(c.distance_km, 3),
                "eta_minutes": c.breakdown["distance"]["eta_minutes"],
                "score": c.score,
                "breakdown": c.breakdown,
            }
            for c in result.candidates
        ],
        "excluded": [vars(e) for e in result.excluded[:MAX_EXCLUDED_SHOWN]],
    }


def day_route(
    *, session: Session, technician_id: str, settings: DispatchSettings, day: date | None = None
) -> dict[str, Any]:
    """A technician's jobs of the day (China today by default) in driving order, with ETAs."""
    technician = get_technician(session=session, technician_id=technician_id)
    day = day or china_today()
    route, orders, context = technician_day_route(
        session=session, technician=technician, day=day, settings=settings
    )
    numbers = {o.id: o.number for o in orders}
    return {
        "technician_id": technician.id,
        "date": day,
        **context,
        "solver": route.solver,
        "stops": [
            {
                "work_order_id": s.job.id,
                "number": numbers[s.job.id],
                "lat": s.job.lat,
                "lng": s.job.lng,
                "window_start": s.job.window_start,
                "window_end": s.job.window_end,
                "travel_km": s.travel_km,
                "eta": s.arrival,
                "service_start": s.service_start,
                "departure": s.departure,
                "wait_minutes": s.wait_minutes,
                "late_minutes": s.late_minutes,
            }
            for s in route.stops
        ],
        "total_km": route.total_km,
        "late_minutes": route.late_minutes,
        "return_at": route.return_at,
        "baseline": route.baseline,
        "avg_speed_kmh": settings.avg_speed_kmh,
        "road_factor": settings.road_factor,
    }


# --- map layers -------------------------------------------------------------------------------------


def map_scope(
    *, region_id: str | None = None, bbox: str | None = None, coord_system: str | None = None
) -> tuple[str | None, BBox | None]:
    """A map layer needs a region or a box; the box's corners are given in `coord_system` (WGS-84 by
    default) and returned in WGS-84. An unknown datum is refused even without a box."""
    if not region_id and not bbox:
        raise Problem(
            "geo.map_scope_required",
            "Give a region_id or a bbox.",
            status=422,
            errors={"bbox": ["A region_id or a bbox is required."]},
        )
    box = None
    if bbox:
        raw = parse_bbox(bbox)
        sw = to_wgs84(raw.min_lat, raw.min_lng, coord_system)
        ne = to_wgs84(raw.max_lat, raw.max_lng, coord_system)
        box = BBox(sw.lat, sw.lng, ne.lat, ne.lng)
    elif coord_system:
        to_wgs84(0.0, 0.0, coord_system)
    return region_id, box


def orders_map(
    *,
    session: Session,
    region_id: str | None = None,
    bbox: str | None = None,
    coord_system: str | None = None,
) -> dict[str, Any]:
    """Open work orders of the region or box as a GeoJSON FeatureCollection."""
    region, box = map_scope(region_id=region_id, bbox=bbox, coord_system=coord_system)
    return open_orders_geojson(session=session, region_id=region, bbox=box)


def technicians_map(
    *,
    session: Session,
    settings: DispatchSettings,
    region_id: str | None = None,
    bbox: str | None = None,
    coord_system: str | None = None,
) -> dict[str, Any]:
    """Active technicians of the region or box at their best known position, as GeoJSON."""
    region, box = map_scope(region_id=region_id, bbox=bbox, coord_system=coord_system)
    return technicians_geojson(session=session, settings=settings, region_id=region, bbox=box)
