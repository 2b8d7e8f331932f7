"""Optional geocoding of address text through a geopy geocoder named in configuration (`GEOCODER`).

None by default: addresses come with coordinates from the customer's map pick. When configured, the
geocoder is built with geopy's registry (`nominatim`, `baidu`, …); results are taken as WGS-84 unless
the service is known to answer in another datum (Baidu answers BD-09 unless asked otherwise).
"""

from __future__ import annotations

from typing import Any, Protocol

from geopy.exc import GeopyError
from geopy.geocoders import get_geocoder_for_service

from backend.errors import Problem
from backend.geo.coords import CoordSystem, Point, to_wgs84
from backend.geo.settings import DispatchSettings

DATUM_OF_SERVICE = {"baidu": CoordSystem.BD09, "baiduv3": CoordSystem.BD09}


class Geocoder(Protocol):
    def geocode(self, query: str, **kwargs: Any) -> Any: ...


def make_geocoder(settings: DispatchSettings, **options: Any) -> Geocoder | None:
    """The configured geocoder, or None when geocoding is off."""
    if not settings.geocoder:
        return None
    try:
        cls = get_geocoder_for_service(settings.geocoder)
    except GeopyError:
        raise Problem(
            "geo.unknown_geocoder", f"geopy has no geocoder named '{settings.geocoder}'.", status=500
        ) from None
    geocoder: Geocoder = cls(user_agent=settings.geocoder_user_agent, **options)
    return geocoder


def geocode_address(geocoder: Geocoder | None, text: str, *, service: str = "") -> Point | None:
    """WGS-84 coordinates for `text`, or None when geocoding is off or the address is not found."""
    if geocoder is None or not text.strip():
        return None
    try:
        found = geocoder.geocode(text, exactly_one=True)
    except GeopyError:
        return None
    if found is None:
        return None
    return to_wgs84(found.latitude, found.longitude, DATUM_OF_SERVICE.get(service, CoordSystem.WGS84))
