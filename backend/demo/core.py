"""Demo data: a repair company's city of Zhengzhou (郑州), the same for a given seed on every run.

`DEMO_STEPS` is the ordered tuple of loading steps, each `step(session, rng)`; parts and money have
their own module (`backend.demo.stock`), listed there like the others. Work orders are walked through the real
services (`create_request` → `confirm_request` → `assign_work_order` → `transition_work_order`), so
their histories are the ones the API writes; afterwards only the clock is moved into the past.
"""

from __future__ import annotations

import random
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa
from faker import Faker
from geopy.distance import distance as geodesic_offset
from geopy.distance import great_circle
from sqlalchemy.orm import Session
from tqdm import tqdm

from backend.accounts.customers import Address, Customer, Product
from backend.accounts.regions import Region
from backend.accounts.service import create_partner, hash_password
from backend.accounts.technicians import (
    Certificate,
    CertificateType,
    Shift,
    SkillLevel,
    Technician,
    TechnicianSkill,
)
from backend.accounts.users import Partner, User
from backend.demo import stock
from backend.kernel.base import utcnow
from backend.kernel.china_time import CHINA_TZ
from backend.kernel.roles import Role
from backend.onsite.service import (
    ChecklistInput,
    active_template,
    job_day,
    submit_safety_checklist,
    valid_certificate,
)
from backend.policy import Principal
from backend.work_orders.hazards import CERTIFICATE_FOR_HAZARD
from backend.work_orders.intake import RequestInput, create_request, receive_partner_request, reject_request
from backend.work_orders.models import Channel, Counter, RepairRequest, WorkOrder, WorkOrderEvent
from backend.work_orders.service import (
    assign_work_order,
    decline_work_order,
    sla_due,
    transition_work_order,
)
from backend.work_orders.states import Status

DEMO_SEED = 20261123
DemoStep = Callable[[Session, random.Random], None]


# Demo logins, documented in the README. Every technician and customer shares their role's password.
DEMO_PASSWORDS: dict[str, str] = {
    Role.ADMIN: "admin123",
    Role.DISPATCHER: "dispatcher123",
    Role.CUSTOMER_SERVICE: "service123",
    Role.TECHNICIAN: "tech123",
    Role.CUSTOMER: "customer123",
    Role.WAREHOUSE: "warehouse123",
    Role.FINANCE: "finance123",
    Role.QUALITY: "quality123",
}
DEMO_STAFF: tuple[tuple[str, str, str], ...] = (
    ("admin", Role.ADMIN, "系统管理员"),
    ("dispatcher", Role.DISPATCHER, "调度 王建国"),
    ("cs", Role.CUSTOMER_SERVICE, "客服 李静"),
    ("warehouse", Role.WAREHOUSE, "仓管 赵志强"),
    ("finance", Role.FINANCE, "财务 孙丽"),
    ("quality", Role.QUALITY, "质检 周敏"),
)
DEMO_PARTNER_NAME = "优家到家服务平台"
DEMO_PARTNER_KEY = "rk_demo_youjia_partner_key_0001"
TECHNICIAN_COUNT = 50
CUSTOMER_COUNT = 300
WORK_ORDER_COUNT = 500

# District, code, centre (WGS-84), streets that run through it.
REGIONS: tuple[tuple[str, str, float, float, tuple[str, ...]], ...] = (
    ("金水区", "ZZ-JS", 34.7865, 113.6853, ("花园路", "文化路", "农业路", "经三路", "纬五路", "丰产路")),
    ("二七区", "ZZ-EQ", 34.7245, 113.6400, ("大学路", "京广中路", "航海中路", "长江路", "淮河路")),
    ("中原区", "ZZ-ZY", 34.7480, 113.5960, ("建设西路", "中原中路", "桐柏路", "伏牛路", "嵩山北路")),
    ("管城回族区", "ZZ-GC", 34.7460, 113.6930, ("紫荆山路", "城东路", "商城路", "东大街", "南关街")),
    ("惠济区", "ZZ-HJ", 34.8670, 113.6170, ("天河路", "开元路", "英才街", "长兴路", "清华园路")),
    ("郑东新区", "ZZ-ZD", 34.7620, 113.7290, ("商务内环路", "农业东路", "金水东路", "心怡路", "龙湖中环路")),
    ("高新区", "ZZ-GX", 34.8060, 113.5480, ("科学大道", "长椿路", "西四环", "翠竹街", "莲花街")),
    ("经开区", "ZZ-JK", 34.7240, 113.7590, ("航海东路", "经开第八大街", "第九大街", "经北一路", "经南三路")),
)
COMMUNITIES = (
    "锦艺城",
    "建业壹号城邦",
    "正商城",
    "永威城",
    "升龙国际",
    "绿地老街",
    "万科城",
    "碧桂园",
    "康桥华城",
    "鑫苑名家",
    "亚星盛世",
    "融创城",
    "美景天城",
    "富田城",
    "名门紫园",
    "瀚海思念城",
)

