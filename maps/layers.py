"""Build the inputs of :func:`maps.cluster_map` from geozone objects.

The map builders take plain GeoDataFrames; these helpers make them from a cluster placed on
its boundary set (members, shared boundaries, border zones, junctions, hotspots) and from
incidents with their assignment rows, so the CLI and the API build the same maps.

Incidents come from the store with the cluster decisions stored with them
(:func:`stored_incidents`: :meth:`~geozone.store.IncidentStore.query` and
:meth:`~geozone.store.IncidentStore.cluster_rows` of the same query, joined): a map shows
what the service decided, never a second judgement of its own.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geozone.assignment import ClusterTerritory, snapshot_notice, standing_notice
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster
from geozone.clusters.zones import BorderZones, border_zones
from geozone.context import Context
from geozone.errors import ClusterDefinitionError, DataNotFoundError, NoBoundarySetForDateError
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.base import MAX_QUERY_LIMIT
from maps.errors import MapInputError

#: Assignment columns carried onto the incident layer.
ASSIGNMENT_COLUMNS = ["rule", "lead_unit", "explanation_vi", "explanation_en", "review"]


@dataclass(frozen=True)
class ClusterLayers:
    """The layers of one cluster map (EPSG:4326), as :func:`maps.cluster_map` takes them."""

    units: gpd.GeoDataFrame
    boundaries_lines: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None
    junctions: gpd.GeoDataFrame | None
    hotspots: gpd.GeoDataFrame | None
    title: str
    attribution: str
    #: What the cluster's decisions stand on, when carried (lapsed, proposed, confirmed:
    #: :func:`geozone.assignment.standing_notice`), and what its units are, when its set is a
    #: snapshot drawn for other days (:func:`geozone.assignment.snapshot_notice`), shown with
    #: the map's notices.
    notices: tuple[str, ...] = ()

    def notices_with(self, others: Sequence[str]) -> list[str]:
        """Return the map's notices: its own first (the legend's first), then ``others``."""
        return [*self.notices, *others]


def cluster_layers(
    cluster: Cluster,
    bset: BoundarySet,
    *,
    width_m: float | None = None,
    zones: BorderZones | None = None,
    attribution: str | None = None,
    names: Mapping[str, str] | None = None,
    day: date | None = None,
) -> ClusterLayers:
    """Return the member units, shared boundaries, zones and hotspots of ``cluster``.

    The lines, zones and junctions carry the full names of the units they run between
    (``names``: code → name, in each row), so that their tooltips name them even when they
    are not on the map (a carried cluster's zone runs along its original units' lines).

    Parameters
    ----------
    cluster
        A cluster named in ``bset`` (carry a pre-2025 ward cluster into vn2025 first with
        ``geozone.clusters.migrate.migrate_cluster(...).to_cluster()``: legacy wards have no
        polygons).
    bset
        Its boundary set; the members are drawn from its display layer.
    width_m
        Border-zone width (default: the cluster's effective width).
    zones
        The cluster's zones when known (a placed cluster's :attr:`ClusterTerritory.zones`:
        a carried cluster's run along its original members' lines, not every line between
        its members).
    attribution
        The data attribution to show (default: ``bset``'s; a placed cluster's
        :attr:`ClusterTerritory.attribution` names every set its layers come from).
    names
        Full names of the units the zones run between, by code (a placed cluster's
        :func:`side_names`); a code not given is named from ``bset`` when the zones are drawn
        in it, else left as it is.
    day
        The day the map is drawn for (``geozone map cluster --date``); None: the cluster's
        days on ``bset`` (its period within the set's validity). When ``bset`` is a snapshot
        that does not show that day (or some of those days), the map's notices say so, as
        ``GET /locate`` does.

    Raises
    ------
    ClusterDefinitionError
        When ``cluster`` is named in another set.
    MapInputError
        When no member has a polygon in ``bset``.
    """
    if cluster.boundary_set != bset.id:
        raise ClusterDefinitionError(
            f"cluster {cluster.id} is named in {cluster.boundary_set}, not {bset.id}"
        )
    shaped = set(bset.units(cluster.level).query("has_geometry")["code"])
    roles: dict[str, list[str]] = {}
    groups: dict[str, str] = {}
    for member in cluster.members:  # a handful of members
        code = member.territory_code if member.kind == "unit" else None
        if code and code in shaped:
            text = member.notes or member.name
            if member.successor_of and member.notes and member.notes.startswith("From "):
                # a carried cluster's member: grouped under the old unit it comes from
                groups.setdefault(code, member.notes[5:].split(" (")[0].split(",")[0].strip())
            if member.partial:
                text = f"Một phần / Partial member. {text}"
            roles.setdefault(code, []).append(text)
    if not roles:
        raise MapInputError(
            f"cluster {cluster.id}: no member has a polygon in {bset.id} at level "
            f"{cluster.level}; carry it into a set with {cluster.level} geometry first"
        )
    codes = list(roles)
    display = bset.display_layer()
    display = display[display["level"].eq(cluster.level) & display["code"].isin(codes)]
    units = display.set_index("code").loc[codes].reset_index()[["code", "full_name", "geometry"]]
    units = gpd.GeoDataFrame(units, geometry="geometry", crs=display.crs)
    units["member"] = True
    units["role"] = [" ".join(roles[code]) for code in codes]
    if groups:
        units["group"] = [groups.get(code) for code in codes]
    lines = zone_frame = junctions = None
    found = zones
    if found is None and len(codes) >= 2:
        width = width_m if width_m is not None else cluster.effective_zone_width_m
        found = border_zones(bset, codes, width, level=cluster.level)
    if found is not None:
        # Names from bset only for zones drawn in it: a carried cluster's run along units of
        # an older set, whose codes may name other units in bset (00160 was Nghĩa Tân).
        known = bset.full_names if found.set_id == bset.id else {}
        lookup = ChainMap(dict(names or {}), known)
        zone_frame = _with_names(found.zones, lookup)
        lines = _with_names(found.lines, lookup)
        junctions = _with_names(found.junctions, lookup)
    hotspots = None
    if cluster.hotspots:
        hotspots = gpd.GeoDataFrame(
            {
                "name": [h.name for h in cluster.hotspots],
                "name_en": [h.name_en for h in cluster.hotspots],
                "note": [h.note for h in cluster.hotspots],
                "radius_m": [h.radius_m for h in cluster.hotspots],
            },
            geometry=[h.geometry() for h in cluster.hotspots],
            crs=4326,
        )
    return ClusterLayers(
        units=units,
        boundaries_lines=lines,
        zones=zone_frame,
        junctions=junctions,
        hotspots=hotspots,
        title=cluster.name,
        attribution=attribution or bset.info.attribution,
        notices=tuple(
            filter(None, [_snapshot_notice(cluster, bset, day), standing_notice(cluster)])
        ),
    )


def _snapshot_notice(cluster: Cluster, bset: BoundarySet, day: date | None) -> str | None:
    """Return the snapshot notice of a map drawn for ``day``, else for the cluster's days."""
    info = bset.info
    if day is not None:
        return snapshot_notice(info, day)
    first = cluster.period.start.earliest if cluster.period.start else None
    last = cluster.period.end.latest if cluster.period.end else None
    first = max(first or info.valid_from, info.valid_from)
    last = min(last or date.max, info.valid_to or date.max)
    return snapshot_notice(info, first, last) if first <= last else None


def side_names(territory: ClusterTerritory) -> dict[str, str]:
    """Return the full names of the units a placed cluster's zone runs between, by code.

    Its members, or a carried cluster's original units ("Quận Cầu Giấy (Quan Hoa, Nghĩa
    Đô)"), which are not on its map (see :attr:`ClusterTerritory.sides`).
    """
    if not territory.geometric:
        return {}
    sides = territory.sides
    return dict(zip(sides.codes, sides.names, strict=True))


def _row_codes(row: Any) -> list[str]:
    """Return the codes a line, zone or junction row names (``codes``, else the pair)."""
    codes = row.get("codes")
    if isinstance(codes, str):
        found = [part for part in codes.replace(",", "-").split("-") if part]
    elif codes is not None and not (isinstance(codes, float) and np.isnan(codes)):
        found = [str(code) for code in codes]
    else:
        found = []
    pair = [row.get("code_a"), row.get("code_b")]
    return found + [str(c) for c in pair if isinstance(c, str) and c and str(c) not in found]


def _with_names(frame: gpd.GeoDataFrame, lookup: Mapping[str, str]) -> gpd.GeoDataFrame:
    """Return ``frame`` with ``names``: each row's units, code → full name (a copy)."""
    if frame is None or not len(frame):
        return frame
    named = frame.copy(deep=False)
    named["names"] = [
        {code: lookup[code] for code in _row_codes(row) if code in lookup}
        for row in frame.to_dict("records")  # a few dozen lines and zones
    ]
    return named


def incident_layer(
    incidents: pd.DataFrame, assignment: pd.DataFrame | None = None, cluster_id: str | None = None
) -> gpd.GeoDataFrame:
    """Return incidents as points with their assignment in one cluster.

    Parameters
    ----------
    incidents
        ``external_id``, ``lon``, ``lat`` and any of ``category``, ``occurred_at``,
        ``synthetic``, ``detected_by``.
    assignment
        Rows of ``geozone.assignment.decide.assign_clusters`` (``external_id``, ``cluster_id``,
        ``rule``, ``lead_unit``, ``explanation_vi``, ``explanation_en``...).
    cluster_id
        Keep the incidents this cluster's assignment concerns (needs ``assignment``).

    Returns
    -------
    geopandas.GeoDataFrame
        One point per incident (EPSG:4326), with the assignment columns when given.

    Raises
    ------
    MapInputError
        When a needed column is missing.
    """
    missing = [c for c in ("external_id", "lon", "lat") if c not in incidents.columns]
    if missing:
        raise MapInputError(f"incidents lack column(s) {', '.join(missing)}")
    keep = [
        c
        for c in (
            "external_id",
            "category",
            "occurred_at",
            "synthetic",
            "detected_by",
            "event_reports",
        )
        if c in incidents.columns
    ]
    frame = incidents[[*keep, "lon", "lat"]]
    if assignment is not None:
        rows = assignment
        if cluster_id is not None:
            rows = rows[rows["cluster_id"] == cluster_id]
        columns = [c for c in ASSIGNMENT_COLUMNS if c in rows.columns]
        rows = rows.drop_duplicates("external_id")[["external_id", *columns]]
        frame = frame.merge(rows, on="external_id", how="inner" if cluster_id else "left")
    elif cluster_id is not None:
        raise MapInputError("cluster_id needs the assignment rows to select incidents")
    points = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    return gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=points, crs=4326)


