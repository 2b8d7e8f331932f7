"""On site: appointments, check-in/out, safety checklists and stop-work reports, consents, the service
record and the technician's identity card for the customer."""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import STAFF, Role


def register(registry: Registry) -> None:
    from backend.onsite import models, mutations, service

    registry.domain("onsite", models=(models,), mutations=(mutations,))
    registry.transition_guard(service.safety_before_repair)
    registry.grant(Permission.ONSITE_READ, {Role.TECHNICIAN} | STAFF)
    registry.grant(
        Permission.ONSITE_APPOINTMENT, {Role.TECHNICIAN, Role.CUSTOMER_SERVICE, Role.DISPATCHER, Role.ADMIN}
    )
    registry.grant(Permission.IDENTITY_ISSUE, {Role.TECHNICIAN})
    registry.grant(Permission.SAFETY_RESOLVE, {Role.DISPATCHER, Role.ADMIN})
