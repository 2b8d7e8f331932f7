"""Reference data for staff consoles: regions and technicians with skills and certificates."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask.views import MethodView

from backend.accounts.regions import Region
from backend.accounts.technicians import Technician
from backend.api.schemas import AwareDateTime
from backend.api.security import BEARER, require
from backend.errors import not_found
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


class TechnicianListArgs(ma.Schema):
    region_id = ma.fields.String(validate=ma.validate.Length(max=36))
    active = ma.fields.Boolean()


@blp.route("/regions")
class Regions(MethodView):
    @blp.response(200, RegionSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self) -> list[Region]:
        """Service regions."""
        require(Permission.REGION_READ)
        return list(db_session().scalars(sa.select(Region).order_by(Region.code)))


@blp.route("/technicians")
class Technicians(MethodView):
    @blp.arguments(TechnicianListArgs, location="query")
    @blp.response(200, TechnicianSchema(many=True))
    @blp.doc(security=BEARER)
    def get(self, args: dict[str, Any]) -> list[Technician]:
        """Technicians with skills, certificates and shifts (staff only)."""
        require(Permission.TECHNICIAN_READ)
        stmt = sa.select(Technician)
        if "region_id" in args:
            stmt = stmt.where(Technician.region_id == args["region_id"])
        if "active" in args:
            stmt = stmt.where(Technician.active.is_(args["active"]))
        return list(db_session().scalars(stmt.order_by(Technician.employee_no)))


@blp.route("/technicians/<string:technician_id>")
class TechnicianById(MethodView):
    @blp.response(200, TechnicianSchema)
    @blp.doc(security=BEARER)
    def get(self, technician_id: str) -> Technician:
        """One technician: staff, or the technician themself."""
        principal = require(Permission.TECHNICIAN_PROFILE)
        require_self_or_staff(principal, technician_id)
        technician = db_session().get(Technician, technician_id)
        if technician is None:
            raise not_found("technician")
        return technician