@dataclass(frozen=True)
class StoredIncidents:
    """The newest stored incidents of one cluster, with its stored decision for each.

    Attributes
    ----------
    layer
        Points as :func:`incident_layer` returns them (None when none is stored): one per
        linked event (:func:`one_point_per_event`).
    total
        How many stored incidents the cluster's assignment concerns.
    reports
        How many stored incidents (reports) the points stand for.
    """

    layer: gpd.GeoDataFrame | None
    total: int
    reports: int = 0

    @property
    def returned(self) -> int:
        """How many points :attr:`layer` holds (a linked event is one)."""
        return 0 if self.layer is None else len(self.layer)


def stored_incidents(
    store: IncidentStore, cluster_id: str, *, limit: int = 20_000
) -> StoredIncidents:
    """Return the newest ``limit`` stored incidents of a cluster with the stored decisions.

    When ``limit`` holds them all, they are read with their decisions in key order
    (:meth:`~geozone.store.IncidentStore.pages`, no OFFSET) and sorted newest first; else the
    newest pages of :meth:`~geozone.store.IncidentStore.query` and the cluster rows of the
    same pages, joined on ``external_id``. Nothing is judged again here. A cluster that
    makes no decision (a carried form lapsed until confirmed) has a ``no_decision`` row
    stored for each incident it concerns, whose sentence says why; they are drawn like any
    other decision.

    Parameters
    ----------
    store
        The incident store.
    cluster_id
        A placed cluster id (e.g. ``hoa-do-phuc-vi-vn2025``).
    limit
        Most incidents to return (0: none, only the total).
    """
    selected = IncidentQuery(cluster_id=cluster_id)
    total = store.count(selected)
    if limit <= 0 or not total:
        return StoredIncidents(None, total)
    if total <= limit:  # all of them: read in key order (no OFFSET), newest first after
        pages = list(store.pages(selected))
        incidents = pd.concat(
            [pd.DataFrame(page.incidents.drop(columns="geometry")) for page in pages],
            ignore_index=True,
        ).sort_values("occurred_at", ascending=False, kind="stable", ignore_index=True)
        rows = pd.concat([page.decisions for page in pages], ignore_index=True)
        layer = incident_layer(one_point_per_event(incidents), rows, cluster_id)
        return StoredIncidents(layer, total, len(incidents))
    frames: list[pd.DataFrame] = []
    decisions: list[pd.DataFrame] = []
    offset = 0
    while offset < limit:  # the newest pages, at most MAX_QUERY_LIMIT each
        query = IncidentQuery(
            cluster_id=cluster_id,
            limit=min(MAX_QUERY_LIMIT, limit - offset),
            offset=offset,
            order="occurred_at",
            descending=True,
        )
        page, total = store.query(query)
        if page.empty:
            break
        frames.append(pd.DataFrame(page.drop(columns="geometry")))
        decisions.append(store.cluster_rows(query))
        offset += len(page)
        if offset >= total:
            break
    if not frames:
        return StoredIncidents(None, total)
    read = pd.concat(frames, ignore_index=True)
    rows = pd.concat(decisions, ignore_index=True)
    layer = incident_layer(one_point_per_event(read), rows, cluster_id)
    return StoredIncidents(layer, total, len(read))


