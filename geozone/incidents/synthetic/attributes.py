"""What a synthetic incident says besides its place: category, times and who detected it."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.boundaries.sets import BoundarySet
from geozone.incidents.synthetic.places import _ClusterSpec, _Drawn
from geozone.incidents.synthetic.profile import (
    _BACKGROUND,
    _CODES,
    _DELAY_MEDIAN_S,
    _ROLE_HOLDER,
    _ROLE_NAMES,
    _ROLE_NEIGHBOUR,
    _ROLE_NON_MEMBER,
    _ROLE_UNKNOWN,
    BACKGROUND_UNKNOWN,
    CATEGORY_PROFILE,
    DELAY_SIGMA,
    DETECTION_SHARES,
    DIURNAL,
    MAX_DELAY_S,
    NATIONAL_MIX,
    _table,
)
from geozone.vntime import VIETNAM_TZ


def _categories(
    rng: np.random.Generator,
    component: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
) -> NDArray[np.int64]:
    mixes = np.vstack([*(spec.mix for spec in specs), _table(NATIONAL_MIX)])
    mix = np.where(component == _BACKGROUND, len(specs), cluster_of)
    cdf = np.cumsum(mixes, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(mix))
    return np.asarray((u[:, None] > cdf[mix]).sum(axis=1), dtype=np.int64)


def _times(
    rng: np.random.Generator, category: NDArray[np.int64], first: datetime, last: datetime
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Occurrence and detection times in seconds since the epoch (UTC)."""
    n = len(category)
    start_s, end_s = int(first.timestamp()), int(last.timestamp())
    local_first = first.astimezone(VIETNAM_TZ)
    midnight = datetime.combine(local_first.date(), datetime.min.time(), VIETNAM_TZ)
    base_s = int(midnight.timestamp())
    n_days = (last.astimezone(VIETNAM_TZ).date() - local_first.date()).days + 1
    profiles = list(DIURNAL)
    hour_cdf = np.cumsum(np.array([DIURNAL[p] for p in profiles], dtype=np.float64), axis=1)
    hour_cdf /= hour_cdf[:, -1:]
    profile = np.array([profiles.index(CATEGORY_PROFILE[str(c)]) for c in _CODES])[category]
    occurred = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    for _ in range(50):
        if not len(pending):
            break
        day = rng.integers(0, n_days, len(pending))
        hour = (rng.random(len(pending))[:, None] > hour_cdf[profile[pending]]).sum(axis=1)
        second = rng.integers(0, 3600, len(pending))
        value = base_s + day * 86_400 + hour * 3600 + second
        ok = (value >= start_s) & (value <= end_s)
        occurred[pending[ok]] = value[ok]
        pending = pending[~ok]
    if len(pending):  # a period shorter than the profile's busy hours: uniform instead
        occurred[pending] = rng.integers(start_s, end_s + 1, len(pending))
    delay = rng.lognormal(np.log(_DELAY_MEDIAN_S[category]), DELAY_SIGMA)
    detected = occurred + np.minimum(np.round(delay), MAX_DELAY_S).astype(np.int64)
    # No record is detected after it is made: an incident of a period ending now whose delay
    # runs past this moment is detected now (the store refuses detections in the future).
    made = int(datetime.now(UTC).timestamp())
    detected = np.where(detected > made, np.maximum(made, occurred), detected)
    return occurred, detected


def _timestamps(seconds: NDArray[np.int64]) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")
    return index.tz_convert(VIETNAM_TZ).as_unit("us")


def _roles(
    rng: np.random.Generator, cluster_of: NDArray[np.int64], specs: list[_ClusterSpec]
) -> NDArray[np.int64]:
    shares = np.array([DETECTION_SHARES[name] for name in _ROLE_NAMES])
    table = np.tile(shares, (len(specs), 1))
    for i, spec in enumerate(specs):
        if spec.organisation is None:
            table[i, 0] += table[i, 4]
            table[i, 4] = 0.0
    cdf = np.cumsum(table, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(cluster_of))
    if not len(cluster_of):
        return np.zeros(0, dtype=np.int64)
    return np.asarray((u[:, None] > cdf[cluster_of]).sum(axis=1), dtype=np.int64)


