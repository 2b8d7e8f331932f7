"""Acceptance over HTTP: the job's canonical summary and hash, its signatures, seal verification,
the customer's rating, and the service report PDF. Signatures themselves arrive as the
`acceptance.record` sync mutation (backend.onsite.mutations)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, request
from flask.views import MethodView

from backend.acceptance import report, service
from backend.acceptance.models import Acceptance, AcceptanceOutcome, Rating
from backend.acceptance.report_contents import service_report_contents
from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate_by
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, current_principal, require
from backend.errors import not_found
from backend.evidence.service import read_blob
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.policy import Principal
from backend.work_orders.access import get_visible_work_order

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


class AcceptancePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(AcceptanceSchema))


SIGNATURE_ORDER = (SortKey(Acceptance.recorded_at), SortKey(Acceptance.id))


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
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        summary = service.job_summary(session=session, order=order)
        canonical = service.canonical_json(summary)
        return {
            "summary": summary,
            "canonical": canonical.decode(),
            "summary_sha256": service.sha256_hex(canonical),
        }


@blp.route("/work-orders/<string:work_order_id>/acceptances")
class Acceptances(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AcceptancePageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], work_order_id: str) -> dict[str, Any]:
        """Every signature on the job, sealed or stale, oldest first, a page at a time."""
        principal = require(Permission.ACCEPTANCE_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        stmt = service.signatures_of(work_order_id=order.id)
        return paginate_by(session, stmt, SIGNATURE_ORDER, args.get("cursor"), args["limit"])


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
        verification = service.verify_acceptance_for(
            session=db_session(),
            acceptance_id=acceptance_id,
            viewer=_optional_principal(),
            key=service.seal_key(current_app.config),
        )
        return _verification_body(verification)


def _verification_body(verification: service.Verification) -> dict[str, Any]:
    acceptance, image = verification.acceptance, verification.signature_image
    body: dict[str, Any] = {
        "acceptance_id": acceptance.id,
        "intact": verification.check.intact,
        "status": acceptance.status,
    }
    if verification.signed_details and verification.order is not None:
        body |= {
            "problems": verification.check.problems,
            "work_order_number": verification.order.number,
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
        order = get_visible_work_order(
            session=session, principal=principal, work_order_id=work_order_id, lock=True
        )
        return service.rate_service(session=session, order=order, rating=service.RatingInput(**data))

    @blp.response(200, RatingSchema)
    @blp.doc(security=BEARER)
    def get(self, work_order_id: str) -> Rating:
        """The order's rating (its customer, its technician and staff)."""
        principal = require(Permission.RATING_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        rating = service.rating_of(session=session, order=order)
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
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        contents = service_report_contents(
            session=session,
            order=order,
            read_image=lambda key: read_blob(current_app, key),
            public_base_url=current_app.config["PUBLIC_BASE_URL"],
        )
        return Response(
            report.render_service_report(contents),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'inline; filename="service-report-{order.number}.pdf"'},
        )


__all__ = ["AcceptanceOutcome", "blp"]
