"""Repair-request intake from every channel, and confirmation of a request into a work order.

A request that arrives complete (contact, located address, product category, fault) is confirmed at
once by the system (seed 000: the work order is generated automatically once the request is confirmed);
an incomplete one waits for customer service, who completes and confirms it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

import sqlalchemy as sa
from geopy.distance import great_circle
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.accounts.customers import Address, Customer, Product
from backend.accounts.regions import Region
from backend.errors import Problem, conflict
from backend.kernel.base import new_id, utcnow
from backend.kernel.registration import installed
from backend.kernel.roles import SYSTEM_ROLE
from backend.policy import Principal
from backend.work_orders.models import Channel, Hazard, Priority, RepairRequest, RequestStatus, WorkOrder
from backend.work_orders.service import add_event, next_number, sla_due
from backend.work_orders.states import Status

SYSTEM = Principal(role=SYSTEM_ROLE, display_name="RepairOps")
# Partners may carry their reference in this header instead of (or as well as) the body.
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Emitted once a request became a work order (listeners: auto-assignment by the region's rules).
WORK_ORDER_CONFIRMED = "work_order.confirmed"

# Categories whose work is hazardous by nature (seed 002: electrical, gas, height need PPE and permits).
HAZARDS_BY_CATEGORY: dict[str, list[str]] = {
    "gas_water_heater": [Hazard.GAS],
    "gas_stove": [Hazard.GAS],
    "electrical_wiring": [Hazard.ELECTRICAL],
    "air_conditioner": [Hazard.ELECTRICAL, Hazard.HEIGHT],
    "water_heater": [Hazard.ELECTRICAL],
}
PRODUCT_CATEGORIES = (
    "air_conditioner",
    "refrigerator",
    "washing_machine",
    "water_heater",
    "gas_water_heater",
    "gas_stove",
    "range_hood",
    "television",
    "electrical_wiring",
    "plumbing",
    "computer",
    "phone",
)
FAULT_TYPES = (
    "no_power",
    "no_cooling",
    "no_heating",
    "leak",
    "noise",
    "display",
    "ignition",
    "tripping",
    "blockage",
    "error_code",
    "installation",
    "other",
)


@dataclass(frozen=True, kw_only=True)
class RequestInput:
    """A repair request as received, from any channel; what is missing waits for customer service."""

    contact_name: str
    contact_phone: str
    fault_description: str
    channel: str | None = None
    customer_id: str | None = None  # staff filing for a customer; a customer files for themselves
    partner_reference: str | None = None
    address_text: str | None = None
    lat: float | None = None
    lng: float | None = None
    product_category: str | None = None
    product_model: str | None = None
    product_serial: str | None = None
    purchase_date: date | None = None
    fault_type: str | None = None
    photos_expected: int = 0
    preferred_start: datetime | None = None
    preferred_end: datetime | None = None
    emergency: bool = False


@dataclass(frozen=True, kw_only=True)
class Confirmation:
    """What customer service completes or decides when confirming a request (all optional)."""

    address_text: str | None = None
    lat: float | None = None
    lng: float | None = None
    product_category: str | None = None
    fault_type: str | None = None
    product_model: str | None = None
    priority: str | None = None
    service_mode: str | None = None
    hazards: tuple[str, ...] = ()
    complex_job: bool = False


# Fields of a request that a confirmation may complete or correct.
_COMPLETABLE = ("address_text", "lat", "lng", "product_category", "fault_type", "product_model")


def find_partner_request(*, session: Session, partner_id: str, reference: str) -> RepairRequest | None:
    return session.scalars(
        sa.select(RepairRequest).where(
            RepairRequest.partner_id == partner_id, RepairRequest.partner_reference == reference
        )
    ).one_or_none()


def receive_partner_request(
    *, session: Session, new: RequestInput, by: Principal, idempotency_key: str | None = None
) -> tuple[RepairRequest, bool]:
    """A partner's request, once per `partner_reference` (or `idempotency_key`, which must then equal
    it): returns (request, created).

    Two concurrent sends of the same reference both pass the lookup; the unique constraint stops the
    second insert, whose savepoint is rolled back so that it can answer with the first one's row.
    """
    assert by.partner_id is not None
    reference = partner_reference(new.partner_reference, idempotency_key)
    new = replace(new, partner_reference=reference)
    existing = find_partner_request(session=session, partner_id=by.partner_id, reference=reference)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            request = _insert_request(session, new, by)
    except IntegrityError:
        existing = find_partner_request(session=session, partner_id=by.partner_id, reference=reference)
        if existing is None:
            raise
        return existing, False
    _confirm_if_complete(session, request)
    return request, True


def partner_reference(declared: str | None, idempotency_key: str | None) -> str:
    """The reference a partner's request is known by: from the body, else from the idempotency key."""
    reference = idempotency_key if declared is None else declared
    if reference is None or not 1 <= len(reference) <= 100:
        raise Problem(
            "request.invalid",
            "The request has invalid fields; see `errors`.",
            status=422,
            title="Invalid request",
            errors={"partner_reference": [f"Send it in the body or as the {IDEMPOTENCY_HEADER} header."]},
        )
    if idempotency_key is not None and idempotency_key != reference:
        raise Problem(
            "partner.idempotency_key_mismatch",
            f"{IDEMPOTENCY_HEADER} must equal partner_reference when both are sent.",
            status=422,
            errors={"partner_reference": [f"Differs from the {IDEMPOTENCY_HEADER} header."]},
        )
    return reference


