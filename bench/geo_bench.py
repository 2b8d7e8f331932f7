"""Geo dispatch benchmark: ratios against naive baselines measured in the same run.

    .venv/bin/python bench/geo_bench.py            # SQLite file in a temp dir
    BENCH_DATABASE_URL=postgresql+psycopg://... .venv/bin/python bench/geo_bench.py

1. Nearest 10 eligible technicians among 100,000 (50 cities x 2,000): indexed bounding-box search vs a
   full scan computing the geodesic distance to every technician (median ms, ratio; target >= 50x,
   <= 20 ms).
2. Batch plan, 1,000 orders x 300 technicians: total distance of the assignment solver vs greedy
   nearest-first (target <= 0.9x).
3. A day of 12 jobs with appointment windows: PyVRP route vs nearest-neighbour order.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time as clock
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geopy.distance import geodesic  # noqa: E402

from backend.accounts.customers import Customer
from backend.accounts.regions import Region
from backend.accounts.technicians import Certificate, Shift, Technician, TechnicianSkill
from backend.accounts.users import User
from backend.db import make_engine, make_session_factory  # noqa: E402
from backend.domains import metadata
from backend.geo.batch import plan_batch  # noqa: E402
from backend.geo.candidates import search_candidates  # noqa: E402
from backend.geo.eligibility import JobFacts, TechFacts, ineligibility, load_tech_facts  # noqa: E402
from backend.geo.routing import RouteJob, plan_day_route  # noqa: E402
from backend.geo.settings import DispatchSettings  # noqa: E402
from backend.work_orders.models import WorkOrder
from backend.work_orders.service import CHINA_TZ  # noqa: E402

RNG = random.Random(8)
CITIES = 50
PER_CITY = 2000
CATEGORIES = ["air_conditioner", "washing_machine", "refrigerator", "water_heater"]
SETTINGS = DispatchSettings()


def next_monday() -> date:
    today = datetime.now(CHINA_TZ).date()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def build_fleet(url: str) -> tuple[list[tuple[str, float, float]], date]:
    engine = make_engine(url)
    metadata().drop_all(engine)
    metadata().create_all(engine)
    day = next_monday()
    cities = [(RNG.uniform(23, 40), RNG.uniform(105, 120)) for _ in range(CITIES)]
    regions, users, techs, skills, shifts, certs, orders = [], [], [], [], [], [], []
    customer_id = str(uuid.uuid4())
    for c, (clat, clng) in enumerate(cities):
        rid = str(uuid.uuid4())
        regions.append(
            {
                "id": rid,
                "code": f"C{c:03d}",
                "name": f"city {c}",
                "city": f"city {c}",
                "center_lat": clat,
                "center_lng": clng,
            }
        )
        for n in range(PER_CITY):
            uid, tid = str(uuid.uuid4()), str(uuid.uuid4())
            users.append(
                {
                    "id": uid,
                    "username": f"t{c}_{n}",
                    "password_hash": "x",
                    "role": "technician",
                    "display_name": f"tech {c}-{n}",
                    "active": True,
                }
            )
            techs.append(
                {
                    "id": tid,
                    "user_id": uid,
                    "employee_no": f"E{c:02d}{n:05d}",
                    "region_id": rid,
                    "skill_level": RNG.choice(["junior", "senior", "expert"]),
                    "home_lat": RNG.gauss(clat, 0.1),
                    "home_lng": RNG.gauss(clng, 0.1),
                    "daily_capacity": 5,
                    "active": RNG.random() > 0.05,
                }
            )
            for cat in RNG.sample(CATEGORIES, 2):
                skills.append({"id": str(uuid.uuid4()), "technician_id": tid, "product_category": cat})
            shifts.append(
                {
                    "id": str(uuid.uuid4()),
                    "technician_id": tid,
                    "weekday": 0 if RNG.random() < 0.7 else RNG.randint(1, 6),
                    "starts_at": time(8),
                    "ends_at": time(18),
                }
            )
            roll = RNG.random()
            if roll < 0.7:
                expired = roll < 0.1
                certs.append(
                    {
                        "id": str(uuid.uuid4()),
                        "technician_id": tid,
                        "type": "electrician",
                        "number": f"C{c}{n}",
                        "issued_on": date(2020, 1, 1),
                        "expires_on": date(2021, 1, 1) if expired else date(2030, 1, 1),
                    }
                )
            if RNG.random() < 0.1:
                start = datetime.combine(day, time(9), tzinfo=CHINA_TZ)
                for k in range(RNG.randint(1, 5)):
                    orders.append(
                        {
                            "id": str(uuid.uuid4()),
                            "number": f"WO-{c}-{n}-{k}",
                            "customer_id": customer_id,
                            "region_id": rid,
                            "product_category": "air_conditioner",
                            "fault_description": "x",
                            "status": "accepted",
                            "assignee_id": tid,
                            "appointment_start": start,
                            "hazards": [],
                            "priority": "normal",
                            "service_mode": "on_site",
                            "complex_job": False,
                            "version": 1,
                        }
                    )
    with engine.begin() as conn:
        conn.execute(sa.insert(Region), regions)
        conn.execute(sa.insert(User), users)
        conn.execute(sa.insert(Technician), techs)
        conn.execute(sa.insert(TechnicianSkill), skills)
        conn.execute(sa.insert(Shift), shifts)
        conn.execute(sa.insert(Certificate), certs)
        conn.execute(sa.insert(Customer), [{"id": customer_id, "name": "bench", "phone": "1"}])
        conn.execute(sa.insert(WorkOrder), orders)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return [(r["id"], r["center_lat"], r["center_lng"]) for r in regions], day


def bench_job(region: tuple[str, float, float], day: date, n: int) -> JobFacts:
    rid, clat, clng = region
    start = datetime.combine(day, time(10), tzinfo=CHINA_TZ)
    return JobFacts(
        id=f"job-{n}",
        lat=clat + RNG.gauss(0, 0.05),
        lng=clng + RNG.gauss(0, 0.05),
        region_id=rid,
        customer_id="nobody",
        priority="normal",
        hazards=("electrical",),
        product_category="air_conditioner",
        fault_type="no_cooling",
        needs_expert=False,
        window_start=start,
        window_end=start + timedelta(hours=2),
        respond_due_at=None,
    )


def full_scan(session, job: JobFacts, limit: int = 10) -> list[str]:
    """The naive way: geodesic distance to every technician, then check the nearest until 10 qualify."""
    rows = session.execute(sa.select(Technician.id, Technician.home_lat, Technician.home_lng)).all()
    distance = {r[0]: geodesic((job.lat, job.lng), (r[1], r[2])).km for r in rows}
    ranked = sorted(rows, key=lambda r: (distance[r[0]], r[0]))
    found: list[str] = []
    for start in range(0, len(ranked), 200):
        ids = [r[0] for r in ranked[start : start + 200]]
        facts = load_tech_facts(session=session, ids=ids, job=job)
        found += [i for i in ids if i in facts and not ineligibility(facts[i], job)]
        if len(found) >= limit:
            break
    return found[:limit]


def nearest_ten(url: str) -> None:
    regions, day = build_fleet(url)
    session = make_session_factory(make_engine(url))()
    jobs = [bench_job(regions[i % len(regions)], day, i) for i in range(40)]
    indexed, agree = [], 0
    for job in jobs:
        t0 = clock.perf_counter()
        search_candidates(session=session, job=job, settings=SETTINGS, limit=10, rank="distance")
        indexed.append((clock.perf_counter() - t0) * 1000)
    scans = []
    for job in jobs[:5]:
        t0 = clock.perf_counter()
        naive = full_scan(session, job)
        scans.append((clock.perf_counter() - t0) * 1000)
        fast = search_candidates(session=session, job=job, settings=SETTINGS, limit=10, rank="distance")
        agree += naive == [c.technician_id for c in fast.candidates]
    med_i, med_s = statistics.median(indexed), statistics.median(scans)
    print(f"[1] nearest 10 eligible among {CITIES * PER_CITY:,} technicians ({session.bind.dialect.name})")
    print(
        f"    indexed search: median {med_i:.1f} ms (p90 {sorted(indexed)[int(len(indexed) * 0.9)]:.1f} ms,"
        f" {len(indexed)} queries)"
    )
    print(f"    full scan + geodesic: median {med_s:.0f} ms ({len(scans)} queries)")
    print(f"    ratio: {med_s / med_i:.0f}x faster (target >= 50x, <= 20 ms)")
    print(f"    sanity: {agree}/{len(scans)} queries return exactly the full scan's ten, in the same order")
    session.close()


def batch_plan() -> None:
    clat, clng = 34.75, 113.66
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    techs = []
    for n in range(300):
        t = TechFacts(
            f"t{n}", "r", "senior", True, 4, clat + RNG.uniform(-0.15, 0.15), clng + RNG.uniform(-0.18, 0.18)
        )
        t.skills = [(c, None) for c in RNG.sample(CATEGORIES, 3)]
        t.shifts = [(d, time(0), time(0)) for d in range(7)]
        techs.append(t)
    jobs = [
        JobFacts(
            f"o{n}",
            clat + RNG.uniform(-0.15, 0.15),
            clng + RNG.uniform(-0.18, 0.18),
            "r",
            "c",
            "normal",
            (),
            RNG.choice(CATEGORIES),
            None,
            False,
            now,
            now + timedelta(hours=8),
            None,
        )
        for n in range(1000)
    ]
    import numpy as np

    mask = np.array([[not ineligibility(t, j) for t in techs] for j in jobs])
    t0 = clock.perf_counter()
    plan = plan_batch(jobs, techs, free_slots=[4] * len(techs), eligible=mask)
    ms = (clock.perf_counter() - t0) * 1000
    print("[2] batch plan: 1,000 orders x 300 technicians (capacity 4 each, ~75 % eligible pairs)")
    print(
        f"    solver: {len(plan.assignments)} assigned, total {plan.total_distance_km:,.1f} km, {ms:.0f} ms"
    )
    print(
        f"    greedy nearest-first: {plan.greedy_assigned} assigned,"
        f" total {plan.greedy_total_distance_km:,.1f} km"
    )
    print(f"    ratio: {plan.total_distance_km / plan.greedy_total_distance_km:.3f}x (target <= 0.9x)")


def day_route() -> None:
    day = datetime(2026, 11, 24, 8, 0, tzinfo=CHINA_TZ)
    home = (34.75, 113.66)
    jobs = []
    for n in range(12):
        lat, lng = home[0] + RNG.uniform(-0.08, 0.08), home[1] + RNG.uniform(-0.1, 0.1)
        if n % 3 == 0:
            start = day + timedelta(hours=RNG.choice([1, 3, 5, 7]))
            jobs.append(RouteJob(f"j{n}", lat, lng, start, start + timedelta(hours=2)))
        else:
            jobs.append(RouteJob(f"j{n}", lat, lng, None, None))
    settings = DispatchSettings(service_minutes=30)
    t0 = clock.perf_counter()
    route = plan_day_route(jobs, start_point=home, end_point=home, start_time=day, settings=settings)
    ms = (clock.perf_counter() - t0) * 1000
    print(
        "[3] day route: 12 jobs (4 with 2-hour appointment windows), 30 min each, 25 km/h, road factor 1.35"
    )
    print(
        f"    {route.solver}: {route.total_km:.1f} km,"
        f" {route.late_minutes:.0f} min late in total, {ms:.0f} ms"
    )
    print(
        f"    nearest-neighbour: {route.baseline['total_km']:.1f} km, "
        f"{route.baseline['late_minutes']:.0f} min late in total"
    )


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        nearest_ten(url or f"sqlite:///{Path(tmp) / 'geo_bench.db'}")
    batch_plan()
    day_route()


if __name__ == "__main__":
    main()