def _detected_by(
    rng: np.random.Generator,
    component: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
    cl: _Drawn,
    codes: dict[str, NDArray[np.object_]],
    holder: NDArray[np.object_],
    n_cluster: int,
) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Draw the detecting unit of every incident; return the codes and the role drawn."""
    n = len(component)
    result = holder.copy()
    unknown_bg = (component == _BACKGROUND) & (rng.random(n) < BACKGROUND_UNKNOWN)
    result[unknown_bg] = None
    roles = np.where(unknown_bg, _ROLE_UNKNOWN, _ROLE_HOLDER).astype(np.int64)
    if not n_cluster:
        return result, roles
    clusters = cluster_of[:n_cluster]
    role = _roles(rng, clusters, specs)
    own = np.full(n_cluster, None, dtype=object)
    outside_cluster = np.full(n_cluster, None, dtype=object)
    for i, spec in enumerate(specs):
        rows = np.flatnonzero(clusters == i)
        own[rows] = codes[spec.level_column][rows]
        other = "unit_code" if spec.level_column == "province_code" else "province_code"
        outside_cluster[rows] = codes[other][rows]
    neighbour = np.where(own == cl.code_a, cl.code_b, cl.code_a)
    own = np.where(pd.isna(own), cl.code_a, own)
    organisation = np.array([spec.organisation for spec in specs] + [None], dtype=object)[clusters]
    chosen = np.select(
        [
            role == _ROLE_HOLDER,
            role == _ROLE_NEIGHBOUR,
            role == _ROLE_UNKNOWN,
            role == _ROLE_NON_MEMBER,
        ],
        [own, neighbour, np.full(n_cluster, None, dtype=object), outside_cluster],
        organisation,
    )
    result[:n_cluster] = chosen
    roles[:n_cluster] = role
    return result, roles


def _legacy_detected_by(
    legacy: BoundarySet,
    boundaries: BoundarySet,
    detected_by: NDArray[np.object_],
    role: NDArray[np.int64],
    occurred_s: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
    cl: _Drawn,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> None:
    """Name the detecting units of incidents dated before ``boundaries`` in ``legacy``."""
    change = datetime.combine(boundaries.info.valid_from, datetime.min.time(), VIETNAM_TZ)
    before = occurred_s < int(change.timestamp())
    rows = np.flatnonzero(
        before & ((role == _ROLE_HOLDER) | (role == _ROLE_NEIGHBOUR) | (role == _ROLE_NON_MEMBER))
    )
    if not len(rows):
        return
    here = legacy.locate_many(lon[rows], lat[rows], tolerance_m=0.0)
    leaf = here["unit_code"].to_numpy(dtype=object)
    province = here["province_code"].to_numpy(dtype=object)
    n_cluster = len(cl.lon)
    in_cluster = rows < n_cluster
    province_level = np.zeros(len(rows), dtype=bool)
    province_level[in_cluster] = np.array(
        [spec.level_column == "province_code" for spec in specs], dtype=bool
    )[cluster_of[rows[in_cluster]]]
    own = np.where(province_level, province, leaf)
    new = np.where(role[rows] == _ROLE_NON_MEMBER, np.where(province_level, leaf, province), own)
    across_rows = np.flatnonzero(role[rows] == _ROLE_NEIGHBOUR)
    if len(across_rows):
        picked = rows[across_rows]
        there = legacy.locate_many(cl.mirror_lon[picked], cl.mirror_lat[picked], tolerance_m=0.0)
        new[across_rows] = np.where(
            province_level[across_rows],
            there["province_code"].to_numpy(dtype=object),
            there["unit_code"].to_numpy(dtype=object),
        )
    detected_by[rows] = new
