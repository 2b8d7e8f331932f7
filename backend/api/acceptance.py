"""Acceptance over HTTP: the job's canonical summary and hash, its signatures, seal verification,
the customer's rating, and the service report PDF. Signatures themselves arrive as the
`acceptance.record` sync mutation (backend.onsite.mutations)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from flask import Response, current_app, request
from flask.views import MethodView

from backend.acceptance import report, service
from backend.acceptance.models import Acceptance, AcceptanceOutcome, AcceptanceStatus, Rating
from backend.accounts.customers import Address, Customer
from backend.accounts.technicians import Technician
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, current_principal, require
from backend.errors import Problem, conflict, not_found
from backend.evidence.models import Attachment, AttachmentKind, AttachmentState
from backend.evidence.service import get_verified_attachment, read_blob
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.onsite import service as onsite
from backend.parts.billing import job_charges, job_parts_used
from backend.policy import Principal, can, owns_work_order
from backend.work_orders.access import get_visible_work_order
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import Status

blp = Blueprint("acceptance", __name__, description="Acceptance signatures, seals, ratings and the report.")


class SummarySchema(ma.Schema):
    summary = ma.fields.Dict(
        metadata={"description": "The canonical acceptance summary (see acceptance.md)."}
    )
    canonical = ma.fields.String(metadata={"description": "Its canonical JSON text, exactly what is hashed."})
    summary_sha256 = ma.fields.String()


class AcceptanceSchema(ma.Schema):
    id = ma.fields.String()
    work_order_id = ma.fields.String()
    status = ma.fields.String()
    outcome = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    signer_name = ma.fields.String()
    signer_role = ma.fields.String()
    signer_relation = ma.fields.String(allow_none=True)
    summary_sha256 = ma.fields.String()
    server_summary_sha256 = ma.fields.String()
    signature_attachment_id = ma.fields.String(allow_none=True)
    signature_sha256 = ma.fields.String()
    device_time = AwareDateTime(allow_none=True)
    recorded_at = AwareDateTime()
    sealed_at = AwareDateTime(allow_none=True)
    seal_key_id = ma.fields.String(allow_none=True)
    rework_order_id = ma.fields.String(allow_none=True)


class VerifySchema(ma.Schema):
    acceptance_id = ma.fields.String()
    intact = ma.fields.Boolean(metadata={"description": "The seal matches the record as stored now."})
    status = ma.fields.String()
    problems = ma.fields.List(
        ma.fields.String(), metadata={"description": "Only for those who may see the job: what broke."}
    )
    work_order_number = ma.fields.String()
    signer_name = ma.fields.String()
    signer_role = ma.fields.String()
    outcome = ma.fields.String()
    summary_sha256 = ma.fields.String()
    sealed_at = AwareDateTime(allow_none=True)
    signature_image_state = ma.fields.String(allow_none=True)


class RatingArgs(StrictSchema):
    attitude = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=5))
    quality = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=5))
    effect = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=5))
    response_speed = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=5))
    comment = ma.fields.String(validate=ma.validate.Length(max=2000))


class RatingSchema(RatingArgs):
    class Meta:
        unknown = ma.EXCLUDE

    id = ma.fields.String()
    work_order_id = ma.fields.String()
    technician_id = ma.fields.String(allow_none=True)
    comment = ma.fields.String(allow_none=True)
    created_at = AwareDateTime()


@blp.route("/work-orders/<string:work_order_id>/acceptance-summary")
class AcceptanceSummary(MethodView):
    @blp.response(200, SummarySchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> dict[str, Any]:
        """The job's canonical acceptance summary and its sha256, as the server computes it now.
        An online device shows this and signs the hash; offline it computes the same itself."""
        principal = require(Permission.ACCEPTANCE_READ)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        summary = service.job_summary(session, order)
        canonical = service.canonical_json(summary)
        return {
            "summary": summary,
            "canonical": canonical.decode(),
            "summary_sha256": service.sha256_hex(canonical),
        }


@blp.route("/work-orders/<string:work_order_id>/acceptances")
class Acceptances(MethodView):
    @blp.response(200, AcceptanceSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> list[Acceptance]:
        """Every signature on the job, sealed or stale, oldest first."""
        principal = require(Permission.ACCEPTANCE_READ)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        return service.acceptances_of(session, order.id)


def _optional_principal() -> Principal | None:
    if "Authorization" not in request.headers and "X-API-Key" not in request.headers:
        return None
    return current_principal()


@blp.route("/acceptances/<string:acceptance_id>/verify")
class VerifyAcceptance(MethodView):
    @blp.response(200, VerifySchema)
    @blp.doc(security=[{}, *BEARER])
    def get(self, acceptance_id: str) -> dict[str, Any]:
        """Is this signature's seal intact? Anyone holding the id (printed on the report) learns
        the seal status; the job's customer, technician and staff also see what was signed."""
        session = db_session()
        acceptance = session.get(Acceptance, acceptance_id)
        if acceptance is None:
            raise not_found("acceptance")
        check = service.verify_acceptance(acceptance, service.seal_key(current_app.config))
        image = session.get(Attachment, acceptance.signature_attachment_id or "")
        if image is not None and image.sha256 != acceptance.signature_sha256:
            check = service.SealCheck(False, [*check.problems, "signature_image_mismatch"])
        body: dict[str, Any] = {
            "acceptance_id": acceptance.id,
            "intact": check.intact,
            "status": acceptance.status,
        }
        principal = _optional_principal()
        order = session.get(WorkOrder, acceptance.work_order_id)
        if (
            principal is not None
            and order is not None
            and can(principal, Permission.ACCEPTANCE_READ)
            and owns_work_order(principal, order)
        ):
            body |= {
                "problems": check.problems,
                "work_order_number": order.number,
                "signer_name": acceptance.signer_name,
                "signer_role": acceptance.signer_role,
                "outcome": acceptance.outcome,
                "summary_sha256": acceptance.summary_sha256,
                "sealed_at": acceptance.sealed_at,
                "signature_image_state": image.state if image is not None else None,
            }
        return body


