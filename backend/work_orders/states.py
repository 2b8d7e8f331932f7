"""The work-order state machine, defined once as a table: (from, to) -> roles that may take it.

Everything that changes a work order's status (HTTP, sync push, auto-assignment, acceptance) goes
through `backend.work_orders.service.transition_work_order`, which checks this table.
"""

from __future__ import annotations

from enum import StrEnum

from backend.kernel.roles import PARTNER_ROLE as PARTNER
from backend.kernel.roles import SYSTEM_ROLE as SYSTEM
from backend.kernel.roles import Role


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SCHEDULED = "scheduled"
    EN_ROUTE = "en_route"
    ON_SITE = "on_site"
    IN_REPAIR = "in_repair"
    AWAITING_PARTS = "awaiting_parts"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    ACCEPTED_BY_CUSTOMER = "accepted_by_customer"
    REJECTED_BY_CUSTOMER = "rejected_by_customer"
    REWORK = "rework"
    CLOSED = "closed"
    CANCELLED = "cancelled"


S = Status
TECH = frozenset({Role.TECHNICIAN})
DISPATCH = frozenset({Role.DISPATCHER, Role.ADMIN, SYSTEM})
SERVICE_DESK = frozenset({Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN, SYSTEM})
CANCELLERS = frozenset({Role.CUSTOMER, Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN, PARTNER})

TRANSITIONS: dict[tuple[Status, Status], frozenset[str]] = {
    (S.NEW, S.ASSIGNED): DISPATCH,
    (S.DECLINED, S.ASSIGNED): DISPATCH,
    (S.ASSIGNED, S.ACCEPTED): TECH,
    (S.ASSIGNED, S.DECLINED): TECH | {SYSTEM},  # SYSTEM: not accepted in time
    (S.ACCEPTED, S.SCHEDULED): TECH | DISPATCH,
    (S.SCHEDULED, S.EN_ROUTE): TECH,
    (S.EN_ROUTE, S.ON_SITE): TECH,
    (S.ON_SITE, S.IN_REPAIR): TECH,
    (S.IN_REPAIR, S.AWAITING_PARTS): TECH,
    (S.IN_REPAIR, S.AWAITING_APPROVAL): TECH,
    (S.AWAITING_PARTS, S.IN_REPAIR): TECH,
    (S.AWAITING_APPROVAL, S.IN_REPAIR): TECH | {Role.CUSTOMER, SYSTEM},
    (S.IN_REPAIR, S.COMPLETED): TECH,
    (S.COMPLETED, S.ACCEPTED_BY_CUSTOMER): TECH | {Role.CUSTOMER, SYSTEM},
    (S.COMPLETED, S.REJECTED_BY_CUSTOMER): TECH | {Role.CUSTOMER, SYSTEM},
    (S.REJECTED_BY_CUSTOMER, S.REWORK): SERVICE_DESK | TECH,
    (S.REWORK, S.EN_ROUTE): TECH,
    (S.REWORK, S.IN_REPAIR): TECH,
    (S.ACCEPTED_BY_CUSTOMER, S.CLOSED): SERVICE_DESK | {Role.QUALITY},
    # Closes once its rework order was accepted (guard in services.acceptance).
    (S.REJECTED_BY_CUSTOMER, S.CLOSED): SERVICE_DESK | {Role.QUALITY},
    (S.NEW, S.CANCELLED): CANCELLERS | {SYSTEM},
    (S.ASSIGNED, S.CANCELLED): CANCELLERS | {SYSTEM},
    (S.DECLINED, S.CANCELLED): CANCELLERS - {Role.CUSTOMER} | {SYSTEM},
    (S.ACCEPTED, S.CANCELLED): SERVICE_DESK,
    (S.SCHEDULED, S.CANCELLED): SERVICE_DESK,
}

# Who may give an order to a technician, whether first assignment or reassignment.
ASSIGNERS = DISPATCH
# Statuses in which a dispatcher may hand the job to another technician (reassignment).
REASSIGNABLE = frozenset({S.ASSIGNED, S.ACCEPTED, S.SCHEDULED, S.DECLINED, S.REWORK})
# The technician is working on it (counts toward their load; in their device scope).
ACTIVE = frozenset(
    {
        S.ASSIGNED,
        S.ACCEPTED,
        S.SCHEDULED,
        S.EN_ROUTE,
        S.ON_SITE,
        S.IN_REPAIR,
        S.AWAITING_PARTS,
        S.AWAITING_APPROVAL,
        S.COMPLETED,
        S.REJECTED_BY_CUSTOMER,
        S.REWORK,
    }
)
FINAL = frozenset({S.CLOSED, S.CANCELLED})
# On the assignee's phone (their sync scope): while active, and once accepted until the desk closes it.
DEVICE_HELD = frozenset(ACTIVE | {S.ACCEPTED_BY_CUSTOMER})
# Shown to the customer as plain progress words (seed 000: 已接单 / 正在维修 / 维修完成).
CUSTOMER_LABELS: dict[Status, str] = {
    S.NEW: "已受理",
    S.ASSIGNED: "已派单",
    S.ACCEPTED: "已接单",
    S.DECLINED: "重新派单中",
    S.SCHEDULED: "已预约",
    S.EN_ROUTE: "师傅在路上",
    S.ON_SITE: "师傅已到达",
    S.IN_REPAIR: "正在维修",
    S.AWAITING_PARTS: "等待配件",
    S.AWAITING_APPROVAL: "等待您确认报价",
    S.COMPLETED: "维修完成，待验收",
    S.ACCEPTED_BY_CUSTOMER: "已验收",
    S.REJECTED_BY_CUSTOMER: "验收未通过",
    S.REWORK: "返修中",
    S.CLOSED: "已完成",
    S.CANCELLED: "已取消",
}


def allowed_targets(current: str, role: str | None = None) -> list[str]:
    """Statuses reachable from `current` (by `role`, if given), in table order."""
    return [
        to.value
        for (frm, to), roles in TRANSITIONS.items()
        if frm == current and (role is None or role in roles)
    ]


def is_allowed(current: str, target: str, role: str) -> bool:
    try:
        key = (Status(current), Status(target))
    except ValueError:
        return False
    return role in TRANSITIONS.get(key, frozenset())
