"""Device mutations for evidence: `attachment.register` (answers with an upload ticket) and
`attachment.complete` (the server verifies what arrived). Pushed through `POST /sync/push`.

A photo is a field fact: registered even when the job was reassigned meanwhile (then flagged). A failed
verification is not a rejected mutation: the result says `state: rejected` with the code and a new
ticket, and the device uploads again.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from backend.models import WorkOrder
from backend.running_app import evidence_storage
from backend.services.onsite_mutations import field_fact_order
from backend.services.states import Status
from backend.storage.access import get_own_attachment
from backend.storage.schemas import AttachmentDeclarationSchema, completion_result, ticket_json
from backend.storage.service import register_attachment
from backend.storage.verification import complete_attachment
from backend.sync.registry import MutationContext, mutation
from backend.validation import StrictSchema

_FINISHED = frozenset({Status.CLOSED, Status.CANCELLED})


class RegisterArgs(AttachmentDeclarationSchema):
    work_order_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))


class CompleteArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=36))


@mutation(
    "attachment.register",
    RegisterArgs,
    description="Register a photo/video/signature/document of a job; the result carries its upload ticket.",
)
def register(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = field_fact_order(ctx, args["work_order_id"])
    _flag_finished_job(ctx, order)
    attachment, ticket = register_attachment(
        session=ctx.session,
        storage=evidence_storage(),
        uploader=ctx.principal,
        args=args,
        device_id=ctx.device_id,
    )
    return {
        "attachment": {"id": attachment.id, "version": attachment.version, "state": attachment.state},
        "ticket": ticket_json(ticket),
    }


@mutation(
    "attachment.complete",
    CompleteArgs,
    description="The bytes are uploaded: verify them (size, sniffed type, sha256). A mismatch answers "
    "`state: rejected` with a code and a new ticket.",
)
def complete(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    attachment = get_own_attachment(ctx.session, ctx.principal, args["id"])
    completion = complete_attachment(session=ctx.session, storage=evidence_storage(), attachment=attachment)
    return completion_result(completion)


def _flag_finished_job(ctx: MutationContext, order: WorkOrder) -> None:
    if order.status in _FINISHED:
        ctx.flag(
            "attachment.job_finished",
            f"Evidence arrived for a job that is already {order.status}.",
            work_order_id=order.id,
        )
