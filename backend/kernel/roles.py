"""The roles a caller can have: one per user, plus the two principals that are not users."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    CUSTOMER_SERVICE = "customer_service"
    TECHNICIAN = "technician"
    CUSTOMER = "customer"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"
    QUALITY = "quality"


# Principals that are not users: a partner platform calling with its API key, and the server itself
# acting on a rule (auto-confirmation, auto-assignment, timeouts).
PARTNER_ROLE = "partner"
SYSTEM_ROLE = "system"
