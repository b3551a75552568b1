"""The fast path (geozone.assignment) against the plain reference implementation.

Hypothesis draws points around the places where the rule is hardest to get right (the hand
grid's four-way junction, the T11 bridge, the old district lines of the carried Gia Lâm
cluster, the successor of two districts Bát Tràng), detectors (members, organisations, other
units, free text, none) and dates (in and out of periods and memberships); each case is judged
by both, one point at a time, and they must agree. A batch of a few thousand points checks
the large-batch path the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geozone.assignment import ClusterTerritory, assign, territories
from geozone.assignment.reference import Decision, judge
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.files import load_clusters
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import T11_CONFIRMED, grid_cluster
from tests.fixtures.grid import grid_vertex_lonlat

TOLERANCE_M = 10.0
#: Metres per degree near Hà Nội (for drawing offsets; the judges work in UTM).
M_PER_DEG_LAT = 110_700.0
M_PER_DEG_LON = 104_000.0
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fast(
    territory: ClusterTerritory,
    sets: list[BoundarySet],
    lon: float,
    lat: float,
    day: date,
    detected_by: str | None,
) -> pd.Series | None:
    incidents = pd.DataFrame(
        {
            "external_id": ["x"],
            "occurred_at": [datetime(day.year, day.month, day.day, 21, tzinfo=VIETNAM_TZ)],
            "lon": [lon],
            "lat": [lat],
            "detected_by": [detected_by],
        }
    )
    rows = assign(incidents, sets, [territory], tolerance_m=TOLERANCE_M).clusters
    return rows.iloc[0] if len(rows) else None


def _agree(fast: pd.Series | None, reference: Decision | None) -> None:
    if reference is None or fast is None:
        assert reference is None and fast is None, (fast, reference)
        return
    assert fast["rule"] == reference.rule
    assert (fast["member_code"] or None) == reference.member_code
    assert (fast["lead_unit"] or None) == reference.lead_unit
    assert set(fast["zone_units"]) == reference.zone_units
    assert set(fast["cooperating"]) == reference.cooperating
    assert bool(fast["in_zone"]) == reference.in_zone
    assert bool(fast["review"]) == reference.review
    assert (fast["boundary_with"] or None) == reference.boundary_with
    if reference.distance_m is None:
        assert pd.isna(fast["distance_m"])
    else:  # both rounded to 0.1 m; the fast path measures within 1 cm
        assert abs(float(fast["distance_m"]) - reference.distance_m) <= 0.11


def _near(anchor: tuple[float, float], spread_m: float) -> st.SearchStrategy[tuple[float, float]]:
    offsets = st.floats(-spread_m, spread_m, allow_nan=False)
    return st.tuples(offsets, offsets).map(
        lambda d: (anchor[0] + d[0] / M_PER_DEG_LON, anchor[1] + d[1] / M_PER_DEG_LAT)
    )


# -- the hand grid (no real data) ------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_territory(grid: BoundarySet) -> ClusterTerritory:
    return ClusterTerritory(grid_cluster(zone_width_m=100), grid)


@SETTINGS
@given(
    point=_near(grid_vertex_lonlat(1, 1), 1_200),
    detected_by=st.sampled_from([None, "", "o1", "o2", "o4", "o5", "00001", "cty", "00009", "x"]),
    days=st.integers(-800, 800),
)
def test_grid_cases_agree(
    grid: BoundarySet,
    grid_territory: ClusterTerritory,
    point: tuple[float, float],
    detected_by: str | None,
    days: int,
) -> None:
    day = date(2021, 6, 1) + timedelta(days=days)
    fast = _fast(grid_territory, [grid], *point, day, detected_by)
    location = grid.locate(*point, tolerance_m=TOLERANCE_M)
    _agree(fast, judge(grid_territory, location, day, detected_by, TOLERANCE_M))


# -- real data ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def carried(vn2025: BoundarySet, legacy: BoundarySet) -> dict[str, ClusterTerritory]:
    clusters = load_clusters()
    placed = territories(
        [clusters["gia-lam"], clusters["hoa-do-phuc-vi"]],
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED,
    )
    return {t.cluster.id: t for t in placed}


T11_DETECTORS = [None, "00160", "00008", "00025", "00166", "00169", "nghia-do-00160", "x", ""]
GIA_LAM_DETECTORS = [None, "00565", "00562", "00577", "09319", "018", "gia-lam", "x"]


@pytest.mark.realdata
@SETTINGS
@given(
    point=_near((105.8064, 21.0387), 1_500),
    detected_by=st.sampled_from(T11_DETECTORS),
    days=st.integers(0, 400),
)
def test_t11_cases_agree(
    vn2025: BoundarySet,
    legacy: BoundarySet,
    carried: dict[str, ClusterTerritory],
    point: tuple[float, float],
    detected_by: str | None,
    days: int,
) -> None:
    territory = carried["hoa-do-phuc-vi-vn2025"]
    day = date(2025, 6, 20) + timedelta(days=days)
    fast = _fast(territory, [legacy, vn2025], *point, day, detected_by)
    bset = vn2025 if day >= vn2025.info.valid_from else legacy
    location = bset.locate(*point, tolerance_m=TOLERANCE_M)
    _agree(fast, judge(territory, location, day, detected_by, TOLERANCE_M))


@pytest.mark.realdata
@SETTINGS
@given(
    point=st.one_of(
        _near((105.9000, 21.0200), 3_000),  # the old Gia Lâm – Long Biên line
        _near((105.9300, 20.9850), 2_500),  # Bát Tràng, a successor of both
        _near((105.9600, 21.0500), 3_000),  # Xã Gia Lâm / Xã Thuận An, one district's
    ),
    detected_by=st.sampled_from(GIA_LAM_DETECTORS),
)
def test_gia_lam_cases_agree(
    vn2025: BoundarySet,
    carried: dict[str, ClusterTerritory],
    point: tuple[float, float],
    detected_by: str | None,
) -> None:
    territory = carried["gia-lam-vn2025"]
    day = date(2025, 9, 1)
    fast = _fast(territory, [vn2025], *point, day, detected_by)
    location = vn2025.locate(*point, tolerance_m=TOLERANCE_M)
    _agree(fast, judge(territory, location, day, detected_by, TOLERANCE_M))


@pytest.mark.realdata
def test_a_large_batch_agrees_row_by_row(
    vn2025: BoundarySet, legacy: BoundarySet, carried: dict[str, ClusterTerritory]
) -> None:
    """Large batches take the threaded, KD-tree path: each row checked equals the reference."""
    rng = np.random.default_rng(21)
    n = 2_500
    lon = np.concatenate([105.8064 + rng.normal(0, 0.01, n), 105.92 + rng.normal(0, 0.05, n)])
    lat = np.concatenate([21.0387 + rng.normal(0, 0.01, n), 21.02 + rng.normal(0, 0.05, n)])
    detectors = rng.choice(np.array(T11_DETECTORS + GIA_LAM_DETECTORS, dtype=object), 2 * n)
    day = date(2025, 9, 1)
    incidents = pd.DataFrame(
        {
            "external_id": [f"b{i}" for i in range(2 * n)],
            "occurred_at": [datetime(2025, 9, 1, 21, tzinfo=VIETNAM_TZ)] * (2 * n),
            "lon": lon,
            "lat": lat,
            "detected_by": detectors,
        }
    )
    placed = [carried["hoa-do-phuc-vi-vn2025"], carried["gia-lam-vn2025"]]
    rows = assign(incidents, [legacy, vn2025], placed, tolerance_m=TOLERANCE_M).clusters
    by_key = {(r.external_id, r.cluster_id): r for r in rows.itertuples(index=False)}
    located = vn2025.locate_many(lon, lat, TOLERANCE_M)
    columns = {k: located[k].to_numpy() for k in located.columns}
    checked = 0
    for i in range(0, 2 * n, 2):  # every other row: the reference takes ~3 ms a judgement
        location = vn2025.location_at(columns, i, TOLERANCE_M)
        for territory in placed:
            reference = judge(territory, location, day, detectors[i], TOLERANCE_M)
            found = by_key.get((f"b{i}", territory.cluster.id))
            _agree(None if found is None else pd.Series(found._asdict()), reference)
            checked += reference is not None
    assert checked > 1_500