# Category -> (brand, model, high end) on the market, and the faults customers report for it.
CATALOG: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "air_conditioner": (
        ("格力", "KFR-35GW/(35592)FNhAa-B1", False),
        ("美的", "KFR-26GW/N8MJA3", False),
        ("海尔", "KFR-35GW/81@U1-Ge", False),
        ("大金", "FTXR236WC-W", True),
    ),
    "refrigerator": (
        ("海尔", "BCD-470WDPG", False),
        ("美的", "BCD-516WKPZM(E)", False),
        ("容声", "BCD-529WD18HPA", False),
        ("西门子", "KA92NV66TI", True),
    ),
    "washing_machine": (
        ("小天鹅", "TG100V88WMUIADY5", False),
        ("海尔", "EG100MATE2S", False),
        ("西门子", "WM12P2602W", True),
    ),
    "water_heater": (
        ("美的", "F6021-X1(S)", False),
        ("海尔", "EC6001-GC", False),
        ("A.O.史密斯", "E60VN5", True),
    ),
    "gas_water_heater": (
        ("万和", "JSQ24-12ET16", False),
        ("能率", "GQ-16E3FEX", False),
        ("林内", "RUS-16QD31", True),
    ),
    "gas_stove": (("方太", "JZT-TH29B", False), ("老板", "JZT-36B0", False), ("华帝", "JZT-i10052B", False)),
    "range_hood": (("方太", "CXW-258-EMD2T", False), ("老板", "CXW-260-67A7", False)),
    "television": (("海信", "65E3F", False), ("TCL", "65V8E", False), ("索尼", "XR-77A80L", True)),
    "electrical_wiring": (("", "入户配电箱及线路", False),),
    "plumbing": (("", "厨卫给排水管路", False),),
    "computer": (
        ("联想", "小新Pro16", False),
        ("华为", "MateBook 14", False),
        ("苹果", "MacBook Pro 14", True),
    ),
    "phone": (("华为", "Mate 60 Pro", True), ("小米", "14", False), ("OPPO", "Reno11", False)),
}
FAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    "air_conditioner": (
        ("no_cooling", "空调开机后不制冷，出风是热风"),
        ("leak", "室内机一直滴水"),
        ("noise", "外机噪音很大，晚上睡不着"),
        ("error_code", "显示E1故障代码，无法开机"),
    ),
    "refrigerator": (
        ("no_cooling", "冷藏室不制冷，食物放不住"),
        ("noise", "压缩机启动时响声很大"),
        ("leak", "冰箱底部漏水"),
    ),
    "washing_machine": (
        ("leak", "洗衣机底部漏水"),
        ("noise", "脱水时剧烈震动"),
        ("error_code", "显示E21，无法排水"),
        ("no_power", "通电后没有任何反应"),
    ),
    "water_heater": (
        ("no_heating", "电热水器不加热"),
        ("leak", "热水器进水口接头漏水"),
        ("tripping", "一开热水器就跳闸"),
    ),
    "gas_water_heater": (
        ("ignition", "燃气热水器打不着火"),
        ("no_heating", "洗澡时水温忽冷忽热"),
        ("leak", "热水器附近闻到燃气味"),
    ),
    "gas_stove": (("ignition", "灶具左边点不着火"), ("leak", "灶具附近有燃气味")),
    "range_hood": (("noise", "油烟机噪音大"), ("no_power", "油烟机按键后不转")),
    "television": (("display", "电视有声音没图像"), ("no_power", "电视无法开机，指示灯闪烁")),
    "electrical_wiring": (("tripping", "家里总闸频繁跳闸"), ("no_power", "卧室插座全部没电")),
    "plumbing": (("leak", "厨房水槽下水管漏水"), ("blockage", "卫生间下水道堵塞")),
    "computer": (("no_power", "电脑按电源键无反应"), ("display", "笔记本屏幕闪烁")),
    "phone": (("display", "手机屏幕摔碎"), ("no_power", "手机无法充电")),
}
# Trades: the categories a technician learns together; certificates each trade needs.
TRADES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("air_conditioner", "refrigerator"), (CertificateType.ELECTRICIAN, CertificateType.HEIGHT)),
    (("washing_machine", "range_hood", "television"), (CertificateType.APPLIANCE,)),
    (("water_heater", "gas_water_heater", "gas_stove"), (CertificateType.GAS, CertificateType.ELECTRICIAN)),
    (("electrical_wiring", "plumbing"), (CertificateType.ELECTRICIAN, CertificateType.PLUMBER)),
    (("computer", "phone", "television"), (CertificateType.APPLIANCE,)),
)
# How many of the 500 orders end up in each status (every status of the state machine appears).
STATUS_MIX: dict[Status, int] = {
    Status.NEW: 30,
    Status.ASSIGNED: 25,
    Status.DECLINED: 10,
    Status.ACCEPTED: 20,
    Status.SCHEDULED: 30,
    Status.EN_ROUTE: 12,
    Status.ON_SITE: 12,
    Status.IN_REPAIR: 25,
    Status.AWAITING_PARTS: 15,
    Status.AWAITING_APPROVAL: 12,
    Status.COMPLETED: 20,
    Status.ACCEPTED_BY_CUSTOMER: 25,
    Status.REJECTED_BY_CUSTOMER: 8,
    Status.REWORK: 8,
    Status.CLOSED: 218,
    Status.CANCELLED: 30,
}
# Finished orders are older; work in progress is recent (days before now).
AGE_DAYS: dict[Status, tuple[float, float]] = {
    Status.NEW: (0.02, 0.5),
    Status.CLOSED: (4.0, 60.0),
    Status.CANCELLED: (0.5, 45.0),
    Status.ACCEPTED_BY_CUSTOMER: (1.0, 6.0),
}
DEFAULT_AGE_DAYS = (0.2, 4.0)


