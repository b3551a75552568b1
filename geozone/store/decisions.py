"""Each stored incident's cluster decisions as flat columns, for exports and the OGC items.

A QGIS user styles and filters an incident layer by who leads: the layer needs plain columns
on the incident, not a nested list. :func:`flat_decisions` turns the decision rows of a page
(:meth:`geozone.store.IncidentStore.pages`, :meth:`~geozone.store.IncidentStore.cluster_rows`
or the ``clusters`` of :meth:`~geozone.store.IncidentStore.get`) into one row per incident
with :data:`DECISION_COLUMNS`:

- an incident under one cluster (always so when the query names a cluster) carries that
  decision's values exactly as stored, and ``cluster_count`` 1;
- an incident under several clusters carries each text column's values joined with
  :data:`CLUSTER_SEPARATOR` in cluster id order (position *k* of every column is the *k*-th
  cluster's; a missing value is an empty string), ``review`` true when any decision asks
  for review, and ``cluster_count`` the number of decisions;
- an incident under no cluster has nulls, ``review`` false and ``cluster_count`` 0.

A decision's cooperating units (a list) are joined with :data:`LIST_SEPARATOR`, their names
in the same order. Unit names are those the decision's sentences use
(:func:`unit_namer`): the cluster's member name, else the unit's full name in the cluster's
set, else in another loaded set. :func:`decision_table` gives the same decisions one row per
incident and cluster (the GeoPackage's ``cluster_decisions`` table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from geozone.store.base import CLUSTER_COLUMNS

if TYPE_CHECKING:
    from geozone.context import Context

#: The flat decision columns of an exported incident, in order.
DECISION_COLUMNS: tuple[str, ...] = (
    "cluster_id",
    "lead_unit",
    "lead_unit_name",
    "cooperating_units",
    "cooperating_unit_names",
    "rule",
    "review",
    "explanation_vi",
    "explanation_en",
    "cluster_count",
)
#: Between the values of an incident's several clusters (in cluster id order).
CLUSTER_SEPARATOR = " | "
#: Between the codes (or names) of one decision's cooperating units.
LIST_SEPARATOR = "; "
#: Columns of :func:`decision_table`: one row per incident and cluster.
TABLE_COLUMNS: tuple[str, ...] = (
    "external_id",
    *(c for c in CLUSTER_COLUMNS if c not in ("cooperating", "zone_units")),
    "lead_unit_name",
    "cooperating_units",
    "cooperating_unit_names",
    "zone_units",
)
_JOINED = (
    "cluster_id",
    "lead_unit",
    "lead_unit_name",
    "cooperating_units",
    "cooperating_unit_names",
    "rule",
    "explanation_vi",
    "explanation_en",
)

#: ``(cluster id, unit code) -> name`` (None when no loaded set or member names it).
UnitNamer = Callable[[str, str], "str | None"]


def unit_namer(context: Context) -> UnitNamer:
    """Return the namer of the units of decisions, as the decisions' sentences name them.

    A code is named by the member of the decision's cluster it is (a unit member by its
    full name in the cluster's set, an organisation by its name), else by the unit of that
    code in the cluster's set, else in another loaded set (the newest first); a cluster that
    is no longer loaded names through the loaded sets only.
    """
    by_cluster: dict[str, tuple[Mapping[str, str], ...]] = {}
    for territory in context.territories:
        bset = territory.bset
        members = territory.members
        own = {
            str(code): (
                bset.full_names[code] if kind == "unit" and code in bset.full_names else str(name)
            )
            for code, name, kind in zip(
                members["code"], members["name"], members["kind"], strict=True
            )
        }
        by_cluster[territory.cluster.id] = (own, bset.full_names, territory.other_names)
    anywhere: dict[str, str] = {}
    for bset in sorted(context.sets, key=lambda b: b.info.valid_from):
        anywhere.update(bset.full_names)
    cache: dict[tuple[str, str], str | None] = {}

    def name(cluster_id: str, code: str) -> str | None:
        key = (cluster_id, code)
        if key not in cache:
            found = None
            for names in (*by_cluster.get(cluster_id, ()), anywhere):
                found = names.get(code)
                if found is not None:
                    break
            cache[key] = found
        return cache[key]

    return name


def _no_names(_cluster_id: str, _code: str) -> str | None:
    return None


def decision_table(decisions: pd.DataFrame, names: UnitNamer | None = None) -> pd.DataFrame:
    """Return decision rows (``external_id`` and :data:`CLUSTER_COLUMNS`) with unit names.

    One row per incident and cluster, :data:`TABLE_COLUMNS`: the lists (cooperating and
    zone units) as text joined with :data:`LIST_SEPARATOR`, and the names of the lead and
    cooperating units.
    """
    namer = names or _no_names
    out = pd.DataFrame(
        {c: decisions[c] for c in ("external_id", *CLUSTER_COLUMNS)}, index=decisions.index
    )
    clusters = out["cluster_id"].astype(object).tolist()
    leads = out["lead_unit"].tolist()
    cooperating = [list(v) if _is_list(v) else [] for v in out["cooperating"]]
    out["lead_unit_name"] = [
        None if _missing(code) else namer(str(cid), str(code))
        for cid, code in zip(clusters, leads, strict=True)
    ]
    out["cooperating_units"] = [LIST_SEPARATOR.join(map(str, codes)) for codes in cooperating]
    out["cooperating_unit_names"] = [
        LIST_SEPARATOR.join(namer(str(cid), str(c)) or str(c) for c in codes)
        for cid, codes in zip(clusters, cooperating, strict=True)
    ]
    out["zone_units"] = [
        LIST_SEPARATOR.join(map(str, v)) if _is_list(v) else "" for v in out["zone_units"]
    ]
    return out[list(TABLE_COLUMNS)].reset_index(drop=True)


def flat_decisions(
    external_ids: Iterable[str], decisions: pd.DataFrame, names: UnitNamer | None = None
) -> pd.DataFrame:
    """Return one row per incident of ``external_ids`` (in order) with :data:`DECISION_COLUMNS`.

    Parameters
    ----------
    external_ids
        The incidents, in the order of the rows returned.
    decisions
        Their decision rows, ``external_id`` and :data:`CLUSTER_COLUMNS` (rows of other
        incidents are ignored).
    names
        Names the lead and cooperating units (:func:`unit_namer`); without it the name
        columns repeat nothing but what is known: null.
    """
    ids = pd.Index(list(external_ids), dtype=object)
    table = decision_table(decisions[decisions["external_id"].isin(ids)], names)
    table = table.sort_values(["external_id", "cluster_id"], kind="stable")
    counts = table.groupby("external_id", sort=False).size()
    n = counts.reindex(ids, fill_value=0).to_numpy()
    out = pd.DataFrame(index=ids)
    for column in _JOINED:
        out[column] = pd.Series([None] * len(ids), index=ids, dtype=object)
    out["review"] = False
    single = table[table["external_id"].map(counts) == 1].set_index("external_id")
    for column in _JOINED:
        out.loc[single.index, column] = single[column].to_numpy(dtype=object)
    out.loc[single.index, "review"] = single["review"].to_numpy(dtype=bool)
    several = table[table["external_id"].map(counts) > 1]
    if len(several):
        grouped = several.groupby("external_id", sort=False)
        for column in _JOINED:
            joined = grouped[column].agg(
                lambda values: CLUSTER_SEPARATOR.join("" if _missing(v) else str(v) for v in values)
            )
            out.loc[joined.index, column] = joined.to_numpy(dtype=object)
        out.loc[grouped.size().index, "review"] = grouped["review"].any().to_numpy(dtype=bool)
    out["review"] = out["review"].astype(bool)
    out["cluster_count"] = n.astype("int64")
    return out[list(DECISION_COLUMNS)].reset_index(drop=True)


def records_frame(external_id: str, clusters: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Return one incident's decisions (the ``clusters`` of ``store.get``) as decision rows."""
    return pd.DataFrame.from_records(
        [
            {"external_id": external_id, **{c: row.get(c) for c in CLUSTER_COLUMNS}}
            for row in clusters
        ],
        columns=["external_id", *CLUSTER_COLUMNS],
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or hasattr(value, "tolist")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
