"""Device mutations for parts and quotes: `parts.consume`, `parts.return`, `quote.propose`, `quote.consent`.

Parts used, quotes and consents given are field facts: they are applied even when the job was
reassigned, closed or cancelled meanwhile (and flagged, `backend.work_orders.field_facts`), and consumption
is never refused for lack of van stock (flagged as a stock discrepancy). Missing consent is a
conflict (`quote.consent_required`): the device asks the customer and pushes the consent, then the
consumption again. Every conflict carries `server_state`, the row as the server holds it (the quote,
or the job), or null when the row the device created optimistically does not exist on the server.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from backend.accounts.technicians import Technician
from backend.errors import Problem, not_found
from backend.parts import quotes as quote_service
from backend.parts import stock
from backend.parts.billing_models import LineKind, Quote, QuoteStatus
from backend.parts.models import Part
from backend.parts.pricing import catalog_part
from backend.sync.registry import MutationContext, mutation
from backend.validation import AwareDateTime, StrictSchema
from backend.work_orders.field_facts import server_state, work_order_for_field_fact

ID = ma.validate.Length(min=1, max=36)
SKU = ma.validate.Length(min=1, max=64)


def _quantity() -> ma.fields.Integer:
    return ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1, max=10_000))


class ConsumeArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ID, metadata={"description": "Device-generated usage id."})
    work_order_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    quantity = _quantity()
    serial = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    quote_id = ma.fields.String(
        validate=ID, metadata={"description": "The new-finding quote this part is for, if any."}
    )


class ReturnArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ID)
    work_order_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    quantity = _quantity()
    serial = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class QuoteLineArgs(StrictSchema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf([LineKind.LABOUR, LineKind.PART, LineKind.TRAVEL])
    )
    sku = ma.fields.String(validate=SKU)
    quantity = ma.fields.Integer(strict=True, load_default=1, validate=ma.validate.Range(min=1, max=10_000))
    difficulty = ma.fields.String(validate=ma.validate.OneOf(["basic", "standard", "complex"]))


class ProposeArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ID, metadata={"description": "Device-generated quote id."})
    work_order_id = ma.fields.String(required=True, validate=ID)
    finding = ma.fields.String(validate=ma.validate.Length(min=1, max=2000))
    lines = ma.fields.List(ma.fields.Nested(QuoteLineArgs), required=True, validate=ma.validate.Length(min=1))
    expected_hash = ma.fields.String(
        validate=ma.validate.Length(equal=64),
        metadata={"description": "The hash the device computed; a different server price is a conflict."},
    )


class ConsentArgs(StrictSchema):
    id = ma.fields.String(required=True, validate=ID)
    quote_id = ma.fields.String(required=True, validate=ID)
    decision = ma.fields.String(
        required=True, validate=ma.validate.OneOf([QuoteStatus.APPROVED, QuoteStatus.DECLINED])
    )
    quote_hash = ma.fields.String(required=True, validate=ma.validate.Length(equal=64))
    signer_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    signature_sha256 = ma.fields.String(validate=ma.validate.Length(equal=64))
    signed_at = AwareDateTime(metadata={"description": "Device clock; kept for audit only."})


def _technician(ctx: MutationContext) -> Technician:
    technician = (
        ctx.session.get(Technician, ctx.principal.technician_id) if ctx.principal.technician_id else None
    )
    if technician is None:
        raise not_found("technician")
    return technician


def _quote_state(ctx: MutationContext, quote_id: str) -> dict[str, Any] | None:
    """The quote's row as a device receives it, or None if the server has no such quote."""
    quote = ctx.session.get(Quote, quote_id)
    return None if quote is None else server_state(session=ctx.session, obj=quote)


def _part(sku: str) -> Problem:
    return Problem(
        "part.unknown_sku", f"No active part with SKU {sku!r}.", status=422, errors={"sku": ["Unknown SKU."]}
    )


def _catalog(ctx: MutationContext, sku: str) -> Part:
    part = catalog_part(session=ctx.session, sku=sku)
    if part is None:
        raise _part(sku)
    return part


