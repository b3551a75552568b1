"""Incidents known by their address only: jurisdiction at the address's level, no zone decision.

Most police records give an address, not coordinates. Such an incident can be given the
unit its address names in the set in force on its date (:func:`address_jurisdiction`), at
the level the address reaches (ward, district or province), but never a point: a unit's
centroid is not where the incident happened, and a border-zone decision needs the point.
So every cluster the address concerns gets an explicit review decision
(:func:`address_only_decisions`, rule :data:`ADDRESS_ONLY_RULE`) whose sentence says that no
border-zone decision is made and why; maps and reports count these incidents apart
(:func:`count_address_only`).

Every incident carries an ``event_id``, and so does an address-only one: its own event
(:func:`geozone.incidents.linking.own_events`: ``ev-`` and its id, role ``single``,
confidence 1). It is never linked to another report: linking needs two positions within a
distance of each other and an address gives none (it names a ward, a district or a
province: an area far wider than any link window, where two reports of one kind within two
hours are two events as often as one).

The frames have the columns of :func:`geozone.assignment.jurisdiction.jurisdiction` and
:func:`geozone.assignment.decide.assign_clusters` (``UNIT_COLUMNS``, ``CLUSTER_COLUMNS``),
with ``locate_status`` ``"address"`` and ``on_boundary`` null, plus ``address_level`` and
``address_problem`` for the jurisdiction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from geozone.address.gazetteer import Gazetteer
from geozone.address.resolve import check_address_text, resolve_addresses, set_in_force
from geozone.address.result import AddressResolution
from geozone.assignment.decide import CLUSTER_COLUMNS
from geozone.assignment.explain import lapsed_sentences
from geozone.assignment.jurisdiction import UNIT_COLUMNS
from geozone.assignment.rules import NO_DECISION
from geozone.assignment.territory import ClusterTerritory
from geozone.boundaries.manifest import Level
from geozone.context import Context
from geozone.errors import (
    DataNotFoundError,
    GeozoneError,
    InvalidParameterError,
    NoBoundarySetForDateError,
)
from geozone.vntime import local_dates

#: The ``locate_status`` of an incident located by its address only.
ADDRESS_STATUS = "address"
#: The rule of the review decision every concerned cluster gets for such an incident.
ADDRESS_ONLY_RULE = "address_only"
#: The ``zone_kind`` of such a decision: whether the incident is in the zone is unknown.
ADDRESS_ONLY_ZONE = "unknown"
#: Columns added to the jurisdiction of an address-only incident.
ADDRESS_COLUMNS = ("address_level", "address_problem")

_LEVEL_VI = {"ward": "cấp xã", "district": "cấp huyện", "province": "cấp tỉnh"}


def address_jurisdiction(
    incidents: pd.DataFrame,
    gazetteer: Gazetteer,
    *,
    column: str = "address",
) -> pd.DataFrame:
    """Resolve each incident's address in the set in force on its date.

    Parameters
    ----------
    incidents
        ``external_id``, ``occurred_at`` (tz-aware or naive Vietnam time) and the address
        column; each distinct (address, date) is resolved once.
    gazetteer
        The legacy and current sets.
    column
        The column holding the address text.

    Returns
    -------
    pandas.DataFrame
        :data:`~geozone.assignment.jurisdiction.UNIT_COLUMNS` then ``address_level`` (ward,
        district, province, or None when not even a province was read) and
        ``address_problem`` (the part not read, the units an ambiguous name fits), one row
        per incident in input order. ``unit_code`` is the finest unit the address reaches;
        ``candidates`` lists the finer units it may lie in when it does not say which (a
        ward split in 2025), without distances; ``on_boundary`` is null: an address gives
        no point.
    """
    texts = [_text(value) for value in incidents[column]]
    days = [date.fromisoformat(str(day)) for day in local_dates(incidents["occurred_at"])]
    refused = [_refusal(text) for text in texts]
    readable = [i for i, why in enumerate(refused) if why is None]
    results = resolve_addresses(
        [texts[i] for i in readable], [days[i] for i in readable], gazetteer=gazetteer
    )
    rows: list[dict[str, Any]] = [
        _unread_row(gazetteer, days[i], why or "") for i, why in enumerate(refused)
    ]
    for i, result in zip(readable, results, strict=True):
        rows[i] = _unit_row(result)
    frame = pd.DataFrame(rows, columns=[*UNIT_COLUMNS[1:], *ADDRESS_COLUMNS], dtype=object)
    frame.insert(0, "external_id", incidents["external_id"].to_numpy(dtype=object))
    return frame


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _refusal(text: str) -> str | None:
    """Say why an address is not read (blank, too long, control characters), or None."""
    if not text.strip():
        return "no address given"
    try:
        check_address_text(text)
    except InvalidParameterError as exc:
        return str(exc)
    return None


def _unread_row(gazetteer: Gazetteer, day: date, problem: str) -> dict[str, Any]:
    try:
        set_id: str | None = set_in_force(gazetteer, day).id
    except NoBoundarySetForDateError as exc:
        set_id, problem = None, str(exc)
    return {**_unread(problem), "set_id": set_id}


def _unread(problem: str) -> dict[str, Any]:
    """Return the jurisdiction row of an address not read (no unit; the reason)."""
    return {
        "set_id": None,
        "locate_status": ADDRESS_STATUS,
        "unit_code": None,
        "ward_code": None,
        "district_code": None,
        "province_code": None,
        "on_boundary": None,
        "candidates": None,
        "address_level": None,
        "address_problem": problem,
    }


def _unit_row(result: AddressResolution) -> dict[str, Any]:
    codes: dict[str, str | None] = {"ward": None, "district": None, "province": None}
    for unit in result.chain:
        codes[unit.level] = unit.code
    return {
        "set_id": result.set_id,
        "locate_status": ADDRESS_STATUS,
        "unit_code": result.unit.code if result.unit else None,
        "ward_code": codes["ward"],
        "district_code": codes["district"],
        "province_code": codes["province"],
        "on_boundary": None,
        "candidates": [
            {"code": unit.code, "full_name": unit.full_name} for unit in result.candidates
        ]
        or None,
        "address_level": result.level,
        "address_problem": result.problem(),
    }


def address_only_decisions(
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    placed: Sequence[ClusterTerritory],
) -> pd.DataFrame:
    """Give every cluster an address-only incident concerns its review decision.

    A cluster is concerned when it runs on the incident's date, is placed on the set in
    force that day, and the unit the address names is one of its members'
    territories or lies within one (``member_code`` is that member), or holds some of them
    (an address that names only a district or a province: ``member_code`` is null and
    ``zone_units`` lists the members it may concern). The decision names nobody to lead:
    rule :data:`ADDRESS_ONLY_RULE`, review, and a sentence in each language saying that no
    border-zone decision is made from an address (rule ``no_decision`` and the reason added
    when the cluster is a lapsed carried one, which makes no decision at all).

    Parameters
    ----------
    incidents
        ``external_id``, ``occurred_at``, ``detected_by`` (optional).
    units
        :func:`address_jurisdiction` of the same incidents (same order).
    placed
        Cluster territories (:func:`geozone.assignment.territories`).

    Returns
    -------
    pandas.DataFrame
        :data:`~geozone.assignment.decide.CLUSTER_COLUMNS`, one row per (incident, cluster).
    """
    days = local_dates(incidents["occurred_at"])
    detectors = (
        incidents["detected_by"].to_numpy(dtype=object)
        if "detected_by" in incidents.columns
        else np.full(len(incidents), None, dtype=object)
    )
    rows: list[dict[str, Any]] = []
    for i, unit in enumerate(units.itertuples(index=False)):
        if unit.unit_code is None:
            continue
        day = date.fromisoformat(str(days[i]))
        for territory in placed:
            row = _decision(territory, unit, day, detectors[i])
            if row is not None:
                rows.append({"external_id": unit.external_id, **row})
    return pd.DataFrame(
        {
            name: pd.Series([row[name] for row in rows], dtype=_DTYPES.get(name, object))
            for name in CLUSTER_COLUMNS
        }
    )


_DTYPES = {"in_zone": bool, "review": bool, "distance_m": float}


def _decision(
    territory: ClusterTerritory, unit: Any, day: date, detector: Any
) -> dict[str, Any] | None:
    cluster, bset = territory.cluster, territory.bset
    if bset.id != unit.set_id or not cluster.in_force(day):
        return None
    members = cluster.territory_codes(day)
    if not members:
        return None
    # The units the address may lie in: the candidates when it does not say which ward
    # (an old ward split in 2025), else the unit it names.
    places = [c["code"] for c in unit.candidates] if unit.candidates else [unit.unit_code]
    inside = [code for code in members if any(p in _chain_codes(bset, code) for p in places)]
    holding = [code for code in members if any(code in _chain_codes(bset, p) for p in places)]
    within = tuple(dict.fromkeys(holding + inside))
    if not within:
        return None
    one = len(places) == 1 and len(holding) == 1 and set(inside) <= set(holding)
    holder = holding[0] if one else None
    name = bset.full_names.get(unit.unit_code, unit.unit_code)
    level: Level = unit.address_level
    vi, en = _sentences(territory, name, level, holder, within, detector)
    rule = ADDRESS_ONLY_RULE
    if not cluster.decides:  # a lapsed carried cluster: it says so, as for a located point
        lapsed_vi, lapsed_en = lapsed_sentences(cluster)
        rule, vi, en = NO_DECISION, f"{vi} {lapsed_vi}", f"{en} {lapsed_en}"
    return {
        "cluster_id": cluster.id,
        "member_code": holder,
        "in_zone": False,
        "zone_kind": ADDRESS_ONLY_ZONE,
        "zone_units": list(within),
        "distance_m": None,
        "boundary_with": None,
        "lead_unit": None,
        "cooperating": [],
        "rule": rule,
        "review": True,
        "explanation_vi": vi,
        "explanation_en": en,
    }


def _chain_codes(bset: Any, code: str) -> set[str]:
    try:
        return {u.code for u in bset.chain(code)}
    except GeozoneError:  # a member unknown to the set concerns nothing here
        return set()


def _sentences(
    territory: ClusterTerritory,
    name: str,
    level: Level,
    holder: str | None,
    within: tuple[str, ...],
    detector: Any,
) -> tuple[str, str]:
    """Say, in each language, what the address gives and why no zone decision is made."""
    bset = territory.bset
    width = f"{territory.width_m:,.0f}"
    names = ", ".join(bset.full_names.get(code, code) for code in within)
    detected_vi = f"; do {detector} phát hiện" if isinstance(detector, str) and detector else ""
    detected_en = f"; detected by {detector}" if isinstance(detector, str) and detector else ""
    if holder is not None:
        where_vi = f"thuộc địa bàn thành viên {names}"
        where_en = f"in the territory of member {names}"
    elif len(within) > 1 and len(within) <= 3:
        where_vi = f"thuộc địa bàn một trong các thành viên {names}"
        where_en = f"in the territory of one of the members {names}"
    else:
        where_vi = f"có thể thuộc địa bàn các thành viên {names}"
        where_en = f"possibly in the territory of members {names}"
    vi = (
        f"Chỉ có địa chỉ, không có tọa độ: không quyết định vùng giáp ranh. Theo địa chỉ, vụ "
        f"việc ở {name} ({_LEVEL_VI.get(level, level)}, bộ {bset.id}), {where_vi}{detected_vi}. "
        f"Địa chỉ không cho biết vị trí, nên không xác định được vụ việc có nằm trong vùng "
        f"giáp ranh {width} m hay không và chưa xác định đơn vị chủ trì; không lấy tâm đơn "
        f"vị làm vị trí. Cần xem xét lại."
    )
    en = (
        f"Address only, no coordinates: no border-zone decision. By its address the incident "
        f"is in {name} ({level} level, set {bset.id}), {where_en}{detected_en}. An address "
        f"gives no point, so whether the incident lies in the {width} m border zone cannot "
        f"be told and no lead unit is given; no unit centroid is used as its location. Review."
    )
    return vi, en


def store_address_only(
    engine: Engine, context: Context, incidents: pd.DataFrame, batch_id: str | None = None
) -> tuple[int, int]:
    """Locate address-only incidents by their address, decide, and store them.

    Parameters
    ----------
    engine
        The engine of a migrated store (:attr:`geozone.store.IncidentStore.engine`).
    context
        The boundary sets (the legacy and the current one are needed) and the clusters.
    incidents
        ``ReadResult.address_only`` of an incident file.
    batch_id
        The import batch.

    Returns
    -------
    tuple of int
        Rows stored, rows skipped as duplicates.

    Without the legacy and the current set in the context (a test grid), the rows are
    stored unread, the reason in ``address_problem``: nothing is lost.
    """
    from geozone.address.store import AddressIncidentStore

    if not len(incidents):
        return 0, 0
    frame = incidents.reset_index(drop=True)
    try:
        gazetteer = Gazetteer.of_sets(context.sets)
    except DataNotFoundError as exc:  # stored unread, with the reason: nothing is lost
        units = pd.DataFrame(
            [{**_unread(str(exc)), "set_id": None} for _ in range(len(frame))],
            columns=[*UNIT_COLUMNS[1:], *ADDRESS_COLUMNS],
            dtype=object,
        )
        units.insert(0, "external_id", frame["external_id"].to_numpy(dtype=object))
        return AddressIncidentStore(engine).add(frame, units, _no_decisions(), batch_id)
    units = address_jurisdiction(frame, gazetteer)
    decisions = address_only_decisions(frame, units, context.territories)
    return AddressIncidentStore(engine).add(frame, units, decisions, batch_id)


def _no_decisions() -> pd.DataFrame:
    return pd.DataFrame(columns=CLUSTER_COLUMNS)


def count_address_only(units: pd.DataFrame) -> dict[str, int]:
    """Count incidents located by their address only, by the level the address reached.

    For maps and reports, which show these apart from located incidents (never as points).

    Returns
    -------
    dict
        ``address_only`` (all of them), ``ward``, ``district``, ``province`` and
        ``unresolved`` (no unit read).
    """
    address = units[units["locate_status"] == ADDRESS_STATUS]
    levels = address["address_level"].fillna("unresolved") if len(address) else address
    counts = {"address_only": len(address), "ward": 0, "district": 0, "province": 0}
    counts["unresolved"] = 0
    if len(address):
        for level, n in levels.value_counts().items():
            counts[str(level)] = int(n)
    return counts


__all__ = [
    "ADDRESS_COLUMNS",
    "ADDRESS_ONLY_RULE",
    "ADDRESS_ONLY_ZONE",
    "ADDRESS_STATUS",
    "address_jurisdiction",
    "address_only_decisions",
    "count_address_only",
    "store_address_only",
]
