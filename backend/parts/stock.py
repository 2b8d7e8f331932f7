"""The stock ledger: every change of stock is a `StockMove`; `post_move` is the only writer of balances.

Warehouse moves (receive, transfer/issue, return, write-off) refuse to drive a balance below zero.
A technician's consumption is a field fact: the part is already in the customer's machine, so it is
recorded even when the van's balance goes negative, and a discrepancy is raised for the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.errors import Problem, conflict, not_found
from backend.kernel.base import new_id, utcnow
from backend.parts.models import (
    CountLine,
    CountSession,
    LocationKind,
    MoveKind,
    Part,
    PartUsage,
    ProcurementRequest,
    SafetyStock,
    SerialStatus,
    SerialUnit,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMove,
    StockNotification,
)
from backend.policy import Principal
from backend.work_orders.models import WorkOrder

PROCUREMENT = "procurement"
WAREHOUSE = "warehouse"


def actor_name(actor: Principal) -> str:
    return actor.display_name or actor.role


def invalid(code: str, detail: str, field_name: str) -> Problem:
    return Problem(code, detail, status=422, errors={field_name: [detail]})


# --- locations ------------------------------------------------------------------------------------


def van_for(*, session: Session, technician: Technician) -> StockLocation:
    """The technician's van, created on first use (safe when two requests race to create it)."""
    stmt = sa.select(StockLocation).where(StockLocation.technician_id == technician.id)
    van = session.scalars(stmt).one_or_none()
    if van is not None:
        return van
    try:
        with session.begin_nested():
            van = StockLocation(
                kind=LocationKind.VAN,
                name=f"{technician.user.display_name} 的车",
                code=f"VAN-{technician.employee_no}",
                technician_id=technician.id,
                region_id=technician.region_id,
            )
            session.add(van)
    except IntegrityError:
        van = session.scalars(stmt).one()
    return van


def balance_of(*, session: Session, location_id: str, part_id: str) -> int:
    quantity = session.scalar(
        sa.select(StockBalance.quantity).where(
            StockBalance.location_id == location_id, StockBalance.part_id == part_id
        )
    )
    return quantity or 0


def ledger_sum(*, session: Session, location_id: str, part_id: str) -> int:
    """The balance recomputed from the ledger alone (what the cached balance must always equal)."""
    total = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(StockMove.quantity), 0)).where(
            StockMove.location_id == location_id, StockMove.part_id == part_id
        )
    )
    return int(total or 0)


# --- the one writer -------------------------------------------------------------------------------


@dataclass
class MoveSpec:
    part: Part
    location: StockLocation
    kind: MoveKind
    quantity: int
    actor: Principal
    serial: str | None = None
    work_order_id: str | None = None
    transfer_id: str | None = None
    counterpart_location_id: str | None = None
    count_session_id: str | None = None
    reason: str | None = None
    device_time: datetime | None = None
    allow_negative: bool = False
    discrepancies: list[StockDiscrepancy] = field(default_factory=list)


