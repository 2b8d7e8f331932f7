"""Points at a given distance from a job, and a job set up where the dispatch rules can be seen."""

from __future__ import annotations

from geopy.distance import geodesic

ERQI_TOWER = (34.75357, 113.66470)  # 二七纪念塔, Zhengzhou (WGS-84)


def km_from(origin: tuple[float, float], km: float, bearing: float = 0.0) -> tuple[float, float]:
    p = geodesic(kilometers=km).destination(origin, bearing)
    return (p.latitude, p.longitude)
