"""Events in the store: new reports linked to the stored reports near them, unlinks kept.

:func:`link_new` runs after an import has stored every piece, or after a ``POST /incidents``
is stored and judged: it links the new reports
(:func:`geozone.incidents.linking.link_reports`) with the stored reports near them, never
the whole store, and the events it writes are those of linking every stored report at once,
whatever order the reports were stored or linked in (an import's file order and piece size
change nothing).

Why that holds: linking matches links strongest first within each group of reports joined
by links that pass the chance test (a component), so a component's events depend on its
reports alone. A new report changes the candidates within its window and the local rate
(so the confidence of links) of the reports within the rate's context (24 h). Those are
relinked, grown to whole components: the other reports of their events (an event that loses
a link may join otherwise), then the reports within a window of them joined by a link that
passes, until none is added. Each link's local rate is counted over every stored report
within its context, and each pair's distance is measured on the plane of its own latitude,
so that a link is the same whichever reports are read with it. The reads are bounded: one
box per 0.1° tile and run of nearby detection times (SQLite finds them through its index of
space and detection time, migration 0010; PostGIS through its spatial index), bounded by
``occurred_at`` from :data:`DETECTION_LAG` before (a stored report detected more than 31
days after it occurred is not found: the synthetic generator's longest delay is 30 days).

The event columns (``event_id``, ``event_role``, ``event_confidence``) of every report whose
event changed are written. An event's decisions follow it: the earliest detection decides
the lead under the border rule ("first detector leads"), so a cooperating report is judged
with its event's first detector (:func:`judging_frame`) and the reports whose role or event
changed are judged again (by the caller, which holds the context). One linker writes at a
time: each holds the store's linking lock from its read to its write
(:meth:`~geozone.store.sql.SqlIncidentStore.linking`), so none writes events from a read
that another linker, in another process, made stale.

:func:`unlink_pair` keeps a planner's or analyst's decision that two reports are not one
event (``incident_unlinks``) and relinks their event without that link.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.errors import InvalidParameterError, UnknownIncidentError
from geozone.incidents.linking import (
    EVENT_PREFIX,
    LinkWindow,
    RateCounts,
    window_pairs,
    within_reach,
)
from geozone.settings import Settings, get_settings
from geozone.store import IncidentStore, is_among
from geozone.store.events import (
    add_unlink,
    event_leads,
    event_members,
    reports_in,
    reports_of,
    save_events,
    unlinks_of,
)
from geozone.store.sql import SqlIncidentStore
from geozone.text import nfc

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: How long before its detection a stored report may have occurred and still be found.
DETECTION_LAG = timedelta(days=31)
#: Side of the tiles new reports are grouped in for the bounded reads, in degrees.
TILE_DEG = 0.1
#: The least gap between detection times that ends a box's run in a tile, in minutes.
_RUN_GAP_MINUTES = 7 * 24 * 60.0


@dataclass
class LinkOutcome:
    """What linking new reports did.

    Attributes
    ----------
    read
        Stored reports read (the new ones, those near them and their events' others, and
        those around them counted for the local rate only).
    written
        Reports whose event columns were written.
    linked
        Of the new reports, those linked with another into one event.
    joined
        Of the reports written, those in an event of two reports or more.
    rejudge
        External ids whose role or event changed in a way that changes their decisions
        (now or before a cooperating report): the caller judges them again.
    """

    read: int = 0
    written: int = 0
    linked: int = 0
    joined: int = 0
    rejudge: list[str] = field(default_factory=list)


def windows_of(settings: Settings | None = None) -> tuple[LinkWindow, dict[str, LinkWindow]]:
    """Return the default link window and those of clusters, from the settings."""
    settings = settings or get_settings()
    default = LinkWindow(settings.link_distance_m, settings.link_minutes)
    by_cluster = {
        cluster: LinkWindow(float(metres), float(minutes))
        for cluster, (metres, minutes) in settings.link_windows.items()
    }
    return default, by_cluster


def _sql(store: IncidentStore) -> SqlIncidentStore:
    if not isinstance(store, SqlIncidentStore):
        raise InvalidParameterError(f"events need the SQL store, not {type(store).__name__}")
    return store


def detections(frame: pd.DataFrame) -> pd.Series:
    """Return each report's detection time: ``detected_at``, else ``occurred_at`` (UTC)."""
    occurred = pd.to_datetime(frame["occurred_at"], utc=True)
    detected = pd.to_datetime(frame["detected_at"], utc=True)
    return detected.fillna(occurred)