def create_request(*, session: Session, new: RequestInput, by: Principal) -> RepairRequest:
    """Record a request as received; customers file for themselves, staff on a customer's behalf."""
    request = _insert_request(session, new, by)
    _confirm_if_complete(session, request)
    return request


def _confirm_if_complete(session: Session, request: RepairRequest) -> None:
    if is_complete(request):
        confirm_request(session=session, request=request, by=SYSTEM, confirmation=Confirmation())


def channel_for(declared: str | None, by: Principal) -> str:
    """Partners come through their platform; customers file from the app (or the web site); staff
    record what came by phone unless they name another channel."""
    if by.partner_id:
        return Channel.PARTNER
    if by.customer_id is not None:
        return declared if declared in (Channel.WEB, Channel.APP) else Channel.APP
    return declared or Channel.HOTLINE


def _insert_request(session: Session, new: RequestInput, by: Principal) -> RepairRequest:
    # A customer files for themselves, whatever customer id they send.
    customer_id = by.customer_id or new.customer_id
    if customer_id and by.customer_id is None and session.get(Customer, customer_id) is None:
        raise Problem(
            "customer.not_found",
            "No customer with that id.",
            status=422,
            errors={"customer_id": ["Unknown customer."]},
        )
    request = RepairRequest(
        channel=channel_for(new.channel, by),
        customer_id=customer_id,
        partner_id=by.partner_id,
        partner_reference=new.partner_reference,
        submitted_by_user_id=by.user_id,
        contact_name=new.contact_name,
        contact_phone=new.contact_phone,
        address_text=new.address_text,
        lat=new.lat,
        lng=new.lng,
        product_category=new.product_category,
        product_model=new.product_model,
        product_serial=new.product_serial,
        purchase_date=new.purchase_date,
        fault_type=new.fault_type,
        fault_description=new.fault_description,
        photos_expected=new.photos_expected,
        preferred_start=new.preferred_start,
        preferred_end=new.preferred_end,
        emergency=new.emergency,
    )
    session.add(request)
    session.flush()
    return request


def missing_fields(request: RepairRequest) -> list[str]:
    missing = []
    if request.lat is None or request.lng is None or not request.address_text:
        missing.append("address")
    if not request.product_category:
        missing.append("product_category")
    if not request.fault_description:
        missing.append("fault_description")
    return missing


def is_complete(request: RepairRequest) -> bool:
    return not missing_fields(request)


def nearest_region(*, session: Session, lat: float, lng: float) -> Region | None:
    regions = session.scalars(sa.select(Region)).all()
    if not regions:
        return None
    return min(regions, key=lambda r: great_circle((lat, lng), (r.center_lat, r.center_lng)).meters)


def _customer_for(session: Session, request: RepairRequest) -> Customer:
    if request.customer_id:
        customer = session.get(Customer, request.customer_id)
        assert customer is not None
        return customer
    existing = session.scalars(
        sa.select(Customer).where(Customer.phone == request.contact_phone).order_by(Customer.created_at)
    ).first()
    if existing is not None:
        return existing
    customer = Customer(name=request.contact_name, phone=request.contact_phone)
    session.add(customer)
    session.flush()
    return customer


def _address_for(
    session: Session, customer: Customer, request: RepairRequest, region: Region | None
) -> Address:
    for address in customer.addresses:
        if address.text == request.address_text:
            if address.lat is None:
                address.lat, address.lng = request.lat, request.lng
            return address
    address = Address(
        customer=customer,
        text=request.address_text or "",
        lat=request.lat,
        lng=request.lng,
        region_id=region.id if region else None,
    )
    session.add(address)
    return address


