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