def _reach(window: LinkWindow, windows: dict[str, LinkWindow]) -> tuple[float, float, float]:
    """Return the largest distance (m), time window (min) and rate context (min) of the windows."""
    every = [window, *windows.values()]
    return (
        max(w.distance_m for w in every),
        max(w.minutes for w in every),
        max(w.context_hours for w in every) * 60.0,
    )


def _boxes(
    new: pd.DataFrame, metres: float, minutes: float
) -> list[tuple[float, float, float, float, pd.Timestamp, pd.Timestamp]]:
    """Return boxes of space and time holding every report near ``new``, widened (the reads).

    One box per 0.1° tile and run of the tile's detection times (a run ends where the next
    time is more than twice the widening, and at least :data:`_RUN_GAP_MINUTES`, later): a
    box reads the reports around its run's times, not every report stored in its tile
    between its first and its last report. (Runs split at every gap of twice the widening
    made 19,300 boxes for a piece of 50,000 reports, and read it in 1.5 s; at gaps of a
    week, 12,700 boxes, the same reports give or take 0.1 %, in 0.8-1.3 s.)
    """
    lon, lat = new["lon"].to_numpy(float), new["lat"].to_numpy(float)
    times = pd.DatetimeIndex(detections(new))
    keep = np.isfinite(lon) & np.isfinite(lat) & ~np.asarray(times.isna(), dtype=bool)
    if not keep.any():
        return []
    lon, lat, times = lon[keep], lat[keep], times[keep]
    x, y = np.floor(lon / TILE_DEG), np.floor(lat / TILE_DEG)
    order = np.lexsort((times.asi8, y, x))  # by tile, then time (stable)
    lon, lat, x, y, times = lon[order], lat[order], x[order], y[order], times[order]
    at = np.asarray((times - times.min()) / pd.Timedelta(minutes=1), dtype=float)
    cut = np.ones(len(lon), dtype=bool)
    gap = max(2 * minutes, _RUN_GAP_MINUTES)
    cut[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1]) | (np.diff(at) > gap)
    first = np.flatnonzero(cut)  # each run's first report; its last is before the next's
    last = np.append(first[1:], len(lon)) - 1
    d_lat = metres / 110_574.0 * 1.01
    abs_lat = np.maximum.reduceat(np.abs(lat), first)
    reach = np.cos(np.radians(np.minimum(abs_lat + d_lat, 89.0)))
    d_lon = metres / (111_320.0 * np.maximum(reach, 1e-6)) * 1.01
    wide = pd.Timedelta(minutes=minutes)
    return list(
        zip(
            (np.minimum.reduceat(lon, first) - d_lon).tolist(),
            (np.minimum.reduceat(lat, first) - d_lat).tolist(),
            (np.maximum.reduceat(lon, first) + d_lon).tolist(),
            (np.maximum.reduceat(lat, first) + d_lat).tolist(),
            list(times[first] - wide),
            list(times[last] + wide),
            strict=True,
        )
    )


def link_new(
    store: IncidentStore,
    external_ids: Iterable[str],
    settings: Settings | None = None,
    *,
    reports: pd.DataFrame | None = None,
) -> LinkOutcome:
    """Link stored reports ``external_ids`` to the stored reports near them; save the events.

    The events written are those of linking every stored report at once (see the module
    notes): whatever the order the reports were stored or linked in.

    Parameters
    ----------
    reports
        The reports ``external_ids`` as read by row id
        (:func:`~geozone.store.events.reports_at`), when the caller knows their rows (an
        import): the read of the reports near them skips those rows, so each stored report
        is read once (those of ``external_ids`` not among them are read by id). None: read
        by id first.

    Returns
    -------
    LinkOutcome
        What was read and written, and the reports the caller judges again.

    Raises
    ------
    StoreBusyError
        Another linker (an import, ``geozone incidents link``) held the store's linking
        lock past the wait of :func:`~geozone.store.sql.write_wait`: nothing was written.
    """
    sql = _sql(store)
    with sql.linking():  # read and written by one linker at a time
        return save_plan(sql, plan_links(sql, external_ids, settings, reports=reports))


