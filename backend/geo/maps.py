"""Read models for dispatch screens: map GeoJSON, day routes for a technician (no Flask here)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.geo.coords import BBox
from backend.geo.eligibility import LOAD_STATUSES, TechFacts
from backend.geo.models import TechnicianPosition
from backend.geo.routing import DayRoute, RouteJob, plan_day_route
from backend.geo.scoring import position_info
from backend.geo.settings import DispatchSettings
from backend.kernel.base import utcnow
from backend.kernel.china_time import CHINA_TZ, china_day, china_day_bounds
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import Status

OPEN_STATUSES = frozenset({Status.NEW, Status.DECLINED} | LOAD_STATUSES)
MAX_FEATURES = 5000
DEFAULT_DAY_START = time(8, 0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def feature(lat: float, lng: float, properties: dict[str, Any], fid: str) -> dict[str, Any]:
    # GeoJSON (RFC 7946) positions are [longitude, latitude], WGS-84.
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": properties,
    }


def collection(features: list[dict[str, Any]], truncated: bool) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "truncated": truncated}


def open_orders_geojson(*, session: Session, region_id: str | None, bbox: BBox | None) -> dict[str, Any]:
    stmt = sa.select(WorkOrder).where(
        WorkOrder.status.in_(OPEN_STATUSES), WorkOrder.lat.is_not(None), WorkOrder.lng.is_not(None)
    )
    if region_id:
        stmt = stmt.where(WorkOrder.region_id == region_id)
    if bbox:
        stmt = stmt.where(
            WorkOrder.lat.between(bbox.min_lat, bbox.max_lat),
            WorkOrder.lng.between(bbox.min_lng, bbox.max_lng),
        )
    rows = list(session.scalars(stmt.order_by(WorkOrder.created_at, WorkOrder.id).limit(MAX_FEATURES + 1)))
    features = [
        feature(
            o.lat or 0.0,
            o.lng or 0.0,
            {
                "kind": "work_order",
                "number": o.number,
                "status": o.status,
                "priority": o.priority,
                "product_category": o.product_category,
                "hazards": list(o.hazards or []),
                "assignee_id": o.assignee_id,
                "region_id": o.region_id,
                "appointment_start": _iso(o.appointment_start),
                "appointment_end": _iso(o.appointment_end),
                "respond_due_at": _iso(o.respond_due_at),
            },
            o.id,
        )
        for o in rows[:MAX_FEATURES]
    ]
    return collection(features, len(rows) > MAX_FEATURES)


def technicians_geojson(
    *, session: Session, settings: DispatchSettings, region_id: str | None, bbox: BBox | None
) -> dict[str, Any]:
    """Active technicians at their effective position (last report, else home base)."""
    eff_lat = sa.func.coalesce(TechnicianPosition.lat, Technician.home_lat)
    eff_lng = sa.func.coalesce(TechnicianPosition.lng, Technician.home_lng)
    stmt = (
        sa.select(Technician, User.display_name, TechnicianPosition)
        .join(User, User.id == Technician.user_id)
        .outerjoin(TechnicianPosition, TechnicianPosition.technician_id == Technician.id)
        .where(Technician.active.is_(True))
    )
    if region_id:
        stmt = stmt.where(Technician.region_id == region_id)
    if bbox:
        stmt = stmt.where(
            eff_lat.between(bbox.min_lat, bbox.max_lat), eff_lng.between(bbox.min_lng, bbox.max_lng)
        )
    rows = list(session.execute(stmt.order_by(Technician.employee_no).limit(MAX_FEATURES + 1)))
    now = utcnow()
    features = []
    for tech, name, pos in rows[:MAX_FEATURES]:
        facts = TechFacts(
            tech.id,
            tech.region_id,
            tech.skill_level,
            tech.active,
            tech.daily_capacity,
            tech.home_lat,
            tech.home_lng,
        )
        if pos is not None:
            facts.pos_lat, facts.pos_lng, facts.pos_accuracy_m, facts.pos_reported_at = (
                pos.lat,
                pos.lng,
                pos.accuracy_m,
                pos.reported_at,
            )
        info = position_info(facts, settings, now)
        lat, lng = facts.position()
        features.append(
            feature(
                lat,
                lng,
                {
                    "kind": "technician",
                    "name": name,
                    "employee_no": tech.employee_no,
                    "skill_level": tech.skill_level,
                    "region_id": tech.region_id,
                    "daily_capacity": tech.daily_capacity,
                    "position": info.source,
                    "position_age_minutes": info.age_minutes,
                    "position_stale": info.stale,
                    "accuracy_m": info.accuracy_m,
                },
                tech.id,
            )
        )
    return collection(features, len(rows) > MAX_FEATURES)


def _day_start(tech: Technician, day: date) -> datetime:
    starts = [s.starts_at for s in tech.shifts if s.weekday == day.weekday()]
    return datetime.combine(day, min(starts) if starts else DEFAULT_DAY_START, tzinfo=CHINA_TZ)


def technician_day_route(
    *, session: Session, technician: Technician, day: date, settings: DispatchSettings
) -> tuple[DayRoute, list[WorkOrder], dict[str, Any]]:
    """The technician's jobs that day (appointments that day; today also the unscheduled ones), routed."""
    now = utcnow()
    today = china_day(now)
    day_start, day_end = china_day_bounds(day)
    on_day = sa.and_(WorkOrder.appointment_start >= day_start, WorkOrder.appointment_start < day_end)
    if day == today:
        on_day = sa.or_(on_day, WorkOrder.appointment_start.is_(None))
    orders = list(
        session.scalars(
            sa.select(WorkOrder)
            .where(
                WorkOrder.assignee_id == technician.id,
                WorkOrder.status.in_(LOAD_STATUSES),
                WorkOrder.lat.is_not(None),
                on_day,
            )
            .order_by(WorkOrder.appointment_start, WorkOrder.id)
        )
    )
    home = (technician.home_lat, technician.home_lng)
    start_point, start_from = home, "home_base"
    position = session.get(TechnicianPosition, technician.id)
    fresh = timedelta(minutes=settings.stale_minutes)
    if day == today and position is not None and now - position.reported_at <= fresh:
        start_point, start_from = (position.lat, position.lng), "reported_position"
    start_time = _day_start(technician, day)
    if day == today:
        start_time = max(start_time, now)
    jobs = [
        RouteJob(o.id, o.lat or 0.0, o.lng or 0.0, o.appointment_start, o.appointment_end, o.number)
        for o in orders
    ]
    route = plan_day_route(
        jobs, start_point=start_point, end_point=home, start_time=start_time, settings=settings
    )
    context = {"start_from": start_from, "start_point": list(start_point), "start_time": start_time}
    return route, orders, context