def post_move(*, session: Session, spec: MoveSpec) -> StockMove:
    """Append one ledger line and update the cached balance atomically (row lock on PostgreSQL, so
    concurrent consumers of the last unit both land and see each other's effect)."""
    _ensure_balance_row(session, spec.location, spec.part)
    with session.begin_nested():
        after = session.execute(
            sa.update(StockBalance)
            .where(StockBalance.location_id == spec.location.id, StockBalance.part_id == spec.part.id)
            .values(
                quantity=StockBalance.quantity + spec.quantity,
                version=StockBalance.version + 1,
                updated_at=utcnow(),
            )
            .returning(StockBalance.quantity)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        if after < 0 and spec.quantity < 0 and not spec.allow_negative:
            raise conflict(
                "stock.insufficient",
                f"{spec.location.name} has {after - spec.quantity} of {spec.part.sku}; "
                f"{-spec.quantity} requested.",
                available=after - spec.quantity,
                sku=spec.part.sku,
                location_id=spec.location.id,
            )
    move = StockMove(
        id=new_id(),
        part_id=spec.part.id,
        location_id=spec.location.id,
        kind=spec.kind,
        quantity=spec.quantity,
        serial=spec.serial,
        transfer_id=spec.transfer_id,
        counterpart_location_id=spec.counterpart_location_id,
        work_order_id=spec.work_order_id,
        count_session_id=spec.count_session_id,
        reason=spec.reason,
        actor_user_id=spec.actor.user_id,
        actor_name=actor_name(spec.actor),
        balance_after=after,
        device_time=spec.device_time,
    )
    session.add(move)
    session.flush()
    _expire_cached_balance(session, spec.location.id, spec.part.id)
    if spec.serial:
        _move_serial(session, spec, move)
    if after < 0 and spec.quantity < 0:
        spec.discrepancies.append(
            _discrepancy(
                session,
                move,
                spec,
                kind="negative_balance",
                detail=f"{spec.location.name}: {spec.part.sku} at {after} after {spec.kind}.",
            )
        )
    _check_safety_stock(session, spec.location, spec.part, after, spec.quantity)
    return move


def _ensure_balance_row(session: Session, location: StockLocation, part: Part) -> None:
    exists = session.scalar(
        sa.select(StockBalance.id).where(
            StockBalance.location_id == location.id, StockBalance.part_id == part.id
        )
    )
    if exists:
        return
    try:
        with session.begin_nested():
            session.add(
                StockBalance(
                    location_id=location.id,
                    part_id=part.id,
                    technician_id=location.technician_id,
                    quantity=0,
                )
            )
    except IntegrityError:
        pass  # a concurrent transaction created it; the UPDATE below waits for and uses that row


def _expire_cached_balance(session: Session, location_id: str, part_id: str) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, StockBalance) and obj.location_id == location_id and obj.part_id == part_id:
            session.expire(obj)


def _move_serial(session: Session, spec: MoveSpec, move: StockMove) -> None:
    unit = session.scalars(
        sa.select(SerialUnit).where(SerialUnit.part_id == spec.part.id, SerialUnit.serial == spec.serial)
    ).one_or_none()
    if unit is None:
        unit = SerialUnit(part_id=spec.part.id, serial=spec.serial, status=SerialStatus.IN_STOCK)
        session.add(unit)
    if spec.quantity > 0:
        unit.status, unit.location_id, unit.work_order_id = SerialStatus.IN_STOCK, spec.location.id, None
    elif spec.kind == MoveKind.CONSUME:
        unit.status, unit.location_id, unit.work_order_id = (
            SerialStatus.INSTALLED,
            None,
            spec.work_order_id,
        )
    elif spec.kind in (MoveKind.WRITE_OFF, MoveKind.ADJUSTMENT):
        unit.status, unit.location_id = SerialStatus.WRITTEN_OFF, None
    unit.updated_at = utcnow()
    session.flush()


def _discrepancy(
    session: Session, move: StockMove, spec: MoveSpec, *, kind: str, detail: str
) -> StockDiscrepancy:
    record = StockDiscrepancy(
        kind=kind,
        location_id=spec.location.id,
        part_id=spec.part.id,
        stock_move_id=move.id,
        work_order_id=spec.work_order_id,
        technician_id=spec.location.technician_id,
        balance_after=move.balance_after,
        detail=detail,
    )
    session.add(record)
    session.add(
        StockNotification(
            audience=WAREHOUSE,
            kind=f"discrepancy.{kind}",
            message=detail,
            data={"location_id": spec.location.id, "part_id": spec.part.id, "stock_move_id": move.id},
        )
    )
    session.flush()
    return record


def _check_safety_stock(
    session: Session, location: StockLocation, part: Part, after: int, delta: int
) -> None:
    level = session.scalars(
        sa.select(SafetyStock).where(SafetyStock.location_id == location.id, SafetyStock.part_id == part.id)
    ).one_or_none()
    if level is None:
        return
    open_key = f"{location.id}:{part.id}"
    if after < level.minimum and delta < 0:
        _open_procurement(session, location, part, level, after, open_key)
    elif after >= level.minimum and delta > 0:
        for request in session.scalars(
            sa.select(ProcurementRequest).where(ProcurementRequest.open_key == open_key)
        ):
            request.status, request.open_key, request.closed_at = "fulfilled", None, utcnow()
        session.flush()