@dataclass
class LinkPlan:
    """The events of linking new reports, read and worked out, not written yet.

    :func:`plan_links` makes it, :func:`save_plan` writes it; the caller holds the store's
    linking lock from the one to the other, so that no other linker changes the events it
    was worked out from (an import works out a piece's events while the next piece is
    stored, and writes them once the piece after it is read and judged).

    Attributes
    ----------
    outcome
        What linking does once written (``written``: the reports of ``events``).
    events
        ``external_id`` and :data:`~geozone.store.base.EVENT_COLUMNS` of the reports whose
        event changed.
    """

    outcome: LinkOutcome = field(default_factory=LinkOutcome)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)


def plan_links(
    store: IncidentStore,
    external_ids: Iterable[str],
    settings: Settings | None = None,
    *,
    reports: pd.DataFrame | None = None,
) -> LinkPlan:
    """Work out the events of :func:`link_new` without writing them (:class:`LinkPlan`).

    The caller holds the store's linking lock until :func:`save_plan` has written them
    (taken here too: the lock is re-entrant within a thread). Parameters as
    :func:`link_new`.
    """
    sql = _sql(store)
    ids = list(dict.fromkeys(str(e) for e in external_ids))
    if not ids:
        return LinkPlan()
    with sql.linking():
        return _link_new(sql, ids, settings, reports)


def save_plan(store: IncidentStore, plan: LinkPlan) -> LinkOutcome:
    """Write the event columns of a :class:`LinkPlan` (one transaction); return its outcome.

    Under the linking lock its :func:`plan_links` was taken under.
    """
    if not plan.events.empty:
        save_events(_sql(store), plan.events)
    return plan.outcome


def _link_new(
    sql: SqlIncidentStore,
    ids: list[str],
    settings: Settings | None,
    reports: pd.DataFrame | None,
) -> LinkPlan:
    """:func:`plan_links` of ``ids``, under the store's linking lock."""
    window, windows = windows_of(settings)
    metres, _, context = _reach(window, windows)
    # A new report changes the links of the reports within its window (new candidates) and
    # the local rate of those within the rate's context (their links' confidence): all are
    # relinked, with their neighbours within a window.
    held = reports_of(sql, ids) if reports is None else reports
    if reports is not None:
        known = set(held["external_id"])  # stored ids: NFC already
        if unread := {nfc(e) for e in set(ids) - known} - known:
            held = pd.concat([held, reports_of(sql, unread)])  # not held (never, on an import)
    if held.empty:
        return LinkPlan()
    # Each stored report is read once: the read of those near the new ones skips their rows.
    near = reports_in(sql, _boxes(held, metres, context), DETECTION_LAG, skip=held.index)
    if len(near) > len(held):  # a store denser than the new reports (a top-up import)
        # A box holds its tile's reports between its first and last new one: only those
        # within reach of a new report may change (the rest join through the closure of
        # _relink, which costs a pass more when few are left out).
        same_category = all(w.same_category for w in (window, *windows.values()))
        near = near[within_reach(near, held, metres, context, same_category=same_category)]
    frame = pd.concat([held, near], ignore_index=True).drop_duplicates("external_id")
    return _relink(sql, frame, set(held["external_id"]), window, windows)


def _added(frame: pd.DataFrame, more: pd.DataFrame, known: set[Any]) -> pd.DataFrame:
    """Return ``frame`` with the reports of ``more`` not in ``known`` (which is updated)."""
    if more.empty:
        return frame
    more = more[~is_among(more["external_id"], known)].drop_duplicates("external_id")
    if more.empty:
        return frame
    known |= set(more["external_id"].to_numpy(dtype=object))
    return pd.concat([frame, more], ignore_index=True)


