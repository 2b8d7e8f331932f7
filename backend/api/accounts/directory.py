"""Reference data for staff consoles: regions and technicians with skills and certificates."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from backend.accounts import directory
from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.api.pagination import PageArgs, PageSchema, SortKey, paginate_by
from backend.api.schemas import AwareDateTime
from backend.api.security import BEARER, require
from backend.extensions import Blueprint, db_session
from backend.kernel.permissions import Permission
from backend.policy import require_self_or_staff

blp = Blueprint("directory", __name__, description="Regions and technicians.")


class RegionSchema(ma.Schema):
    id = ma.fields.String()
    code = ma.fields.String()
    name = ma.fields.String()
    city = ma.fields.String()
    center_lat = ma.fields.Float()
    center_lng = ma.fields.Float()


class SkillSchema(ma.Schema):
    product_category = ma.fields.String()
    fault_type = ma.fields.String(allow_none=True)


class CertificateSchema(ma.Schema):
    type = ma.fields.String()
    number = ma.fields.String()
    issued_on = ma.fields.Date()
    expires_on = ma.fields.Date()


class ShiftSchema(ma.Schema):
    weekday = ma.fields.Integer()
    starts_at = ma.fields.Time()
    ends_at = ma.fields.Time()


class TechnicianSchema(ma.Schema):
    id = ma.fields.String()
    user_id = ma.fields.String()
    name = ma.fields.Function(lambda t: t.user.display_name)
    employee_no = ma.fields.String()
    region_id = ma.fields.String()
    skill_level = ma.fields.String()
    home_lat = ma.fields.Float()
    home_lng = ma.fields.Float()
    daily_capacity = ma.fields.Integer()
    active = ma.fields.Boolean()
    skills = ma.fields.List(ma.fields.Nested(SkillSchema))
    certificates = ma.fields.List(ma.fields.Nested(CertificateSchema))
    shifts = ma.fields.List(ma.fields.Nested(ShiftSchema))
    created_at = AwareDateTime()


class TechnicianPageSchema(PageSchema):
    items = ma.fields.List(ma.fields.Nested(TechnicianSchema))


TECHNICIAN_ORDER = (SortKey(Technician.employee_no), SortKey(Technician.id))


class TechnicianListArgs(PageArgs):
    region_id = ma.fields.String(validate=ma.validate.Length(max=36))
    active = ma.fields.Boolean()


@blp.route("/regions")
class Regions(MethodView):
    @blp.response(200, RegionSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self) -> list[Region]:
        """Service regions."""
        require(Permission.REGION_READ)
        return directory.regions(session=db_session())


@blp.route("/technicians")
class Technicians(MethodView):
    @blp.arguments(TechnicianListArgs, location="query")
    @blp.response(200, TechnicianPageSchema)
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Technicians with skills, certificates and shifts, by employee number, a page at a time (staff
        only)."""
        require(Permission.TECHNICIAN_READ)
        stmt = directory.technicians_query(region_id=args.get("region_id"), active=args.get("active"))
        return paginate_by(db_session(), stmt, TECHNICIAN_ORDER, args.get("cursor"), args["limit"])


@blp.route("/technicians/<string:technician_id>")
class TechnicianById(MethodView):
    @blp.response(200, TechnicianSchema)
    @blp.doc(security=BEARER)
    def get(self, technician_id: str) -> Technician:
        """One technician: staff, or the technician themself."""
        principal = require(Permission.TECHNICIAN_PROFILE)
        require_self_or_staff(principal, technician_id)
        return directory.get_technician(session=db_session(), technician_id=technician_id)
