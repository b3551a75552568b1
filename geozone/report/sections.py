"""The hotspot and border-effect sections of a review.

With ``hotspots=True`` the report adds Getis-Ord Gi* cells over the study area, the very cells
every other output shows (:func:`geozone.analysis.study.study_hotspots`: 250 m squares, seeded
permutation p-values, FDR-corrected, "too few to test" below the minimum data), figures for the
cluster's named hotspots (:func:`geozone.analysis.hotspots.named_hotspot_figures`, each place
as the cluster defines it, e.g. the T11 bridge ±150 m) and the border effect per cluster form
and member pair (:func:`geozone.analysis.border_effect.border_effect`: the share of incidents
in the zone against the zone's share of the area, with its binomial test).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from geozone.errors import InvalidParameterError
from geozone.labels import STUDY_COUNT_BASIS
from geozone.report._common import _names
from geozone.report.forms import ClusterForm
from geozone.store.base import IncidentStore

if TYPE_CHECKING:
    import geopandas as gpd

    from geozone.analysis.study import ClusterStudy
    from geozone.context import Context


#: Radius around a named hotspot given as a bare point (a cluster's hotspots carry their own).
NAMED_HOTSPOT_RADIUS_M = 300.0


def _hotspots(
    study: ClusterStudy | None, forms: Sequence[ClusterForm], notes: list[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Return the Gi* cells over the study area and the named hotspots' figures.

    The cells are those of :func:`geozone.analysis.study.study_hotspots` with its defaults, as every
    other output shows them; the note names what the count counts
    (:data:`geozone.labels.STUDY_COUNT_BASIS`).
    """
    from geozone.analysis.hotspots import cluster_places, named_hotspot_figures
    from geozone.analysis.study import study_hotspots

    tables: dict[str, pd.DataFrame] = {}
    layers: dict[str, gpd.GeoDataFrame] = {}
    figures: dict[str, Any] = {}
    if study is None:
        notes.append(
            "Không tính điểm nóng: các thành viên không có ranh giới trong kỳ / "
            "Hotspots not computed: no member has a territory with geometry in the period."
        )
        return tables, layers, figures
    area, points = study.area, study.points()
    result = study_hotspots(study)
    cells = result.cells
    significant = cells[cells["significant"].astype(bool)]
    figures["hotspot_status"] = result.status
    figures["hotspot_message"] = result.message
    figures["hotspot_message_vi"] = result.message_vi
    figures["hotspot_message_en"] = result.message_en
    figures["hotspot_cells_tested"] = len(cells)
    figures["hotspot_cells_hot"] = int((significant["kind"] == "hot").sum())
    figures["hotspot_cells_cold"] = int((significant["kind"] == "cold").sum())
    basis_vi, basis_en = STUDY_COUNT_BASIS  # what the study's count counts
    notes.append(
        f"Điểm nóng Gi*: {result.message_vi} {basis_vi}. / "
        f"Gi* hotspots: {result.message_en} {basis_en}."
    )
    centre = shapely.point_on_surface(significant.geometry.to_numpy())
    table = pd.DataFrame(significant.drop(columns=significant.geometry.name))
    table["lon"] = np.round(shapely.get_x(centre), 6)
    table["lat"] = np.round(shapely.get_y(centre), 6)
    keep = _names("cell_id kind confidence count gi_z p_sim q_value lon lat")
    order = table.assign(_cold=table["kind"].ne("hot"), _z=-table["gi_z"].abs())
    tables["hotspots"] = table.loc[order.sort_values(["_cold", "_z"]).index, keep].reset_index(
        drop=True
    )
    layers["hotspot_cells"] = significant.reset_index(drop=True)
    places = cluster_places(f.cluster for f in forms)  # a name met in several forms once
    if places:
        tables["named_hotspots"] = named_hotspot_figures(
            points, places, radius_m=NAMED_HOTSPOT_RADIUS_M, area=area, result=result
        )
    return tables, layers, figures


def _border_effect(
    frame: pd.DataFrame, forms: Sequence[ClusterForm], start: date, end: date
) -> pd.DataFrame | None:
    from geozone.analysis.border_effect import border_effect

    parts = []
    for form in forms:
        if form.territory is None or not form.territory.geometric:
            continue
        if not form.overlaps(start, end):
            continue
        rows = frame[frame["cluster_id"] == form.id]
        found = border_effect(
            rows[
                [
                    "external_id",
                    "occurred_at",
                    "category",
                    "member_code",
                    "in_zone",
                    "zone_units",
                    "lon",
                    "lat",
                ]
            ],
            form.territory,
        )
        names = {
            member.territory_code: form.member_name(member)
            for member in form.cluster.members
            if member.territory_code
        }
        sides = form.territory.sides
        if sides.carried:  # pairs of its original units (old districts), not of its members
            names = dict(zip(sides.codes, sides.names, strict=True))
        pair_names = [
            None if a is None else f"{names.get(a, a)} – {names.get(b, b)}"
            for a, b in zip(found["code_a"], found["code_b"], strict=True)
        ]
        found.insert(list(found.columns).index("pair") + 1, "pair_name", pair_names)
        parts.append(found.assign(cluster_id=form.id))
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    return out[["cluster_id", *(c for c in out.columns if c != "cluster_id")]]


def hotspot_sections(
    frame: pd.DataFrame,
    study: ClusterStudy | None,
    forms: Sequence[ClusterForm],
    start: date,
    end: date,
    notes: list[str],
) -> tuple[dict[str, pd.DataFrame], dict[str, gpd.GeoDataFrame], dict[str, Any]]:
    """Return the hotspot and border-effect sections: tables, map layers, figures.

    Parameters
    ----------
    frame
        The report's incidents (:func:`geozone.report.incidents.prepare_incidents`).
    study
        The cluster's study over the period (:func:`report_study`), or None.
    forms
        The forms of the cluster.
    start, end
        First and last day of the period, inclusive.
    notes
        The report's notes; the sections add theirs.

    Returns
    -------
    tuple
        Tables (``hotspots``, ``named_hotspots``, ``border_effect`` when computed), layers
        (``hotspot_cells``) and figures (``hotspot_status``, ``hotspot_message`` and its
        ``_vi`` / ``_en``…).
    """
    tables, layers, figures = _hotspots(study, forms, notes)
    effect = _border_effect(frame, forms, start, end)
    if effect is not None:
        tables["border_effect"] = effect
    return tables, layers, figures


def report_study(
    store: IncidentStore, context: Context, cluster_id: str, start: date, end: date
) -> ClusterStudy | None:
    """Return the cluster's study over the period (None when no form has geometry).

    Parameters
    ----------
    store, context
        The incident store and the loaded context.
    cluster_id
        The cluster asked for.
    start, end
        First and last day of the period, inclusive.

    Returns
    -------
    ClusterStudy or None
        As :func:`geozone.analysis.study.cluster_study` gives it.
    """
    from geozone.analysis.study import cluster_study

    try:
        return cluster_study(store, context, cluster_id, start, end, judged=False)
    except InvalidParameterError:
        return None