def _shared_events(frame: pd.DataFrame) -> set[Any]:
    """Return the events of ``frame`` that may have other members than its reports.

    A report whose role is ``single`` and whose event is named after it (``ev-`` and its
    id, as linking writes it) is its event's only member: linking writes every report of
    a component it changes, so a report joined to it would have made it a lead. Reading
    the members of such an event would find the report itself (an import inserts every
    new report so, :meth:`~geozone.store.sql.SqlIncidentStore.add_judged` with ``single``).
    """
    event_id = frame["event_id"]
    alone = frame["event_role"].eq("single").to_numpy() & (
        event_id.to_numpy(dtype=object)
        == (EVENT_PREFIX + frame["external_id"].astype(str)).to_numpy()
    )
    return set(event_id[~alone].dropna().to_numpy(dtype=object))


def _components(n: int, a: NDArray[np.intp], b: NDArray[np.intp]) -> NDArray[np.intp]:
    """Return the connected component of each of ``n`` rows joined by the pairs ``a``-``b``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return np.asarray(connected_components(graph, directed=False)[1], dtype=np.intp)


def _relink(
    store: SqlIncidentStore,
    frame: pd.DataFrame,
    new_ids: set[str],
    window: LinkWindow,
    windows: dict[str, LinkWindow],
) -> LinkPlan:
    """Relink ``frame`` closed under links and events, as if every report were linked at once.

    Linking matches links strongest first within each group of reports joined by links that
    pass (a component): the events of a component depend on its reports alone. ``frame``
    (the reports whose links may have changed, with their neighbours) is grown until it is
    whole components: the other reports of its events (an event that loses a link may join
    otherwise), and the reports around it joined to it by a link that passes, until none
    is added. The reports around it are read within a window of those not searched yet,
    and the local rate of each report with a candidate over every stored report within its
    context. The event columns of the reports of ``frame`` that changed are returned, to
    write (:func:`save_plan`).
    """
    metres, minutes, context_minutes = _reach(window, windows)
    known = set(frame["external_id"].to_numpy(dtype=object))
    # The first read holds the new reports' neighbours within a window and within the rate's
    # context (link_new reads the context around them): theirs are neither read again.
    searched = set(new_ids)
    rated = set(new_ids)
    events_read: set[Any] = set()
    context = pd.DataFrame()
    counted = RateCounts()  # a paired report's context is read before its rate is counted
    while True:
        event_ids = _shared_events(frame) - events_read
        if event_ids:
            events_read |= event_ids
            frame = _added(frame, event_members(store, event_ids), known)
        todo = frame[~is_among(frame["external_id"], searched)]
        searched |= set(todo["external_id"].to_numpy(dtype=object))
        near = reports_in(store, _boxes(todo, metres, minutes), DETECTION_LAG)
        inside = len(frame)
        every = _added(frame, near, set(known))
        every = every.sort_values("external_id", kind="stable").reset_index(drop=True)
        clusters = every["link_cluster"].to_numpy(dtype=object)
        # The window's pairs are searched once: for the reports to rate, then to link.
        pairs = window_pairs(every, window, clusters=clusters, windows=windows)
        paired = every[pairs.paired()]
        unrated = paired[~is_among(paired["external_id"], rated)]
        rated |= set(unrated["external_id"].to_numpy(dtype=object))
        more = reports_in(store, _boxes(unrated, metres, context_minutes), DETECTION_LAG)
        context = more if context.empty else pd.concat([context, more], ignore_index=True)
        context = context.drop_duplicates("external_id", ignore_index=True)
        unlinked = unlinks_of(store, every["external_id"])
        found = pairs.passed(unlinked, every, context, counted=counted)
        ends = np.array([(f[0], f[1]) for f in found], dtype=np.intp).reshape(-1, 2)
        part = _components(len(every), ends[:, 0], ends[:, 1])
        ours = is_among(every["external_id"], known)
        joined = np.isin(part, part[ours]) & ~ours
        if not joined.any():
            break
        frame = _added(frame, every[joined], known)
        if len(frame) == inside:  # pragma: no cover - the reports joined are new to it
            break
    linked = pairs.events(found).reports
    ours = is_among(every["external_id"], known)
    every, linked = every[ours].reset_index(drop=True), linked[ours].reset_index(drop=True)
    old_conf = every["event_confidence"].to_numpy(dtype=float)
    new_conf = linked["link_confidence"].to_numpy(dtype=float)
    old_id, old_role = (every[c].to_numpy(dtype=object) for c in ("event_id", "event_role"))
    changed = (
        every["event_id"].isna().to_numpy()
        | (old_id != linked["event_id"].to_numpy(dtype=object))
        | (old_role != linked["event_role"].to_numpy(dtype=object))
        | ~np.isclose(old_conf, new_conf, rtol=0, atol=1e-9)
    )
    was_cooperating = every["event_role"].eq("cooperating").to_numpy()
    is_cooperating = linked["event_role"].eq("cooperating").to_numpy()
    rejudge = changed & (was_cooperating | is_cooperating)
    write = linked.loc[changed, ["external_id", "event_id", "event_role", "link_confidence"]]
    mine = is_among(linked["external_id"], new_ids) & (linked["event_size"] > 1).to_numpy()
    counted_only = 0
    if len(context):
        counted_only = int((~is_among(context["external_id"], known)).sum())
    outcome = LinkOutcome(
        read=len(every) + counted_only,
        written=len(write),
        linked=int(mine.sum()),
        joined=int((changed & (linked["event_size"] > 1).to_numpy()).sum()),
        rejudge=linked.loc[rejudge, "external_id"].astype(str).tolist(),
    )
    return LinkPlan(outcome, write.rename(columns={"link_confidence": "event_confidence"}))


def judging_frame(
    store: IncidentStore, incidents: pd.DataFrame, *, within: Connection | None = None
) -> pd.DataFrame:
    """Return ``incidents`` as their events are judged: a cooperating report by its lead's detector.

    The earliest detection of an event decides the lead under the border rule, so a
    cooperating report is judged with the detecting member of its event's lead report (its
    own ``detected_by`` stays stored as given). Reports not linked, leads and single
    reports are judged as they are. ``within``: the events read in that open transaction.
    """
    if incidents.empty or not isinstance(store, SqlIncidentStore):
        return incidents
    leads = event_leads(store, incidents["external_id"].astype(str), within=within)
    if not leads:
        return incidents
    ids = incidents["external_id"].astype(str)
    lead = ids.map({report: detector for report, (_, detector) in leads.items()})
    # The sentence says so: the report's own detector and its event's lead report.
    return incidents.assign(
        detected_by=lead.where(lead.notna(), incidents["detected_by"]),
        event_lead=ids.map({report: first for report, (first, _) in leads.items()}),
        reported_by=incidents["detected_by"],
    )


def unlink_pair(
    store: IncidentStore,
    a: str,
    b: str,
    *,
    by: str | None = None,
    note: str | None = None,
    settings: Settings | None = None,
) -> tuple[bool, LinkOutcome]:
    """Keep that reports ``a`` and ``b`` are not one event, and relink their event(s).

    Returns
    -------
    tuple of bool and LinkOutcome
        Whether the decision is new (False: it was kept already), and what relinking did
        (its ``rejudge``: the reports the caller judges again).

    Raises
    ------
    InvalidParameterError
        ``a`` and ``b`` are the same report.
    UnknownIncidentError
        Either report is not stored.
    """
    sql = _sql(store)
    if a == b:
        raise InvalidParameterError(f"a report cannot be unlinked from itself ({a!r})")
    pair = reports_of(sql, [a, b])
    missing = sorted({a, b} - set(pair["external_id"]))
    if missing:
        raise UnknownIncidentError(f"no stored incident {', '.join(map(repr, missing))}")
    window, windows = windows_of(settings)
    with sql.linking():
        fresh = add_unlink(sql, a, b, by=by, note=note)
        return fresh, save_plan(sql, _relink(sql, pair, set(), window, windows))


__all__ = [
    "DETECTION_LAG",
    "LinkOutcome",
    "LinkPlan",
    "judging_frame",
    "link_new",
    "plan_links",
    "save_plan",
    "unlink_pair",
    "windows_of",
]
