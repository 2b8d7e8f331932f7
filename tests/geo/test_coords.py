"""Coordinates: China datums to WGS-84, distances, validation (no network, no database)."""

from __future__ import annotations

import math

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import Problem
from backend.geo import (
    bbox_around,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    geodesic_km,
    parse_bbox,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from backend.geo.coords import gcj02_to_bd09, haversine_km


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic(a, b).m)


# Published test vectors of the reference JavaScript implementation (wandergis/coordtransform,
# test/app.js), input (lng 116.404, lat 39.915). The forward formulas are exact; its inverses are a
# one-step approximation, ours iterate to convergence, so those agree within a few centimetres.
REF_INPUT = (39.915, 116.404)
REF_WGS_TO_GCJ = (39.91640428150164, 116.41024449916938)
REF_GCJ_TO_BD = (39.92133699351021, 116.41036949371029)
REF_GCJ_TO_WGS = (39.91359571849836, 116.39775550083061)


def test_forward_gcj02_matches_the_published_vector_exactly():
    assert metres(wgs84_to_gcj02(*REF_INPUT), REF_WGS_TO_GCJ) < 0.001


def test_forward_bd09_matches_the_published_vector_exactly():
    assert metres(gcj02_to_bd09(*REF_INPUT), REF_GCJ_TO_BD) < 0.001


def test_gcj02_input_converts_within_2_m_of_the_published_wgs84_value():
    point = to_wgs84(REF_INPUT[0], REF_INPUT[1], "gcj02")
    assert metres(point.as_tuple(), REF_GCJ_TO_WGS) < 2.0


# Zhengzhou landmarks, WGS-84 (approximate map positions; the checks below do not depend on their
# exactness): the inverse must undo the forward transform to within a centimetre, and the offset the
# datums put in must be the familiar several hundred metres (so a forgotten conversion is caught).
ZHENGZHOU = {
    "二七纪念塔": (34.75357, 113.66470),
    "郑州东站": (34.75960, 113.77840),
    "河南博物院": (34.78780, 113.66990),
}


@pytest.mark.parametrize("name", sorted(ZHENGZHOU))
def test_zhengzhou_landmarks_round_trip_through_gcj02_and_bd09(name):
    wgs = ZHENGZHOU[name]
    gcj = wgs84_to_gcj02(*wgs)
    bd = wgs84_to_bd09(*wgs)
    assert 200 < metres(wgs, gcj) < 1000
    assert 500 < metres(wgs, bd) < 2000
    assert metres(to_wgs84(gcj[0], gcj[1], "gcj02").as_tuple(), wgs) < 0.01
    assert metres(to_wgs84(bd[0], bd[1], "bd09").as_tuple(), wgs) < 0.01


@settings(max_examples=200, deadline=None)
@given(st.floats(18.0, 53.0), st.floats(74.0, 134.0))
def test_inverse_transforms_undo_the_forward_ones_anywhere_in_china(lat, lng):
    assert metres(gcj02_to_wgs84(*wgs84_to_gcj02(lat, lng)), (lat, lng)) < 0.01
    assert metres(bd09_to_wgs84(*wgs84_to_bd09(lat, lng)), (lat, lng)) < 0.01


def test_outside_china_gcj02_is_wgs84():
    assert wgs84_to_gcj02(48.8584, 2.2945) == (48.8584, 2.2945)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((34.75357, 113.66470), (34.75960, 113.77840)),
        ((34.75357, 113.66470), (34.75357, 113.66471)),
        ((39.915, 116.404), (31.2304, 121.4737)),
        ((0.0, 0.0), (0.0, 179.0)),
    ],
)
def test_distances_agree_with_geopy_geodesic_within_1_m(a, b):
    assert abs(geodesic_km(a, b) * 1000 - geodesic(a, b).m) < 1.0


def test_haversine_prefilter_is_within_half_a_percent_of_geodesic():
    a, b = (34.75357, 113.66470), (34.78780, 113.66990)
    assert abs(haversine_km(*a, *b) - geodesic_km(a, b)) / geodesic_km(a, b) < 0.005


def test_bounding_box_contains_every_point_of_the_circle():
    lat, lng, r = 34.75, 113.66, 10.0
    box = bbox_around(lat, lng, r)
    for bearing in range(0, 360, 15):
        p = geodesic(kilometers=r).destination((lat, lng), bearing)
        assert box.contains(p.latitude, p.longitude)


@pytest.mark.parametrize(
    ("lat", "lng", "field"),
    [
        (91, 113.0, "lat"),
        (-90.5, 113.0, "lat"),
        (34.0, 181, "lng"),
        (math.nan, 113.0, "lat"),
        (34.0, math.inf, "lng"),
        ("34.7", 113.0, "lat"),
        (None, 113.0, "lat"),
        (True, 113.0, "lat"),
    ],
)
def test_bad_coordinates_are_a_422_problem_naming_the_field(lat, lng, field):
    with pytest.raises(Problem) as err:
        to_wgs84(lat, lng)
    assert err.value.status == 422
    assert err.value.code == "geo.invalid_coordinates"
    assert field in (err.value.errors or {})


def test_unknown_coord_system_is_a_422_problem():
    with pytest.raises(Problem) as err:
        to_wgs84(34.7, 113.6, "mercator")
    assert err.value.code == "geo.unknown_coord_system"
    assert err.value.status == 422


def test_a_bbox_spanning_the_world_is_refused():
    with pytest.raises(Problem) as err:
        parse_bbox("-180,-90,180,90")
    assert err.value.code == "geo.bbox_too_large"
    assert parse_bbox("113.5,34.6,113.8,34.9").max_lat == 34.9