def database_is_empty(session: Session) -> bool:
    return session.scalar(sa.select(User.id).limit(1)) is None


@dataclass
class DemoSummary:
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)


def load_demo(session: Session, *, seed: int = DEMO_SEED, progress: bool = True) -> DemoSummary:
    """Run every step of `DEMO_STEPS` in one transaction's session (the caller commits)."""
    with tqdm(total=len(DEMO_STEPS), desc="demo data", unit="step", disable=not progress) as bar:
        for step in DEMO_STEPS:
            bar.set_postfix_str(step.__name__)
            # A step's randomness depends on the seed and its name only, so appending a step changes
            # nobody else's data.
            step(session, random.Random(f"{seed}:{step.__name__}"))
            session.flush()
            bar.update()
    summary = DemoSummary()
    for model in (Region, User, Technician, Customer, Product, RepairRequest, WorkOrder, WorkOrderEvent):
        summary.counts[model.__tablename__] = (
            session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
        )
    by_status = sa.select(WorkOrder.status, sa.func.count()).group_by(WorkOrder.status)
    summary.statuses = {status: n for status, n in session.execute(by_status)}
    return summary


def _faker(rng: random.Random) -> Faker:
    fake = Faker("zh_CN")
    fake.seed_instance(rng.getrandbits(32))
    return fake


def _point_near(
    rng: random.Random, lat: float, lng: float, max_km: float, sigma_km: float
) -> tuple[float, float]:
    """A point scattered around a centre, most within a few km, none beyond `max_km`."""
    km = min(abs(rng.gauss(0.0, sigma_km)), max_km)
    point = geodesic_offset(kilometers=km).destination((lat, lng), bearing=rng.uniform(0, 360))
    return round(point.latitude, 6), round(point.longitude, 6)


def _nearest_region(regions: list[Region], lat: float, lng: float) -> Region:
    return min(regions, key=lambda r: great_circle((lat, lng), (r.center_lat, r.center_lng)).meters)


def _users(session: Session, rows: list[tuple[str, str, str, str | None]]) -> list[User]:
    """Insert users without hashing per row: argon2 is deliberately slow, so each password once."""
    hashes = {role: hash_password(DEMO_PASSWORDS[role]) for role in {row[1] for row in rows}}
    users = [
        User(username=username, role=role, display_name=name, phone=phone, password_hash=hashes[role])
        for username, role, name, phone in rows
    ]
    session.add_all(users)
    session.flush()
    return users


