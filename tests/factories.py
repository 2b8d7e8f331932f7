"""factory_boy factories bound to the test's session (see `bind`); each commits what it builds."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from functools import cache

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from backend.accounts.customers import Address, Customer, Product
from backend.accounts.regions import Region
from backend.accounts.service import create_partner, hash_password
from backend.accounts.technicians import Certificate, Shift, Technician, TechnicianSkill
from backend.accounts.users import Partner, User
from backend.kernel.base import utcnow
from backend.kernel.roles import Role
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import Status

PASSWORD = "correct horse battery staple"
_session: Session | None = None


def bind(session: Session) -> None:
    global _session
    _session = session


def current_session() -> Session:
    assert _session is not None, "use the `db` fixture before factories"
    return _session


@cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = current_session
        sqlalchemy_session_persistence = "commit"


class UserFactory(Base):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    password_hash = factory.LazyFunction(_password_hash)
    role = Role.DISPATCHER
    display_name = factory.Faker("name", locale="zh_CN")
    phone = factory.Sequence(lambda n: f"1380000{n:04d}")


class RegionFactory(Base):
    class Meta:
        model = Region

    code = factory.Sequence(lambda n: f"R{n:03d}")
    name = factory.Sequence(lambda n: f"金水区{n}")
    city = "郑州市"
    center_lat = 34.7466
    center_lng = 113.6254


class TechnicianFactory(Base):
    class Meta:
        model = Technician

    user = factory.SubFactory(UserFactory, role=Role.TECHNICIAN)
    employee_no = factory.Sequence(lambda n: f"T{n:05d}")
    region = factory.SubFactory(RegionFactory)
    skill_level = "senior"
    home_lat = 34.75
    home_lng = 113.63
    daily_capacity = 6
    active = True

    @factory.post_generation
    def categories(obj: Technician, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        for category in extracted or ["air_conditioner", "washing_machine", "refrigerator"]:
            obj.skills.append(TechnicianSkill(product_category=category))
        if create:
            current_session().commit()


class CertificateFactory(Base):
    class Meta:
        model = Certificate

    technician = factory.SubFactory(TechnicianFactory)
    type = "electrician"
    number = factory.Sequence(lambda n: f"CERT{n:06d}")
    issued_on = factory.LazyFunction(lambda: date.today() - timedelta(days=365))
    expires_on = factory.LazyFunction(lambda: date.today() + timedelta(days=365))


class ShiftFactory(Base):
    class Meta:
        model = Shift

    technician = factory.SubFactory(TechnicianFactory)
    weekday = 0
    starts_at = time(8, 0)
    ends_at = time(18, 0)


class CustomerFactory(Base):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory, role=Role.CUSTOMER)
    name = factory.Faker("name", locale="zh_CN")
    phone = factory.Sequence(lambda n: f"1390000{n:04d}")
    is_contract = False
    contract_discount_bp = 0


class AddressFactory(Base):
    class Meta:
        model = Address

    customer = factory.SubFactory(CustomerFactory)
    text = "郑州市金水区花园路 100 号"
    lat = 34.77
    lng = 113.66


class ProductFactory(Base):
    class Meta:
        model = Product

    customer = factory.SubFactory(CustomerFactory)
    category = "air_conditioner"
    brand = "格力"
    model = "KFR-35GW"
    serial = factory.Sequence(lambda n: f"SN{n:08d}")
    purchase_date = factory.LazyFunction(lambda: date.today() - timedelta(days=200))
    warranty_end = factory.LazyFunction(lambda: date.today() + timedelta(days=165))


class WorkOrderFactory(Base):
    """A work order in any status; pass `assignee=technician` for statuses past `new`."""

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory, customer=factory.SelfAttribute("..customer"))
    number = factory.Sequence(lambda n: f"WO-20261123-{n + 1:04d}")
    service_mode = "on_site"
    priority = "normal"
    hazards = factory.LazyFunction(list)
    product_category = "air_conditioner"
    fault_type = "no_cooling"
    fault_description = "空调不制冷"
    status = Status.NEW
    assignee = None
    lat = 34.77
    lng = 113.66
    respond_due_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=24))
    resolve_due_at = factory.LazyFunction(lambda: utcnow() + timedelta(hours=72))

    class Meta:
        model = WorkOrder


def partner_with_key(name: str | None = None) -> tuple[Partner, str]:
    session = current_session()
    partner, key = create_partner(session, name=name or f"partner-{uuid.uuid4().hex[:8]}")
    session.commit()
    return partner, key


# --- parts, stock and money (issue 6) -------------------------------------------------------------
from backend.parts.billing_models import LabourRate, TravelFee  # noqa: E402
from backend.parts.models import Part, StockLocation  # noqa: E402


class PartFactory(Base):
    class Meta:
        model = Part

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"压缩机电容 {n}")
    category = "capacitor"
    product_category = "air_conditioner"
    unit_price_fen = 3_500
    genuine = True
    serialized = False
    warranty_months = 12


class WarehouseFactory(Base):
    class Meta:
        model = StockLocation

    kind = "warehouse"
    name = factory.Sequence(lambda n: f"郑州中心仓 {n}")
    code = factory.Sequence(lambda n: f"WH-{n:03d}")


class LabourRateFactory(Base):
    class Meta:
        model = LabourRate

    product_category = "air_conditioner"
    fault_type = "*"
    difficulty = "standard"
    amount_fen = 8_000
    description = "空调维修工时"


class TravelFeeFactory(Base):
    class Meta:
        model = TravelFee

    region_key = "*"
    amount_fen = 3_000


# --- geo dispatch (issue 8) -----------------------------------------------------------------------
from datetime import time as _time  # noqa: E402

from backend.geo.models import AutoAssignRule, TechnicianPosition  # noqa: E402


def on_duty_technician(**kwargs: object) -> Technician:
    """A technician with a round-the-clock shift every day of the week (so shifts never get in the way)."""
    tech = TechnicianFactory(**kwargs)
    for weekday in range(7):
        ShiftFactory(technician=tech, weekday=weekday, starts_at=_time(0, 0), ends_at=_time(0, 0))
    return tech


class TechnicianPositionFactory(Base):
    class Meta:
        model = TechnicianPosition

    technician_id = factory.LazyFunction(lambda: TechnicianFactory().id)
    lat = 34.75
    lng = 113.63
    accuracy_m = 15.0
    reported_at = factory.LazyFunction(utcnow)


class AutoAssignRuleFactory(Base):
    class Meta:
        model = AutoAssignRule

    region_id = factory.LazyFunction(lambda: RegionFactory().id)
    enabled = True
    radius_km = 15.0
    strategy = "nearest"
    accept_timeout_minutes = 30