@dataclass(frozen=True)
class StoredTable:
    """The newest stored incidents of one cluster as plain columns, for the served map.

    Attributes
    ----------
    frame
        ``external_id``, ``occurred_at`` (UTC), ``lon``, ``lat``, ``category``,
        ``synthetic``, ``detected_by``, the stored decision (``rule``, ``lead_unit``,
        ``explanation_vi``, ``explanation_en`` and ``review`` unless left out) and
        ``event_reports`` for a linked event; newest first (None when none is stored or
        ``limit`` is 0).
    total
        How many stored incidents the cluster's assignment concerns.
    """

    frame: pd.DataFrame | None
    total: int

    @property
    def returned(self) -> int:
        """How many points :attr:`frame` holds (one per linked event)."""
        return 0 if self.frame is None else len(self.frame)


def stored_incident_table(
    store: IncidentStore, cluster_id: str, *, limit: int, sentences: bool = True
) -> StoredTable:
    """Return the newest ``limit`` stored incidents of a cluster with their stored decisions.

    The same incidents and decisions as :func:`stored_incidents`, read in one query of the
    columns a map draws (:func:`geozone.store.map_read.cluster_map_columns`) and kept as
    columns (no points built): what the served map's incident table is built from. Newest
    first, ties in key order; a linked event is one point (:func:`one_point_per_event`).
    ``sentences`` False: the decisions' sentences (and ``review``, which no map draws) are
    not read (the served map's popups fetch the sentences from ``GET /incidents/{id}``).
    """
    from geozone.store.map_read import (
        MAP_DECISION_COLUMNS,
        MAP_DRAWN_DECISION_COLUMNS,
        cluster_map_columns,
    )

    if limit <= 0:  # the count only (the rows the map read would select)
        return StoredTable(None, store.count(IncidentQuery(cluster_id=cluster_id)))
    drawn = MAP_DECISION_COLUMNS if sentences else MAP_DRAWN_DECISION_COLUMNS
    found = cluster_map_columns(store, cluster_id, decision_columns=drawn)
    total = len(found)
    if not total:
        return StoredTable(None, total)
    stamps = pd.DatetimeIndex(found["occurred_at"]).asi8
    order = np.lexsort((found["id"].to_numpy(), -stamps))[:limit]
    frame = found.take(order).reset_index(drop=True)
    if frame["event_id"].notna().any():
        frame = one_point_per_event(frame)
    return StoredTable(frame.drop(columns=["id", "event_id", "event_role"]), total)


