"""Factories for accounts: users, regions, technicians, customers, partners (each commits what it
builds; the session comes from `tests.factories.base`)."""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta

import factory

from backend.accounts.customers import Address, Customer, Product
from backend.accounts.regions import Region
from backend.accounts.service import create_partner
from backend.accounts.technicians import Certificate, Shift, Technician, TechnicianSkill
from backend.accounts.users import Partner, User
from backend.kernel.roles import Role
from tests.factories.base import Base, _password_hash, current_session


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


def partner_with_key(name: str | None = None) -> tuple[Partner, str]:
    session = current_session()
    partner, key = create_partner(session=session, name=name or f"partner-{uuid.uuid4().hex[:8]}")
    session.commit()
    return partner, key