def _open_procurement(
    session: Session, location: StockLocation, part: Part, level: SafetyStock, after: int, open_key: str
) -> None:
    """One open request per part and location, even under concurrent crossings (unique `open_key`)."""
    if session.scalar(sa.select(ProcurementRequest.id).where(ProcurementRequest.open_key == open_key)):
        return
    try:
        with session.begin_nested():
            request = ProcurementRequest(
                part_id=part.id,
                location_id=location.id,
                quantity=max(level.reorder_quantity, level.minimum - after),
                balance_at_request=after,
                open_key=open_key,
            )
            session.add(request)
            session.flush()
            session.add(
                StockNotification(
                    audience=PROCUREMENT,
                    kind="procurement.requested",
                    message=f"{part.name} ({part.sku}) 在 {location.name} 低于安全库存 {level.minimum}，"
                    f"当前 {after}，请采购 {request.quantity}。",
                    data={
                        "procurement_request_id": request.id,
                        "part_id": part.id,
                        "location_id": location.id,
                    },
                )
            )
    except IntegrityError:
        return


# --- warehouse moves ------------------------------------------------------------------------------


def _serials_for(part: Part, quantity: int, serials: list[str] | None) -> list[str | None]:
    """Serialized parts move one unit per line, each with its serial; others move in bulk."""
    if quantity <= 0:
        raise invalid("stock.invalid_quantity", "Quantity must be a positive whole number.", "quantity")
    if not part.serialized:
        if serials:
            raise invalid("stock.unexpected_serial", f"{part.sku} is not serialized.", "serials")
        return [None]
    if not serials or len(serials) != quantity or len(set(serials)) != quantity:
        raise invalid(
            "stock.serial_required",
            f"{part.sku} is serialized: give {quantity} distinct serial(s).",
            "serials",
        )
    return list(serials)


def _serial_at(session: Session, part: Part, serial: str) -> SerialUnit | None:
    return session.scalars(
        sa.select(SerialUnit).where(SerialUnit.part_id == part.id, SerialUnit.serial == serial)
    ).one_or_none()


def _require_serial_at(session: Session, part: Part, serial: str, location: StockLocation) -> None:
    unit = _serial_at(session, part, serial)
    if unit is None or unit.status != SerialStatus.IN_STOCK or unit.location_id != location.id:
        raise conflict(
            "stock.serial_not_here",
            f"{part.sku} serial {serial} is not in stock at {location.name}.",
            serial=serial,
        )


def receive(
    *,
    session: Session,
    actor: Principal,
    location: StockLocation,
    part: Part,
    quantity: int,
    serials: list[str] | None = None,
    reason: str | None = None,
) -> list[StockMove]:
    """Goods in from a supplier, into a warehouse or service centre."""
    if location.kind == LocationKind.VAN:
        raise conflict("stock.receive_into_van", "Vans are stocked by transfer from a warehouse.")
    units = _serials_for(part, quantity, serials)
    for serial in units:
        if serial:
            unit = _serial_at(session, part, serial)
            if unit is not None and unit.status == SerialStatus.IN_STOCK:
                raise conflict(
                    "stock.serial_in_stock", f"Serial {serial} is already in stock.", serial=serial
                )
    qty = 1 if part.serialized else quantity
    return [
        post_move(
            session=session,
            spec=MoveSpec(part, location, MoveKind.RECEIVE, qty, actor, serial=serial, reason=reason),
        )
        for serial in units
    ]


def transfer(
    *,
    session: Session,
    actor: Principal,
    source: StockLocation,
    destination: StockLocation,
    part: Part,
    quantity: int,
    serials: list[str] | None = None,
    kind: MoveKind = MoveKind.TRANSFER,
    reason: str | None = None,
) -> list[StockMove]:
    """Move stock between locations (issuing to a van, returning from one): a pair of ledger lines."""
    if source.id == destination.id:
        raise invalid("stock.same_location", "Source and destination are the same.", "destination_id")
    units = _serials_for(part, quantity, serials)
    for serial in units:
        if serial:
            _require_serial_at(session, part, serial, source)
    qty = 1 if part.serialized else quantity
    moves: list[StockMove] = []
    with session.begin_nested():  # all lines or none
        for serial in units:
            transfer_id = new_id()
            for location, other, signed in ((source, destination, -qty), (destination, source, qty)):
                spec = MoveSpec(part, location, kind, signed, actor, serial=serial, reason=reason)
                spec.transfer_id, spec.counterpart_location_id = transfer_id, other.id
                moves.append(post_move(session=session, spec=spec))
    return moves


