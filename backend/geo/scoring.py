"""Ranking eligible technicians: a 0-100 score with its explanation, factor by factor.

Factors: closeness (discounted when the position is only a home base or a stale report), workload
that day, skill fit (exact fault and level), and previous visits to this customer. The job's urgency
(priority, time left until the response is due) moves weight from workload and history to closeness:
an emergency goes to whoever gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backend.accounts.technicians import SkillLevel
from backend.geo.eligibility import JobFacts, TechFacts, skill_match
from backend.geo.settings import DispatchSettings
from backend.work_orders.models import Priority

PRIORITY_URGENCY: dict[str, float] = {
    Priority.EMERGENCY: 1.0,
    Priority.HIGH: 0.6,
    Priority.NORMAL: 0.3,
    Priority.LOW: 0.1,
}
URGENCY_HORIZON = timedelta(hours=24)
CLOSENESS_HALF_KM = 5.0  # closeness is 1 at the door, 0.5 at this distance
LEVEL_FIT = {SkillLevel.EXPERT: 1.0, SkillLevel.SENIOR: 0.85, SkillLevel.JUNIOR: 0.7}
HOME_BASE_CONFIDENCE = 0.6
STALE_CONFIDENCE = 0.9
POOR_ACCURACY_M = 500.0


def urgency(job: JobFacts, now: datetime) -> float:
    """0..1: the priority's base, raised as the response deadline approaches."""
    base = PRIORITY_URGENCY.get(job.priority, 0.3)
    if job.respond_due_at is None:
        return base
    remaining = (job.respond_due_at - now) / URGENCY_HORIZON
    return max(base, min(1.0, max(0.0, 1.0 - remaining)))


def weights(u: float) -> dict[str, float]:
    return {
        "distance": 35 + 25 * u,
        "workload": 25 - 15 * u,
        "skill": 25.0,
        "history": 15 - 10 * u,
    }


@dataclass(frozen=True)
class PositionInfo:
    source: str  # "report" | "home_base"
    age_minutes: float | None
    stale: bool
    accuracy_m: float | None
    confidence: float


def position_info(tech: TechFacts, settings: DispatchSettings, now: datetime) -> PositionInfo:
    if not tech.has_report or tech.pos_reported_at is None:
        return PositionInfo("home_base", None, False, None, HOME_BASE_CONFIDENCE)
    age = max(0.0, (now - tech.pos_reported_at).total_seconds() / 60.0)
    stale = age > settings.stale_minutes
    confidence = 1.0
    if stale:
        # Lose a tenth per hour of age, but never trust a stale report less than the home base.
        confidence = max(HOME_BASE_CONFIDENCE, min(STALE_CONFIDENCE, 1.0 - 0.1 * age / 60.0))
    if tech.pos_accuracy_m is not None and tech.pos_accuracy_m > POOR_ACCURACY_M:
        confidence *= 0.9
    return PositionInfo("report", round(age, 1), stale, tech.pos_accuracy_m, confidence)


def score(
    tech: TechFacts, job: JobFacts, distance_km: float, settings: DispatchSettings, now: datetime
) -> tuple[float, dict[str, Any]]:
    """The score and its breakdown: per factor the raw value, the points earned and the most possible."""
    u = urgency(job, now)
    w = weights(u)
    pos = position_info(tech, settings, now)
    closeness = 1.0 / (1.0 + distance_km / CLOSENESS_HALF_KM)
    free = max(0.0, 1.0 - tech.load / tech.daily_capacity) if tech.daily_capacity > 0 else 0.0
    match = skill_match(tech, job)
    fit = (1.0 if match == "fault" else 0.8) * LEVEL_FIT.get(SkillLevel(tech.skill_level), 0.7)
    history = min(tech.previous_visits, 3) / 3.0
    parts: dict[str, dict[str, Any]] = {
        "distance": {
            "km": round(distance_km, 3),
            "eta_minutes": round(settings.travel_minutes(distance_km), 1),
            "position": pos.source,
            "position_age_minutes": pos.age_minutes,
            "position_stale": pos.stale,
            "position_accuracy_m": pos.accuracy_m,
            "confidence": round(pos.confidence, 3),
            "points": w["distance"] * closeness * pos.confidence,
            "max_points": w["distance"],
        },
        "workload": {
            "jobs_that_day": tech.load,
            "daily_capacity": tech.daily_capacity,
            "points": w["workload"] * free,
            "max_points": w["workload"],
        },
        "skill": {
            "match": match,
            "level": tech.skill_level,
            "points": w["skill"] * fit,
            "max_points": w["skill"],
        },
        "history": {
            "previous_visits": tech.previous_visits,
            "points": w["history"] * history,
            "max_points": w["history"],
        },
        "urgency": {"priority": job.priority, "value": round(u, 3), "points": 0.0, "max_points": 0.0},
    }
    for part in parts.values():
        part["points"] = round(float(part["points"]), 2)
        part["max_points"] = round(float(part["max_points"]), 2)
    total = round(sum(float(p["points"]) for p in parts.values()), 2)
    return total, parts