def load_regions(session: Session, rng: random.Random) -> None:
    for name, code, lat, lng, _streets in REGIONS:
        session.add(Region(code=code, name=name, city="郑州市", center_lat=lat, center_lng=lng))


def load_staff_and_partner(session: Session, rng: random.Random) -> None:
    fake = _faker(rng)
    _users(session, [(username, role, name, fake.phone_number()) for username, role, name in DEMO_STAFF])
    create_partner(session=session, name=DEMO_PARTNER_NAME, api_key=DEMO_PARTNER_KEY)


def load_technicians(session: Session, rng: random.Random) -> None:
    fake = _faker(rng)
    regions = list(session.scalars(sa.select(Region).order_by(Region.code)))
    users = _users(
        session,
        [
            (f"tech{i:02d}", Role.TECHNICIAN, fake.name(), fake.phone_number())
            for i in range(1, TECHNICIAN_COUNT + 1)
        ],
    )
    levels = [SkillLevel.EXPERT] * 10 + [SkillLevel.SENIOR] * 20 + [SkillLevel.JUNIOR] * 20
    rng.shuffle(levels)
    today = date.today()
    for i, user in enumerate(users):
        region = regions[i % len(regions)]
        home_lat, home_lng = _point_near(rng, region.center_lat, region.center_lng, 5.0, 2.0)
        tech = Technician(
            user=user,
            employee_no=f"ZZ-{i + 1:04d}",
            region=region,
            skill_level=levels[i],
            home_lat=home_lat,
            home_lng=home_lng,
            daily_capacity=rng.randint(4, 8),
            active=i not in (17, 41),  # two on long leave
        )
        trades = [TRADES[i % len(TRADES)]]
        if rng.random() < 0.3:
            trades.append(rng.choice(TRADES))
        categories = sorted({c for cats, _ in trades for c in cats})
        tech.skills = [TechnicianSkill(product_category=c) for c in categories]
        extra = rng.choice(list(FAULTS))
        if extra not in categories and rng.random() < 0.4:
            # A specialist in one fault of another category (e.g. only installations of air conditioners).
            tech.skills.append(
                TechnicianSkill(product_category=extra, fault_type=rng.choice(FAULTS[extra])[0])
            )
        cert_types = sorted({t for _, types in trades for t in types} | {CertificateType.APPLIANCE})
        for n, cert_type in enumerate(cert_types):
            issued = today - timedelta(days=rng.randint(200, 2000))
            expired = rng.random() < 0.12
            expires = (
                today - timedelta(days=rng.randint(5, 120)) if expired else issued + timedelta(days=365 * 6)
            )
            if expires <= today and not expired:
                expires = today + timedelta(days=rng.randint(30, 700))
            tech.certificates.append(
                Certificate(
                    type=cert_type,
                    number=f"{cert_type[:2].upper()}-4101-{issued.year}-{i * 10 + n:06d}",
                    issued_on=issued,
                    expires_on=expires,
                )
            )
        late = rng.random() < 0.3
        rest_day = rng.randrange(7)
        tech.shifts = [
            Shift(
                weekday=d,
                starts_at=time(10, 0) if late else time(8, 30),
                ends_at=time(20, 0) if late else time(17, 30),
            )
            for d in range(7)
            if d != rest_day
        ]
        session.add(tech)


def _address_text(rng: random.Random, region_name: str, region_code: str) -> str:
    streets = next(s for _n, code, _la, _ln, s in REGIONS if code == region_code)
    street = f"{rng.choice(streets)}{rng.randint(1, 300)}号"
    flat = f"{rng.randint(1, 28)}号楼{rng.randint(1, 4)}单元{rng.randint(1, 33)}{rng.randint(1, 4):02d}"
    return f"河南省郑州市{region_name}{street}{rng.choice(COMMUNITIES)}{flat}"