def write_off(
    *,
    session: Session,
    actor: Principal,
    location: StockLocation,
    part: Part,
    quantity: int,
    reason: str,
    serials: list[str] | None = None,
) -> list[StockMove]:
    """Damaged, lost or expired stock leaves the books, with the reason."""
    if not reason.strip():
        raise invalid("stock.reason_required", "A write-off needs a reason.", "reason")
    units = _serials_for(part, quantity, serials)
    for serial in units:
        if serial:
            _require_serial_at(session, part, serial, location)
    qty = 1 if part.serialized else quantity
    with session.begin_nested():  # all lines or none
        return [
            post_move(
                session=session,
                spec=MoveSpec(part, location, MoveKind.WRITE_OFF, -qty, actor, serial=serial, reason=reason),
            )
            for serial in units
        ]


# --- the technician's consumption (a field fact) --------------------------------------------------


@dataclass
class UsageResult:
    usage: PartUsage
    move: StockMove
    discrepancies: list[StockDiscrepancy]
    notes: list[tuple[str, str]]  # (flag code, detail) for the sync layer to raise


def consume_on_job(
    *,
    session: Session,
    usage_id: str,
    actor: Principal,
    technician: Technician,
    order: WorkOrder,
    part: Part,
    quantity: int,
    unit_price_fen: int,
    serial: str | None = None,
    quote_id: str | None = None,
    device_id: str | None = None,
    mutation_id: str | None = None,
    device_time: datetime | None = None,
) -> UsageResult:
    """Record a part fitted on a job out of the technician's van. Never refused for lack of stock."""
    van = van_for(session=session, technician=technician)
    notes: list[tuple[str, str]] = []
    spec = MoveSpec(
        part,
        van,
        MoveKind.CONSUME,
        -quantity,
        actor,
        serial=serial,
        work_order_id=order.id,
        device_time=device_time,
        allow_negative=True,
    )
    serial_problem = _serial_problem(session, part, serial, van, quantity)
    move = post_move(session=session, spec=spec)
    if serial_problem:
        spec.discrepancies.append(
            _discrepancy(session, move, spec, kind="serial_mismatch", detail=serial_problem)
        )
    for record in spec.discrepancies:
        notes.append((f"stock.{record.kind}", record.detail))
    usage = PartUsage(
        id=usage_id,
        work_order_id=order.id,
        technician_id=technician.id,
        part_id=part.id,
        sku=part.sku,
        name=part.name,
        quantity=quantity,
        serial=serial,
        unit_price_fen=unit_price_fen,
        warranty_months=part.warranty_months,
        location_id=van.id,
        stock_move_id=move.id,
        quote_id=quote_id,
        device_id=device_id,
        mutation_id=mutation_id,
        device_time=device_time,
        flagged=bool(spec.discrepancies),
    )
    session.add(usage)
    session.flush()
    return UsageResult(usage, move, spec.discrepancies, notes)


def _serial_problem(
    session: Session, part: Part, serial: str | None, van: StockLocation, quantity: int
) -> str | None:
    if not part.serialized:
        return None
    unit = _serial_at(session, part, serial) if serial else None
    if unit is None or unit.status != SerialStatus.IN_STOCK or unit.location_id != van.id:
        return f"{part.sku} serial {serial} was not in {van.name} when fitted."
    return None


