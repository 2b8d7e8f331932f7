"""Accounts: who is who. Users and partner platforms (logins, API keys), regions, technicians (skills,
certificates, shifts) and customers (addresses, products)."""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import ALL_STAFF, STAFF, Role


def register(registry: Registry) -> None:
    from backend.accounts import customers, regions, technicians, users

    registry.domain("accounts", models=(users, regions, technicians, customers))
    registry.grant(Permission.TECHNICIAN_READ, ALL_STAFF)
    registry.grant(Permission.TECHNICIAN_PROFILE, {Role.TECHNICIAN} | ALL_STAFF)
    registry.grant(Permission.REGION_READ, {Role.TECHNICIAN} | ALL_STAFF)
    registry.grant(Permission.CUSTOMER_READ, STAFF)