def load_customers(session: Session, rng: random.Random) -> None:
    fake = _faker(rng)
    regions = list(session.scalars(sa.select(Region).order_by(Region.code)))
    phones: set[str] = set()
    while len(phones) < CUSTOMER_COUNT:
        phones.add(fake.phone_number())
    rows = []
    for i, phone in enumerate(sorted(phones, key=lambda p: rng.random())):
        contract = i % 10 == 0
        name = fake.company() if contract else fake.name()
        rows.append((f"cust{i + 1:03d}", Role.CUSTOMER, name, phone, contract))
    users = _users(session, [row[:4] for row in rows])
    today = date.today()
    for user, (_u, _r, name, phone, contract) in zip(users, rows, strict=True):
        customer = Customer(
            user=user,
            name=name,
            phone=phone,
            email=None if rng.random() < 0.6 else fake.free_email(),
            is_contract=contract,
            contract_discount_bp=rng.choice((500, 1000, 1500, 2000)) if contract else 0,
        )
        for label in ("家",) if rng.random() < 0.8 else ("家", "公司"):
            home = rng.choice(regions)
            lat, lng = _point_near(rng, home.center_lat, home.center_lng, 8.0, 2.5)
            region = _nearest_region(regions, lat, lng)
            customer.addresses.append(
                Address(
                    label=label,
                    text=_address_text(rng, region.name, region.code),
                    region_id=region.id,
                    lat=lat,
                    lng=lng,
                )
            )
        session.add(customer)
        session.flush()
        for category in rng.sample(list(CATALOG), k=rng.randint(1, 3)):
            brand, model, high_end = rng.choice(CATALOG[category])
            bought = today - timedelta(days=rng.randint(20, 6 * 365))
            session.add(
                Product(
                    customer_id=customer.id,
                    category=category,
                    brand=brand or None,
                    model=model,
                    serial=f"{(brand or 'NA')[:1]}{rng.getrandbits(40):012X}" if brand else None,
                    purchase_date=bought,
                    warranty_end=bought + timedelta(days=365 * rng.choice((1, 1, 2, 3))),
                    high_end=high_end,
                )
            )


@dataclass
class _Crew:
    """The principals who act on orders in the demo, looked up once."""

    dispatcher: Principal
    service: Principal
    partner: Principal
    customers: dict[str, Principal]
    technicians: list[Technician]
    tech_principals: dict[str, Principal]


def _crew(session: Session) -> _Crew:
    staff = {
        u.role: u for u in session.scalars(sa.select(User).where(User.username.in_(["dispatcher", "cs"])))
    }
    partner = session.scalars(sa.select(Partner).where(Partner.name == DEMO_PARTNER_NAME)).one()
    technicians = list(
        session.scalars(
            sa.select(Technician).where(Technician.active.is_(True)).order_by(Technician.employee_no)
        )
    )
    customers = session.execute(sa.select(Customer.id, Customer.user_id, Customer.name))
    return _Crew(
        dispatcher=Principal(role=Role.DISPATCHER, user_id=staff[Role.DISPATCHER].id, display_name="调度"),
        service=Principal(
            role=Role.CUSTOMER_SERVICE, user_id=staff[Role.CUSTOMER_SERVICE].id, display_name="客服"
        ),
        partner=Principal(role="partner", partner_id=partner.id, display_name=partner.name),
        customers={
            cid: Principal(role=Role.CUSTOMER, user_id=uid, customer_id=cid, display_name=name)
            for cid, uid, name in customers
        },
        technicians=technicians,
        tech_principals={
            t.id: Principal(
                role=Role.TECHNICIAN, user_id=t.user_id, technician_id=t.id, display_name=t.user.display_name
            )
            for t in technicians
        },
    )


def _pick_technician(rng: random.Random, crew: _Crew, order: WorkOrder, exclude: set[str]) -> Technician:
    """Someone with the skill and the certificates the job's hazards need on its day, preferring the
    order's region and, for complex jobs, an expert."""
    day = job_day(order)

    def skilled(t: Technician) -> bool:
        return any(
            s.product_category == order.product_category and s.fault_type in (None, order.fault_type)
            for s in t.skills
        )

    def certified(t: Technician) -> bool:
        return all(valid_certificate(t, CERTIFICATE_FOR_HAZARD[h], day) for h in order.hazards)

    free = [t for t in crew.technicians if t.id not in exclude]
    pool = [t for t in free if skilled(t) and certified(t)] or [t for t in free if certified(t)] or free
    local = [t for t in pool if t.region_id == order.region_id] or pool
    if order.complex_job:
        local = [t for t in local if t.skill_level == SkillLevel.EXPERT] or local
    return rng.choice(local)