def return_from_job(
    *,
    session: Session,
    usage_id: str,
    actor: Principal,
    technician: Technician,
    order: WorkOrder,
    part: Part,
    quantity: int,
    reason: str,
    serial: str | None = None,
    device_id: str | None = None,
    mutation_id: str | None = None,
    device_time: datetime | None = None,
) -> UsageResult:
    """A part recorded on the job goes back into the van (not fitted after all)."""
    net = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(PartUsage.quantity), 0)).where(
            PartUsage.work_order_id == order.id,
            PartUsage.part_id == part.id,
            PartUsage.serial == serial if serial else sa.true(),
        )
    )
    if quantity > int(net or 0):
        raise conflict(
            "stock.return_exceeds_used",
            f"Only {net} of {part.sku} are recorded on this job.",
            used=int(net or 0),
        )
    van = van_for(session=session, technician=technician)
    move = post_move(
        session=session,
        spec=MoveSpec(
            part,
            van,
            MoveKind.RETURN,
            quantity,
            actor,
            serial=serial,
            work_order_id=order.id,
            reason=reason,
            device_time=device_time,
        ),
    )
    previous_price = session.scalar(
        sa.select(PartUsage.unit_price_fen)
        .where(PartUsage.work_order_id == order.id, PartUsage.part_id == part.id, PartUsage.quantity > 0)
        .order_by(PartUsage.created_at.desc())
        .limit(1)
    )
    usage = PartUsage(
        id=usage_id,
        work_order_id=order.id,
        technician_id=technician.id,
        part_id=part.id,
        sku=part.sku,
        name=part.name,
        quantity=-quantity,
        serial=serial,
        unit_price_fen=previous_price if previous_price is not None else part.unit_price_fen,
        warranty_months=part.warranty_months,
        location_id=van.id,
        stock_move_id=move.id,
        reason=reason,
        device_id=device_id,
        mutation_id=mutation_id,
        device_time=device_time,
    )
    session.add(usage)
    session.flush()
    return UsageResult(usage, move, [], [])


# --- inventory counts -----------------------------------------------------------------------------


def open_count(
    *, session: Session, actor: Principal, location: StockLocation, counter_name: str
) -> CountSession:
    count = CountSession(
        location_id=location.id, counter_name=counter_name, opened_by_user_id=actor.user_id, status="open"
    )
    session.add(count)
    session.flush()
    return count


def get_count(*, session: Session, count_id: str) -> CountSession:
    count = session.get(CountSession, count_id)
    if count is None:
        raise not_found("stock_count")
    return count


def record_count(*, session: Session, count: CountSession, part: Part, counted: int) -> CountLine:
    """Set (or correct) the counted quantity of a part; posting compares it with the ledger."""
    if count.status != "open":
        raise conflict("stock.count_closed", "This count has been posted.")
    if counted < 0:
        raise invalid("stock.invalid_quantity", "A counted quantity cannot be negative.", "counted")
    line = next((line for line in count.lines if line.part_id == part.id), None)
    if line is None:
        line = CountLine(part_id=part.id, sku=part.sku, counted=counted)
        count.lines.append(line)
    line.counted = counted
    session.flush()
    return line


def post_count(*, session: Session, actor: Principal, count: CountSession) -> list[StockMove]:
    """Each difference between counted and booked becomes one adjustment move in the counter's name."""
    if count.status != "open":
        raise conflict("stock.count_closed", "This count has been posted.")
    location = session.get(StockLocation, count.location_id)
    if location is None:
        raise not_found("stock_location")
    counter = Principal(
        role=actor.role, user_id=actor.user_id, display_name=count.counter_name or actor_name(actor)
    )
    moves: list[StockMove] = []
    for line in count.lines:
        part = session.get(Part, line.part_id)
        assert part is not None
        expected = balance_of(session=session, location_id=location.id, part_id=part.id)
        line.expected, line.difference = expected, line.counted - expected
        if line.difference:
            moves.append(
                post_move(
                    session=session,
                    spec=MoveSpec(
                        part,
                        location,
                        MoveKind.ADJUSTMENT,
                        line.difference,
                        counter,
                        count_session_id=count.id,
                        reason=f"盘点 {count.counter_name}: 账面 {expected}, 实盘 {line.counted}",
                        allow_negative=True,
                    ),
                )
            )
    count.status, count.posted_at = "posted", utcnow()
    session.flush()
    return moves
