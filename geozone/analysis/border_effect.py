"""Border effect: is a cluster's border zone busier than its share of the territory.

A coordination regulation exists because offenders use the boundary between units. If they
do, the border zone (địa bàn giáp ranh) holds more incidents than its share of the area. For a
cluster and for every pair of members sharing a boundary line, :func:`border_effect` compares

- the **incident share**: incidents in the zone / incidents in the members' territory, with
- the **area share**: zone area (clipped to the members) / members' area,

and reports their ratio. Under the null hypothesis that an incident is equally likely anywhere
in the members' territory, the number in the zone is binomial with the area share as its
probability: the table gives the one-sided p-value of "more than expected" (exactly
``scipy.stats.binomtest(k, n, area_share, alternative="greater").pvalue``) and the exact
(Clopper–Pearson) 95% interval of the incident share and of the ratio.

What counts as "in the zone" comes from the assignment
(:func:`geozone.assignment.decide.assign_clusters`,
or the store's cluster rows): the whole cluster counts incidents with ``in_zone``; a pair
``A|B`` counts incidents held by A or B whose ``zone_units`` name both A and B (the band along
their shared line, and the junction discs where they meet a third member). Areas are measured
in the cluster's UTM zone (:func:`zone_areas`) on the same definition: the pieces of the pair
zone and of the junction zones naming both A and B that lie in A or B.

Membership dates are not applied to the areas: the territory is every member with geometry in
the set. Incidents held by no member (``member_code`` empty, rule ``outside_members``) are left
out and counted in ``attrs["n_outside_members"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.assignment import ClusterTerritory, side_facts
from geozone.clusters.zones import BorderZones, border_zones
from geozone.crs import project_geometries
from geozone.errors import AnalysisInputError, InvalidParameterError
from geozone.incidents.schema import CATEGORIES
from geozone.vntime import VIETNAM_TZ

#: Columns :func:`border_effect` needs in its incidents frame.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "external_id",
    "occurred_at",
    "category",
    "member_code",
    "in_zone",
    "zone_units",
)
#: What a table can be split by.
BY_CHOICES: tuple[str, ...] = ("category", "kind", "period")
#: Period lengths: month, quarter, year (pandas period aliases).
PERIODS: tuple[str, ...] = ("M", "Q", "Y")
#: Confidence level of the intervals.
CONFIDENCE = 0.95
#: Why a ratio is missing.
REASON_NO_INCIDENTS = "no_incidents"
REASON_NO_ZONE_AREA = "no_zone_area"

AREA_COLUMNS: tuple[str, ...] = (
    "scope",
    "pair",
    "code_a",
    "code_b",
    "zone_area_km2",
    "area_km2",
    "area_share",
)
STAT_COLUMNS: tuple[str, ...] = (
    "n_incidents",
    "n_in_zone",
    "incident_share",
    "zone_area_km2",
    "area_km2",
    "area_share",
    "expected_in_zone",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "share_ci_low",
    "share_ci_high",
    "p_value",
    "reason",
)


def territory_zones(territory: ClusterTerritory) -> BorderZones:
    """Return the border zones of a cluster territory's members that have territory.

    Uses the territory's own ``zones`` when it carries them, else builds them with the
    cluster's width and level (:func:`geozone.clusters.zones.border_zones`).

    Parameters
    ----------
    territory
        A placed cluster.

    Returns
    -------
    BorderZones

    Raises
    ------
    InvalidParameterError
        When fewer than two members have territory with geometry in the set.
    """
    given = getattr(territory, "zones", None)
    if isinstance(given, BorderZones):
        return given
    codes = member_codes(territory)
    if len(codes) < 2:
        raise InvalidParameterError(
            f"cluster {territory.cluster.id} has {len(codes)} member(s) with territory in "
            f"{territory.bset.id}; a border zone needs two"
        )
    return border_zones(territory.bset, codes, territory.width_m, territory.cluster.level)


def _on_sides(incidents: pd.DataFrame, territory: ClusterTerritory) -> pd.DataFrame:
    """Count a carried cluster's incidents on its original sides, as its zone is drawn.

    Each incident held by a member is put on the original member whose old territory holds it
    (``member_code``), with the original members of its zone (``zone_units``): the pairs of
    a carried cluster are its original pairs. Needs ``lon`` and ``lat``.
    """
    missing = [c for c in ("lon", "lat") if c not in incidents.columns]
    if missing:
        raise AnalysisInputError(
            f"a carried cluster's border effect needs the incidents' {', '.join(missing)}"
        )
    side, lists = side_facts(
        territory, incidents["lon"].to_numpy(float), incidents["lat"].to_numpy(float)
    )
    held = incidents["member_code"].notna().to_numpy(bool)
    side[~held] = None
    return incidents.assign(
        member_code=pd.Series(side, index=incidents.index, dtype=object),
        zone_units=pd.Series(
            [v if h else [] for v, h in zip(lists, held, strict=True)], index=incidents.index
        ),
    )


def member_codes(territory: ClusterTerritory) -> list[str]:
    """Return the codes of the members that hold territory (with geometry), in member order."""
    members = territory.members
    return [str(code) for code in members.loc[members["has_territory"], "code"]]


def side_geometries_m(territory: ClusterTerritory, epsg: int) -> pd.Series:
    """Return the zone's sides projected to ``epsg`` (metres), indexed by side code.

    The members for an ordinary cluster; for a carried cluster its original members' old
    territories, cut to the carried members' territory (its border effect is the original
    pairs', see :attr:`geozone.assignment.territory.ClusterTerritory.sides`).
    """
    sides = territory.sides
    if not sides.carried:
        return member_geometries_m(territory, epsg)
    members = member_geometries_m(territory, epsg)
    everywhere = shapely.union_all(members.to_numpy())
    polygons = project_geometries(
        np.asarray(sides.polygons, dtype=object), np.full(len(sides.codes), epsg, dtype=np.int64)
    )
    return pd.Series(
        shapely.intersection(polygons, everywhere),
        index=pd.Index(list(sides.codes)),
        dtype=object,
    )


def member_geometries_m(territory: ClusterTerritory, epsg: int) -> pd.Series:
    """Return the members' territories projected to ``epsg`` (metres), indexed by code."""
    codes = member_codes(territory)
    geoms = np.array([territory.bset.geometry(code) for code in codes], dtype=object)
    return pd.Series(
        project_geometries(geoms, np.full(len(codes), epsg, dtype=np.int64)),
        index=pd.Index(codes),
        dtype=object,
    )