def _product_for(session: Session, customer: Customer, request: RepairRequest) -> Product:
    """The customer's known device: by serial, or (no serial given) by category and model."""
    same = sa.select(Product).where(Product.customer_id == customer.id)
    if request.product_serial:
        same = same.where(Product.serial == request.product_serial)
    elif request.product_model:
        same = same.where(
            Product.category == request.product_category, Product.model == request.product_model
        )
    else:
        same = same.where(sa.false())
    found = session.scalars(same.order_by(Product.created_at)).first()
    if found is not None:
        return found
    product = Product(
        customer_id=customer.id,
        category=request.product_category or "other",
        model=request.product_model or "未知型号",
        serial=request.product_serial,
        purchase_date=request.purchase_date,
        warranty_end=_default_warranty_end(request.purchase_date),
    )
    session.add(product)
    return product


def _default_warranty_end(purchase: date | datetime | None) -> date | None:
    """National 三包 rule of thumb: the whole appliance is covered one year from purchase."""
    if purchase is None:
        return None
    day = purchase if isinstance(purchase, date) else purchase.date()
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def confirm_request(
    *, session: Session, request: RepairRequest, by: Principal, confirmation: Confirmation
) -> WorkOrder:
    """Turn a complete request into a work order (status `new`, ready for dispatch)."""
    if request.status != RequestStatus.SUBMITTED:
        raise conflict(
            "repair_request.not_pending",
            f"The request is already {request.status}.",
            current_status=request.status,
            work_order_id=request.work_order_id,
        )
    for key in _COMPLETABLE:
        value = getattr(confirmation, key)
        if value is not None:
            setattr(request, key, value)
    missing = missing_fields(request)
    if missing:
        raise Problem(
            "repair_request.incomplete",
            "The request lacks what a work order needs: " + ", ".join(missing) + ".",
            status=422,
            errors={name: ["Required to confirm."] for name in missing},
        )
    assert request.lat is not None and request.lng is not None and request.product_category
    customer = _customer_for(session, request)
    request.customer_id = customer.id
    region = nearest_region(session=session, lat=request.lat, lng=request.lng)
    address = _address_for(session, customer, request, region)
    product = _product_for(session, customer, request)
    session.flush()
    now = utcnow()
    priority = confirmation.priority or (Priority.EMERGENCY if request.emergency else Priority.NORMAL)
    respond_due, resolve_due = sla_due(priority, now)
    hazards = sorted(set(confirmation.hazards) | set(HAZARDS_BY_CATEGORY.get(request.product_category, [])))
    order = WorkOrder(
        id=new_id(),  # known before the insert, so the order and its first event go in one flush (version 1)
        number=next_number(session=session, prefix="WO", day=now),
        request_id=request.id,
        customer_id=customer.id,
        product_id=product.id,
        address_id=address.id,
        region_id=region.id if region else None,
        partner_id=request.partner_id,
        service_mode=confirmation.service_mode or "on_site",
        priority=priority,
        hazards=hazards,
        product_category=request.product_category,
        fault_type=request.fault_type,
        fault_description=request.fault_description,
        complex_job=bool(confirmation.complex_job or product.high_end),
        status=Status.NEW,
        respond_due_at=respond_due,
        resolve_due_at=resolve_due,
        appointment_start=request.preferred_start,
        appointment_end=request.preferred_end,
        lat=request.lat,
        lng=request.lng,
    )
    session.add(order)
    add_event(
        session=session,
        order=order,
        kind="created",
        actor=by,
        to_status=Status.NEW,
        message="已受理，工单已生成",
        data={"channel": request.channel},
    )
    request.status = RequestStatus.CONFIRMED
    session.refresh(request, ["work_order"])
    # Seed 000: assigned by the region's preset rules as soon as it exists (no rule on: stays queued);
    # the dispatch domain listens for this event.
    installed().emit(WORK_ORDER_CONFIRMED, session=session, order=order)
    return order


def reject_request(*, session: Session, request: RepairRequest, by: Principal, reason: str) -> RepairRequest:
    if request.status != RequestStatus.SUBMITTED:
        raise conflict("repair_request.not_pending", f"The request is already {request.status}.")
    request.status = RequestStatus.REJECTED
    request.rejection_reason = reason
    return request
