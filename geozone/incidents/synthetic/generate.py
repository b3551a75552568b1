"""The generator: :func:`generate_incidents` draws the mixture and labels it SYNTHETIC."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster
from geozone.errors import InvalidParameterError
from geozone.incidents.io import incident_frame
from geozone.incidents.synthetic.attributes import (
    _categories,
    _detected_by,
    _legacy_detected_by,
    _times,
    _timestamps,
)
from geozone.incidents.synthetic.places import (
    _border_specs,
    _BorderSpec,
    _cluster_specs,
    _draw_background,
    _draw_border,
    _draw_hotspot,
    _Drawn,
    _hotspot_specs,
    _HotspotSpec,
    _split,
)
from geozone.incidents.synthetic.profile import (
    _BACKGROUND,
    _BORDER,
    _CODES,
    _HOTSPOT,
    _SOLVED,
    _SUBJECT_CDF,
    JOINT_BACKGROUND,
    JOINT_BORDER_BASE,
    JOINT_BORDER_PEAK,
    JOINT_HOTSPOT,
    MIXTURE,
    REDRAW_ROUNDS,
)
from geozone.vntime import aware


def generate_incidents(
    n: int,
    seed: int,
    *,
    boundaries: BoundarySet,
    clusters: Sequence[Cluster],
    start: datetime,
    end: datetime,
    legacy: BoundarySet | None = None,
) -> pd.DataFrame:
    """Draw ``n`` synthetic incidents (see the module notes for the mixture and attributes).

    Parameters
    ----------
    n
        Number of incidents (0 or more).
    seed
        Seed of the random generator: the same seed and arguments give the same frame.
    boundaries
        The boundary set the points and codes belong to (the 2025 units).
    clusters
        Clusters defined in ``boundaries`` (e.g. ``migrate_cluster(c, legacy,
        vn2025).to_cluster()`` of the five real clusters). May be empty: then every
        incident is background.
    start, end
        Period of ``occurred_at`` (naive times are Vietnam time); ``end`` after ``start``.
    legacy
        The set in force before ``boundaries``; when given, incidents dated before
        ``boundaries`` came into force name its units in ``detected_by``.

    Returns
    -------
    pandas.DataFrame
        The Incident columns (:data:`geozone.incidents.io.INCIDENT_COLUMNS`), sorted by
        ``occurred_at``, ``synthetic`` True on every row, ``external_id`` ``SYN-<seed>-<k>``
        (k from 1 in time order), ``description`` starting with "SYNTHETIC" and naming the
        component the point was drawn from.

    Raises
    ------
    InvalidParameterError
        When ``n`` is negative or ``end`` is not after ``start``.
    ClusterDefinitionError, UnknownUnitError
        When a cluster is not defined in ``boundaries`` or names a unit it lacks.
    """
    if n < 0:
        raise InvalidParameterError(f"n must be 0 or more, not {n}")
    first, last = aware(start), aware(end)
    if last <= first:
        raise InvalidParameterError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    rng_hotspot, rng_border, rng_background, rng_attributes, rng_time = streams
    specs = _cluster_specs(boundaries, clusters)
    hotspots = _hotspot_specs(boundaries, specs)
    borders = _border_specs(boundaries, specs)
    groups: list[_HotspotSpec | _BorderSpec] = [*hotspots, *borders]
    n_hotspot, n_border, n_background = _component_counts(n, bool(hotspots), bool(borders))
    counts = np.concatenate(
        [
            _split(n_hotspot, len(hotspots)) if hotspots else np.zeros(0, np.int64),
            _split(n_border, len(borders)) if borders else np.zeros(0, np.int64),
        ]
    )
    group = np.repeat(np.arange(len(groups)), counts)
    n_cluster = len(group)
    drawn = [
        _draw_group(g, rng_hotspot if isinstance(g, _HotspotSpec) else rng_border, int(c))
        for g, c in zip(groups, counts, strict=True)
    ]
    cl = _concat(drawn, n_cluster)
    bg_lon, bg_lat, bg_ward = _draw_background(boundaries, rng_background, n_background)
    lon = np.concatenate([cl.lon, bg_lon])
    lat = np.concatenate([cl.lat, bg_lat])
    inside, codes = _locate_and_redraw(
        boundaries, lon, lat, cl, groups, group, (rng_hotspot, rng_border)
    )

    component = np.concatenate(
        [
            np.where(group < len(hotspots), _HOTSPOT, _BORDER),
            np.full(n_background, _BACKGROUND),
        ]
    ).astype(np.int64)
    cluster_of = np.concatenate(
        [np.array([g.cluster for g in groups], dtype=np.int64)[group], np.full(n_background, -1)]
    )
    # Group index of every row; the background is one more "group" after the clusters'.
    row_group = np.concatenate([group, np.full(n_background, len(groups))])
    category = _categories(rng_attributes, component, cluster_of, specs)
    solved = rng_attributes.random(n) < _SOLVED[category]
    subjects = (rng_attributes.random(n)[:, None] > _SUBJECT_CDF[category]).sum(axis=1)
    jointly = rng_attributes.random(n) < _joint_probability(component, cl, groups, row_group)
    occurred_s, detected_s = _times(rng_time, category, first, last)

    holder = np.concatenate([np.full(n_cluster, None, dtype=object), bg_ward])
    background = component == _BACKGROUND
    holder[background & inside] = codes["unit_code"][background & inside]
    detected_by, role = _detected_by(
        rng_attributes, component, cluster_of, specs, cl, codes, holder, n_cluster
    )
    if legacy is not None:
        _legacy_detected_by(
            legacy, boundaries, detected_by, role, occurred_s, cluster_of, specs, cl, lon, lat
        )

    opening = f"SYNTHETIC incident (geozone.incidents.synthetic, seed {seed})"
    labels = np.array(
        [f"{opening}: {g.label}" for g in groups] + [f"{opening}: background"], dtype=object
    )
    description = labels[row_group]
    order = np.argsort(occurred_s, kind="stable")
    ids = np.array([f"SYN-{seed}-{k}" for k in range(1, n + 1)], dtype=object)
    return incident_frame(
        {
            "external_id": ids,
            "occurred_at": _timestamps(occurred_s[order]),
            "detected_at": _timestamps(detected_s[order]),
            "lon": lon[order],
            "lat": lat[order],
            "category": _CODES[category[order]],
            "detected_by": detected_by[order],
            "status": np.where(solved[order], "solved", "open").astype(object),
            "subjects": subjects[order],
            "jointly_handled": jointly[order],
            "description": description[order],
            "synthetic": np.ones(n, dtype=bool),
        }
    )


def _draw_group(spec: _HotspotSpec | _BorderSpec, rng: np.random.Generator, k: int) -> _Drawn:
    if isinstance(spec, _HotspotSpec):
        return _draw_hotspot(spec, rng, k)
    return _draw_border(spec, rng, k)


def _concat(drawn: list[_Drawn], n: int) -> _Drawn:
    if not drawn:
        empty = np.zeros(n)
        none = np.full(n, None, dtype=object)
        return _Drawn(empty, empty, empty, empty, none, none, empty)
    return _Drawn(
        *(np.concatenate([getattr(d, name) for d in drawn]) for name in _Drawn.__dataclass_fields__)
    )


def _assign(target: _Drawn, rows: NDArray[np.intp], fresh: _Drawn) -> None:
    for name in _Drawn.__dataclass_fields__:
        getattr(target, name)[rows] = getattr(fresh, name)


def _component_counts(n: int, has_hotspots: bool, has_borders: bool) -> tuple[int, int, int]:
    """Split ``n`` into hotspot, border and background counts; an empty share passes on."""
    share = dict(MIXTURE)
    if not has_hotspots:
        share["border"] += share.pop("hotspot")
        share["hotspot"] = 0.0
    if not has_borders:
        share["background"] += share.pop("border")
        share["border"] = 0.0
    n_hotspot = round(n * share["hotspot"])
    n_border = round(n * share["border"])
    return n_hotspot, n_border, n - n_hotspot - n_border


def _locate_and_redraw(
    boundaries: BoundarySet,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
    cl: _Drawn,
    groups: Sequence[_HotspotSpec | _BorderSpec],
    group: NDArray[np.int64],
    rngs: tuple[np.random.Generator, np.random.Generator],
) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.object_]]]:
    """Locate every point; draw cluster points outside every unit again (in place).

    Returns whether each point is inside a unit and its unit codes by level.
    """
    rng_hotspot, rng_border = rngs
    n_cluster = len(group)
    located = boundaries.locate_many(lon, lat, tolerance_m=0.0)
    level_columns = [c for c in located.columns if c.endswith("_code")]
    codes = {c: np.array(located[c], dtype=object) for c in level_columns}
    inside = np.array(located["status"] == "inside", dtype=bool)
    for _ in range(REDRAW_ROUNDS):
        again = np.flatnonzero(~inside[:n_cluster])
        if not len(again):
            break
        for g in np.unique(group[again]):
            rows = again[group[again] == g]
            rng = rng_hotspot if isinstance(groups[g], _HotspotSpec) else rng_border
            fresh = _draw_group(groups[g], rng, len(rows))
            _assign(cl, rows, fresh)
        lon[again], lat[again] = cl.lon[again], cl.lat[again]
        relocated = boundaries.locate_many(lon[again], lat[again], tolerance_m=0.0)
        inside[again] = (relocated["status"] == "inside").to_numpy(bool)
        for c in level_columns:
            codes[c][again] = relocated[c].to_numpy(dtype=object)
    return inside, codes


def _joint_probability(
    component: NDArray[np.int64],
    cl: _Drawn,
    groups: Sequence[_HotspotSpec | _BorderSpec],
    row_group: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Return each incident's chance of joint handling: higher near a cluster border."""
    n_background = int((component == _BACKGROUND).sum())
    distance = np.concatenate([cl.distance_m, np.zeros(n_background)])
    scale = np.array(
        [spec.scale_m if isinstance(spec, _BorderSpec) else 1.0 for spec in groups] + [1.0]
    )[row_group]
    return np.select(
        [component == _HOTSPOT, component == _BORDER],
        [
            np.full(len(component), JOINT_HOTSPOT),
            JOINT_BORDER_BASE + JOINT_BORDER_PEAK * np.exp(-distance / scale),
        ],
        JOINT_BACKGROUND,
    )
