"""Scopes of API keys: a ward's police reads its own territory and clusters, nothing else.

A key may carry scopes (``geozone users add NAME --role ROLE --scope unit:CODE``,
repeatable): ``unit:CODE`` (a unit and everything inside it), ``cluster:ID`` (every member
unit of a cluster) or ``province:CODE``. A key without scopes reads the whole country (the
Ministry's analysts). Scopes follow the 2025 reform as the clusters do: a legacy unit's
scope also covers its successors in the current set (from 1 July 2025, when incidents are
judged in that set), and a cluster's scope covers its carried form's members.

A scope resolves to ``(set id, unit code)`` pairs (:func:`scope_units`): an incident is in
scope when its assignment's set and one of its unit, ward, district or province codes form
such a pair. A ``cluster:`` scope also resolves to ``(set id, detector)`` pairs
(:func:`scope_detectors`: the names by which the cluster's members are given as
``detected_by``, in each set the cluster is judged in): a member's detections beyond the
members' territory are the cluster's too, so its key reads them (either/or: in the
territory, or detected by a member). Each route decides what a scoped key gets:

- rows: only those in scope (:func:`in_scope`, :func:`incident_in_scope`,
  :func:`query_units` with :func:`query_detectors`); one outside is unknown;
- a cluster's figures (report, hotspots, border effect, map, coverage) and writes: only for
  a cluster the scopes hold wholly (:func:`cluster_covered`), since they are computed on
  every row of the cluster;
- patrol zones: those of such clusters, or lying in the scopes' units (:func:`zone_in_scope`);
- writes of incidents: every row inside the scopes' units, or nothing is stored (a
  member's detection beyond the territory is read by the cluster's key, not written by it:
  the territory's own units write there).

A route whose key dependency was not marked as honouring scopes refuses scoped keys (403,
:func:`api.deps.check_role`): a new route never reads beyond a scope by default, and the
route sweep of ``tests/api/test_scopes_routes.py`` asks for its decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

from geozone.context import Context
from geozone.errors import GeozoneError, InvalidParameterError
from geozone.text import fold

if TYPE_CHECKING:
    from geozone.store import IncidentStore

ScopeKind = Literal["unit", "cluster", "province"]
SCOPE_KINDS: tuple[str, ...] = get_args(ScopeKind)
#: The code columns an incident's assignment is matched on.
CODE_COLUMNS = ("unit_code", "ward_code", "district_code", "province_code")

Units = frozenset[tuple[str, str]]
#: ``(set id, detected_by)`` pairs of a scope's cluster members.
Detectors = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scope:
    """One scope: a kind and a value (``unit:00160``)."""

    kind: ScopeKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_scope(text: str) -> Scope:
    """Read ``unit:CODE``, ``cluster:ID`` or ``province:CODE``.

    Raises
    ------
    InvalidParameterError
        Naming what is wrong.
    """
    kind, _, value = str(text).strip().partition(":")
    value = value.strip()
    if kind not in SCOPE_KINDS or not value:
        raise InvalidParameterError(
            f"scope {text!r} is not one of unit:CODE, cluster:ID, province:CODE"
        )
    if len(value) > 120 or any(not (c.isalnum() or c in "-_.") for c in value):
        raise InvalidParameterError(f"scope {text!r}: the value holds characters codes never do")
    return Scope(kind, value)  # type: ignore[arg-type]


def scope_units(context: Context, scopes: Iterable[str]) -> Units:
    """Return the ``(set id, code)`` pairs the scopes cover in the context's sets.

    A scope naming nothing the context knows covers nothing (never everything).
    """
    key = (id(context), tuple(sorted(set(scopes))))
    known = _RESOLVED.get(key)
    if known is not None and known[0] is context:
        return known[1]
    found: set[tuple[str, str]] = set()
    for text in key[1]:
        scope = parse_scope(text)
        if scope.kind == "cluster":
            found |= _cluster_units(context, scope.value)
        else:
            found |= _unit_and_successors(context, scope.value)
    if len(_RESOLVED) >= 256:
        _RESOLVED.pop(next(iter(_RESOLVED)))
    _RESOLVED[key] = (context, frozenset(found))
    return _RESOLVED[key][1]


#: Scopes resolved, by (context identity, scopes); the context is kept so ids stay unique.
_RESOLVED: dict[tuple[int, tuple[str, ...]], tuple[Context, Units]] = {}


def _unit_and_successors(context: Context, code: str) -> set[tuple[str, str]]:
    """Return the unit ``code`` names, in each set naming the same unit, and its successors.

    A code of today's set names today's unit; in an earlier set it names the same unit only
    under the same name (codes were reused in 2025: legacy 00160 is not today's 00160). A
    code only an earlier set has names that unit, and its successors today.
    """
    current = context.current
    names = {bset.id: bset.full_names.get(code) for bset in context.sets}
    if names.get(current.id) is not None:
        today = fold(str(names[current.id]))
        return {
            (set_id, code)
            for set_id, name in names.items()
            if name is not None and fold(str(name)) == today
        }
    found = {(set_id, code) for set_id, name in names.items() if name is not None}
    return found | _successor_units(context, code)


def _successor_units(context: Context, code: str) -> set[tuple[str, str]]:
    """Today's successors of legacy unit ``code``, when the context has both sets."""
    from geozone.address.gazetteer import Gazetteer
    from geozone.boundaries.lineage import successors

    try:
        gazetteer = Gazetteer.of_sets(context.sets)
    except GeozoneError:
        return set()
    if code not in gazetteer.legacy.full_names:
        return set()
    return {(gazetteer.current.id, s.code) for s in successors(gazetteer, code)}


def _cluster_units(context: Context, cluster_id: str) -> set[tuple[str, str]]:
    """Every member unit of the cluster and of its carried form, in their sets."""
    found: set[tuple[str, str]] = set()
    for territory in context.territories:
        cluster = territory.cluster
        origin = territory.origin.id if territory.origin is not None else None
        if cluster_id not in (cluster.id, origin):
            continue
        for member in cluster.members:
            code = member.territory_code
            if code:
                found.add((territory.bset.id, code))
    return found


def scope_detectors(context: Context, scopes: Iterable[str]) -> Detectors:
    """Return the ``(set id, detected_by)`` pairs of the members of the ``cluster:`` scopes.

    The names are those the assignment reads a member by (its id, its code, an original
    member's id or code in a carried cluster), in the set of each territory of the cluster,
    its original and its carried forms. Other scopes give none.
    """
    key = (id(context), tuple(sorted(set(scopes))))
    known = _DETECTORS.get(key)
    if known is not None and known[0] is context:
        return known[1]
    found: set[tuple[str, str]] = set()
    for text in key[1]:
        scope = parse_scope(text)
        if scope.kind != "cluster":
            continue
        for territory in context.territories:
            origin = territory.origin.id if territory.origin is not None else None
            if scope.value in (territory.cluster.id, origin):
                found |= {(territory.bset.id, str(name)) for name in territory.table.detectors}
    if len(_DETECTORS) >= 256:
        _DETECTORS.pop(next(iter(_DETECTORS)))
    _DETECTORS[key] = (context, frozenset(found))
    return _DETECTORS[key][1]


#: Detectors resolved, by (context identity, scopes), as :data:`_RESOLVED`.
_DETECTORS: dict[tuple[int, tuple[str, ...]], tuple[Context, Detectors]] = {}


def cluster_in_scope(context: Context, scopes: Iterable[str], cluster_id: str) -> bool:
    """Tell whether a ``cluster:`` scope names the cluster, its original or a carried form."""
    named = {s.value for s in map(parse_scope, scopes) if s.kind == "cluster"}
    family = {cluster_id}
    for territory in context.territories:
        origin = territory.origin.id if territory.origin is not None else None
        if territory.cluster.id == cluster_id and origin is not None:
            family.add(origin)
        if origin == cluster_id:
            family.add(territory.cluster.id)
    return bool(named & family)


def covers(context: Context, units: Units, set_id: str, code: str) -> bool:
    """Tell whether the scope's units hold unit ``code`` of set ``set_id`` (it or a parent)."""
    if (set_id, code) in units:
        return True
    try:
        chain = context.boundary_set(set_id).chain(code)
    except GeozoneError:  # a code the set does not know: covered by nothing
        return False
    return any((set_id, unit.code) in units for unit in chain)


def _family(context: Context, cluster_id: str) -> list[Any]:
    """Return the territories of a cluster id: itself, its original, the forms carried from it."""
    ids = {cluster_id}
    for territory in context.territories:
        if territory.cluster.id == cluster_id and territory.origin is not None:
            ids.add(territory.origin.id)
    return [
        t
        for t in context.territories
        if t.cluster.id in ids or (t.origin is not None and t.origin.id in ids)
    ]


def cluster_covered(
    context: Context, scopes: Iterable[str], cluster_id: str, store: IncidentStore | None = None
) -> bool:
    """Tell whether the scopes cover every row of a cluster (a cluster's figures may be read).

    A cluster is covered when a ``cluster:`` scope names it (or its original or a carried
    form), or when every territorial member of every form of it lies in the scopes' units
    (a district's or province's key holding the whole cluster) and, with ``store``, every
    stored incident the cluster decides is in the scopes too (a member may detect an
    incident beyond the members' territory). A cluster the context does not place is
    covered by nothing but its own ``cluster:`` scope.
    """
    scopes = tuple(scopes)
    if not scopes or cluster_in_scope(context, scopes, cluster_id):
        return True
    family = _family(context, cluster_id)
    if not family:
        return False
    units = scope_units(context, scopes)
    for territory in family:
        codes = [m.territory_code for m in territory.cluster.members if m.territory_code]
        if not codes or not all(covers(context, units, territory.bset.id, c) for c in codes):
            return False
    if store is not None:
        from geozone.store import IncidentQuery

        held = tuple(sorted(units))
        for territory in family:
            every = IncidentQuery(cluster_id=territory.cluster.id)
            if store.count(every) != store.count(replace(every, units=held)):
                return False
    return True


def zone_in_scope(context: Context, scopes: Iterable[str], cluster_id: str, units: Any) -> bool:
    """Tell whether a patrol zone (its cluster and the current set's units it touches) is in scope.

    It is when the scopes cover its cluster (:func:`cluster_covered`), or when every unit the
    zone touches lies in the scopes (a zone drawn inside a ward, for that ward's key).
    """
    scopes = tuple(scopes)
    if not scopes or cluster_covered(context, scopes, cluster_id):
        return True
    codes = [str(code) for code in (units or ())]
    held = scope_units(context, scopes)
    current = context.current.id
    return bool(codes) and all(covers(context, held, current, code) for code in codes)


def query_units(context: Context, scopes: Iterable[str]) -> tuple[tuple[str, str], ...] | None:
    """Return the ``units`` filter of an :class:`~geozone.store.IncidentQuery` (None: all)."""
    scopes = tuple(scopes)
    return tuple(sorted(scope_units(context, scopes))) if scopes else None


def query_detectors(context: Context, scopes: Iterable[str]) -> tuple[tuple[str, str], ...] | None:
    """Return the ``detectors`` of an :class:`~geozone.store.IncidentQuery` (None: none)."""
    scopes = tuple(scopes)
    found = scope_detectors(context, scopes) if scopes else frozenset()
    return tuple(sorted(found)) or None


def in_scope(row: Mapping[str, Any], units: Units, detectors: Detectors = frozenset()) -> bool:
    """Tell whether a row is in scope.

    ``row``: ``set_id`` and the code columns of its assignment, and ``detected_by`` when
    ``detectors`` are given (a cluster scope's members: their detections are in scope).
    """
    set_id = row.get("set_id")
    if any((set_id, row.get(column)) in units for column in CODE_COLUMNS):
        return True
    detector = row.get("detected_by")
    return bool(detectors) and isinstance(detector, str) and (set_id, detector) in detectors


def incident_in_scope(
    context: Context, scopes: Iterable[str], found: Mapping[str, Any] | None
) -> bool:
    """Tell whether a stored incident (:meth:`~geozone.store.IncidentStore.get`) is in scope.

    Without scopes every stored incident is; ``None`` (not stored) never is.
    """
    scopes = tuple(scopes)
    if found is None or not scopes:
        return found is not None
    row = {**(found.get("assignment") or {}), "detected_by": found.get("detected_by")}
    return in_scope(row, scope_units(context, scopes), scope_detectors(context, scopes))


__all__ = [
    "SCOPE_KINDS",
    "Detectors",
    "Scope",
    "Units",
    "cluster_covered",
    "cluster_in_scope",
    "covers",
    "in_scope",
    "incident_in_scope",
    "parse_scope",
    "query_detectors",
    "query_units",
    "scope_detectors",
    "scope_units",
    "zone_in_scope",
]