@blp.route("/work-orders/<string:work_order_id>/rating")
class WorkOrderRating(MethodView):
    @blp.arguments(RatingArgs)
    @blp.response(201, RatingSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], work_order_id: str) -> Rating:
        """Rate the service once you accepted it: attitude, quality, effect, response speed (1-5)."""
        principal = require(Permission.RATING_CREATE)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id, lock=True)
        if order.status not in (Status.ACCEPTED_BY_CUSTOMER, Status.CLOSED):
            raise conflict(
                "rating.not_accepted_yet",
                "Rate the service after you accepted it.",
                current_status=order.status,
            )
        if session.scalar(sa.select(Rating.id).where(Rating.work_order_id == order.id)):
            raise conflict("rating.already_rated", "This order was already rated.")
        rating = Rating(
            work_order_id=order.id, customer_id=order.customer_id, technician_id=order.assignee_id, **data
        )
        session.add(rating)
        session.flush()
        return rating

    @blp.response(200, RatingSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> Rating:
        """The order's rating (its customer, its technician and staff)."""
        principal = require(Permission.RATING_READ)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        rating = session.scalars(sa.select(Rating).where(Rating.work_order_id == order.id)).one_or_none()
        if rating is None:
            raise not_found("rating")
        return rating


@blp.route("/work-orders/<string:work_order_id>/report.pdf")
class ServiceReport(MethodView):
    @blp.response(200, content_type="application/pdf")
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> Response:
        """The service report PDF in Chinese (customer and staff only)."""
        principal = require(Permission.REPORT_DOWNLOAD)
        session = db_session()
        order = get_visible_work_order(session, principal, work_order_id)
        pdf = report.render_service_report(_report_input(session, order))
        return Response(
            pdf,
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="service-report-{order.number}.pdf"'},
        )


def _report_input(session: Any, order: WorkOrder) -> report.ReportInput:
    customer = session.get(Customer, order.customer_id)
    if customer is None:
        raise Problem("report.customer_missing", "The order has no customer.", status=409)
    address = session.get(Address, order.address_id) if order.address_id else None
    technician = session.get(Technician, order.assignee_id) if order.assignee_id else None
    acceptances = [
        a for a in service.acceptances_of(session, order.id) if a.status == AcceptanceStatus.SEALED
    ]
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    photos = list(
        session.scalars(
            sa.select(Attachment)
            .where(
                Attachment.work_order_id == order.id,
                Attachment.kind == AttachmentKind.PHOTO,
                Attachment.state == AttachmentState.VERIFIED,
                Attachment.thumbnail_key.is_not(None),
            )
            .order_by(Attachment.created_at, Attachment.id)
            .limit(12)
        )
    )
    images = {p.id: blob for p in photos if (blob := _blob(p.thumbnail_key))}
    for acceptance in acceptances:
        signature = get_verified_attachment(session, acceptance.signature_attachment_id or "")
        if signature is None or signature.sha256 != acceptance.signature_sha256:
            continue
        if blob := _blob(signature.display_key or signature.object_key):
            images[signature.id] = blob
    return report.ReportInput(
        order=order,
        customer=customer,
        product=order.product,
        address_text=address.text if address else None,
        technician_name=technician.user.display_name if technician else None,
        record=onsite.service_record_of(session, order.id),
        parts=job_parts_used(session, order.id),
        charges=job_charges(session, order.id),
        acceptances=acceptances,
        images=images,
        photo_ids=[p.id for p in photos],
        verify_url=lambda acceptance_id: f"{base}/acceptances/{acceptance_id}/verify",
    )


def _blob(key: str | None) -> bytes | None:
    """An image for the report; one that cannot be read leaves its place empty rather than failing."""
    if not key:
        return None
    try:
        return read_blob(current_app, key)
    except (OSError, Problem, BotoCoreError, ClientError):
        current_app.logger.warning("report image %s unreadable", key)
        return None


__all__ = ["AcceptanceOutcome", "blp"]
