"""Dispatch console: candidates with explanations, batch plans, day routes, map layers, rules, notices."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView

from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.errors import Problem, conflict, not_found
from backend.extensions import Blueprint, db_session
from backend.geo.access import visible_notifications
from backend.geo.batch import plan_for_orders
from backend.geo.candidates import search_candidates
from backend.geo.coords import BBox, parse_bbox, to_wgs84
from backend.geo.eligibility import ineligibility, job_facts, load_tech_facts
from backend.geo.maps import open_orders_geojson, technician_day_route, technicians_geojson
from backend.geo.models import AssignmentStrategy, AutoAssignRule, DispatchNotification
from backend.geo.settings import DispatchSettings
from backend.kernel.base import utcnow
from backend.kernel.china_time import china_today
from backend.kernel.permissions import Permission
from backend.policy import may_lead_team, require_self_or_staff
from backend.work_orders.access import get_visible_work_order
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import assign_work_order
from backend.work_orders.states import Status

blp = Blueprint("dispatch", __name__, description="Geo dispatch: who should go, in what order, on a map.")

MAX_BATCH_ORDERS = 2000
MAX_BATCH_TECHNICIANS = 1000


def settings() -> DispatchSettings:
    return DispatchSettings.from_config(current_app.config)


# --- candidates -------------------------------------------------------------------------------------


class CandidateArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=10, validate=ma.validate.Range(min=1, max=50))
    radius_km = ma.fields.Float(validate=ma.validate.Range(min=0.1, max=500), allow_nan=False)
    any_region = ma.fields.Boolean(
        load_default=False, metadata={"description": "Look beyond the order's region."}
    )


class CandidateSchema(ma.Schema):
    technician_id = ma.fields.String()
    name = ma.fields.String()
    employee_no = ma.fields.String()
    skill_level = ma.fields.String()
    distance_km = ma.fields.Float()
    eta_minutes = ma.fields.Float()
    score = ma.fields.Float()
    breakdown = ma.fields.Dict(metadata={"description": "Per factor: raw values, points and max points."})


class ExcludedSchema(ma.Schema):
    technician_id = ma.fields.String()
    distance_km = ma.fields.Float()
    reasons = ma.fields.List(ma.fields.String())


class CandidatesSchema(ma.Schema):
    work_order_id = ma.fields.String()
    job_date = ma.fields.Date()
    window_start = AwareDateTime()
    window_end = AwareDateTime()
    radius_km = ma.fields.Float()
    candidates = ma.fields.List(ma.fields.Nested(CandidateSchema))
    excluded = ma.fields.List(
        ma.fields.Nested(ExcludedSchema), metadata={"description": "Nearby technicians not offered, and why."}
    )


def _names(session: Any, ids: list[str]) -> dict[str, tuple[str, str, str]]:
    if not ids:
        return {}
    rows = session.execute(
        sa.select(Technician.id, User.display_name, Technician.employee_no, Technician.skill_level)
        .join(User, User.id == Technician.user_id)
        .where(Technician.id.in_(ids))
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@blp.route("/dispatch/work-orders/<string:work_order_id>/candidates")
class Candidates(MethodView):
    @blp.arguments(CandidateArgs, location="query")
    @blp.response(200, CandidatesSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """Eligible technicians for the order, best first, each with a score breakdown and distance;
        nearby technicians not offered are listed with the rules they fail."""
        principal = require(Permission.DISPATCH_READ)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        job = job_facts(order)
        result = search_candidates(
            session,
            job,
            settings(),
            limit=args["limit"],
            max_radius_km=args.get("radius_km"),
            any_region=args["any_region"],
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
            "excluded": [vars(e) for e in result.excluded[:50]],
        }


# --- batch ------------------------------------------------------------------------------------------


class BatchSchema(StrictSchema):
    region_id = ma.fields.String(validate=ma.validate.Length(max=36))
    work_order_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=36)),
        validate=ma.validate.Length(max=MAX_BATCH_ORDERS),
    )
    technician_ids = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=36)),
        validate=ma.validate.Length(max=MAX_BATCH_TECHNICIANS),
    )
    date = ma.fields.Date(
        metadata={"description": "The day whose capacity is planned (China); default today."}
    )
    max_km = ma.fields.Float(validate=ma.validate.Range(min=0.1, max=500), allow_nan=False)
    any_region = ma.fields.Boolean(load_default=False)

    @ma.validates_schema
    def _scope(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("region_id") and not data.get("work_order_ids"):
            raise ma.ValidationError("Give a region_id or work_order_ids.", field_name="region_id")


class PlannedSchema(ma.Schema):
    work_order_id = ma.fields.String()
    work_order_version = ma.fields.Integer()
    technician_id = ma.fields.String()
    distance_km = ma.fields.Float()


class BatchPlanSchema(ma.Schema):
    date = ma.fields.Date()
    assignments = ma.fields.List(ma.fields.Nested(PlannedSchema))
    unassigned = ma.fields.List(ma.fields.Dict())
    total_distance_km = ma.fields.Float()
    greedy_total_distance_km = ma.fields.Float(
        metadata={"description": "Nearest-first baseline on the same instance (geodesic km)."}
    )
    greedy_assigned = ma.fields.Integer()
    stats = ma.fields.Dict()


def _batch_orders(session: Any, data: dict[str, Any]) -> list[WorkOrder]:
    stmt = sa.select(WorkOrder).where(
        WorkOrder.status.in_([Status.NEW, Status.DECLINED]), WorkOrder.lat.is_not(None)
    )
    if data.get("work_order_ids"):
        stmt = stmt.where(WorkOrder.id.in_(data["work_order_ids"]))
    if data.get("region_id"):
        stmt = stmt.where(WorkOrder.region_id == data["region_id"])
    return list(session.scalars(stmt.order_by(WorkOrder.created_at).limit(MAX_BATCH_ORDERS)))


def _batch_technicians(session: Any, data: dict[str, Any], orders: list[WorkOrder]) -> list[str]:
    stmt = sa.select(Technician.id).where(Technician.active.is_(True))
    if data.get("technician_ids"):
        stmt = stmt.where(Technician.id.in_(data["technician_ids"]))
    elif not data.get("any_region"):
        regions = {o.region_id for o in orders if o.region_id} | (
            {data["region_id"]} if data.get("region_id") else set()
        )
        stmt = stmt.where(Technician.region_id.in_(regions))
    return list(session.scalars(stmt.order_by(Technician.id).limit(MAX_BATCH_TECHNICIANS)))


@blp.route("/dispatch/batch")
class Batch(MethodView):
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchPlanSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Plan queued orders (a region's, or the listed ones) onto technicians, minimizing total
        distance under each technician's free capacity that day. Nothing is assigned: confirm the plan
        with POST /dispatch/batch/apply."""
        require(Permission.DISPATCH_ASSIGN)
        session = db_session()
        day = data.get("date") or china_today()
        orders = _batch_orders(session, data)
        techs = _batch_technicians(session, data, orders)
        plan = plan_for_orders(
            session,
            orders=orders,
            technician_ids=techs,
            day=day,
            max_km=data.get("max_km"),
            any_region=data["any_region"],
        )
        versions = {o.id: o.version for o in orders}
        return {
            "date": day,
            "assignments": [
                {**vars(a), "work_order_version": versions[a.work_order_id]} for a in plan.assignments
            ],
            "unassigned": plan.unassigned,
            "total_distance_km": plan.total_distance_km,
            "greedy_total_distance_km": plan.greedy_total_distance_km,
            "greedy_assigned": plan.greedy_assigned,
            "stats": plan.stats,
        }


