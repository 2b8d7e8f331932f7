"""Evidence over HTTP: register (customers' request photos; online clients), tickets, progress,
completion, downloads and per-job lists. Devices register through the `attachment.*` sync mutations.

`transfer_blp` is the local backend's store endpoint (uploads by ticket, downloads by signed link);
with `STORAGE_BACKEND=s3` the device talks to S3 directly and those routes answer 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, request, send_file
from flask.views import MethodView

from backend.api.problems import problem_response
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.errors import Problem
from backend.evidence.access import check_evidence_owner, get_own_attachment, get_visible_attachment
from backend.evidence.backends import LocalBlobStore
from backend.evidence.models import Attachment
from backend.evidence.schemas import (
    AttachmentDeclarationSchema,
    TicketSchema,
    ticket_json,
)
from backend.evidence.service import (
    VARIANTS,
    AttachmentDeclaration,
    attachment_for_upload,
    attachment_view,
    download_link,
    job_evidence,
    receive_part,
    receive_single_upload,
    register_attachment,
    renew_ticket,
    request_evidence,
    storage_for,
    upload_progress,
)
from backend.evidence.verification import complete_attachment
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.work_orders.access import get_visible_request, get_visible_work_order

blp = Blueprint("attachments", __name__, description="Evidence: photos, videos, signatures and documents.")
transfer_blp = Blueprint(
    "blob_transfer",
    __name__,
    url_prefix="/blobs",
    description="Local blob store: uploads by ticket, downloads by signed link (STORAGE_BACKEND=local).",
)

FORM_OVERHEAD = 64 * 1024


class RegisterSchema(AttachmentDeclarationSchema):
    work_order_id = ma.fields.String(validate=ma.validate.Length(min=1, max=36))
    request_id = ma.fields.String(validate=ma.validate.Length(min=1, max=36))

    @ma.validates_schema
    def _one_owner(self, data: dict[str, Any], **_: Any) -> None:
        if ("work_order_id" in data) == ("request_id" in data):
            raise ma.ValidationError(
                "Give exactly one of work_order_id and request_id.", field_name="request_id"
            )

    @ma.post_load
    def _typed(self, data: dict[str, Any], **_: Any) -> AttachmentDeclaration:
        return AttachmentDeclaration(**data)


class AttachmentSchema(ma.Schema):
    id = ma.fields.String()
    work_order_id = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)
    kind = ma.fields.String()
    state = ma.fields.String(metadata={"description": "pending | uploading | verified | rejected"})
    sha256 = ma.fields.String()
    size = ma.fields.Integer()
    content_type = ma.fields.String()
    detected_type = ma.fields.String(allow_none=True, metadata={"description": "Sniffed from the bytes."})
    filename = ma.fields.String(allow_none=True)
    taken_at = AwareDateTime(allow_none=True)
    lat = ma.fields.Float(allow_none=True, metadata={"description": "Declared by the device; staff only."})
    lng = ma.fields.Float(allow_none=True)
    exif_taken_at = AwareDateTime(allow_none=True)
    exif_lat = ma.fields.Float(
        allow_none=True, metadata={"description": "From the photo's EXIF; staff only."}
    )
    exif_lng = ma.fields.Float(allow_none=True)
    width = ma.fields.Integer(allow_none=True)
    height = ma.fields.Integer(allow_none=True)
    duration_seconds = ma.fields.Float(allow_none=True)
    uploaded_by_user_id = ma.fields.String(allow_none=True)
    rejection_code = ma.fields.String(allow_none=True)
    rejection_detail = ma.fields.String(allow_none=True)
    rejections = ma.fields.Integer()
    ticket_expires_at = AwareDateTime(allow_none=True)
    verified_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    updated_at = AwareDateTime()
    version = ma.fields.Integer()


class RegistrationSchema(ma.Schema):
    attachment = ma.fields.Nested(AttachmentSchema)
    ticket = ma.fields.Nested(TicketSchema, allow_none=True, metadata={"description": "None once verified."})


class PartProgressSchema(ma.Schema):
    part_number = ma.fields.Integer()
    size = ma.fields.Integer()


class ProgressSchema(ma.Schema):
    attachment_id = ma.fields.String()
    state = ma.fields.String()
    mode = ma.fields.String()
    part_size = ma.fields.Integer()
    parts_total = ma.fields.Integer()
    received_bytes = ma.fields.Integer()
    uploaded_parts = ma.fields.List(ma.fields.Nested(PartProgressSchema))
    missing_parts = ma.fields.List(ma.fields.Integer())


class DownloadArgs(StrictSchema):
    variant = ma.fields.String(
        load_default="original",
        validate=ma.validate.OneOf(VARIANTS),
        metadata={"description": "Customers and partners asking for `original` get `display` (no GPS)."},
    )


class DownloadSchema(ma.Schema):
    url = ma.fields.String()
    variant = ma.fields.String()
    content_type = ma.fields.String()
    expires_at = AwareDateTime()


class UsageSchema(ma.Schema):
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    bytes = ma.fields.Integer()


class AttachmentListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AttachmentSchema))
    usage = ma.fields.Nested(UsageSchema)
    limits = ma.fields.Nested(UsageSchema)


@blp.route("/attachments")
class Attachments(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(RegisterSchema)
    @blp.response(201, RegistrationSchema)
    def post(self, declaration: AttachmentDeclaration) -> dict[str, Any]:
        """Register an attachment (e.g. a customer's photo of a request) and get its upload ticket.

        Then upload the bytes with the ticket and call `POST /attachments/{id}/complete`. Registering the
        same id again with the same declaration returns the same attachment and a live ticket."""
        principal = require(Permission.ATTACHMENT_CREATE)
        session = db_session()
        check_evidence_owner(
            session=session,
            principal=principal,
            work_order_id=declaration.work_order_id,
            request_id=declaration.request_id,
        )
        attachment, ticket = register_attachment(
            session=session, storage=storage_for(current_app), uploader=principal, declaration=declaration
        )
        return {"attachment": attachment_view(attachment, principal), "ticket": ticket}


@blp.route("/attachments/<attachment_id>")
class AttachmentDetail(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, AttachmentSchema)
    def get(self, attachment_id: str) -> dict[str, Any]:
        """One attachment's metadata and state (no coordinates for customers and partners)."""
        principal = require(Permission.ATTACHMENT_READ)
        return attachment_view(
            get_visible_attachment(session=db_session(), principal=principal, attachment_id=attachment_id),
            principal,
        )


@blp.route("/attachments/<attachment_id>/ticket")
class AttachmentTicket(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, TicketSchema)
    def post(self, attachment_id: str) -> dict[str, Any]:
        """A fresh upload ticket (the old one expired while offline); an open multipart upload resumes."""
        principal = require(Permission.ATTACHMENT_CREATE)
        attachment = get_own_attachment(
            session=db_session(), principal=principal, attachment_id=attachment_id
        )
        return renew_ticket(storage=storage_for(current_app), attachment=attachment)


@blp.route("/attachments/<attachment_id>/parts")
class AttachmentProgress(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, ProgressSchema)
    def get(self, attachment_id: str) -> dict[str, Any]:
        """Which bytes/parts have arrived, so that an interrupted upload continues where it stopped."""
        principal = require(Permission.ATTACHMENT_CREATE)
        attachment = get_own_attachment(
            session=db_session(), principal=principal, attachment_id=attachment_id
        )
        return upload_progress(storage=storage_for(current_app), attachment=attachment)


@blp.route("/attachments/<attachment_id>/complete")
class AttachmentComplete(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, RegistrationSchema)
    @blp.alt_response(422, description="Rejected: problem with `code`, `attachment` and a new `ticket`.")
    def post(self, attachment_id: str) -> Any:
        """The upload is done: the server checks size, sniffed type and sha256, then marks it verified.

        A mismatch answers 422 with the reason's `code` (`attachment.size_mismatch`, `.type_mismatch`,
        `.checksum_mismatch`, `.ticket_expired`, `.ticket_mismatch`, `.image_unreadable`), deletes what
        arrived and carries a new `ticket` for the re-upload. Repeating a successful call is harmless."""
        principal = require(Permission.ATTACHMENT_CREATE)
        attachment = get_own_attachment(
            session=db_session(), principal=principal, attachment_id=attachment_id
        )
        completion = complete_attachment(
            session=db_session(), storage=storage_for(current_app), attachment=attachment
        )
        view = attachment_view(attachment, principal)
        if completion.rejection is None:
            return {"attachment": view, "ticket": None}
        problem = Problem(
            completion.rejection.code,
            completion.rejection.detail,
            status=422,
            title="Upload rejected",
            extra={
                "attachment": AttachmentSchema().dump(view),
                "ticket": ticket_json(completion.ticket),
            },
        )
        return problem_response(problem)


@blp.route("/attachments/<attachment_id>/download")
class AttachmentDownload(MethodView):
    @blp.doc(security=BEARER)
    @blp.arguments(DownloadArgs, location="query")
    @blp.response(200, DownloadSchema)
    def get(self, args: dict[str, Any], attachment_id: str) -> dict[str, Any]:
        """A short-lived link to a verified attachment's bytes: `original`, `display` or `thumbnail`."""
        principal = require(Permission.ATTACHMENT_READ)
        attachment = get_visible_attachment(
            session=db_session(), principal=principal, attachment_id=attachment_id
        )
        return download_link(
            storage=storage_for(current_app),
            attachment=attachment,
            principal=principal,
            variant=args["variant"],
        )


@blp.route("/work-orders/<work_order_id>/attachments")
class WorkOrderAttachments(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, AttachmentListSchema)
    def get(self, work_order_id: str) -> dict[str, Any]:
        """The job's evidence with each item's state (pending, uploading, verified, rejected) and the
        job's usage against its limits; includes the photos of the request the job came from."""
        principal = require(Permission.ATTACHMENT_READ)
        session = db_session()
        order = get_visible_work_order(session=session, principal=principal, work_order_id=work_order_id)
        return job_evidence(
            session=session, storage=storage_for(current_app), principal=principal, order=order
        )


@blp.route("/requests/<request_id>/attachments")
class RequestAttachments(MethodView):
    @blp.doc(security=BEARER)
    @blp.response(200, AttachmentListSchema)
    def get(self, request_id: str) -> dict[str, Any]:
        """A repair request's photos and videos, with their states."""
        principal = require(Permission.ATTACHMENT_READ)
        session = db_session()
        get_visible_request(session=session, principal=principal, request_id=request_id)
        return request_evidence(
            session=session, storage=storage_for(current_app), principal=principal, request_id=request_id
        )


# -- the local store's own endpoints (STORAGE_BACKEND=local)


def _local_store() -> LocalBlobStore:
    store = storage_for(current_app).store
    if not isinstance(store, LocalBlobStore):
        raise Problem("route.not_found", "The local blob store is not in use.", status=404, title="Not found")
    return store


def _ticketed_attachment(attachment_id: str, token: str) -> Attachment:
    return attachment_for_upload(
        session=db_session(),
        secret=current_app.config["SECRET_KEY"],
        attachment_id=attachment_id,
        token=token,
    )


@transfer_blp.route("/upload/<attachment_id>", methods=["POST"])
@transfer_blp.doc(
    summary="Upload a file with its ticket (local store)",
    description="multipart/form-data: the ticket's `fields`, then the file as `file`.",
)
def upload_single(attachment_id: str) -> Response:
    store = _local_store()
    config = storage_for(current_app).config
    request.max_content_length = config.multipart_threshold + FORM_OVERHEAD
    attachment = _ticketed_attachment(attachment_id, request.form.get("token", ""))
    upload = request.files.get("file")
    stream = None if upload is None else upload.stream
    receive_single_upload(store=store, attachment=attachment, stream=stream)
    return Response(status=204)


@transfer_blp.route("/upload/<attachment_id>/parts/<int:part_number>", methods=["PUT"])
@transfer_blp.doc(summary="Upload one part with its ticket (local store)", description="The raw part bytes.")
def upload_part(attachment_id: str, part_number: int) -> Response:
    store = _local_store()
    storage = storage_for(current_app)
    request.max_content_length = storage.config.part_size
    attachment = _ticketed_attachment(attachment_id, request.args.get("token", ""))
    part = receive_part(
        storage=storage, store=store, attachment=attachment, part_number=part_number, stream=request.stream
    )
    response = Response(status=200)
    response.headers["ETag"] = f'"{part.etag}"'
    return response


@transfer_blp.route("/o/<path:key>", methods=["GET"])
@transfer_blp.doc(summary="Download by signed link (local store)")
def download_blob(key: str) -> Response:
    store = _local_store()
    content_type, filename = store.check_download(key, request.args)
    path = store.path(key)
    if not path.is_file():
        raise Problem("blob.not_found", "The object no longer exists.", status=404, title="Not found")
    return send_file(path, mimetype=content_type, download_name=filename, as_attachment=False, max_age=0)
