"""Device mutations for evidence: `attachment.register` (answers with an upload ticket) and
`attachment.complete` (the server verifies what arrived). Pushed through `POST /sync/push`.

A photo is a field fact: registered even when the job was reassigned, closed or cancelled meanwhile
(then flagged, `backend.work_orders.field_facts`). A failed verification is not a rejected mutation: the
result says `state: rejected` with the code and a new ticket, and the device uploads again.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from backend.evidence.access import get_own_attachment
from backend.evidence.schemas import AttachmentDeclarationSchema, completion_result, ticket_json
from backend.evidence.service import AttachmentDeclaration, register_attachment, storage_for
from backend.evidence.verification import complete_attachment
from backend.sync.registry import MutationContext, mutation
from backend.validation import StrictSchema
from backend.work_orders.field_facts import work_order_for_field_fact


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
    work_order_for_field_fact(ctx, args["work_order_id"])
    attachment, ticket = register_attachment(
        session=ctx.session,
        storage=storage_for(ctx.settings),
        uploader=ctx.principal,
        declaration=AttachmentDeclaration(**args),
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
    attachment = get_own_attachment(session=ctx.session, principal=ctx.principal, attachment_id=args["id"])
    completion = complete_attachment(
        session=ctx.session, storage=storage_for(ctx.settings), attachment=attachment
    )
    return completion_result(completion)
