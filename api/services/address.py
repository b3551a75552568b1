"""Addresses: the unit chain an address names on a date, and where its units went.

The same answer as ``geozone address TEXT --date D --json``: both call
:func:`geozone.address.resolve.resolve_address` and return
:meth:`~geozone.address.result.AddressResolution.to_dict`. The gazetteer is built from the
context's loaded legacy and current sets, once per pair of sets.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from api.scopes import Detectors, Units, in_scope
from api.services.common import invalid, jsonable, records
from geozone import vntime
from geozone.address.gazetteer import Gazetteer
from geozone.address.resolve import check_address_text, resolve_address
from geozone.address.store import AddressIncidentStore
from geozone.boundaries.correspondence import ONFLOW_SETS
from geozone.boundaries.lineage import search_units
from geozone.boundaries.manifest import Level
from geozone.context import Context
from geozone.errors import InvalidParameterError
from geozone.store import IncidentStore


def gazetteer_of(context: Context) -> Gazetteer:
    """Return the gazetteer of the context's legacy and current sets.

    Raises
    ------
    geozone.errors.DataNotFoundError
        (404) When the context lacks either set: addresses cannot be read on this instance.
    """
    return Gazetteer.of_sets(context.sets)


def resolve(context: Context, text: str, day: date | None) -> dict[str, Any]:
    """Resolve one address on ``day`` (default today in Vietnam), as JSON-ready data.

    Raises
    ------
    fastapi.exceptions.RequestValidationError
        (422) Naming ``q``: blank, too long, or holding control characters.
    geozone.errors.NoBoundarySetForDateError
        (400) When no set is in force on ``day``.
    """
    if not text.strip():
        raise invalid("q", "the address is blank; give the text of an address")
    try:
        check_address_text(text)
    except InvalidParameterError as exc:
        raise invalid("q", str(exc)) from None
    result = resolve_address(text, day or vntime.today(), gazetteer=gazetteer_of(context))
    data: dict[str, Any] = jsonable(result.to_dict())
    return data


def former_units(context: Context, text: str, level: Level | None) -> list[dict[str, Any]]:
    """Return the legacy units named ``text`` that today's set no longer has, with successors.

    Empty when today's set has a unit of exactly that name, or when the context lacks the
    legacy or the current set (a test grid).
    """
    if not {bset.id for bset in context.sets} >= set(ONFLOW_SETS):
        return []
    found = search_units(gazetteer_of(context), text, vntime.today(), level)
    return [jsonable(unit.to_dict()) for unit in found.former]


def address_incidents(
    store: IncidentStore,
    cluster_id: str | None,
    limit: int,
    offset: int,
    units: Units | None = None,
    detectors: Detectors = frozenset(),
) -> dict[str, Any]:
    """Return the counts and one page of the incidents stored by their address only.

    ``units``: a scoped key's ``(set id, code)`` pairs, ``detectors`` its cluster members'
    ``(set id, detected_by)`` pairs; only those rows are counted and shown (None: every row).
    """
    kept = AddressIncidentStore(store.engine)
    rows = kept.rows(cluster_id=cluster_id)
    if units is not None and len(rows):
        keep = [
            in_scope({str(k): v for k, v in row.items()}, units, detectors)
            for row in rows.to_dict("records")
        ]
        rows = rows[keep]
    elif units is not None:
        rows = rows.iloc[:0]
    page = rows.iloc[offset : offset + limit].drop(columns=["id"], errors="ignore")
    counts = {"address_only": len(rows), "ward": 0, "district": 0, "province": 0}
    counts["unresolved"] = 0
    if len(rows):
        for level, n in rows["address_level"].fillna("unresolved").value_counts().items():
            counts[str(level)] = int(n)
    return {
        "counts": counts,
        "numberMatched": len(rows),
        "numberReturned": len(page),
        "incidents": records(page),
    }
