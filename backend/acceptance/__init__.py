"""Acceptance: the canonical summary of a job, the customer's sealed signature (or rejection and rework),
ratings and the service report PDF."""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import ALL_STAFF, STAFF, Role


def register(registry: Registry) -> None:
    from backend.acceptance import models, mutations, service

    registry.domain("acceptance", models=(models,), mutations=(mutations,))
    registry.transition_guard(service.close_only_after_rework_accepted)
    registry.grant(Permission.ACCEPTANCE_READ, {Role.TECHNICIAN, Role.CUSTOMER} | STAFF)
    registry.grant(Permission.RATING_CREATE, {Role.CUSTOMER})
    registry.grant(Permission.RATING_READ, {Role.TECHNICIAN, Role.CUSTOMER} | STAFF)
    registry.grant(Permission.REPORT_DOWNLOAD, {Role.CUSTOMER} | ALL_STAFF)