def _walk(session: Session, rng: random.Random, crew: _Crew, order: WorkOrder, target: Status) -> None:
    """Take a freshly confirmed order to `target` the way people would, through the services."""
    if target == Status.NEW:
        return
    customer = crew.customers[order.customer_id]

    def move(to: Status, actor: Principal, reason: str | None = None) -> None:
        transition_work_order(session=session, order=order, to_status=to, actor=actor, reason=reason)

    def tech() -> Principal:
        assert order.assignee_id is not None
        return crew.tech_principals[order.assignee_id]

    if target == Status.CANCELLED and rng.random() < 0.5:
        move(Status.CANCELLED, customer, "客户已自行解决，取消报修")
        return
    first = _pick_technician(rng, crew, order, set())
    assign_work_order(session=session, order=order, technician=first, actor=crew.dispatcher)
    if target == Status.ASSIGNED:
        if rng.random() < 0.2:
            other = _pick_technician(rng, crew, order, {first.id})
            assign_work_order(
                session=session, order=order, technician=other, actor=crew.dispatcher, reason="就近改派"
            )
        return
    if target == Status.DECLINED or rng.random() < 0.06:
        decline_work_order(
            session=session,
            order=order,
            actor=tech(),
            reason=rng.choice(("今日工单已满", "不熟悉该型号", "车辆故障")),
        )
        if target == Status.DECLINED:
            return
        assign_work_order(
            session=session,
            order=order,
            technician=_pick_technician(rng, crew, order, {first.id}),
            actor=crew.dispatcher,
        )
    if target == Status.CANCELLED:
        move(Status.CANCELLED, crew.service, "客户电话通知取消")
        return
    for status, note in (
        (Status.ACCEPTED, None),
        (Status.SCHEDULED, "已与客户电话确认上门时间"),
        (Status.EN_ROUTE, None),
        (Status.ON_SITE, None),
        (Status.IN_REPAIR, "开始检修"),
    ):
        if status == Status.IN_REPAIR:
            _pass_safety_checklists(session, order, tech())
        move(status, tech(), note)
        if target == status:
            return
    if target in (Status.AWAITING_PARTS, Status.AWAITING_APPROVAL):
        move(
            target,
            tech(),
            "等待配件到货" if target == Status.AWAITING_PARTS else "发现新问题，需客户确认报价",
        )
        return
    if rng.random() < 0.3:
        move(Status.AWAITING_PARTS, tech(), "等待配件到货")
        move(Status.IN_REPAIR, tech(), "配件已到，继续维修")
    if rng.random() < 0.2:
        move(Status.AWAITING_APPROVAL, tech(), "发现新问题，需客户确认报价")
        move(Status.IN_REPAIR, customer, "客户同意报价")
    if target == Status.IN_REPAIR:
        return
    move(Status.COMPLETED, tech(), "维修完成，功能测试通过")
    if target == Status.COMPLETED:
        return
    if target in (Status.REJECTED_BY_CUSTOMER, Status.REWORK) or (
        target == Status.CLOSED and rng.random() < 0.08
    ):
        move(Status.REJECTED_BY_CUSTOMER, customer, "仍有异响，不满意")
        if target == Status.REJECTED_BY_CUSTOMER:
            return
        move(Status.REWORK, crew.service, "安排原师傅返修")
        if target == Status.REWORK:
            return
        move(Status.IN_REPAIR, tech(), "返修")
        move(Status.COMPLETED, tech(), "返修完成，功能测试通过")
    move(Status.ACCEPTED_BY_CUSTOMER, customer, "客户验收签字")
    if target == Status.ACCEPTED_BY_CUSTOMER:
        return
    move(Status.CLOSED, crew.service, "回访满意，结单")
    assert order.status == target, (order.number, order.status, target)


def _pass_safety_checklists(session: Session, order: WorkOrder, technician: Principal) -> None:
    """What the technician does on site before a hazardous repair: every item confirmed."""
    for hazard in order.hazards:
        template = active_template(session=session, hazard=hazard)
        answers = {item["code"]: True for item in template.items}
        submit_safety_checklist(
            session=session, order=order, actor=technician, checklist=ChecklistInput(hazard, answers)
        )


