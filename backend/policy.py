"""Who may do what, and which rows each caller can see. The one authorization module.

Every resource calls `authorize(principal, action)` for role checks and the `visible_*` functions for
row scoping. A row outside a caller's scope is reported as not found (404), never as forbidden, so ids
cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.errors import Problem, forbidden, not_found
from backend.models import (
    PARTNER_ROLE,
    SYSTEM_ROLE,
    DispatchNotification,
    RepairRequest,
    Role,
    StockLocation,
    WorkOrder,
)

STAFF = frozenset({Role.ADMIN, Role.DISPATCHER, Role.CUSTOMER_SERVICE, Role.QUALITY})
ALL_STAFF = STAFF | {Role.WAREHOUSE, Role.FINANCE}
PARTNER = PARTNER_ROLE
SYSTEM = SYSTEM_ROLE

# action -> roles allowed. One table: adding an action is adding a line here.
PERMISSIONS: dict[str, frozenset[str]] = {
    "sync.pull": frozenset({Role.TECHNICIAN}),
    "sync.push": frozenset({Role.TECHNICIAN}),
    "sync.device.register": frozenset({Role.TECHNICIAN}),
    "sync.device.read": frozenset({Role.TECHNICIAN, Role.DISPATCHER, Role.ADMIN}),
    "sync.quarantine.read": frozenset(STAFF),
    "sync.quarantine.resolve": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "sync.flag.read": frozenset(STAFF),
    "sync.flag.resolve": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "request.create": frozenset({Role.CUSTOMER, Role.CUSTOMER_SERVICE, Role.ADMIN, Role.DISPATCHER}),
    "request.create_partner": frozenset({PARTNER}),
    "request.read": frozenset({Role.CUSTOMER, PARTNER} | STAFF),
    "request.confirm": frozenset({Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN}),
    "work_order.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | ALL_STAFF),
    "work_order.assign": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "work_order.transition": frozenset({Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | STAFF),
    "work_order.respond": frozenset({Role.TECHNICIAN}),
    "tracking.read": frozenset({Role.CUSTOMER}),
    "technician.read": frozenset(ALL_STAFF),
    "technician.profile": frozenset({Role.TECHNICIAN} | ALL_STAFF),
    "region.read": frozenset({Role.TECHNICIAN} | ALL_STAFF),
    "customer.read": frozenset(STAFF),
    "parts.read": frozenset({Role.TECHNICIAN} | ALL_STAFF),
    "parts.manage": frozenset({Role.WAREHOUSE, Role.ADMIN}),
    "stock.read": frozenset({Role.TECHNICIAN} | ALL_STAFF),
    "stock.manage": frozenset({Role.WAREHOUSE, Role.ADMIN}),
    "fees.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF),
    "fees.manage": frozenset({Role.FINANCE, Role.ADMIN}),
    "quote.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF),
    "quote.create": frozenset({Role.TECHNICIAN} | STAFF),
    "quote.consent": frozenset({Role.CUSTOMER}),
    "bill.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF),
    "bill.issue": frozenset({Role.FINANCE, Role.ADMIN}),
    "payment.record": frozenset({Role.FINANCE, Role.ADMIN}),
    "reconciliation.read": frozenset({Role.FINANCE, Role.ADMIN}),
    "onsite.read": frozenset({Role.TECHNICIAN} | STAFF),
    "onsite.appointment": frozenset({Role.TECHNICIAN, Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN}),
    "identity.issue": frozenset({Role.TECHNICIAN}),
    "safety.resolve": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "acceptance.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | STAFF),
    "rating.create": frozenset({Role.CUSTOMER}),
    "rating.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | STAFF),
    "report.download": frozenset({Role.CUSTOMER} | ALL_STAFF),
    "dispatch.read": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "dispatch.assign": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "dispatch.rules": frozenset({Role.DISPATCHER, Role.ADMIN}),
    # Not a caller's action: the roles a region's auto-assignment rule may name as its team lead.
    "dispatch.lead_team": frozenset({Role.DISPATCHER, Role.ADMIN}),
    "route.read": frozenset({Role.TECHNICIAN, Role.DISPATCHER, Role.ADMIN}),
    "attachment.create": frozenset({Role.TECHNICIAN, Role.CUSTOMER} | STAFF),
    "attachment.read": frozenset({Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | ALL_STAFF),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user (with their technician/customer profile ids) or a partner."""

    role: str
    user_id: str | None = None
    partner_id: str | None = None
    technician_id: str | None = None
    customer_id: str | None = None
    display_name: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in ALL_STAFF


def can(principal: Principal, action: str) -> bool:
    return principal.role in PERMISSIONS[action]


def authorize(principal: Principal, action: str) -> None:
    if not can(principal, action):
        raise forbidden(action.replace(".", " ").replace("_", " "))


