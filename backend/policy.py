"""Who may do what. The one authorization module: every role check in RepairOps happens here.

Resources call `authorize(principal, Permission.X)` for actions; which roles hold a permission is
declared by the domain that owns it (`register()` grants it) and read from the installed registry.
Row scoping is split the same way: `row_scope(principal)` says which rows a caller may see (all, a
technician's, a customer's, a partner's, none), and each domain turns that into a WHERE clause on its
own columns (`backend.work_orders.access`...). A row outside a caller's scope is reported as not found
(404), never as forbidden, so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from backend.errors import Problem, forbidden, not_found
from backend.kernel.permissions import Permission
from backend.kernel.registration import installed
from backend.kernel.roles import PARTNER_ROLE, SYSTEM_ROLE, Role

STAFF = frozenset({Role.ADMIN, Role.DISPATCHER, Role.CUSTOMER_SERVICE, Role.QUALITY})
ALL_STAFF = STAFF | {Role.WAREHOUSE, Role.FINANCE}
PARTNER = PARTNER_ROLE
SYSTEM = SYSTEM_ROLE


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

    @property
    def is_technician(self) -> bool:
        return self.role == Role.TECHNICIAN

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_partner(self) -> bool:
        return self.role == PARTNER

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM


def roles_with(permission: Permission) -> frozenset[str]:
    """The roles granted `permission` by its domain (none if no domain granted it)."""
    return installed().grants.get(permission, frozenset())


def can(principal: Principal, permission: Permission) -> bool:
    return principal.role in roles_with(permission)


def authorize(principal: Principal, permission: Permission) -> None:
    if not can(principal, permission):
        raise forbidden(permission.value.replace(".", " ").replace("_", " "))


@dataclass(frozen=True)
class RowScope:
    """Which rows a caller may see: everything, or those of one technician, customer or partner; a
    scope with none of these sees nothing (a missing profile id must match nothing)."""

    everything: bool = False
    technician_id: str | None = None
    customer_id: str | None = None
    partner_id: str | None = None


def row_scope(principal: Principal, *, system_sees_all: bool = True) -> RowScope:
    """Staff (and the system itself, unless `system_sees_all` is off) see every row; a technician their
    own, a customer theirs, a partner platform the ones it sent."""
    if principal.is_staff or (system_sees_all and principal.role == SYSTEM):
        return RowScope(everything=True)
    if principal.role == Role.TECHNICIAN and principal.technician_id:
        return RowScope(technician_id=principal.technician_id)
    if principal.role == Role.CUSTOMER and principal.customer_id:
        return RowScope(customer_id=principal.customer_id)
    if principal.role == PARTNER and principal.partner_id:
        return RowScope(partner_id=principal.partner_id)
    return RowScope()


class OwnedJob(Protocol):
    """What ownership of a job is decided on (a work order)."""

    @property
    def assignee_id(self) -> str | None: ...

    @property
    def customer_id(self) -> str | None: ...

    @property
    def partner_id(self) -> str | None: ...


def owns_work_order(principal: Principal, order: OwnedJob) -> bool:
    """The row-scope rule for one loaded job: services use it to refuse acting outside the scope."""
    scope = row_scope(principal)
    if scope.everything:
        return True
    if scope.technician_id:
        return order.assignee_id == scope.technician_id
    if scope.customer_id:
        return order.customer_id == scope.customer_id
    if scope.partner_id:
        return order.partner_id == scope.partner_id
    return False


def sees_internal_events(principal: Principal) -> bool:
    """Staff and technicians read a job's whole history; customers and partners the visible lines."""
    return principal.is_staff or principal.technician_id is not None


def may_lead_team(role: str) -> bool:
    """Whether a user of this role may be named a region's team lead (who hears about declines)."""
    return role in roles_with(Permission.DISPATCH_LEAD_TEAM)


def require_self_or_staff(principal: Principal, technician_id: str) -> None:
    """Technician-scoped resources (a van, a route): the technician themself or staff."""
    if principal.is_staff:
        return
    if principal.role == Role.TECHNICIAN and principal.technician_id == technician_id:
        return
    raise not_found("technician")


def has_role_in(principal: Principal, roles: frozenset[str]) -> bool:
    """Whether a table that names roles lets the caller in (the state machine's assigners, the roles a
    phone mutation is open to)."""
    return principal.role in roles


# -- evidence


def sees_field_locations(principal: Principal) -> bool:
    """Staff and technicians see where a photo was taken; customers and partners get copies without GPS."""
    return principal.is_staff or principal.is_technician


def sees_unverified_evidence(principal: Principal) -> bool:
    """Customers and partners see only verified evidence (besides their own uploads); others every state."""
    return not (principal.is_customer or principal.is_partner)


def adds_evidence_to_requests(principal: Principal) -> bool:
    """A request's photos come from whoever filed or handles it; technicians add evidence to jobs only."""
    return not principal.is_technician


def adds_evidence_to_job(principal: Principal, order: OwnedJob) -> bool:
    """A technician adds evidence to the jobs assigned to them; others to any job they can see."""
    return not principal.is_technician or order.assignee_id == principal.technician_id


# -- sync devices


def sees_every_device(principal: Principal) -> bool:
    """Staff watch every device's sync health; anyone else (a technician) only the devices registered to
    them."""
    return principal.is_staff


__all__ = [
    "ALL_STAFF",
    "PARTNER",
    "Permission",
    "Principal",
    "Problem",
    "Role",
    "RowScope",
    "STAFF",
    "SYSTEM",
    "adds_evidence_to_job",
    "adds_evidence_to_requests",
    "authorize",
    "can",
    "has_role_in",
    "may_lead_team",
    "owns_work_order",
    "require_self_or_staff",
    "roles_with",
    "row_scope",
    "sees_every_device",
    "sees_field_locations",
    "sees_internal_events",
    "sees_unverified_evidence",
]