def _request_data(
    rng: random.Random, session: Session, customer: Customer, created: datetime
) -> dict[str, Any]:
    products = list(session.scalars(sa.select(Product).where(Product.customer_id == customer.id)))
    product = rng.choice(products)
    address = rng.choice(customer.addresses)
    fault_type, text = rng.choice(FAULTS[product.category])
    data: dict[str, Any] = {
        "contact_name": customer.name if not customer.is_contract else customer.name[:4] + "行政",
        "contact_phone": customer.phone,
        "address_text": address.text,
        "lat": address.lat,
        "lng": address.lng,
        "product_category": product.category,
        "product_model": product.model,
        "product_serial": product.serial,
        "purchase_date": product.purchase_date,
        "fault_type": fault_type,
        "fault_description": text,
        "photos_expected": rng.choice((0, 0, 1, 2, 3)),
        "emergency": "燃气味" in text or (fault_type == "tripping" and rng.random() < 0.3),
    }
    if rng.random() < 0.5:
        day = (created + timedelta(days=rng.randint(1, 3))).astimezone(CHINA_TZ).date()
        start = datetime.combine(day, time(rng.choice((9, 11, 14, 16))), CHINA_TZ)
        data["preferred_start"], data["preferred_end"] = (
            start.astimezone(UTC),
            (start + timedelta(hours=2)).astimezone(UTC),
        )
    return data


def _intake(
    session: Session, rng: random.Random, crew: _Crew, customer: Customer, data: dict[str, Any], n: int
) -> RepairRequest:
    roll = rng.random()
    if roll < 0.15:
        data["partner_reference"] = f"YJ{n:08d}"
        request, _ = receive_partner_request(session=session, new=RequestInput(**data), by=crew.partner)
        return request
    if roll < 0.40:
        data["customer_id"] = customer.id
        data["channel"] = rng.choice((Channel.HOTLINE, Channel.HOTLINE, Channel.EMAIL, Channel.WALK_IN))
        return create_request(session=session, new=RequestInput(**data), by=crew.service)
    data["channel"] = rng.choice((Channel.APP, Channel.APP, Channel.WEB))
    return create_request(session=session, new=RequestInput(**data), by=crew.customers[customer.id])


def load_work_orders(session: Session, rng: random.Random) -> None:
    """500 orders in every status, plus requests still waiting for customer service and rejected ones."""
    crew = _crew(session)
    customers = list(session.scalars(sa.select(Customer).order_by(Customer.phone)))
    readme_customer = next(c for c in customers if c.user is not None and c.user.username == "cust001")
    now = utcnow()
    plan = [status for status, count in STATUS_MIX.items() for _ in range(count)]
    rng.shuffle(plan)
    created = [now - timedelta(days=rng.uniform(*AGE_DAYS.get(s, DEFAULT_AGE_DAYS))) for s in plan]
    order_ids: list[tuple[str, datetime]] = []
    for n, (target, at) in enumerate(
        tqdm(
            sorted(zip(plan, created, strict=True), key=lambda p: p[1]),
            desc="work orders",
            unit="order",
            leave=False,
        )
    ):
        # cust001, the README's example customer, always has orders to track.
        customer = readme_customer if n % 125 == 0 else rng.choice(customers)
        data = _request_data(rng, session, customer, at)
        request = _intake(session, rng, crew, customer, data, n + 1)
        order = request.work_order
        assert order is not None, "demo requests are complete, so the system confirms them"
        _walk(session, rng, crew, order, target)
        order_ids.append((order.id, at))
    _load_waiting_requests(session, rng, crew, customers, now)
    _backdate(session, rng, order_ids, now)


def _load_waiting_requests(
    session: Session, rng: random.Random, crew: _Crew, customers: list[Customer], now: datetime
) -> None:
    """Hotline calls that customer service must still complete (no coordinates or no category), and
    a few it turned down."""
    for i in range(26):
        customer = rng.choice(customers)
        at = now - timedelta(hours=rng.uniform(0.2, 30))
        data = _request_data(rng, session, customer, at)
        data.update(channel=Channel.HOTLINE, customer_id=customer.id)
        if i % 2:
            del data["lat"], data["lng"]
        else:
            del data["product_category"]
        request = create_request(session=session, new=RequestInput(**data), by=crew.service)
        if i >= 20:
            reject_request(
                session=session,
                request=request,
                by=crew.service,
                reason=rng.choice(("重复报修", "地址不在服务范围内")),
            )
        _set_times(session, RepairRequest, request.id, created_at=at, updated_at=at + timedelta(minutes=10))


def _set_times(session: Session, model: Any, row_id: str, **values: Any) -> None:
    # A Core UPDATE: moving the clock is not a change of the row, so the version stays as the walk left it.
    session.flush()
    session.execute(sa.update(model.__table__).where(model.__table__.c.id == row_id).values(**values))


