"""Work orders: lists with filters, detail, history, assignment, accept/decline and status moves."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.accounts import directory
from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate, paginate_by
from backend.api.schemas import AwareDateTime, EventSchema, StrictSchema
from backend.api.security import API_KEY, BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.work_orders import lists, service
from backend.work_orders.access import get_visible_work_order, history_of
from backend.work_orders.models import Priority, WorkOrder, WorkOrderEvent
from backend.work_orders.states import Status, allowed_targets

blp = Blueprint(
    "work_orders", __name__, url_prefix="/work-orders", description="Work orders through their lifecycle."
)


class WorkOrderSchema(ma.Schema):
    id = ma.fields.String()
    number = ma.fields.String()
    status = ma.fields.String()
    version = ma.fields.Integer()
    request_id = ma.fields.String(allow_none=True)
    customer_id = ma.fields.String()
    product_id = ma.fields.String(allow_none=True)
    address_id = ma.fields.String(allow_none=True)
    region_id = ma.fields.String(allow_none=True)
    rework_of_id = ma.fields.String(allow_none=True)
    service_mode = ma.fields.String()
    priority = ma.fields.String()
    hazards = ma.fields.List(ma.fields.String())
    product_category = ma.fields.String()
    fault_type = ma.fields.String(allow_none=True)
    fault_description = ma.fields.String()
    complex_job = ma.fields.Boolean()
    assignee_id = ma.fields.String(allow_none=True)
    assigned_at = AwareDateTime(allow_none=True)
    appointment_start = AwareDateTime(allow_none=True)
    appointment_end = AwareDateTime(allow_none=True)
    respond_due_at = AwareDateTime(allow_none=True)
    resolve_due_at = AwareDateTime(allow_none=True)
    eta_at = AwareDateTime(allow_none=True)
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)
    completed_at = AwareDateTime(allow_none=True)
    closed_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    updated_at = AwareDateTime()


class EventPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(EventSchema))


HISTORY_ORDER = (SortKey(WorkOrderEvent.seq), SortKey(WorkOrderEvent.id))


class WorkOrderPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(WorkOrderSchema))


class WorkOrderListArgs(PageArgs):
    status = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf([s.value for s in Status])))
    region_id = ma.fields.String(validate=ma.validate.Length(max=36))
    technician_id = ma.fields.String(validate=ma.validate.Length(max=36))
    priority = ma.fields.String(validate=ma.validate.OneOf([p.value for p in Priority]))
    unassigned = ma.fields.Boolean(metadata={"description": "Only the dispatch queue (no assignee)."})
    created_from = AwareDateTime()
    created_to = AwareDateTime()


class AssignSchema(StrictSchema):
    technician_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))
    reason = ma.fields.String(validate=ma.validate.Length(max=500))
    base_version = ma.fields.Integer(validate=ma.validate.Range(min=1))


class DeclineSchema(StrictSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class TransitionSchema(StrictSchema):
    to = ma.fields.String(required=True, validate=ma.validate.OneOf([s.value for s in Status]))
    reason = ma.fields.String(validate=ma.validate.Length(max=500))
    base_version = ma.fields.Integer(
        validate=ma.validate.Range(min=1),
        metadata={"description": "Refuse with 409 if the order changed since."},
    )


class TransitionResultSchema(ma.Schema):
    work_order = ma.fields.Nested(WorkOrderSchema)
    event = ma.fields.Nested(EventSchema)
    allowed_next = ma.fields.List(ma.fields.String())


@blp.route("")
class WorkOrders(MethodView):
    @blp.arguments(WorkOrderListArgs, location="query")
    @blp.response(200, WorkOrderPageSchema)
    @blp.doc(security=BEARER + API_KEY)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the work orders you may see (technicians: assigned to them; customers: theirs;
        partners: theirs; staff: all), newest first, filtered."""
        principal = require(Permission.WORK_ORDER_READ)
        narrowed = lists.OrderFilter(
            statuses=tuple(args.get("status") or ()),
            region_id=args.get("region_id"),
            technician_id=args.get("technician_id"),
            priority=args.get("priority"),
            unassigned=bool(args.get("unassigned")),
            created_from=args.get("created_from"),
            created_to=args.get("created_to"),
        )
        stmt = lists.work_orders_query(principal=principal, narrowed=narrowed)
        return paginate(db_session(), stmt, WorkOrder, args.get("cursor"), args["limit"])


@blp.route("/<string:work_order_id>")
class WorkOrderById(MethodView):
    @blp.response(200, WorkOrderSchema)
    @blp.doc(security=BEARER + API_KEY)
    def get(self, work_order_id: str) -> WorkOrder:
        """One work order, if it is yours to see (404 otherwise, whether or not it exists)."""
        return get_visible_work_order(
            session=db_session(), principal=require(Permission.WORK_ORDER_READ), work_order_id=work_order_id
        )


@blp.route("/<string:work_order_id>/events")
class WorkOrderEvents(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, EventPageSchema)
    @blp.doc(security=BEARER + API_KEY)
    def get(self, args: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """The order's history, oldest first, a page at a time. Customers and partners see only
        customer-visible lines."""
        principal = require(Permission.WORK_ORDER_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        stmt = history_of(order=order, principal=principal)
        return paginate_by(session, stmt, HISTORY_ORDER, args.get("cursor"), args["limit"])


@blp.route("/<string:work_order_id>/assign")
class AssignWorkOrder(MethodView):
    @blp.arguments(AssignSchema)
    @blp.response(200, TransitionResultSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """Dispatcher assigns a queued order, or reassigns one to another technician."""
        principal = require(Permission.WORK_ORDER_ASSIGN)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        technician = directory.get_technician(session=session, technician_id=data["technician_id"])
        event = service.assign_work_order(
            session=session,
            order=order,
            technician=technician,
            actor=principal,
            reason=data.get("reason"),
            base_version=data.get("base_version"),
        )
        return _result(order, event, principal.role)


@blp.route("/<string:work_order_id>/accept")
class AcceptWorkOrder(MethodView):
    @blp.response(200, TransitionResultSchema)
    @blp.doc(security=BEARER)
    def post(self, work_order_id: str) -> dict[str, Any]:
        """The assigned technician takes the job."""
        principal = require(Permission.WORK_ORDER_RESPOND)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        event = service.transition_work_order(
            session=session, order=order, to_status=Status.ACCEPTED, actor=principal
        )
        return _result(order, event, principal.role)


@blp.route("/<string:work_order_id>/decline")
class DeclineWorkOrder(MethodView):
    @blp.arguments(DeclineSchema)
    @blp.response(200, TransitionResultSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """The assigned technician gives the job back with a reason; it returns to the dispatch queue."""
        principal = require(Permission.WORK_ORDER_RESPOND)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        event = service.decline_work_order(
            session=session, order=order, actor=principal, reason=data["reason"]
        )
        return _result(order, event, principal.role)


@blp.route("/<string:work_order_id>/transitions")
class TransitionWorkOrder(MethodView):
    @blp.arguments(TransitionSchema)
    @blp.response(200, TransitionResultSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """Move the order to another status. An illegal move is a 409 problem listing the allowed ones."""
        principal = require(Permission.WORK_ORDER_TRANSITION)
        session = db_session()
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        event = service.transition_work_order(
            session=session,
            order=order,
            to_status=data["to"],
            actor=principal,
            reason=data.get("reason"),
            base_version=data.get("base_version"),
        )
        return _result(order, event, principal.role)


def _result(order: WorkOrder, event: WorkOrderEvent, role: str) -> dict[str, Any]:
    return {"work_order": order, "event": event, "allowed_next": allowed_targets(order.status, role)}
