"""Dispatch tunables: environment variables with embedded defaults, overridable per app (Flask config).

| variable | default | meaning |
| --- | --- | --- |
| DISPATCH_AVG_SPEED_KMH | 25 | average urban travel speed for ETAs |
| DISPATCH_ROAD_FACTOR | 1.35 | road distance / straight-line distance |
| DISPATCH_STALE_MINUTES | 30 | a reported position older than this counts as stale |
| DISPATCH_SERVICE_MINUTES | 60 | time on site per job, for day routes |
| DISPATCH_MAX_RADIUS_KM | 50 | the widest candidate search |
| DISPATCH_ACCEPT_TIMEOUT_MINUTES | 30 | accept deadline where a region has no rule |
| GEOCODER | (empty) | a geopy geocoder name (e.g. `nominatim`); empty = no geocoding |
| GEOCODER_USER_AGENT | repairops | user agent sent to the geocoder |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _get(config: Mapping[str, Any], name: str, default: str) -> str:
    value = config.get(name)
    return str(value) if value is not None else os.environ.get(name, default)


@dataclass(frozen=True)
class DispatchSettings:
    avg_speed_kmh: float = 25.0
    road_factor: float = 1.35
    stale_minutes: int = 30
    service_minutes: int = 60
    max_radius_km: float = 50.0
    accept_timeout_minutes: int = 30
    geocoder: str = ""
    geocoder_user_agent: str = "repairops"

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> DispatchSettings:
        cfg = config or {}
        return cls(
            avg_speed_kmh=float(_get(cfg, "DISPATCH_AVG_SPEED_KMH", "25")),
            road_factor=float(_get(cfg, "DISPATCH_ROAD_FACTOR", "1.35")),
            stale_minutes=int(_get(cfg, "DISPATCH_STALE_MINUTES", "30")),
            service_minutes=int(_get(cfg, "DISPATCH_SERVICE_MINUTES", "60")),
            max_radius_km=float(_get(cfg, "DISPATCH_MAX_RADIUS_KM", "50")),
            accept_timeout_minutes=int(_get(cfg, "DISPATCH_ACCEPT_TIMEOUT_MINUTES", "30")),
            geocoder=_get(cfg, "GEOCODER", ""),
            geocoder_user_agent=_get(cfg, "GEOCODER_USER_AGENT", "repairops"),
        )

    def travel_minutes(self, straight_km: float) -> float:
        return straight_km * self.road_factor / self.avg_speed_kmh * 60.0