@mutation(
    "parts.consume",
    ConsumeArgs,
    description="Record a part fitted on a job from the technician's van. Never refused for stock; "
    "conflict `quote.consent_required` when the customer must approve it first.",
)
def consume(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    technician = _technician(ctx)
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    part = _catalog(ctx, args["sku"])
    if part.serialized and (args["quantity"] != 1 or not args.get("serial")):
        raise Problem(
            "stock.serial_required",
            f"{part.sku} is serialized: record one unit per serial.",
            status=422,
            errors={"serial": ["Required, with quantity 1."]},
        )
    try:
        with ctx.session.begin_nested():  # undone before a conflict reads the quote back (see consent)
            quote_service.require_consent_for_part(
                session=ctx.session,
                order=order,
                part=part,
                quantity=args["quantity"],
                quote_id=args.get("quote_id"),
            )
    except Problem as problem:
        if problem.status == 409:  # the finding's quote it names, else no row: the usage is not recorded
            named = problem.extra.get("quote_id")
            problem.extra["server_state"] = _quote_state(ctx, named) if named else None
        raise
    result = stock.consume_on_job(
        session=ctx.session,
        usage_id=args["id"],
        actor=ctx.principal,
        technician=technician,
        order=order,
        part=part,
        quantity=args["quantity"],
        unit_price_fen=part.unit_price_fen,
        serial=args.get("serial"),
        quote_id=args.get("quote_id"),
        device_id=ctx.device_id,
        mutation_id=ctx.mutation_id,
        device_time=ctx.client_time,
    )
    for code, detail in result.notes:
        ctx.flag(code, detail, work_order_id=order.id, sku=part.sku, balance_after=result.move.balance_after)
    return {
        "part_usage": {"id": result.usage.id, "version": result.usage.version},
        "van_stock": {"sku": part.sku, "quantity": result.move.balance_after},
        "discrepancy_ids": [record.id for record in result.discrepancies],
    }


@mutation("parts.return", ReturnArgs, description="Take a part recorded on a job back into the van.")
def return_part(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    technician = _technician(ctx)
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    part = _catalog(ctx, args["sku"])
    result = stock.return_from_job(
        session=ctx.session,
        usage_id=args["id"],
        actor=ctx.principal,
        technician=technician,
        order=order,
        part=part,
        quantity=args["quantity"],
        reason=args["reason"],
        serial=args.get("serial"),
        device_id=ctx.device_id,
        mutation_id=ctx.mutation_id,
        device_time=ctx.client_time,
    )
    return {
        "part_usage": {"id": result.usage.id, "version": result.usage.version},
        "van_stock": {"sku": part.sku, "quantity": result.move.balance_after},
    }


@mutation(
    "quote.propose",
    ProposeArgs,
    description="Create an itemized quote on the device (e.g. for a new finding); priced by the server.",
)
def propose(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    order = work_order_for_field_fact(ctx, args["work_order_id"])
    try:
        quote = quote_service.create_quote(
            session=ctx.session,
            order=order,
            actor=ctx.principal,
            lines=[quote_service.LineRequest(**line) for line in args["lines"]],
            finding=args.get("finding"),
            quote_id=args["id"],
        )
    except Problem as problem:
        if problem.status == 409:  # quote.job_closed: the job as the server has it
            problem.extra["server_state"] = server_state(session=ctx.session, obj=order)
        raise
    expected = args.get("expected_hash")
    if expected is not None and expected != quote.content_hash:
        raise Problem(
            "quote.price_changed",
            "The server priced this quote differently from the device; pull the catalog and retry.",
            status=409,
            title="Conflict",
            # The quote is not created: the server holds no row for it.
            extra={
                "current_hash": quote.content_hash,
                "document": quote_service.quote_document(quote),
                "server_state": None,
            },
        )
    return {"quote": {"id": quote.id, "version": quote.version, "content_hash": quote.content_hash}}


@mutation(
    "quote.consent",
    ConsentArgs,
    description="The customer approves or declines a quote on the technician's device (who, when, hash).",
)
def consent(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    try:
        # Its own savepoint: a conflict's server state is the quote once this mutation is undone (a
        # quote found expired on the way is reported as stored, not as this attempt left it).
        with ctx.session.begin_nested():
            quote = quote_service.get_quote(session=ctx.session, quote_id=args["quote_id"])
            work_order_for_field_fact(ctx, quote.work_order_id)
            record = quote_service.record_consent(
                session=ctx.session,
                quote=quote,
                decision=args["decision"],
                quote_hash_shown=args["quote_hash"],
                signer_name=args["signer_name"],
                channel="device",
                actor=ctx.principal,
                consent_id=args["id"],
                device_id=ctx.device_id,
                mutation_id=ctx.mutation_id,
                device_time=args.get("signed_at") or ctx.client_time,
                signature_sha256=args.get("signature_sha256"),
            )
    except Problem as problem:
        if problem.status == 409:  # quote.expired, quote.already_decided, quote.hash_mismatch
            problem.extra["server_state"] = _quote_state(ctx, args["quote_id"])
        raise
    return {
        "quote": {"id": quote.id, "version": quote.version, "status": quote.status},
        "quote_consent": {"id": record.id, "version": record.version},
    }