class ApplyItemSchema(StrictSchema):
    work_order_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))
    technician_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))
    work_order_version = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))


class ApplySchema(StrictSchema):
    assignments = ma.fields.List(
        ma.fields.Nested(ApplyItemSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_BATCH_ORDERS),
    )


class ApplyResultSchema(ma.Schema):
    applied = ma.fields.List(ma.fields.Dict())
    skipped = ma.fields.List(ma.fields.Dict())


@blp.route("/dispatch/batch/apply")
class BatchApply(MethodView):
    @blp.arguments(ApplySchema)
    @blp.response(200, ApplyResultSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Assign a confirmed plan. Each line is re-checked (order unchanged since the plan, technician
        still eligible); lines that no longer hold are skipped with a problem, the others applied."""
        principal = require(Permission.DISPATCH_ASSIGN)
        session = db_session()
        applied, skipped = [], []
        for item in data["assignments"]:
            try:
                with session.begin_nested():
                    event = _apply_one(session, principal, item)
                applied.append(
                    {
                        "work_order_id": item["work_order_id"],
                        "technician_id": item["technician_id"],
                        "event_id": event.id,
                    }
                )
            except Problem as problem:
                skipped.append({"work_order_id": item["work_order_id"], "problem": problem.to_dict()})
        return {"applied": applied, "skipped": skipped}


def _apply_one(session: Any, principal: Any, item: dict[str, Any]) -> Any:
    order = get_visible_work_order(session, principal, item["work_order_id"], lock=True)
    technician = session.get(Technician, item["technician_id"])
    if technician is None:
        raise not_found("technician")
    job = job_facts(order)
    reasons = ineligibility(load_tech_facts(session, [technician.id], job)[technician.id], job)
    if reasons:
        raise conflict(
            "dispatch.not_eligible", "The technician can no longer take this order.", reasons=reasons
        )
    return assign_work_order(
        session=session,
        order=order,
        technician=technician,
        actor=principal,
        reason="批量派单",
        base_version=item["work_order_version"],
    )


# --- day route --------------------------------------------------------------------------------------


class RouteArgs(ma.Schema):
    date = ma.fields.Date(metadata={"description": "China-local day; default today."})


class RouteStopSchema(ma.Schema):
    work_order_id = ma.fields.String()
    number = ma.fields.String()
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    window_start = AwareDateTime(allow_none=True)
    window_end = AwareDateTime(allow_none=True)
    travel_km = ma.fields.Float(metadata={"description": "Road estimate from the previous stop."})
    eta = AwareDateTime()
    service_start = AwareDateTime()
    departure = AwareDateTime()
    wait_minutes = ma.fields.Float()
    late_minutes = ma.fields.Float()


class RouteSchema(ma.Schema):
    technician_id = ma.fields.String()
    date = ma.fields.Date()
    start_from = ma.fields.String()
    start_point = ma.fields.List(ma.fields.Float())
    start_time = AwareDateTime()
    solver = ma.fields.String()
    stops = ma.fields.List(ma.fields.Nested(RouteStopSchema))
    total_km = ma.fields.Float()
    late_minutes = ma.fields.Float()
    return_at = AwareDateTime(allow_none=True)
    baseline = ma.fields.Dict(metadata={"description": "Nearest-neighbour order with the same timing model."})
    avg_speed_kmh = ma.fields.Float()
    road_factor = ma.fields.Float()


@blp.route("/technicians/<string:technician_id>/route")
class TechnicianRoute(MethodView):
    @blp.arguments(RouteArgs, location="query")
    @blp.response(200, RouteSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], technician_id: str) -> dict[str, Any]:
        """The technician's jobs that day in driving order, respecting appointment windows, with ETAs.
        A technician may read only their own route."""
        principal = require(Permission.ROUTE_READ)
        require_self_or_staff(principal, technician_id)
        session = db_session()
        technician = session.get(Technician, technician_id)
        if technician is None:
            raise not_found("technician")
        cfg = settings()
        day = args.get("date") or china_today()
        route, orders, context = technician_day_route(session, technician, day, cfg)
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
            "avg_speed_kmh": cfg.avg_speed_kmh,
            "road_factor": cfg.road_factor,
        }


# --- map --------------------------------------------------------------------------------------------


class MapArgs(ma.Schema):
    region_id = ma.fields.String(validate=ma.validate.Length(max=36))
    bbox = ma.fields.String(
        validate=ma.validate.Length(max=200),
        metadata={"description": "minLng,minLat,maxLng,maxLat; at most 5 degrees each way."},
    )
    coord_system = ma.fields.String(
        metadata={"description": "Datum of the bbox corners: wgs84 (default), gcj02 or bd09."}
    )


class FeatureCollectionSchema(ma.Schema):
    type = ma.fields.String()
    features = ma.fields.List(ma.fields.Dict())
    truncated = ma.fields.Boolean()


def _map_scope(args: dict[str, Any]) -> tuple[str | None, BBox | None]:
    if not args.get("region_id") and not args.get("bbox"):
        raise Problem(
            "geo.map_scope_required",
            "Give a region_id or a bbox.",
            status=422,
            errors={"bbox": ["A region_id or a bbox is required."]},
        )
    bbox = None
    if args.get("bbox"):
        raw = parse_bbox(args["bbox"])
        sw = to_wgs84(raw.min_lat, raw.min_lng, args.get("coord_system"))
        ne = to_wgs84(raw.max_lat, raw.max_lng, args.get("coord_system"))
        bbox = BBox(sw.lat, sw.lng, ne.lat, ne.lng)
    elif args.get("coord_system"):
        to_wgs84(0.0, 0.0, args["coord_system"])  # reject an unknown datum even without a box
    return args.get("region_id"), bbox


@blp.route("/dispatch/map/work-orders")
class MapWorkOrders(MethodView):
    @blp.arguments(MapArgs, location="query")
    @blp.response(200, FeatureCollectionSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Open work orders of a region or box as a GeoJSON FeatureCollection (WGS-84, [lng, lat])."""
        require(Permission.DISPATCH_READ)
        region_id, bbox = _map_scope(args)
        return open_orders_geojson(db_session(), region_id=region_id, bbox=bbox)


@blp.route("/dispatch/map/technicians")
class MapTechnicians(MethodView):
    @blp.arguments(MapArgs, location="query")
    @blp.response(200, FeatureCollectionSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Active technicians at their last reported position (else home base) as GeoJSON, with the
        position's source and age."""
        require(Permission.DISPATCH_READ)
        region_id, bbox = _map_scope(args)
        return technicians_geojson(db_session(), settings(), region_id=region_id, bbox=bbox)


# --- rules and notifications ------------------------------------------------------------------------


class RuleSchema(ma.Schema):
    region_id = ma.fields.String()
    enabled = ma.fields.Boolean()
    radius_km = ma.fields.Float()
    strategy = ma.fields.String()
    accept_timeout_minutes = ma.fields.Integer()
    team_lead_user_id = ma.fields.String(allow_none=True)
    updated_at = AwareDateTime()


class RuleInSchema(StrictSchema):
    enabled = ma.fields.Boolean(required=True)
    radius_km = ma.fields.Float(
        load_default=15.0, validate=ma.validate.Range(min=0.1, max=200), allow_nan=False
    )
    strategy = ma.fields.String(
        load_default=AssignmentStrategy.NEAREST, validate=ma.validate.OneOf(AssignmentStrategy.ALL)
    )
    accept_timeout_minutes = ma.fields.Integer(
        load_default=30, validate=ma.validate.Range(min=1, max=24 * 60)
    )
    team_lead_user_id = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=36))


