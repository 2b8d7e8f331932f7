"""Delta sync: a change feed the devices pull, and mutations they push (see DESIGN.md §3).

The engine knows no domain: models declare what they sync (`__sync__`), domains register their
mutations; `register()` grants the engine's own permissions and declares its bookkeeping tables.
"""

from __future__ import annotations

from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import STAFF, Role


def register(registry: Registry) -> None:
    from backend.sync import feed, models

    registry.domain("sync", models=(models, feed))
    registry.grant(Permission.SYNC_PULL, {Role.TECHNICIAN})
    registry.grant(Permission.SYNC_PUSH, {Role.TECHNICIAN})
    registry.grant(Permission.SYNC_DEVICE_REGISTER, {Role.TECHNICIAN})
    registry.grant(Permission.SYNC_DEVICE_READ, {Role.TECHNICIAN, Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.SYNC_QUARANTINE_READ, STAFF)
    registry.grant(Permission.SYNC_QUARANTINE_RESOLVE, {Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.SYNC_FLAG_READ, STAFF)
    registry.grant(Permission.SYNC_FLAG_RESOLVE, {Role.DISPATCHER, Role.ADMIN})
