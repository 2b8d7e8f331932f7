"""Geo dispatch: coordinates, distance, candidate search, scoring and routing (DESIGN.md §6).

The public surface other packages may call; everything else in `backend.geo` is internal.
"""

from backend.geo.auto_assign import auto_assign, run_dispatch_timeouts
from backend.geo.candidates import Candidate, SearchResult, search_candidates
from backend.geo.coords import (
    BBox,
    CoordSystem,
    Point,
    bbox_around,
    bd09_to_wgs84,
    check_point,
    gcj02_to_wgs84,
    geodesic_km,
    parse_bbox,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from backend.geo.eligibility import JobFacts, ineligibility, job_facts
from backend.geo.geocoding import geocode_address, make_geocoder
from backend.geo.mutations import record_position
from backend.geo.settings import DispatchSettings
from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.policy import Role

__all__ = [
    "BBox",
    "Candidate",
    "CoordSystem",
    "DispatchSettings",
    "JobFacts",
    "Point",
    "SearchResult",
    "auto_assign",
    "bbox_around",
    "bd09_to_wgs84",
    "check_point",
    "gcj02_to_wgs84",
    "geocode_address",
    "geodesic_km",
    "ineligibility",
    "job_facts",
    "make_geocoder",
    "parse_bbox",
    "record_position",
    "run_dispatch_timeouts",
    "search_candidates",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]


def register(registry: Registry) -> None:
    from backend.geo import models, mutations
    from backend.work_orders.intake import WORK_ORDER_CONFIRMED

    registry.domain("geo", models=(models,), mutations=(mutations,))
    # Seed 000: a confirmed order is assigned by its region's preset rules as soon as it exists.
    registry.on(WORK_ORDER_CONFIRMED, auto_assign)
    registry.grant(Permission.DISPATCH_READ, {Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.DISPATCH_ASSIGN, {Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.DISPATCH_RULES, {Role.DISPATCHER, Role.ADMIN})
    # Not a caller's action: the roles a region's auto-assignment rule may name as its team lead.
    registry.grant(Permission.DISPATCH_LEAD_TEAM, {Role.DISPATCHER, Role.ADMIN})
    registry.grant(Permission.ROUTE_READ, {Role.TECHNICIAN, Role.DISPATCHER, Role.ADMIN})
