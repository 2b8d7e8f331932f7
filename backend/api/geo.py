"""Dispatch console: candidates with explanations, batch plans, day routes, map layers, rules, notices."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, paginate
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.geo.dispatching import (
    MAX_BATCH_ORDERS,
    MAX_BATCH_TECHNICIANS,
    AppliedPlan,
    BatchProposal,
    apply_batch_plan,
    day_route,
    list_auto_assign_rules,
    mark_notification_read,
    notifications_for,
    offer_candidates,
    orders_map,
    propose_batch,
    set_auto_assign_rule,
    technicians_map,
)
from backend.geo.models import AssignmentStrategy, AutoAssignRule, DispatchNotification
from backend.geo.settings import DispatchSettings
from backend.kernel.permissions import Permission
from backend.policy import require_self_or_staff

blp = Blueprint("dispatch", __name__, description="Geo dispatch: who should go, in what order, on a map.")


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


@blp.route("/dispatch/work-orders/<string:work_order_id>/candidates")
class Candidates(MethodView):
    @blp.arguments(CandidateArgs, location="query")
    @blp.response(200, CandidatesSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """Eligible technicians for the order, best first, each with a score breakdown and distance;
        nearby technicians not offered are listed with the rules they fail."""
        principal = require(Permission.DISPATCH_READ)
        return offer_candidates(
            session=db_session(),
            principal=principal,
            work_order_id=work_order_id,
            settings=settings(),
            **args,
        )


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


@blp.route("/dispatch/batch")
class Batch(MethodView):
    @blp.arguments(BatchSchema)
    @blp.response(200, BatchPlanSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> BatchProposal:
        """Plan queued orders (a region's, or the listed ones) onto technicians, minimizing total
        distance under each technician's free capacity that day. Nothing is assigned: confirm the plan
        with POST /dispatch/batch/apply."""
        require(Permission.DISPATCH_ASSIGN)
        return propose_batch(session=db_session(), **data)


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
    def post(self, data: dict[str, Any]) -> AppliedPlan:
        """Assign a confirmed plan. Each line is re-checked (order unchanged since the plan, technician
        still eligible); lines that no longer hold are skipped with a problem, the others applied."""
        principal = require(Permission.DISPATCH_ASSIGN)
        return apply_batch_plan(session=db_session(), actor=principal, lines=data["assignments"])


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
        return day_route(
            session=db_session(), technician_id=technician_id, settings=settings(), day=args.get("date")
        )


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


@blp.route("/dispatch/map/work-orders")
class MapWorkOrders(MethodView):
    @blp.arguments(MapArgs, location="query")
    @blp.response(200, FeatureCollectionSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Open work orders of a region or box as a GeoJSON FeatureCollection (WGS-84, [lng, lat])."""
        require(Permission.DISPATCH_READ)
        return orders_map(session=db_session(), **args)


@blp.route("/dispatch/map/technicians")
class MapTechnicians(MethodView):
    @blp.arguments(MapArgs, location="query")
    @blp.response(200, FeatureCollectionSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Active technicians at their last reported position (else home base) as GeoJSON, with the
        position's source and age."""
        require(Permission.DISPATCH_READ)
        return technicians_map(session=db_session(), settings=settings(), **args)


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
        return list_auto_assign_rules(session=db_session())


@blp.route("/dispatch/rules/<string:region_id>")
class RuleByRegion(MethodView):
    @blp.arguments(RuleInSchema)
    @blp.response(200, RuleSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any], region_id: str) -> AutoAssignRule:
        """Set a region's auto-assignment rule: on/off, radius, strategy (nearest | least_loaded),
        accept timeout and the team lead who hears about declines."""
        require(Permission.DISPATCH_RULES)
        return set_auto_assign_rule(session=db_session(), region_id=region_id, **data)


class NotificationSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String()
    work_order_id = ma.fields.String()
    region_id = ma.fields.String(allow_none=True)
    recipient_user_id = ma.fields.String(allow_none=True)
    message = ma.fields.String()
    created_at = AwareDateTime()
    read_at = AwareDateTime(allow_none=True)


class NotificationArgs(PageArgs):
    unread = ma.fields.Boolean(load_default=False)


class NotificationPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(NotificationSchema))


@blp.route("/dispatch/notifications")
class Notifications(MethodView):
    @blp.arguments(NotificationArgs, location="query")
    @blp.response(200, NotificationPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Declined, timed-out and unassignable orders for you (newest first)."""
        principal = require(Permission.DISPATCH_READ)
        stmt = notifications_for(principal, unread=args["unread"])
        return paginate(db_session(), stmt, DispatchNotification, args.get("cursor"), args["limit"])


@blp.route("/dispatch/notifications/<string:notification_id>/read")
class NotificationRead(MethodView):
    @blp.response(200, NotificationSchema)
    @blp.doc(security=BEARER)
    def post(self, notification_id: str) -> DispatchNotification:
        """Mark a notification read."""
        principal = require(Permission.DISPATCH_READ)
        return mark_notification_read(
            session=db_session(), principal=principal, notification_id=notification_id
        )
