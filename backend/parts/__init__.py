"""Parts and money: the parts catalog and stock ledger (warehouse, vans, counts, procurement), parts
used on jobs, the fee schedule, quotes and consent, settlement bills and payments."""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import ALL_STAFF, STAFF, Role


def register(registry: Registry) -> None:
    from backend.parts import billing_models, models, mutations, quotes

    registry.domain("parts", models=(models, billing_models), mutations=(mutations,))
    registry.transition_guard(quotes.findings_need_a_decision)
    registry.grant(Permission.PARTS_READ, {Role.TECHNICIAN} | ALL_STAFF)
    registry.grant(Permission.PARTS_MANAGE, {Role.WAREHOUSE, Role.ADMIN})
    registry.grant(Permission.STOCK_READ, {Role.TECHNICIAN} | ALL_STAFF)
    registry.grant(Permission.STOCK_MANAGE, {Role.WAREHOUSE, Role.ADMIN})
    registry.grant(Permission.FEES_READ, {Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF)
    registry.grant(Permission.FEES_MANAGE, {Role.FINANCE, Role.ADMIN})
    registry.grant(Permission.QUOTE_READ, {Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF)
    registry.grant(Permission.QUOTE_CREATE, {Role.TECHNICIAN} | STAFF)
    registry.grant(Permission.QUOTE_CONSENT, {Role.CUSTOMER})
    registry.grant(Permission.BILL_READ, {Role.TECHNICIAN, Role.CUSTOMER} | ALL_STAFF)
    registry.grant(Permission.BILL_ISSUE, {Role.FINANCE, Role.ADMIN})
    registry.grant(Permission.PAYMENT_RECORD, {Role.FINANCE, Role.ADMIN})
    registry.grant(Permission.RECONCILIATION_READ, {Role.FINANCE, Role.ADMIN})
