"""Every model module, imported so that `Base.metadata` is complete (Alembic and tests rely on it)."""

from backend.models.base import Base, IdMixin, TimestampMixin, UTCDateTime, new_id, utcnow
from backend.models.customers import Address, Customer, Product
from backend.models.regions import Region
from backend.models.technicians import (
    Certificate,
    CertificateType,
    Shift,
    SkillLevel,
    Technician,
    TechnicianSkill,
)
from backend.models.users import PARTNER_ROLE, SYSTEM_ROLE, Partner, Role, User
from backend.models.work_orders import (
    Channel,
    Counter,
    Hazard,
    Priority,
    RepairRequest,
    RequestStatus,
    ServiceMode,
    WorkOrder,
    WorkOrderEvent,
)

__all__ = [
    "PARTNER_ROLE",
    "SYSTEM_ROLE",
    "Address",
    "Base",
    "Certificate",
    "CertificateType",
    "Channel",
    "Counter",
    "Customer",
    "Hazard",
    "IdMixin",
    "Partner",
    "Priority",
    "Product",
    "Region",
    "RepairRequest",
    "RequestStatus",
    "Role",
    "ServiceMode",
    "Shift",
    "SkillLevel",
    "Technician",
    "TechnicianSkill",
    "TimestampMixin",
    "UTCDateTime",
    "User",
    "WorkOrder",
    "WorkOrderEvent",
    "new_id",
    "utcnow",
]