def visible_work_orders(principal: Principal) -> sa.ColumnElement[bool]:
    """A WHERE clause limiting work orders to the caller's scope."""
    if principal.is_staff or principal.role == SYSTEM:
        return sa.true()
    # A missing profile id must match nothing: `column == None` would render IS NULL and match plenty.
    if principal.role == Role.TECHNICIAN and principal.technician_id:
        return WorkOrder.assignee_id == principal.technician_id
    if principal.role == Role.CUSTOMER and principal.customer_id:
        return WorkOrder.customer_id == principal.customer_id
    if principal.role == PARTNER and principal.partner_id:
        return WorkOrder.partner_id == principal.partner_id
    return sa.false()


def owns_work_order(principal: Principal, order: WorkOrder) -> bool:
    """`visible_work_orders` for one loaded row: services use it to refuse acting outside the scope."""
    if principal.is_staff or principal.role == SYSTEM:
        return True
    if principal.role == Role.TECHNICIAN:
        return principal.technician_id is not None and order.assignee_id == principal.technician_id
    if principal.role == Role.CUSTOMER:
        return principal.customer_id is not None and order.customer_id == principal.customer_id
    if principal.role == PARTNER:
        return principal.partner_id is not None and order.partner_id == principal.partner_id
    return False


def visible_requests(principal: Principal) -> sa.ColumnElement[bool]:
    if principal.is_staff:
        return sa.true()
    if principal.role == Role.CUSTOMER and principal.customer_id:
        return RepairRequest.customer_id == principal.customer_id
    if principal.role == PARTNER and principal.partner_id:
        return RepairRequest.partner_id == principal.partner_id
    return sa.false()


def get_visible_work_order(
    session: Session, principal: Principal, work_order_id: str, *, lock: bool = False
) -> WorkOrder:
    stmt = sa.select(WorkOrder).where(WorkOrder.id == work_order_id, visible_work_orders(principal))
    if lock:
        stmt = stmt.with_for_update()
    order = session.scalars(stmt).one_or_none()
    if order is None:
        raise not_found("work_order")
    return order


def get_visible_request(session: Session, principal: Principal, request_id: str) -> RepairRequest:
    row = session.scalars(
        sa.select(RepairRequest).where(RepairRequest.id == request_id, visible_requests(principal))
    ).one_or_none()
    if row is None:
        raise not_found("repair_request")
    return row


def get_visible_work_order_of(
    session: Session, principal: Principal, work_order_id: str, *, what: str
) -> WorkOrder:
    """For a row hanging off a job (a quote, a bill): its job if visible, else `what` is not found."""
    try:
        return get_visible_work_order(session, principal, work_order_id)
    except Problem:
        raise not_found(what) from None


def sees_internal_events(principal: Principal) -> bool:
    """Staff and technicians read a job's whole history; customers and partners the visible lines."""
    return principal.is_staff or principal.technician_id is not None


def visible_stock_locations(principal: Principal) -> sa.ColumnElement[bool]:
    """Staff see every location; a technician only their own van."""
    if principal.is_staff:
        return sa.true()
    if principal.technician_id:
        return StockLocation.technician_id == principal.technician_id
    return sa.false()


def get_visible_stock_location(session: Session, principal: Principal, location_id: str) -> StockLocation:
    location = session.scalars(
        sa.select(StockLocation).where(StockLocation.id == location_id, visible_stock_locations(principal))
    ).one_or_none()
    if location is None:
        raise not_found("stock_location")
    return location


def visible_notifications(principal: Principal) -> sa.ColumnElement[bool]:
    """A lead sees notices addressed to them and those addressed to every dispatcher."""
    return sa.or_(
        DispatchNotification.recipient_user_id.is_(None),
        DispatchNotification.recipient_user_id == principal.user_id,
    )


def may_lead_team(role: str) -> bool:
    """Whether a user of this role may be named a region's team lead (who hears about declines)."""
    return role in PERMISSIONS["dispatch.lead_team"]


def require_self_or_staff(principal: Principal, technician_id: str) -> None:
    """Technician-scoped resources (a van, a route): the technician themself or staff."""
    if principal.is_staff:
        return
    if principal.role == Role.TECHNICIAN and principal.technician_id == technician_id:
        return
    raise not_found("technician")


__all__ = [
    "ALL_STAFF",
    "PARTNER",
    "PERMISSIONS",
    "STAFF",
    "SYSTEM",
    "Principal",
    "Problem",
    "authorize",
    "can",
    "get_visible_request",
    "get_visible_stock_location",
    "get_visible_work_order",
    "get_visible_work_order_of",
    "may_lead_team",
    "owns_work_order",
    "require_self_or_staff",
    "sees_internal_events",
    "visible_notifications",
    "visible_requests",
    "visible_stock_locations",
    "visible_work_orders",
]
