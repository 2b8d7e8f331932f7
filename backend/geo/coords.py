"""Coordinates: validation, China's map datums (GCJ-02, BD-09) to WGS-84, geodesic distance, bounding boxes.

Everything is stored WGS-84. AMap/Tencent hand out GCJ-02 and Baidu BD-09; both are obfuscated datums
defined by published closed-form formulas (forward direction only). We implement those formulas and
invert them by fixed-point iteration to sub-millimetre precision, because the only PyPI packages for
this are unmaintained (prcoords, last release 2019) or need Python 3.14 (prcoords-typed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from geographiclib.geodesic import Geodesic

from backend.errors import Problem

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG), used only for pre-filters and cost matrices
KM_PER_DEGREE_LAT = 110.574  # the shortest a degree of latitude gets (at the equator)

# GCJ-02's constants: Krasovsky 1940 ellipsoid.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOLERANCE_DEG = 1e-10  # about 0.01 mm
_INVERSE_MAX_STEPS = 30


class CoordSystem(StrEnum):
    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float

    def as_tuple(self) -> tuple[float, float]:
        return (self.lat, self.lng)


def out_of_china(lat: float, lng: float) -> bool:
    """GCJ-02 applies only inside this rectangle; elsewhere the datums coincide with WGS-84."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    d_lat = _offset_lat(lng - 105.0, lat - 35.0)
    d_lng = _offset_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _GCJ_EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_GCJ_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _BD_X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def wgs84_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lng))


def _invert(forward: Any, lat: float, lng: float) -> tuple[float, float]:
    """Solve forward(x) = target by fixed-point iteration (the offsets vary slowly, so it converges fast)."""
    guess_lat, guess_lng = lat, lng
    for _ in range(_INVERSE_MAX_STEPS):
        f_lat, f_lng = forward(guess_lat, guess_lng)
        err_lat, err_lng = f_lat - lat, f_lng - lng
        guess_lat, guess_lng = guess_lat - err_lat, guess_lng - err_lng
        if abs(err_lat) < _INVERSE_TOLERANCE_DEG and abs(err_lng) < _INVERSE_TOLERANCE_DEG:
            break
    return guess_lat, guess_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    return _invert(wgs84_to_gcj02, lat, lng)


def bd09_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    return _invert(wgs84_to_bd09, lat, lng)


_TO_WGS84 = {
    CoordSystem.WGS84: lambda lat, lng: (lat, lng),
    CoordSystem.GCJ02: gcj02_to_wgs84,
    CoordSystem.BD09: bd09_to_wgs84,
}


def _bad(field: str, message: str) -> Problem:
    return Problem(
        "geo.invalid_coordinates",
        f"{field}: {message}",
        status=422,
        title="Invalid coordinates",
        errors={field: [message]},
    )


def check_point(lat: Any, lng: Any, *, lat_field: str = "lat", lng_field: str = "lng") -> Point:
    """A finite WGS-84/GCJ/BD point in range, or a 422 problem naming the bad field."""
    for name, value, limit in ((lat_field, lat, 90.0), (lng_field, lng, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(name, "Must be a number.")
        if not math.isfinite(value):
            raise _bad(name, "Must be a finite number.")
        if abs(value) > limit:
            raise _bad(name, f"Must be between -{limit:g} and {limit:g}.")
    return Point(float(lat), float(lng))


def parse_coord_system(value: str | None) -> CoordSystem:
    if value is None:
        return CoordSystem.WGS84
    try:
        return CoordSystem(value.lower())
    except ValueError:
        raise Problem(
            "geo.unknown_coord_system",
            f"Unknown coordinate system '{value}'.",
            status=422,
            title="Unknown coordinate system",
            errors={"coord_system": [f"Must be one of: {', '.join(c.value for c in CoordSystem)}."]},
        ) from None


def to_wgs84(lat: Any, lng: Any, coord_system: str | None = None) -> Point:
    """Validate an incoming point and convert it to the stored datum (WGS-84)."""
    system = parse_coord_system(coord_system)
    point = check_point(lat, lng)
    out_lat, out_lng = _TO_WGS84[system](point.lat, point.lng)
    return Point(out_lat, out_lng)


_WGS84 = Geodesic.WGS84


def geodesic_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance on the WGS-84 ellipsoid: Karney's algorithm, as geopy's `geodesic` computes it, asking
    geographiclib (geopy's engine) for the distance only, which halves the cost per pair."""
    return float(_WGS84.Inverse(a[0], a[1], b[0], b[1], Geodesic.DISTANCE)["s12"]) / 1000.0


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance on the mean sphere: a fast estimate (within 0.5 %) for ordering."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class BBox:
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float

    def contains(self, lat: float, lng: float) -> bool:
        return self.min_lat <= lat <= self.max_lat and self.min_lng <= lng <= self.max_lng


def bbox_around(lat: float, lng: float, radius_km: float) -> BBox:
    """A box surely containing the circle of `radius_km` (generous by a few percent near the poles)."""
    d_lat = radius_km / KM_PER_DEGREE_LAT * 1.01
    cos_lat = max(math.cos(math.radians(min(89.0, abs(lat) + d_lat))), 1e-6)
    d_lng = min(180.0, radius_km / (111.320 * cos_lat) * 1.01)
    return BBox(
        max(-90.0, lat - d_lat), max(-180.0, lng - d_lng), min(90.0, lat + d_lat), min(180.0, lng + d_lng)
    )


MAX_MAP_SPAN_DEG = 5.0  # a map view larger than a province is not a dispatch view


def parse_bbox(value: str, *, max_span_deg: float = MAX_MAP_SPAN_DEG) -> BBox:
    """`minLng,minLat,maxLng,maxLat` (GeoJSON order), WGS-84, at most `max_span_deg` each way."""
    parts = value.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        min_lng, min_lat, max_lng, max_lat = (float(p) for p in parts)
    except ValueError:
        raise _bad("bbox", "Must be four numbers: minLng,minLat,maxLng,maxLat.") from None
    check_point(min_lat, min_lng, lat_field="bbox", lng_field="bbox")
    check_point(max_lat, max_lng, lat_field="bbox", lng_field="bbox")
    if min_lat >= max_lat or min_lng >= max_lng:
        raise _bad("bbox", "The minimum corner must be south-west of the maximum corner.")
    if max_lat - min_lat > max_span_deg or max_lng - min_lng > max_span_deg:
        raise Problem(
            "geo.bbox_too_large",
            f"The box spans more than {max_span_deg:g} degrees; zoom in or filter by region.",
            status=422,
            title="Box too large",
            errors={"bbox": [f"At most {max_span_deg:g} degrees of latitude and of longitude."]},
        )
    return BBox(min_lat, min_lng, max_lat, max_lng)