def one_point_per_event(incidents: pd.DataFrame) -> pd.DataFrame:
    """Keep one point per linked event (its lead report), naming its reports in ``event_reports``.

    Reports of one event by two members share an ``event_id``; the map draws the event once,
    where its lead report (the earliest detection) put it, and its popup lists the reports:
    ``id (detected by, role)``. Incidents without event columns are returned as they are.
    """
    from geozone.incidents.linking import EVENT_PREFIX, one_per_event

    if "event_id" not in incidents.columns:
        return incidents
    kept, counted = one_per_event(incidents)
    if not counted["linked_reports"]:
        return incidents
    key = incidents["event_id"].fillna(EVENT_PREFIX + incidents["external_id"].astype(str))
    role = incidents["event_role"].map({"lead": "chủ trì / lead"}).fillna("")
    text: pd.Series[str] = (
        incidents["external_id"].astype(str)
        + " ("
        + incidents["detected_by"].fillna("?").astype(str)
        + np.where(role != "", ", " + role, "")
        + ")"
    )
    sizes = key.map(key.value_counts())
    linked = (sizes > 1).to_numpy()
    order = pd.DataFrame(
        {
            "key": key[linked],
            "rank": incidents["event_role"].ne("lead")[linked],
            "t": pd.to_datetime(incidents["occurred_at"], utc=True)[linked],
            "text": text[linked],
        }
    ).sort_values(["key", "rank", "t"], kind="stable")  # the lead first, then by time
    listed: pd.Series[str] = order.groupby("key")["text"].agg("; ".join)
    out = kept.copy()
    out["event_reports"] = key.loc[kept.index].map(listed)
    return out.reset_index(drop=True)


