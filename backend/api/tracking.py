"""What a customer sees of their own orders: progress in plain words, history, technician, ETA."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, paginate
from backend.api.schemas import AwareDateTime
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.models import Technician, User, WorkOrder, WorkOrderEvent
from backend.policy import get_visible_work_order, visible_work_orders
from backend.services.states import CUSTOMER_LABELS, Status

blp = Blueprint(
    "tracking", __name__, url_prefix="/tracking", description="Customers follow their own orders."
)


class TrackedOrderSchema(ma.Schema):
    id = ma.fields.String()
    number = ma.fields.String()
    status = ma.fields.String()
    status_label = ma.fields.Function(lambda o: CUSTOMER_LABELS[Status(o.status)])
    product_category = ma.fields.String()
    fault_description = ma.fields.String()
    appointment_start = AwareDateTime(allow_none=True)
    appointment_end = AwareDateTime(allow_none=True)
    eta_at = AwareDateTime(
        allow_none=True, metadata={"description": "Reserved: the technician's estimated arrival."}
    )
    rework_of_id = ma.fields.String(allow_none=True)
    technician_name = ma.fields.String(allow_none=True)
    created_at = AwareDateTime()
    updated_at = AwareDateTime()


class TrackedEventSchema(ma.Schema):
    seq = ma.fields.Integer()
    kind = ma.fields.String()
    to_status = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    created_at = AwareDateTime()


class TrackedOrderDetailSchema(TrackedOrderSchema):
    events = ma.fields.List(ma.fields.Nested(TrackedEventSchema))


class TrackedPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(TrackedOrderSchema))


def _technician_names(order_ids: list[str]) -> dict[str, str]:
    if not order_ids:
        return {}
    rows = db_session().execute(
        sa.select(WorkOrder.id, User.display_name)
        .join(Technician, Technician.id == WorkOrder.assignee_id)
        .join(User, User.id == Technician.user_id)
        .where(WorkOrder.id.in_(order_ids))
    )
    return {order_id: name for order_id, name in rows}


@blp.route("/orders")
class TrackedOrders(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, TrackedPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Your orders, newest first, with progress in plain words."""
        principal = require("tracking.read")
        page = paginate(
            db_session(),
            sa.select(WorkOrder).where(visible_work_orders(principal)),
            WorkOrder,
            args.get("cursor"),
            args["limit"],
        )
        names = _technician_names([o.id for o in page["items"]])
        page["items"] = [_with_name(o, names) for o in page["items"]]
        return page


@blp.route("/orders/<string:work_order_id>")
class TrackedOrder(MethodView):
    @blp.response(200, TrackedOrderDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> dict[str, Any]:
        """One of your orders with its customer-visible history."""
        principal = require("tracking.read")
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        events = session.scalars(
            sa.select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.customer_visible.is_(True))
            .order_by(WorkOrderEvent.seq)
        ).all()
        return {**_with_name(order, _technician_names([order.id])), "events": events}


def _with_name(order: WorkOrder, names: dict[str, str]) -> dict[str, Any]:
    data = TrackedOrderSchema().dump(order)
    data["technician_name"] = names.get(order.id)
    return data
