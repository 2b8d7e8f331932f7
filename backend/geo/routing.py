"""A technician's day as a route: the jobs ordered to respect appointment windows, with ETAs.

Solved as a single-vehicle VRP with time windows by PyVRP (hybrid genetic search): the depot is where
the technician starts (their fresh reported position today, else home base) and where they end (home
base). Travel times come from geodesic distance x road factor / average speed (configurable). The
nearest-neighbour order is computed with the same timing model as the baseline to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pyvrp import Model
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

from backend.geo.coords import geodesic_km
from backend.geo.settings import DispatchSettings

SOLVER_MAX_SECONDS = 2.0
SOLVER_NO_IMPROVEMENT = 300
SOLVER_MAX_ITERATIONS = 5000
LATE_PENALTY_PER_MINUTE_KM = 1.0  # compares orders: a minute late weighs like a kilometre driven


@dataclass(frozen=True)
class RouteJob:
    id: str
    lat: float
    lng: float
    window_start: datetime | None
    window_end: datetime | None
    label: str = ""


@dataclass
class Stop:
    job: RouteJob
    travel_km: float
    arrival: datetime
    service_start: datetime
    departure: datetime
    wait_minutes: float
    late_minutes: float


@dataclass
class DayRoute:
    stops: list[Stop]
    total_km: float
    late_minutes: float
    return_at: datetime | None
    solver: str
    baseline: dict[str, Any] = field(default_factory=dict)


def _matrix_km(points: list[tuple[float, float]], road_factor: float) -> list[list[float]]:
    n = len(points)
    out = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            out[i][j] = out[j][i] = geodesic_km(points[i], points[j]) * road_factor
    return out


def simulate(
    order: list[int],
    jobs: list[RouteJob],
    km: list[list[float]],
    start: datetime,
    settings: DispatchSettings,
) -> tuple[list[Stop], float, float, datetime]:
    """Drive the stops in `order` (indices into jobs; matrix index = job index + 1, 0 = start/home)."""
    stops: list[Stop] = []
    clock, here, total, late = start, 0, 0.0, 0.0
    service = timedelta(minutes=settings.service_minutes)
    for j in order:
        leg = km[here][j + 1]
        arrival = clock + timedelta(hours=leg / settings.avg_speed_kmh)
        job = jobs[j]
        begin = max(arrival, job.window_start) if job.window_start else arrival
        overdue = (arrival - job.window_end).total_seconds() / 60 if job.window_end else 0.0
        stops.append(
            Stop(
                job=job,
                travel_km=round(leg, 3),
                arrival=arrival,
                service_start=begin,
                departure=begin + service,
                wait_minutes=round((begin - arrival).total_seconds() / 60, 1),
                late_minutes=round(max(0.0, overdue), 1),
            )
        )
        total += leg
        late += max(0.0, overdue)
        clock, here = begin + service, j + 1
    home_leg = km[here][0] if order else 0.0
    return stops, total + home_leg, late, clock + timedelta(hours=home_leg / settings.avg_speed_kmh)


def nearest_neighbour_order(km: list[list[float]], n: int) -> list[int]:
    left, here, order = set(range(n)), 0, []
    while left:
        nxt = min(left, key=lambda j: (km[here][j + 1], j))
        order.append(nxt)
        left.remove(nxt)
        here = nxt + 1
    return order


def _solve_vrptw(
    jobs: list[RouteJob], km: list[list[float]], start: datetime, settings: DispatchSettings
) -> list[int]:
    """Visit order from PyVRP; times in seconds from `start`, distances in metres (integers)."""

    def secs(moment: datetime | None, default: int) -> int:
        return default if moment is None else max(0, int((moment - start).total_seconds()))

    horizon = 3 * 24 * 3600
    model = Model()
    depot = model.add_depot(model.add_location(0, 0), tw_early=0, tw_late=horizon)
    for job in jobs:
        model.add_client(
            model.add_location(0, 0),
            service_duration=settings.service_minutes * 60,
            tw_early=secs(job.window_start, 0),
            tw_late=max(secs(job.window_end, horizon), secs(job.window_start, 0)),
            name=job.id,
        )
    model.add_vehicle_type(1, start_depot=depot, end_depot=depot, tw_early=0, tw_late=horizon)
    metres_per_sec = settings.avg_speed_kmh * 1000 / 3600
    locations = model.locations
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            if a != b:
                metres = int(round(km[a][b] * 1000))
                model.add_edge(frm, to, distance=metres, duration=int(round(metres / metres_per_sec)))
    stop = MultipleCriteria(
        [
            MaxRuntime(SOLVER_MAX_SECONDS),
            NoImprovement(SOLVER_NO_IMPROVEMENT),
            MaxIterations(SOLVER_MAX_ITERATIONS),
        ]
    )
    result = model.solve(stop, seed=1, display=False, collect_stats=False)
    routes = result.best.routes()
    if not routes:
        return []
    return [activity.idx for activity in routes[0] if activity.is_client()]


def _cost(total_km: float, late: float) -> float:
    return total_km + LATE_PENALTY_PER_MINUTE_KM * late


def plan_day_route(
    jobs: list[RouteJob],
    *,
    start_point: tuple[float, float],
    end_point: tuple[float, float],
    start_time: datetime,
    settings: DispatchSettings,
) -> DayRoute:
    """Order the jobs with the VRP solver; the nearest-neighbour order is reported as the baseline.

    The start and end share a depot in the model; when they differ (a reported position vs home), the
    start's distances are used outward and the home's for the way back.
    """
    points = [start_point, *[(j.lat, j.lng) for j in jobs]]
    km = _matrix_km(points, settings.road_factor)
    home = [geodesic_km(end_point, p) * settings.road_factor for p in points]
    for i in range(1, len(points)):
        km[i][0] = home[i]
    nn = nearest_neighbour_order(km, len(jobs))
    nn_stops, nn_km, nn_late, _ = simulate(nn, jobs, km, start_time, settings)
    if not jobs:
        return DayRoute([], 0.0, 0.0, None, "none", {"order": [], "total_km": 0.0, "late_minutes": 0.0})
    order = _solve_vrptw(jobs, km, start_time, settings) if len(jobs) > 1 else [0]
    if sorted(order) != list(range(len(jobs))):
        order = nn  # the solver never drops required clients; this guards the contract anyway
    stops, total, late, back = simulate(order, jobs, km, start_time, settings)
    solver = "pyvrp"
    if _cost(nn_km, nn_late) < _cost(total, late) - 1e-9:
        # A heuristic may (rarely) miss; never hand out a route worse than the simple one.
        stops, total, late, back = nn_stops, nn_km, nn_late, simulate(nn, jobs, km, start_time, settings)[3]
        solver = "nearest_neighbour"
    return DayRoute(
        stops,
        round(total, 3),
        round(late, 1),
        back,
        solver,
        {"order": [jobs[i].id for i in nn], "total_km": round(nn_km, 3), "late_minutes": round(nn_late, 1)},
    )