def zone_areas(territory: ClusterTerritory, *, zones: BorderZones | None = None) -> pd.DataFrame:
    """Return the border-zone and territory areas of a cluster and of each adjacent pair.

    Parameters
    ----------
    territory
        A placed cluster (at least two members with territory).
    zones
        Its border zones when already built (default: :func:`territory_zones`).

    Returns
    -------
    pandas.DataFrame
        One row for the whole cluster (``scope="cluster"``, ``pair`` None) then one per pair
        of members sharing a boundary line (``scope="pair"``, ``pair="A|B"`` with sorted
        codes ``code_a`` < ``code_b``): ``zone_area_km2`` (the zone's part in the members
        concerned), ``area_km2`` (their territory) and ``area_share`` (their ratio). Areas are
        computed in the cluster's UTM zone.
    """
    zones = zones if zones is not None else territory_zones(territory)
    epsg = zones.utm_epsg
    members = side_geometries_m(territory, epsg)
    everywhere = shapely.union_all(members.to_numpy())
    sides = _metric(zones.sides.geometry.to_numpy(), epsg)
    cluster_zone = shapely.intersection(shapely.union_all(sides), everywhere)
    rows = [
        {
            "scope": "cluster",
            "pair": None,
            "code_a": None,
            "code_b": None,
            "zone_m2": float(shapely.area(cluster_zone)),
            "area_m2": float(shapely.area(everywhere)),
        }
    ]
    for a, b in _pairs(zones):
        pieces = sides[_pair_pieces(zones, a, b)]
        both = shapely.union(members[a], members[b])
        zone = shapely.intersection(shapely.union_all(pieces), both)
        rows.append(
            {
                "scope": "pair",
                "pair": f"{a}|{b}",
                "code_a": a,
                "code_b": b,
                "zone_m2": float(shapely.area(zone)),
                "area_m2": float(shapely.area(both)),
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("pair", "code_a", "code_b"):  # None, not NaN, for the cluster row
        frame[column] = pd.Series([row[column] for row in rows], dtype=object)
    frame["zone_area_km2"] = frame["zone_m2"] / 1e6
    frame["area_km2"] = frame["area_m2"] / 1e6
    frame["area_share"] = np.where(
        frame["area_m2"] > 0, frame["zone_m2"] / frame["area_m2"].where(frame["area_m2"] > 0), 0.0
    )
    return frame[list(AREA_COLUMNS)]


def _metric(geoms: NDArray[np.object_], epsg: int) -> NDArray[np.object_]:
    return project_geometries(geoms, np.full(len(geoms), epsg, dtype=np.int64))


def _pairs(zones: BorderZones) -> list[tuple[str, str]]:
    """Adjacent member pairs (sharing a line), each sorted, in sorted order, once."""
    pairs = zones.pairs
    found = {
        (min(a, b), max(a, b))
        for a, b in zip(pairs["code_a"].astype(str), pairs["code_b"].astype(str), strict=True)
    }
    return sorted(found)


def _pair_pieces(zones: BorderZones, a: str, b: str) -> NDArray[np.bool_]:
    """Which rows of ``zones.sides`` make up the zone of pair (a, b), on either side.

    The band along their shared line, and every junction disc naming both, in a or in b.
    """
    sides = zones.sides
    codes_of = dict(zip(zones.zones["zone_id"], zones.zones["codes"], strict=True))
    names_both = sides["zone_id"].map(lambda zone_id: {a, b} <= set(codes_of[zone_id]))
    in_ab = sides["code"].isin([a, b])
    is_pair = sides["kind"] == "pair"
    is_junction = sides["kind"] == "junction"
    own = is_pair & (
        ((sides["code_a"] == a) & (sides["code_b"] == b))
        | ((sides["code_a"] == b) & (sides["code_b"] == a))
    )
    chosen: NDArray[np.bool_] = (in_ab & (own | (is_junction & names_both))).to_numpy(dtype=bool)
    return chosen


# -- the border effect -------------------------------------------------------------------------


def border_effect(
    incidents: pd.DataFrame,
    territory: ClusterTerritory,
    *,
    by: Sequence[str] = (),
    period: str | None = None,
    zones: BorderZones | None = None,
) -> pd.DataFrame:
    """Compare the share of incidents in the border zone with the zone's share of the area.

    Parameters
    ----------
    incidents
        One row per incident of the cluster: ``external_id``, ``occurred_at``, ``category``,
        ``member_code`` (the member holding the point; empty outside every member),
        ``in_zone`` and ``zone_units`` (the members whose zone it is in), as the store's
        ``query`` joined with its ``cluster_rows`` for one cluster gives them, or
        :func:`geozone.assignment.decide.assign_clusters` joined with the incidents. A
        ``cluster_id``
        column, when present, must name this territory's cluster only.
    territory
        The cluster territory the rows were assigned with.
    by
        Split by any of ``"category"``, ``"kind"`` (criminal / administrative) and
        ``"period"``.
    period
        ``"M"``, ``"Q"`` or ``"Y"``: split by month, quarter or year of ``occurred_at`` in
        Vietnam time (added to ``by`` when absent); labels are pandas Period strings
        (``"2024-03"``, ``"2024Q1"``, ``"2024"``).
    zones
        The territory's border zones when already built (default: :func:`territory_zones`).

    Returns
    -------
    pandas.DataFrame
        One row per scope (``scope="cluster"`` with ``pair`` None first, then each adjacent
        pair ``"A|B"``) and per combination of the ``by`` values seen among the incidents
        (zero-filled): ``scope``, ``pair``, ``code_a``, ``code_b``, the ``by`` columns,
        ``n_incidents``, ``n_in_zone``, ``incident_share``, ``zone_area_km2``, ``area_km2``,
        ``area_share``, ``expected_in_zone``, ``ratio`` (incident share / area share),
        ``ratio_ci_low``/``ratio_ci_high`` and ``share_ci_low``/``share_ci_high`` (exact 95%
        intervals), ``p_value`` (one-sided binomial test of more incidents in the zone than
        its area share predicts) and ``reason`` (why the ratio is missing:
        ``"no_incidents"`` or ``"no_zone_area"``; None otherwise). ``attrs`` holds
        ``cluster_id``, ``width_m`` and ``n_outside_members``.

    Raises
    ------
    AnalysisInputError
        When a column is missing, ``occurred_at`` cannot be read as times, an incident is
        listed twice or the rows are of another cluster.
    InvalidParameterError
        For an unknown ``by`` name or ``period``.
    """
    keys = _check_by(by, period)
    _check_frame(incidents, territory)
    zones = zones if zones is not None else territory_zones(territory)
    areas = zone_areas(territory, zones=zones)
    codes = member_codes(territory)
    if territory.sides.carried:
        incidents = _on_sides(incidents, territory)
        codes = list(territory.sides.codes)
    member_index = pd.Index(codes)
    holder = member_index.get_indexer(pd.Index(incidents["member_code"].astype(object)))
    held = holder >= 0
    data = incidents.loc[held]
    holder = holder[held]
    in_zone = data["in_zone"].fillna(False).to_numpy(dtype=bool)
    zoned = _zone_matrix(data["zone_units"], in_zone, member_index)

    pairs = areas.loc[areas["scope"] == "pair"]
    pa = member_index.get_indexer(pd.Index(pairs["code_a"]))
    pb = member_index.get_indexer(pd.Index(pairs["code_b"]))
    in_pair = (holder[:, None] == pa[None, :]) | (holder[:, None] == pb[None, :])
    in_pair_zone = in_pair & zoned[:, pa] & zoned[:, pb]
    counts_n = np.column_stack([np.ones(len(data), dtype=np.int64), in_pair])
    counts_z = np.column_stack([in_zone, in_pair_zone]).astype(np.int64)

    groups, combos = _groups(data, keys, period)
    n_groups = len(combos)
    n_scopes = len(areas)
    total_n = _sum_by(groups, counts_n, n_groups)  # groups × scopes
    total_z = _sum_by(groups, counts_z, n_groups)

    scope_rows = np.repeat(np.arange(n_scopes), n_groups)
    group_rows = np.tile(np.arange(n_groups), n_scopes)
    table = areas.iloc[scope_rows].reset_index(drop=True)
    for key in keys:
        table[key] = combos[key].to_numpy()[group_rows]
    n = total_n[group_rows, scope_rows]
    k = total_z[group_rows, scope_rows]
    result = pd.concat([table, _statistics(n, k, table["area_share"].to_numpy(float))], axis=1)
    columns = [*AREA_COLUMNS[:4], *keys, *STAT_COLUMNS]
    result = result[columns]
    result.attrs.update(
        {
            "cluster_id": territory.cluster.id,
            "width_m": zones.width_m,
            "n_outside_members": int((~held).sum()),
        }
    )
    return result


def _check_by(by: Sequence[str], period: str | None) -> list[str]:
    if isinstance(by, str):
        by = (by,)
    keys = list(dict.fromkeys(str(name) for name in by))
    unknown = [name for name in keys if name not in BY_CHOICES]
    if unknown:
        raise InvalidParameterError(
            f"cannot split the border effect by {unknown}; choose from {', '.join(BY_CHOICES)}"
        )
    if period is not None:
        if period not in PERIODS:
            raise InvalidParameterError(
                f"period {period!r} must be one of {', '.join(PERIODS)} (month, quarter, year)"
            )
        if "period" not in keys:
            keys.append("period")
    elif "period" in keys:
        raise InvalidParameterError('splitting by "period" needs period="M", "Q" or "Y"')
    return keys


def _check_frame(incidents: pd.DataFrame, territory: ClusterTerritory) -> None:
    if not isinstance(incidents, pd.DataFrame):
        raise AnalysisInputError(
            f"incidents must be a pandas DataFrame, not {type(incidents).__name__}"
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in incidents.columns]
    if missing:
        raise AnalysisInputError(
            f"the incidents frame lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)} "
            "(the store's query joined with its cluster_rows for one cluster)"
        )
    repeated = incidents["external_id"].duplicated()
    if repeated.any():
        first = incidents.loc[repeated, "external_id"].iloc[0]
        raise AnalysisInputError(
            f"incident {first!r} is listed {int((incidents['external_id'] == first).sum())} "
            "times; give one row per incident, of one cluster"
        )
    if "cluster_id" in incidents.columns:
        other = incidents["cluster_id"].dropna().astype(str)
        other = other[other != territory.cluster.id]
        if len(other):
            raise AnalysisInputError(
                f"the incidents frame has rows of cluster {other.iloc[0]!r}, not "
                f"{territory.cluster.id!r}; select one cluster's rows"
            )


def _zone_matrix(
    zone_units: pd.Series, in_zone: NDArray[np.bool_], members: pd.Index
) -> NDArray[np.bool_]:
    """Incidents × members: the members whose border zone each incident (in a zone) is in."""
    out = np.zeros((len(zone_units), len(members)), dtype=bool)
    listed = pd.Series(zone_units.to_numpy(dtype=object), dtype=object)
    lists = listed.where(in_zone, None)
    exploded = lists.explode()
    exploded = exploded[exploded.notna()]
    column = members.get_indexer(pd.Index(exploded.astype(str)))
    ok = column >= 0
    out[exploded.index.to_numpy()[ok], column[ok]] = True
    return out


def _groups(
    data: pd.DataFrame, keys: list[str], period: str | None
) -> tuple[NDArray[np.intp], pd.DataFrame]:
    """Give each incident the number of its combination of ``by`` values.

    Returns the group of each incident and one row per group (its values as strings), in
    sorted order: categories and kinds alphabetically, periods in time order.
    """
    if not keys:
        return np.zeros(len(data), dtype=np.intp), pd.DataFrame(index=pd.RangeIndex(1))
    category = data["category"].astype(object).where(data["category"].notna(), "unknown")
    category_codes, categories = pd.factorize(category.astype(str), sort=True)
    codes: list[NDArray[np.intp]] = []
    labels: list[NDArray[np.object_]] = []
    for key in keys:
        if key == "category":
            codes.append(np.asarray(category_codes, dtype=np.intp))
            labels.append(np.asarray(categories, dtype=object))
        elif key == "kind":
            kinds = {code: c.kind for code, c in CATEGORIES.items()}
            kind_of = pd.Series(np.asarray(categories, dtype=object)).map(kinds).fillna("unknown")
            kind_codes, kind_names = pd.factorize(kind_of.astype(str), sort=True)
            codes.append(np.asarray(kind_codes, dtype=np.intp)[category_codes])
            labels.append(np.asarray(kind_names, dtype=object))
        elif period is not None:
            period_codes, periods = pd.factorize(_periods(data["occurred_at"], period), sort=True)
            codes.append(np.asarray(period_codes, dtype=np.intp))
            labels.append(np.asarray(periods.astype(str), dtype=object))
    sizes = tuple(len(values) for values in labels)
    flat = np.ravel_multi_index(tuple(codes), sizes) if len(data) else np.zeros(0, np.intp)
    seen, groups = np.unique(flat, return_inverse=True)
    combos = pd.DataFrame(
        {
            key: values[index]
            for key, values, index in zip(keys, labels, np.unravel_index(seen, sizes), strict=True)
        }
    )
    return np.asarray(groups, dtype=np.intp).ravel(), combos


def _periods(occurred_at: pd.Series, period: str) -> pd.PeriodIndex:
    """Return the periods of the times in Vietnam time (naive times are Vietnam time)."""
    try:
        times = pd.to_datetime(occurred_at)
    except (ValueError, TypeError) as exc:
        raise AnalysisInputError(f"occurred_at cannot be read as times: {exc}") from exc
    if times.dt.tz is not None:
        times = times.dt.tz_convert(VIETNAM_TZ).dt.tz_localize(None)
    if times.isna().any():
        raise AnalysisInputError(f"occurred_at is missing for {int(times.isna().sum())} incidents")
    return pd.PeriodIndex(times.dt.to_period(period))


def _sum_by(
    groups: NDArray[np.intp], values: NDArray[np.int64], n_groups: int
) -> NDArray[np.int64]:
    """Sum the rows of ``values`` per group (groups × columns)."""
    out = np.zeros((n_groups, values.shape[1]), dtype=np.int64)
    if n_groups == 1:
        out[0] = values.sum(axis=0)
    elif n_groups > 1:
        for j in range(values.shape[1]):
            weights = values[:, j].astype(np.float64)
            out[:, j] = np.rint(np.bincount(groups, weights=weights, minlength=n_groups))
    return out


def _statistics(
    n: NDArray[np.int64], k: NDArray[np.int64], area_share: NDArray[np.float64]
) -> pd.DataFrame:
    """Shares, ratio, exact intervals and one-sided binomial p-values, row by row."""
    from scipy import stats  # imported on use: a second of the service's start-up

    n_f, k_f = n.astype(float), k.astype(float)
    has_n = n > 0
    has_area = area_share > 0
    share = np.divide(k_f, n_f, out=np.full(len(n), np.nan), where=has_n)
    alpha = 1 - CONFIDENCE
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k > 0, stats.beta.ppf(alpha / 2, k_f, n_f - k_f + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k_f + 1, n_f - k_f), 1.0)
        p_value = stats.binom.sf(k_f - 1, n_f, area_share)
    low, high = np.where(has_n, low, np.nan), np.where(has_n, high, np.nan)
    valid = has_n & has_area
    safe_area = np.where(has_area, area_share, 1.0)
    reason: NDArray[np.object_] = np.full(len(n), None, dtype=object)
    reason[~has_area] = REASON_NO_ZONE_AREA
    reason[~has_n] = REASON_NO_INCIDENTS
    return pd.DataFrame(
        {
            "n_incidents": n,
            "n_in_zone": k,
            "incident_share": share,
            "expected_in_zone": n_f * area_share,
            "ratio": np.where(valid, share / safe_area, np.nan),
            "ratio_ci_low": np.where(valid, low / safe_area, np.nan),
            "ratio_ci_high": np.where(valid, high / safe_area, np.nan),
            "share_ci_low": low,
            "share_ci_high": high,
            "p_value": np.where(valid, p_value, np.nan),
            "reason": reason,
        }
    )