def cluster_on(context: Context, cluster_id: str, day: date) -> tuple[ClusterTerritory, Cluster]:
    """Return the version of a cluster placed on the set in force on ``day``, and its members.

    A cluster and its versions carried into newer units are one family: asked for
    ``hoa-do-phuc-vi`` on a day of the 2025 units, this returns ``hoa-do-phuc-vi-vn2025``,
    and the other way round for a day when the older set was in force.

    Returns
    -------
    territory, cluster
        The placed version, and its cluster limited to the members on ``day``.

    Raises
    ------
    NoBoundarySetForDateError
        No loaded set is in force on ``day``.
    DataNotFoundError
        The cluster is unknown, has no version on that set (a ward cluster named in the
        legacy register, whose wards have no polygons, before 2025-07-01) or no member then.
    """
    live = [bset for bset in context.sets if bset.info.in_force(day)]
    if not live:
        raise NoBoundarySetForDateError(f"no loaded boundary set is in force on {day}")
    bset = max(live, key=lambda b: b.info.valid_from)
    placed = {t.cluster.id: t for t in context.territories}
    if cluster_id in placed:
        root = placed[cluster_id].cluster.carried_from or cluster_id
    elif cluster_id in context.clusters:
        root = cluster_id
    else:
        raise DataNotFoundError(f"no cluster {cluster_id!r}; known: {', '.join(sorted(placed))}")
    family = [
        t
        for t in context.territories
        if root in (t.cluster.id, t.cluster.carried_from) and t.geometric
    ]
    chosen = [t for t in family if t.bset.id == bset.id]
    if not chosen:
        versions = ", ".join(
            f"{t.cluster.id} ({t.bset.id}, from {t.bset.info.valid_from})" for t in family
        )
        raise DataNotFoundError(
            f"cluster {cluster_id!r} has no version drawn on {bset.id}, the set in force on "
            f"{day} (its units there have no polygons: import a ward layer with "
            f"`geozone data import … --register {bset.id}`); drawn versions: "
            f"{versions or 'none'}"
        )
    territory = chosen[0]
    cluster = territory.cluster
    members = cluster.members_on(day)
    if not any(m.kind == "unit" for m in members):
        raise DataNotFoundError(
            f"cluster {cluster.id} has no member unit on {day} (its period: "
            f"{cluster.period.start or 'start unknown'} – {cluster.period.end or 'open'})"
        )
    if len(members) != len(cluster.members):
        cluster = cluster.model_copy(update={"members": members})
    return territory, cluster
