"""Candidate search: the nearest eligible technicians for a job, ranked and explained.

The index does the coarse work: a bounding box around the job, range-scanned on the indexed
(home_lat, home_lng) and (lat, lng) columns of technicians and their reported positions, widened
(doubling) until enough eligible technicians are found or the maximum radius is reached. Only that
short list gets geodesic distances and the eligibility rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from backend.accounts.technicians import Technician
from backend.geo.coords import bbox_around, geodesic_km, haversine_km
from backend.geo.eligibility import JobFacts, TechFacts, ineligibility, load_tech_facts
from backend.geo.models import TechnicianPosition
from backend.geo.scoring import score
from backend.geo.settings import DispatchSettings
from backend.kernel.base import utcnow

INITIAL_RADIUS_KM = 3.0
HAVERSINE_MARGIN = 1.005  # the sphere is within 0.5 % of the ellipsoid


@dataclass
class Candidate:
    technician_id: str
    distance_km: float
    score: float
    breakdown: dict[str, Any]
    facts: TechFacts


@dataclass
class Excluded:
    technician_id: str
    distance_km: float
    reasons: list[str]


@dataclass
class SearchResult:
    candidates: list[Candidate]
    excluded: list[Excluded]
    radius_km: float


def technicians_near(
    *, session: Session, lat: float, lng: float, radius_km: float, region_id: str | None = None
) -> list[str]:
    """Active technicians whose home base or last reported position lies in the box around the point."""
    box = bbox_around(lat, lng, radius_km)
    home = sa.select(Technician.id).where(
        Technician.home_lat.between(box.min_lat, box.max_lat),
        Technician.home_lng.between(box.min_lng, box.max_lng),
        Technician.active.is_(True),
    )
    reported = (
        sa.select(TechnicianPosition.technician_id)
        .join(Technician, Technician.id == TechnicianPosition.technician_id)
        .where(
            TechnicianPosition.lat.between(box.min_lat, box.max_lat),
            TechnicianPosition.lng.between(box.min_lng, box.max_lng),
            Technician.active.is_(True),
        )
    )
    if region_id is not None:
        home = home.where(Technician.region_id == region_id)
        reported = reported.where(Technician.region_id == region_id)
    return list(dict.fromkeys([*session.scalars(home), *session.scalars(reported)]))


def search_candidates(
    *,
    session: Session,
    job: JobFacts,
    settings: DispatchSettings,
    limit: int = 10,
    max_radius_km: float | None = None,
    any_region: bool = False,
    exclude_ids: frozenset[str] = frozenset(),
    now: datetime | None = None,
    rank: str = "score",
) -> SearchResult:
    """Up to `limit` eligible technicians within `max_radius_km`, best score first (or nearest first
    with `rank="distance"`). Excluded ones carry a spherical distance, good to a few metres."""
    now = now or utcnow()
    ceiling = min(max_radius_km or settings.max_radius_km, settings.max_radius_km)
    radius = min(INITIAL_RADIUS_KM, ceiling)
    known: dict[str, TechFacts] = {}  # a wider pass reuses what the narrower one loaded
    while True:
        result = _search_within(session, job, settings, radius, any_region, exclude_ids, now, known)
        if len(result.candidates) >= limit or radius >= ceiling:
            break
        radius = min(radius * 2, ceiling)
    if rank == "distance":
        result.candidates.sort(key=lambda c: (c.distance_km, c.technician_id))
    else:
        result.candidates.sort(key=lambda c: (-c.score, c.distance_km, c.technician_id))
    result.candidates = result.candidates[:limit]
    result.excluded.sort(key=lambda e: e.distance_km)
    return result


def _search_within(
    session: Session,
    job: JobFacts,
    settings: DispatchSettings,
    radius_km: float,
    any_region: bool,
    exclude_ids: frozenset[str],
    now: datetime,
    known: dict[str, TechFacts],
) -> SearchResult:
    # Region is a rule (ineligibility), not a SQL filter: with it, planners pick the region index and
    # read the whole region instead of range-scanning the box.
    ids = [
        i
        for i in technicians_near(session=session, lat=job.lat, lng=job.lng, radius_km=radius_km)
        if i not in exclude_ids
    ]
    known.update(load_tech_facts(session=session, ids=[i for i in ids if i not in known], job=job))
    facts = {i: known[i] for i in ids if i in known}
    candidates: list[Candidate] = []
    excluded: list[Excluded] = []
    for tech in facts.values():
        lat, lng = tech.position()
        rough_km = haversine_km(job.lat, job.lng, lat, lng)
        if rough_km > radius_km * HAVERSINE_MARGIN:
            continue  # in the box, or home in the box while actually elsewhere: not within the circle
        reasons = ineligibility(tech, job, any_region=any_region)
        if reasons:
            excluded.append(Excluded(tech.id, round(rough_km, 3), reasons))
            continue
        km = geodesic_km((job.lat, job.lng), (lat, lng))  # exact, only for the short list
        if km > radius_km:
            continue
        total, breakdown = score(tech, job, km, settings, now)
        candidates.append(Candidate(tech.id, km, total, breakdown, tech))
    return SearchResult(candidates, excluded, radius_km)
