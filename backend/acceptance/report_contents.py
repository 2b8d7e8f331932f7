"""What goes into the service report: the job, its customer and technician, the work done, parts and
charges, the sealed signatures and the photos, gathered for `report.render_service_report`."""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session

from backend.acceptance.models import AcceptanceStatus
from backend.acceptance.report import ReportInput
from backend.acceptance.service import acceptances_of
from backend.accounts.customers import Address, Customer
from backend.accounts.technicians import Technician
from backend.errors import Problem
from backend.evidence.models import Attachment, AttachmentKind, AttachmentState
from backend.evidence.service import get_verified_attachment
from backend.onsite.service import service_record_of
from backend.parts.billing import job_charges, job_parts_used
from backend.work_orders.models import WorkOrder

log = logging.getLogger(__name__)

# The report shows the first photos only: it is a page for the customer, not the evidence archive.
MAX_PHOTOS = 12


def service_report_contents(
    *,
    session: Session,
    order: WorkOrder,
    read_image: Callable[[str], bytes],
    public_base_url: str,
) -> ReportInput:
    """Everything the report shows; `read_image(key)` reads a stored object's bytes."""
    customer = session.get(Customer, order.customer_id)
    if customer is None:
        raise Problem("report.customer_missing", "The order has no customer.", status=409)
    address = session.get(Address, order.address_id) if order.address_id else None
    technician = session.get(Technician, order.assignee_id) if order.assignee_id else None
    acceptances = [
        a
        for a in acceptances_of(session=session, work_order_id=order.id)
        if a.status == AcceptanceStatus.SEALED
    ]
    photos = _report_photos(session, order)
    images = {p.id: blob for p in photos if (blob := _image(read_image, p.thumbnail_key))}
    for acceptance in acceptances:
        signature = get_verified_attachment(
            session=session, attachment_id=acceptance.signature_attachment_id or ""
        )
        if signature is None or signature.sha256 != acceptance.signature_sha256:
            continue
        if blob := _image(read_image, signature.display_key or signature.object_key):
            images[signature.id] = blob
    base = public_base_url.rstrip("/")
    return ReportInput(
        order=order,
        customer=customer,
        product=order.product,
        address_text=address.text if address else None,
        technician_name=technician.user.display_name if technician else None,
        record=service_record_of(session=session, order_id=order.id),
        parts=job_parts_used(session=session, work_order_id=order.id),
        charges=job_charges(session=session, work_order_id=order.id),
        acceptances=acceptances,
        images=images,
        photo_ids=[p.id for p in photos],
        verify_url=lambda acceptance_id: f"{base}/acceptances/{acceptance_id}/verify",
    )


def _report_photos(session: Session, order: WorkOrder) -> list[Attachment]:
    """The job's verified photos that have a thumbnail, oldest first."""
    return list(
        session.scalars(
            sa.select(Attachment)
            .where(
                Attachment.work_order_id == order.id,
                Attachment.kind == AttachmentKind.PHOTO,
                Attachment.state == AttachmentState.VERIFIED,
                Attachment.thumbnail_key.is_not(None),
            )
            .order_by(Attachment.created_at, Attachment.id)
            .limit(MAX_PHOTOS)
        )
    )


def _image(read_image: Callable[[str], bytes], key: str | None) -> bytes | None:
    """An image for the report; one that cannot be read leaves its place empty rather than failing."""
    if not key:
        return None
    try:
        return read_image(key)
    except (OSError, Problem, BotoCoreError, ClientError):
        log.warning("report image %s unreadable", key)
        return None
