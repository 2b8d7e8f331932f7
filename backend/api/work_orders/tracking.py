"""What a customer sees of their own orders: progress in plain words, history, technician, ETA."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, paginate
from backend.api.schemas import AwareDateTime
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.work_orders import lists
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import CUSTOMER_LABELS, Status

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
    technician_name = ma.fields.Function(
        lambda o: o.assignee.user.display_name if o.assignee is not None else None, allow_none=True
    )
    created_at = AwareDateTime()
    updated_at = AwareDateTime()


class TrackedEventSchema(ma.Schema):
    seq = ma.fields.Integer()
    kind = ma.fields.String()
    to_status = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)
    created_at = AwareDateTime()


class TrackedOrderDetailSchema(TrackedOrderSchema):
    events = ma.fields.Method("_events", metadata={"description": "Customer-visible history, oldest first."})

    def _events(self, order: WorkOrder) -> Any:
        return TrackedEventSchema(many=True).dump([e for e in order.events if e.customer_visible])


class TrackedPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(TrackedOrderSchema))


@blp.route("/orders")
class TrackedOrders(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, TrackedPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Your orders, newest first, with progress in plain words."""
        principal = require(Permission.TRACKING_READ)
        stmt = lists.tracked_orders(principal=principal)
        return paginate(db_session(), stmt, WorkOrder, args.get("cursor"), args["limit"])


@blp.route("/orders/<string:work_order_id>")
class TrackedOrder(MethodView):
    @blp.response(200, TrackedOrderDetailSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> WorkOrder:
        """One of your orders with its customer-visible history."""
        principal = require(Permission.TRACKING_READ)
        return lists.tracked_order(session=db_session(), principal=principal, work_order_id=work_order_id)
