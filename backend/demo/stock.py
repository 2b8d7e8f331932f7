"""Demo data for parts and money: catalog, fee schedule, a warehouse and a service centre, van stock.

One step of `backend.demo.core.DEMO_STEPS` (runs after technicians exist). Stock is booked
through the real ledger (`stock.receive` / `stock.transfer`), so balances equal the sum of moves.
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.accounts.users import User
from backend.kernel.roles import Role
from backend.parts import stock
from backend.parts.billing_models import BillingPolicy, LabourRate, TravelFee
from backend.parts.models import LocationKind, Part, SafetyStock, StockLocation
from backend.parts.pricing import ANY_FAULT, ANY_REGION, DEFAULT_CONSENT_THRESHOLD_FEN
from backend.policy import Principal

# (sku, name, category, product category, price fen, serialized, warranty months)
CATALOG: list[tuple[str, str, str, str, int, bool, int]] = [
    ("AC-CAP-35", "压缩机启动电容 35μF", "capacitor", "air_conditioner", 3_500, False, 12),
    ("AC-FAN-MTR", "室外风机电机", "motor", "air_conditioner", 28_000, False, 12),
    ("AC-COMP-1P5", "变频压缩机 1.5匹", "compressor", "air_conditioner", 98_000, True, 24),
    ("AC-PCB-MAIN", "室内机主控板", "pcb", "air_conditioner", 42_000, True, 12),
    ("AC-R32-1KG", "R32 冷媒 1kg", "refrigerant", "air_conditioner", 6_000, False, 0),
    ("AC-SENSOR-T", "管温传感器", "sensor", "air_conditioner", 1_800, False, 6),
    ("WM-PUMP", "洗衣机排水泵", "pump", "washing_machine", 9_500, False, 12),
    ("WM-BELT", "洗衣机皮带", "belt", "washing_machine", 2_500, False, 6),
    ("WM-DOOR-LOCK", "滚筒门锁", "lock", "washing_machine", 6_800, False, 12),
    ("WM-MOTOR-DD", "直驱电机", "motor", "washing_machine", 86_000, True, 24),
    ("RF-THERMO", "冰箱温控器", "thermostat", "refrigerator", 4_200, False, 12),
    ("RF-DEFROST-H", "化霜加热管", "heater", "refrigerator", 5_500, False, 12),
    ("RF-COMP", "冰箱压缩机", "compressor", "refrigerator", 76_000, True, 24),
    ("RF-GASKET", "冰箱门封条", "gasket", "refrigerator", 3_800, False, 6),
]

# (product category, difficulty, fen, description)
LABOUR: list[tuple[str, str, int, str]] = [
    (category, difficulty, fen, f"{label}维修工时（{word}）")
    for category, label, base in (
        ("air_conditioner", "空调", 8_000),
        ("washing_machine", "洗衣机", 6_000),
        ("refrigerator", "冰箱", 7_000),
    )
    for difficulty, word, fen in (
        ("basic", "简单", base // 2),
        ("standard", "标准", base),
        ("complex", "复杂", base * 2),
    )
]


def load_parts_fees_and_stock(session: Session, rng: random.Random) -> None:
    parts = [
        Part(
            sku=sku,
            name=name,
            category=category,
            product_category=product_category,
            unit_price_fen=price,
            serialized=serialized,
            warranty_months=months,
        )
        for sku, name, category, product_category, price, serialized, months in CATALOG
    ]
    session.add_all(parts)
    for category, difficulty, fen, description in LABOUR:
        session.add(
            LabourRate(
                product_category=category,
                fault_type=ANY_FAULT,
                difficulty=difficulty,
                amount_fen=fen,
                description=description,
            )
        )
    session.add(TravelFee(region_key=ANY_REGION, amount_fen=3_000))
    for region in session.scalars(sa.select(Region).order_by(Region.code)).all()[-2:]:
        session.add(TravelFee(region_key=region.id, amount_fen=5_000))  # outer districts cost more
    session.add(
        BillingPolicy(id="default", consent_threshold_fen=DEFAULT_CONSENT_THRESHOLD_FEN, quote_valid_hours=72)
    )
    central = StockLocation(kind=LocationKind.WAREHOUSE, name="郑州中心仓", code="WH-ZZ-01")
    centre = StockLocation(kind=LocationKind.SERVICE_CENTRE, name="金水服务中心", code="SC-JS-01")
    session.add_all([central, centre])
    session.flush()

    clerk_user = session.scalars(sa.select(User).where(User.role == Role.WAREHOUSE)).first()
    clerk = Principal(
        role=Role.WAREHOUSE,
        user_id=clerk_user.id if clerk_user else None,
        display_name=clerk_user.display_name if clerk_user else "仓管",
    )
    serial_no = 0
    for part in parts:
        quantity = 20 if part.serialized else 200
        serials = None
        if part.serialized:
            serials = [f"{part.sku}-{serial_no + n:05d}" for n in range(quantity)]
            serial_no += quantity
        stock.receive(
            session=session,
            actor=clerk,
            location=central,
            part=part,
            quantity=quantity,
            serials=serials,
            reason="期初入库",
        )
        session.add(
            SafetyStock(location_id=central.id, part_id=part.id, minimum=5, reorder_quantity=quantity // 2)
        )
        stock.transfer(
            session=session,
            actor=clerk,
            source=central,
            destination=centre,
            part=part,
            quantity=2,
            serials=serials[-2:] if serials else None,
        )
    cheap = [part for part in parts if not part.serialized]
    technicians = session.scalars(sa.select(Technician).order_by(Technician.employee_no)).all()
    for technician in technicians:
        van = stock.van_for(session=session, technician=technician)
        for part in rng.sample(cheap, k=min(4, len(cheap))):
            stock.transfer(
                session=session,
                actor=clerk,
                source=central,
                destination=van,
                part=part,
                quantity=rng.randint(1, 3),
            )