def _backdate(
    session: Session, rng: random.Random, orders: list[tuple[str, datetime]], now: datetime
) -> None:
    """Move each order's history from 'all just now' to its planned day, and number it on that day."""
    session.flush()
    per_day: Tally[str] = Tally()
    for i, (order_id, _created) in enumerate(orders):
        _set_times(session, WorkOrder, order_id, number=f"TMP-{i:06d}")
    for order_id, created in orders:
        order = session.get(WorkOrder, order_id)
        assert order is not None
        events = list(
            session.scalars(
                sa.select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order_id)
                .order_by(WorkOrderEvent.seq)
            )
        )
        span = max(0.0, min((now - created).total_seconds() - 60, len(events) * 8 * 3600.0))
        offsets = sorted(rng.uniform(0, span) for _ in events[1:])
        times = [created] + [created + timedelta(seconds=s) for s in offsets]
        table = cast(sa.Table, WorkOrderEvent.__table__)
        session.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("event_id"))
            .values(created_at=sa.bindparam("at")),
            [{"event_id": e.id, "at": at} for e, at in zip(events, times, strict=True)],
        )
        day = created.astimezone(CHINA_TZ).strftime("%Y%m%d")
        per_day[day] += 1
        last = {e.to_status: at for e, at in zip(events, times, strict=True) if e.to_status}
        assigned = [
            at
            for e, at in zip(events, times, strict=True)
            if e.kind in ("assigned", "reassigned") or e.to_status == Status.ASSIGNED
        ]
        respond_due, resolve_due = sla_due(order.priority, created)
        values: dict[str, Any] = {
            "number": f"WO-{day}-{per_day[day]:04d}",
            "created_at": created,
            "updated_at": times[-1],
            "respond_due_at": respond_due,
            "resolve_due_at": resolve_due,
            "assigned_at": assigned[-1] if assigned and order.assigned_at else None,
            "completed_at": last.get(Status.COMPLETED) if order.completed_at else None,
            "closed_at": last.get(Status.CLOSED) if order.closed_at else None,
        }
        if order.status == Status.EN_ROUTE:
            values["eta_at"] = times[-1] + timedelta(minutes=rng.randint(15, 45))
        if order.appointment_start is None and Status.SCHEDULED in last:
            day_after = (last[Status.SCHEDULED] + timedelta(days=1)).astimezone(CHINA_TZ).date()
            start = datetime.combine(day_after, time(rng.choice((9, 13, 15))), CHINA_TZ).astimezone(UTC)
            values["appointment_start"], values["appointment_end"] = start, start + timedelta(hours=2)
        _set_times(session, WorkOrder, order_id, **values)
        if order.request_id:
            _set_times(
                session,
                RepairRequest,
                order.request_id,
                created_at=created - timedelta(minutes=2),
                updated_at=created,
            )
    session.execute(sa.delete(Counter).where(Counter.key.like("WO-%")))
    session.add_all(Counter(key=f"WO-{day}", value=count) for day, count in per_day.items())
    session.expire_all()


def demo_logins() -> list[tuple[str, str, str]]:
    """(role, username, password) for the README and the CLI's closing message."""
    rows = [(str(role), username, DEMO_PASSWORDS[role]) for username, role, _ in DEMO_STAFF]
    rows += [
        (Role.TECHNICIAN.value, f"tech01 … tech{TECHNICIAN_COUNT:02d}", DEMO_PASSWORDS[Role.TECHNICIAN]),
        (Role.CUSTOMER.value, f"cust001 … cust{CUSTOMER_COUNT:03d}", DEMO_PASSWORDS[Role.CUSTOMER]),
        ("partner", f"X-API-Key: {DEMO_PARTNER_KEY}", ""),
    ]
    return rows


__all__ = [
    "DEMO_PARTNER_KEY",
    "DEMO_PASSWORDS",
    "DEMO_SEED",
    "DEMO_STEPS",
    "DemoSummary",
    "database_is_empty",
    "demo_logins",
    "load_demo",
]


# The loading steps, in order; each runs with its own seeded rng.
DEMO_STEPS: tuple[DemoStep, ...] = (
    load_regions,
    load_staff_and_partner,
    load_technicians,
    load_customers,
    load_work_orders,
    stock.load_parts_fees_and_stock,
)
