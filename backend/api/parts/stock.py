"""Parts catalog and stock: locations, balances, ledger moves, safety stock, counts, discrepancies.

Warehouse staff manage stock; technicians see the catalog and their own van only (another van is 404).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate_by
from backend.api.schemas import AwareDateTime, StrictSchema
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.parts import catalog, stock, warehouse
from backend.parts.access import get_visible_stock_location
from backend.parts.models import (
    CountSession,
    LocationKind,
    MoveKind,
    Part,
    ProcurementRequest,
    SafetyStock,
    StockBalance,
    StockDiscrepancy,
    StockLocation,
    StockMove,
)
from backend.policy import Principal, require_self_or_staff

blp = Blueprint("parts", __name__, description="Parts catalog, stock locations and the stock ledger.")

SKU = ma.validate.Length(min=1, max=64)
ID = ma.validate.Length(min=1, max=36)


def _quantity(**kwargs: Any) -> ma.fields.Integer:
    """Whole units only: 1.5 or "2" are refused, not rounded."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=1_000_000), **kwargs)


def _fen(**kwargs: Any) -> ma.fields.Integer:
    """Integer fen: a fraction of a fen is refused."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=10**11), **kwargs)


# --- schemas --------------------------------------------------------------------------------------


class PartSchema(ma.Schema):
    id = ma.fields.String()
    sku = ma.fields.String()
    name = ma.fields.String()
    category = ma.fields.String()
    product_category = ma.fields.String(allow_none=True)
    unit_price_fen = ma.fields.Integer()
    genuine = ma.fields.Boolean()
    serialized = ma.fields.Boolean()
    warranty_months = ma.fields.Integer()
    active = ma.fields.Boolean()
    version = ma.fields.Integer()


class PartCreateSchema(StrictSchema):
    sku = ma.fields.String(required=True, validate=SKU)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    category = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))
    product_category = ma.fields.String(validate=ma.validate.Length(max=50))
    unit_price_fen = _fen(required=True)
    genuine = ma.fields.Boolean(load_default=True)
    serialized = ma.fields.Boolean(load_default=False)
    warranty_months = ma.fields.Integer(
        strict=True, load_default=0, validate=ma.validate.Range(min=0, max=120)
    )


class PartUpdateSchema(StrictSchema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    unit_price_fen = _fen()
    genuine = ma.fields.Boolean()
    warranty_months = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=120))
    active = ma.fields.Boolean()


class PartListArgs(PageArgs):
    category = ma.fields.String()
    q = ma.fields.String(metadata={"description": "Part of the SKU or name."})


class PartPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(PartSchema))


CATALOG_ORDER = (SortKey(Part.sku), SortKey(Part.id))


class LocationSchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String()
    name = ma.fields.String()
    code = ma.fields.String()
    technician_id = ma.fields.String(allow_none=True)
    region_id = ma.fields.String(allow_none=True)


class LocationCreateSchema(StrictSchema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf([LocationKind.WAREHOUSE, LocationKind.SERVICE_CENTRE])
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    region_id = ma.fields.String(validate=ID)


class BalanceSchema(ma.Schema):
    location_id = ma.fields.String()
    part_id = ma.fields.String()
    sku = ma.fields.String(attribute="part.sku")
    name = ma.fields.String(attribute="part.name")
    quantity = ma.fields.Integer()
    version = ma.fields.Integer()


class VanSchema(ma.Schema):
    location = ma.fields.Nested(LocationSchema)
    balances = ma.fields.List(ma.fields.Nested(BalanceSchema))


class MoveSchema(ma.Schema):
    id = ma.fields.String()
    part_id = ma.fields.String()
    location_id = ma.fields.String()
    kind = ma.fields.String()
    quantity = ma.fields.Integer()
    balance_after = ma.fields.Integer()
    serial = ma.fields.String(allow_none=True)
    transfer_id = ma.fields.String(allow_none=True)
    counterpart_location_id = ma.fields.String(allow_none=True)
    work_order_id = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    actor_name = ma.fields.String()
    created_at = AwareDateTime()


class ReceiptSchema(StrictSchema):
    location_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    quantity = _quantity(required=True)
    serials = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=100)))
    reason = ma.fields.String(validate=ma.validate.Length(max=500), metadata={"description": "e.g. the PO."})


class TransferSchema(StrictSchema):
    source_id = ma.fields.String(required=True, validate=ID)
    destination_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    quantity = _quantity(required=True)
    serials = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=100)))
    kind = ma.fields.String(
        load_default=MoveKind.TRANSFER,
        validate=ma.validate.OneOf([MoveKind.TRANSFER, MoveKind.RETURN]),
        metadata={"description": "`transfer` (e.g. issue to a van) or `return` (van back to a warehouse)."},
    )
    reason = ma.fields.String(validate=ma.validate.Length(max=500))


class WriteOffSchema(StrictSchema):
    location_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    quantity = _quantity(required=True)
    serials = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=100)))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class MoveListArgs(PageArgs):
    location_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(validate=SKU)
    # The ledger kept its page size (200, up to 1,000): it was a silent cut before pages had a cursor.
    limit = ma.fields.Integer(
        load_default=200,
        validate=ma.validate.Range(min=1, max=1000),
        metadata={"description": "Page size, 1 to 1,000."},
    )


class MovePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(MoveSchema))


MOVE_HISTORY_ORDER = (SortKey(StockMove.created_at, descending=True), SortKey(StockMove.id))


class SafetyStockSchema(StrictSchema):
    location_id = ma.fields.String(required=True, validate=ID)
    sku = ma.fields.String(required=True, validate=SKU)
    minimum = ma.fields.Integer(strict=True, required=True, validate=ma.validate.Range(min=0))
    reorder_quantity = _quantity(required=True)


class SafetyStockOutSchema(ma.Schema):
    id = ma.fields.String()
    location_id = ma.fields.String()
    part_id = ma.fields.String()
    minimum = ma.fields.Integer()
    reorder_quantity = ma.fields.Integer()


class ProcurementSchema(ma.Schema):
    id = ma.fields.String()
    part_id = ma.fields.String()
    location_id = ma.fields.String()
    quantity = ma.fields.Integer()
    balance_at_request = ma.fields.Integer()
    status = ma.fields.String()
    created_at = AwareDateTime()
    closed_at = AwareDateTime(allow_none=True)


class DiscrepancySchema(ma.Schema):
    id = ma.fields.String()
    kind = ma.fields.String()
    location_id = ma.fields.String()
    part_id = ma.fields.String()
    stock_move_id = ma.fields.String()
    work_order_id = ma.fields.String(allow_none=True)
    technician_id = ma.fields.String(allow_none=True)
    balance_after = ma.fields.Integer()
    detail = ma.fields.String()
    status = ma.fields.String()
    resolution = ma.fields.String(allow_none=True)
    created_at = AwareDateTime()
    resolved_at = AwareDateTime(allow_none=True)


class ResolveSchema(StrictSchema):
    resolution = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class StatusArgs(PageArgs):
    status = ma.fields.String(load_default="open")


class LocationPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(LocationSchema))


class BalancePageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(BalanceSchema))


class ProcurementPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(ProcurementSchema))


class DiscrepancyPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(DiscrepancySchema))


LOCATION_ORDER = (SortKey(StockLocation.kind), SortKey(StockLocation.code), SortKey(StockLocation.id))
BALANCE_ORDER = (SortKey(Part.sku, read=lambda balance: balance.part.sku), SortKey(StockBalance.id))
PROCUREMENT_ORDER = (SortKey(ProcurementRequest.created_at), SortKey(ProcurementRequest.id))
DISCREPANCY_ORDER = (SortKey(StockDiscrepancy.created_at), SortKey(StockDiscrepancy.id))


class CountOpenSchema(StrictSchema):
    location_id = ma.fields.String(required=True, validate=ID)
    counter_name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class CountLineInSchema(StrictSchema):
    sku = ma.fields.String(required=True, validate=SKU)
    counted = ma.fields.Integer(strict=True, required=True, validate=ma.validate.Range(min=0))


class CountLineSchema(ma.Schema):
    part_id = ma.fields.String()
    sku = ma.fields.String()
    counted = ma.fields.Integer()
    expected = ma.fields.Integer(allow_none=True)
    difference = ma.fields.Integer(allow_none=True)


class CountSchema(ma.Schema):
    id = ma.fields.String()
    location_id = ma.fields.String()
    counter_name = ma.fields.String()
    status = ma.fields.String()
    posted_at = AwareDateTime(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(CountLineSchema))


# --- lookups --------------------------------------------------------------------------------------


def _part_by_sku(sku: str) -> Part:
    return catalog.active_part_by_sku(session=db_session(), sku=sku)


def _location(principal: Principal, location_id: str) -> StockLocation:
    """A location the caller may see: staff see all; a technician only their own van."""
    return get_visible_stock_location(session=db_session(), principal=principal, location_id=location_id)


# --- catalog --------------------------------------------------------------------------------------


@blp.route("/parts")
class Parts(MethodView):
    @blp.arguments(PartListArgs, location="query")
    @blp.response(200, PartPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The parts catalog (devices receive it through sync too), ordered by SKU, one page at a time:
        repeat with `cursor` set to `next_cursor` while `has_more`."""
        require(Permission.PARTS_READ)
        stmt = catalog.catalog_query(category=args.get("category"), text=args.get("q"))
        return paginate_by(db_session(), stmt, CATALOG_ORDER, args.get("cursor"), args["limit"])

    @blp.arguments(PartCreateSchema)
    @blp.response(201, PartSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> Part:
        """Add a part to the catalog (warehouse). Prices are integer fen."""
        require(Permission.PARTS_MANAGE)
        return catalog.add_part(session=db_session(), new=catalog.NewPart(**data))


@blp.route("/parts/<string:part_id>")
class PartById(MethodView):
    @blp.response(200, PartSchema)
    @blp.doc(security=BEARER)
    def get(self, part_id: str) -> Part:
        """One catalog entry."""
        require(Permission.PARTS_READ)
        return catalog.get_part(session=db_session(), part_id=part_id)

    @blp.arguments(PartUpdateSchema)
    @blp.response(200, PartSchema)
    @blp.doc(security=BEARER)
    def patch(self, data: dict[str, Any], part_id: str) -> Part:
        """Change a part's price, name, warranty or retire it (warehouse). Past quotes keep their prices."""
        require(Permission.PARTS_MANAGE)
        return catalog.update_part(session=db_session(), part_id=part_id, changes=catalog.PartChanges(**data))


# --- locations and balances -----------------------------------------------------------------------


@blp.route("/stock/locations")
class Locations(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, LocationPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Stock locations you may see (staff all; a technician their own van), by kind then code, a page
        at a time."""
        principal = require(Permission.STOCK_READ)
        stmt = warehouse.visible_locations(principal=principal)
        return paginate_by(db_session(), stmt, LOCATION_ORDER, args.get("cursor"), args["limit"])

    @blp.arguments(LocationCreateSchema)
    @blp.response(201, LocationSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> StockLocation:
        """Add a warehouse or service centre (vans are created with their technician's first stock)."""
        require(Permission.STOCK_MANAGE)
        return warehouse.add_location(session=db_session(), new=warehouse.NewLocation(**data))


@blp.route("/stock/locations/<string:location_id>/balances")
class LocationBalances(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, BalancePageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any], location_id: str) -> dict[str, Any]:
        """What a location holds, per part by SKU (derived from the ledger), a page at a time. Another
        technician's van is 404."""
        location = _location(require(Permission.STOCK_READ), location_id)
        stmt = warehouse.balances_query(location=location)
        return paginate_by(db_session(), stmt, BALANCE_ORDER, args.get("cursor"), args["limit"])


@blp.route("/technicians/<string:technician_id>/van")
class TechnicianVan(MethodView):
    @blp.response(200, VanSchema)
    @blp.doc(security=BEARER)
    def get(self, technician_id: str) -> dict[str, Any]:
        """A technician's van and its stock: the technician themself or staff (others get 404)."""
        principal = require(Permission.STOCK_READ)
        require_self_or_staff(principal, technician_id)
        van = warehouse.technician_van(session=db_session(), technician_id=technician_id)
        return {"location": van, "balances": warehouse.balances_at(session=db_session(), location=van)}


# --- ledger moves ---------------------------------------------------------------------------------


@blp.route("/stock/receipts")
class Receipts(MethodView):
    @blp.arguments(ReceiptSchema)
    @blp.response(201, MoveSchema(many=True))
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> list[StockMove]:
        """Goods in from a supplier (serialized parts list one serial per unit)."""
        principal = require(Permission.STOCK_MANAGE)
        return stock.receive(
            session=db_session(),
            actor=principal,
            location=_location(principal, data["location_id"]),
            part=_part_by_sku(data["sku"]),
            quantity=data["quantity"],
            serials=data.get("serials"),
            reason=data.get("reason"),
        )


@blp.route("/stock/transfers")
class Transfers(MethodView):
    @blp.arguments(TransferSchema)
    @blp.response(201, MoveSchema(many=True))
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> list[StockMove]:
        """Move stock between locations: issue to a technician's van, or take a van's return."""
        principal = require(Permission.STOCK_MANAGE)
        return stock.transfer(
            session=db_session(),
            actor=principal,
            source=_location(principal, data["source_id"]),
            destination=_location(principal, data["destination_id"]),
            part=_part_by_sku(data["sku"]),
            quantity=data["quantity"],
            serials=data.get("serials"),
            kind=MoveKind(data["kind"]),
            reason=data.get("reason"),
        )


@blp.route("/stock/write-offs")
class WriteOffs(MethodView):
    @blp.arguments(WriteOffSchema)
    @blp.response(201, MoveSchema(many=True))
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> list[StockMove]:
        """Take damaged, lost or expired stock off the books, with the reason."""
        principal = require(Permission.STOCK_MANAGE)
        return stock.write_off(
            session=db_session(),
            actor=principal,
            location=_location(principal, data["location_id"]),
            part=_part_by_sku(data["sku"]),
            quantity=data["quantity"],
            serials=data.get("serials"),
            reason=data["reason"],
        )


@blp.route("/stock/moves")
class Moves(MethodView):
    @blp.arguments(MoveListArgs, location="query")
    @blp.response(200, MovePageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """A location's ledger, newest first (a technician: their own van only), one page at a time:
        repeat with `cursor` set to `next_cursor` while `has_more`."""
        location = _location(require(Permission.STOCK_READ), args["location_id"])
        part = _part_by_sku(args["sku"]) if "sku" in args else None
        stmt = warehouse.move_history_query(location=location, part=part)
        return paginate_by(db_session(), stmt, MOVE_HISTORY_ORDER, args.get("cursor"), args["limit"])


# --- safety stock, procurement, discrepancies -----------------------------------------------------


@blp.route("/stock/safety-levels")
class SafetyLevels(MethodView):
    @blp.arguments(SafetyStockSchema)
    @blp.response(200, SafetyStockOutSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any]) -> SafetyStock:
        """Set a part's safety stock at a location; falling below it asks procurement for more."""
        principal = require(Permission.STOCK_MANAGE)
        return warehouse.set_safety_stock(
            session=db_session(),
            location=_location(principal, data["location_id"]),
            part=_part_by_sku(data["sku"]),
            minimum=data["minimum"],
            reorder_quantity=data["reorder_quantity"],
        )


@blp.route("/stock/procurement-requests")
class ProcurementRequests(MethodView):
    @blp.arguments(StatusArgs, location="query")
    @blp.response(200, ProcurementPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Procurement requests raised by safety stock (default: the open ones), oldest first, a page at
        a time."""
        require(Permission.STOCK_MANAGE)
        stmt = warehouse.procurement_requests(status=args["status"])
        return paginate_by(db_session(), stmt, PROCUREMENT_ORDER, args.get("cursor"), args["limit"])


@blp.route("/stock/discrepancies")
class Discrepancies(MethodView):
    @blp.arguments(StatusArgs, location="query")
    @blp.response(200, DiscrepancyPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Stock oddities from the field for the warehouse (default: the open ones), oldest first, a page
        at a time."""
        require(Permission.STOCK_MANAGE)
        stmt = warehouse.discrepancies(status=args["status"])
        return paginate_by(db_session(), stmt, DISCREPANCY_ORDER, args.get("cursor"), args["limit"])


@blp.route("/stock/discrepancies/<string:discrepancy_id>/resolve")
class ResolveDiscrepancy(MethodView):
    @blp.arguments(ResolveSchema)
    @blp.response(200, DiscrepancySchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any], discrepancy_id: str) -> StockDiscrepancy:
        """Close a discrepancy with what was done (e.g. a count posted, a late transfer booked)."""
        principal = require(Permission.STOCK_MANAGE)
        return warehouse.resolve_discrepancy(
            session=db_session(), discrepancy_id=discrepancy_id, by=principal, resolution=data["resolution"]
        )


# --- inventory counts -----------------------------------------------------------------------------


def _count(count_id: str) -> CountSession:
    return stock.get_count(session=db_session(), count_id=count_id)


@blp.route("/stock/counts")
class Counts(MethodView):
    @blp.arguments(CountOpenSchema)
    @blp.response(201, CountSchema)
    @blp.doc(security=BEARER)
    def post(self, data: dict[str, Any]) -> CountSession:
        """Start an inventory count at a location, in the counter's name."""
        principal = require(Permission.STOCK_MANAGE)
        location = _location(principal, data["location_id"])
        return stock.open_count(
            session=db_session(), actor=principal, location=location, counter_name=data["counter_name"]
        )


@blp.route("/stock/counts/<string:count_id>")
class CountById(MethodView):
    @blp.response(200, CountSchema)
    @blp.doc(security=BEARER)
    def get(self, count_id: str) -> CountSession:
        """A count with its lines (expected and difference appear once posted)."""
        require(Permission.STOCK_MANAGE)
        return _count(count_id)


@blp.route("/stock/counts/<string:count_id>/lines")
class CountLines(MethodView):
    @blp.arguments(CountLineInSchema)
    @blp.response(200, CountSchema)
    @blp.doc(security=BEARER)
    def put(self, data: dict[str, Any], count_id: str) -> CountSession:
        """Record (or correct) the counted quantity of one part."""
        require(Permission.STOCK_MANAGE)
        count = _count(count_id)
        stock.record_count(
            session=db_session(), count=count, part=_part_by_sku(data["sku"]), counted=data["counted"]
        )
        return count


@blp.route("/stock/counts/<string:count_id>/post")
class PostCount(MethodView):
    @blp.response(200, CountSchema)
    @blp.doc(security=BEARER)
    def post(self, count_id: str) -> CountSession:
        """Post the count: every difference becomes an adjustment move in the counter's name."""
        principal = require(Permission.STOCK_MANAGE)
        count = _count(count_id)
        stock.post_count(session=db_session(), actor=principal, count=count)
        return count
