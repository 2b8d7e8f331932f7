"""Device mutation of acceptance: the customer's (or a witness's, a guardian's) signature on the job's
summary, pushed through `POST /sync/push`. The signature is a field fact: kept even when the job moved on
meanwhile (flagged), sealed when its summary matches the job's, kept as stale otherwise.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from backend.acceptance import service as acceptance_service
from backend.acceptance.models import AcceptanceOutcome, AcceptanceStatus, SignerRole
from backend.sync.registry import MutationContext, mutation
from backend.validation import (
    SHA256,
    AwareDateTime,
    StrictSchema,
    device_row_id,
    lat_lng_together,
    latitude,
    longitude,
    text_field,
    work_order_id_field,
)
from backend.work_orders.field_facts import job_version, work_order_for_field_fact

MAX_STROKES = 200
MAX_POINTS = 5000


def _strokes(value: Any) -> None:
    if len(value) > MAX_STROKES:
        raise ma.ValidationError(f"At most {MAX_STROKES} strokes.")
    points = 0
    for stroke in value:
        if not isinstance(stroke, list) or not stroke:
            raise ma.ValidationError("Each stroke is a non-empty list of [x, y, t] points.")
        for point in stroke:
            if (
                not isinstance(point, list)
                or len(point) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in point)
            ):
                raise ma.ValidationError("A point is [x, y, t] in integers (pixels, milliseconds).")
        points += len(stroke)
    if points > MAX_POINTS:
        raise ma.ValidationError(f"At most {MAX_POINTS} points in all.")


class AcceptanceArgs(StrictSchema):
    id = device_row_id()
    work_order_id = work_order_id_field()
    summary_sha256 = ma.fields.String(
        required=True, validate=SHA256, metadata={"description": "sha256 of the canonical summary signed."}
    )
    signer_name = text_field(100, required=True)
    signer_role = ma.fields.String(required=True, validate=ma.validate.OneOf([r.value for r in SignerRole]))
    signer_relation = text_field(50, metadata={"description": "e.g. 本人, 配偶, 监护人."})
    outcome = ma.fields.String(
        required=True, validate=ma.validate.OneOf([o.value for o in AcceptanceOutcome])
    )
    reason = text_field(1000, metadata={"description": "Required for a rejection."})
    strokes = ma.fields.Raw(
        required=True, validate=_strokes, metadata={"description": "[[[x, y, t], ...], ...] integers."}
    )
    signature_attachment_id = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=36),
        metadata={"description": "The signature image, registered as an attachment of kind 'signature'."},
    )
    signature_sha256 = ma.fields.String(required=True, validate=SHA256)
    device_time = AwareDateTime()
    lat = latitude()
    lng = longitude()

    @ma.validates_schema
    def _checks(self, data: dict[str, Any], **_: Any) -> None:
        lat_lng_together(data)
        if not isinstance(data.get("strokes"), list):
            raise ma.ValidationError("A list of strokes.", field_name="strokes")


def _signature(args: dict[str, Any]) -> acceptance_service.AcceptanceInput:
    """The loaded arguments as the service's input (the job is found from `work_order_id` first)."""
    fields = {key: value for key, value in args.items() if key != "work_order_id"}
    return acceptance_service.AcceptanceInput(**fields)


@mutation(
    "acceptance.record",
    AcceptanceArgs,
    description="The customer's (or technician's, witness's, guardian's) signature on the job's summary.",
)
def record_acceptance(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    recorded = acceptance_service.record_acceptance(
        session=ctx.session,
        order=order,
        actor=ctx.principal,
        signature=_signature(args),
        seal_key=acceptance_service.seal_key(ctx.settings),
        device_id=ctx.device_id,
    )
    acceptance = recorded.acceptance
    result: dict[str, Any] = {
        "acceptance": {
            "id": acceptance.id,
            "status": acceptance.status,
            "seal_key_id": acceptance.seal_key_id,
        },
        "work_order": job_version(order),
    }
    if acceptance.status == AcceptanceStatus.STALE:
        ctx.flag(
            "acceptance.stale",
            "The job changed after the customer signed; the device must collect a new signature.",
            work_order_id=order.id,
            acceptance_id=acceptance.id,
        )
        result["resign_required"] = True
        result["summary"] = recorded.current_summary
        result["summary_sha256"] = recorded.current_hash
    if recorded.rework is not None:
        result["rework_order"] = job_version(recorded.rework) | {"number": recorded.rework.number}
    return result
