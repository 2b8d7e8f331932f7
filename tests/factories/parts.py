"""Factories for parts and money: catalog, warehouses, fee schedule (each commits what it builds)."""

from __future__ import annotations

import factory

from backend.parts.billing_models import LabourRate, TravelFee
from backend.parts.models import Part, StockLocation
from tests.factories.base import Base


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