@blp.route("/dispatch/rules")
class Rules(MethodView):
    @blp.response(200, RuleSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self) -> list[AutoAssignRule]:
        """Auto-assignment rules of every region that has one."""
        require(Permission.DISPATCH_RULES)
        return list(db_session().scalars(sa.select(AutoAssignRule).order_by(AutoAssignRule.region_id)))


@blp.route("/dispatch/rules/<string:region_id>")
class RuleByRegion(MethodView):
    @blp.arguments(RuleInSchema)
    @blp.response(200, RuleSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any], region_id: str) -> AutoAssignRule:
        """Set a region's auto-assignment rule: on/off, radius, strategy (nearest | least_loaded),
        accept timeout and the team lead who hears about declines."""
        require(Permission.DISPATCH_RULES)
        session = db_session()
        if session.get(Region, region_id) is None:
            raise not_found("region")
        lead = data.get("team_lead_user_id")
        if lead is not None:
            user = session.get(User, lead)
            if user is None or not may_lead_team(user.role):
                raise Problem(
                    "dispatch.bad_team_lead",
                    "The team lead must be a dispatcher or an admin.",
                    status=422,
                    errors={"team_lead_user_id": ["Not a dispatcher or admin."]},
                )
        rule = session.scalars(
            sa.select(AutoAssignRule).where(AutoAssignRule.region_id == region_id)
        ).one_or_none()
        if rule is None:
            rule = AutoAssignRule(region_id=region_id)
            session.add(rule)
        for key, value in data.items():
            setattr(rule, key, value)
        rule.updated_at = utcnow()
        session.flush()
        return rule


class NotificationSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String()
    work_order_id = ma.fields.String()
    region_id = ma.fields.String(allow_none=True)
    recipient_user_id = ma.fields.String(allow_none=True)
    message = ma.fields.String()
    created_at = AwareDateTime()
    read_at = AwareDateTime(allow_none=True)


class NotificationArgs(ma.Schema):
    unread = ma.fields.Boolean(load_default=False)
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))


@blp.route("/dispatch/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> list[DispatchNotification]:
        """Declined, timed-out and unassignable orders for you (newest first)."""
        principal = require(Permission.DISPATCH_READ)
        stmt = sa.select(DispatchNotification).where(visible_notifications(principal))
        if args["unread"]:
            stmt = stmt.where(DispatchNotification.read_at.is_(None))
        stmt = stmt.order_by(DispatchNotification.created_at.desc(), DispatchNotification.id).limit(
            args["limit"]
        )
        return list(db_session().scalars(stmt))


@blp.route("/dispatch/notifications/<string:notification_id>/read")
class NotificationRead(MethodView):
    @blp.response(200, NotificationSchema)
    @blp.doc(security=BEARER)
    def post(self, notification_id: str) -> DispatchNotification:
        """Mark a notification read."""
        principal = require(Permission.DISPATCH_READ)
        note = (
            db_session()
            .scalars(
                sa.select(DispatchNotification).where(
                    DispatchNotification.id == notification_id, visible_notifications(principal)
                )
            )
            .one_or_none()
        )
        if note is None:
            raise not_found("notification")
        if note.read_at is None:
            note.read_at = utcnow()
        return note
