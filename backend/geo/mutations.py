"""Device mutation `location.report`: the technician's phone reports where it is (for dispatch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy.orm import Session

from backend.errors import Problem
from backend.geo.coords import CoordSystem, to_wgs84
from backend.geo.models import TechnicianPosition
from backend.kernel.base import utcnow
from backend.sync.registry import MutationContext, NotBatchable, batch_of, mutation


class LocationReportArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    # Raw numbers: validated (range, finite) and converted by backend.geo.coords after the datum is known.
    lat = ma.fields.Float(required=True, allow_nan=True)
    lng = ma.fields.Float(required=True, allow_nan=True)
    coord_system = ma.fields.String(
        load_default=CoordSystem.WGS84.value, validate=ma.validate.OneOf([c.value for c in CoordSystem])
    )
    accuracy_m = ma.fields.Float(validate=ma.validate.Range(min=0, max=100_000), allow_nan=False)
    recorded_at = ma.fields.AwareDateTime(format="iso", default_timezone=None)


def record_position(
    *,
    session: Session,
    technician_id: str,
    lat: Any,
    lng: Any,
    coord_system: str | None = None,
    accuracy_m: float | None = None,
    device_time: Any = None,
    device_id: str | None = None,
) -> TechnicianPosition:
    """Keep the technician's latest position (WGS-84); the server's receive time orders reports."""
    point = to_wgs84(lat, lng, coord_system)
    row = session.get(TechnicianPosition, technician_id)
    if row is None:
        row = TechnicianPosition(technician_id=technician_id, lat=point.lat, lng=point.lng)
        session.add(row)
    row.lat, row.lng = point.lat, point.lng
    row.accuracy_m = accuracy_m
    row.reported_at = utcnow()
    row.device_time = device_time
    row.device_id = device_id
    session.flush()
    return row


@mutation(
    "location.report",
    LocationReportArgs,
    description="Report the device's position (lat/lng, optional coord_system gcj02|bd09, accuracy_m).",
)
def location_report(ctx: MutationContext, args: dict[str, Any]) -> dict[str, Any]:
    if ctx.principal.technician_id is None:
        raise Problem(
            "technician.profile_required", "Only a technician's device reports a position.", status=403
        )
    row = _record_report(ctx, args)
    return _reported(row.technician_id, row.lat, row.lng, row.reported_at)


@batch_of("location.report")
def location_reports(run: list[tuple[MutationContext, dict[str, Any]]]) -> list[dict[str, Any]]:
    """A backlog of positions (a phone back online): each is checked and converted as one by one, and
    the last is kept, with one write. A bad position fails the run, which is then applied one by one."""
    ctx = run[0][0]
    if ctx.principal.technician_id is None:
        raise NotBatchable
    points = [to_wgs84(args["lat"], args["lng"], args.get("coord_system")) for _, args in run]
    row = _record_report(*run[-1])
    return [_reported(row.technician_id, point.lat, point.lng, row.reported_at) for point in points]


def _record_report(ctx: MutationContext, args: dict[str, Any]) -> TechnicianPosition:
    assert ctx.principal.technician_id is not None
    return record_position(
        session=ctx.session,
        technician_id=ctx.principal.technician_id,
        lat=args["lat"],
        lng=args["lng"],
        coord_system=args.get("coord_system"),
        accuracy_m=args.get("accuracy_m"),
        device_time=args.get("recorded_at") or ctx.client_time,
        device_id=ctx.device_id,
    )


def _reported(technician_id: str, lat: float, lng: float, reported_at: datetime) -> dict[str, Any]:
    return {
        "technician_position": {
            "technician_id": technician_id,
            "lat": lat,
            "lng": lng,
            "reported_at": reported_at.isoformat(),
        }
    }
