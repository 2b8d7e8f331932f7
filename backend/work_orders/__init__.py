"""Work orders: repair requests and their intake, the state machine, transitions, assignment and the
event history, and the phone mutations on a job (status changes, notes)."""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import ALL_STAFF, PARTNER, STAFF, Role


def register(registry: Registry) -> None:
    from backend.work_orders import field_facts, intake, models, mutations

    registry.domain("work_orders", models=(models,), mutations=(mutations,))
    registry.push_preparer(field_facts.lock_pushed_jobs)
    registry.event(intake.WORK_ORDER_CONFIRMED)
    registry.grant(
        Permission.REQUEST_CREATE, {Role.CUSTOMER, Role.CUSTOMER_SERVICE, Role.ADMIN, Role.DISPATCHER}
    )
    registry.grant(Permission.REQUEST_CREATE_PARTNER, {PARTNER})
    registry.grant(Permission.REQUEST_READ, {Role.CUSTOMER, PARTNER} | STAFF)
    registry.grant(Permission.REQUEST_CONFIRM, {Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.WORK_ORDER_READ, {Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | ALL_STAFF)
    registry.grant(Permission.WORK_ORDER_ASSIGN, {Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.WORK_ORDER_TRANSITION, {Role.TECHNICIAN, Role.CUSTOMER, PARTNER} | STAFF)
    registry.grant(Permission.WORK_ORDER_RESPOND, {Role.TECHNICIAN})
    registry.grant(Permission.TRACKING_READ, {Role.CUSTOMER})
