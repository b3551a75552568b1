"""Incidents from a file into the store, judged: read, validate, store in batches, assign.

An import is resumable and never leaves half a batch: the batch is named by the file's
sha256 and every option that changes what is read from it (the CRS, the column mapping), so
the same file read another way is another batch; each chunk of rows and the batch's progress
commit in one transaction, so after a crash the same command skips what is stored and goes
on, and the finished batch counts every row it stored, across runs. Rejected rows are
reported with their line, field and reason and kept with the batch. Assignments are stored
with each incident and stamped with what they were computed from (boundary builds, cluster
definitions, rules): when those change, :func:`assign_stale` recomputes exactly the
incidents whose stamp differs.

The new reports are linked to the stored reports near them in space and time
(:func:`geozone.incidents.events.link_new`; the events are those of linking the whole store
at once, whatever the file's order or the pieces' size): while the pieces come in order of
detection (a file in time order), each piece's events are worked out as the next one is
stored and written once the piece after is read and judged; the rest once every piece is
stored, in order of detection. Reports of one
event by two members share an ``event_id``, the earliest detection leads, and a cooperating
report is judged with its event's first detector
(:func:`geozone.incidents.events.judging_frame`), here and whenever the store's incidents
are judged again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.address.incidents import store_address_only
from geozone.assignment import assign
from geozone.assignment.rules import RULES_VERSION
from geozone.context import Context, freeze_long_lived, release_memory
from geozone.errors import ImportBatchError, StoreBusyError
from geozone.hashing import file_sha256
from geozone.incidents.events import (
    LinkOutcome,
    LinkPlan,
    detections,
    judging_frame,
    link_new,
    plan_links,
    save_plan,
    unlink_pair,
)
from geozone.incidents.io import IncidentSource, open_incidents
from geozone.parallel import prefetched
from geozone.settings import get_settings
from geozone.store import IncidentStore
from geozone.store.base import AddResult, assignment_stamp
from geozone.store.events import (
    LINK_FIELDS,
    batch_last_row,
    batch_linked,
    batch_reports,
    batch_rows_by_detection,
    reports_at,
    unfinished_batches,
    unlinked_ids,
    write_events,
)
from geozone.store.sql import (
    WRITE_WAIT,
    SqlIncidentStore,
    closable_batch,
    create_store_engine,
    write_wait,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

ProgressCallback = Callable[[int, int], None]


def context_stamp(context: Context) -> str:
    """Stamp of what assignments are computed from: builds, clusters, rules."""
    parts = [RULES_VERSION]
    parts += [f"{bset.id}:{context.build_stamps.get(bset.id, '')}" for bset in context.sets]
    parts += [t.cluster.model_dump_json() for t in context.territories]
    return assignment_stamp(parts)


@dataclass
class ImportReport:
    """What an import did."""

    batch_id: str
    source: str
    rows: int
    stored: int
    duplicates: int
    rejected: int
    resumed_from: int
    assigned: int
    rejects: list[dict[str, Any]] = field(default_factory=list)
    #: Rows without coordinates stored by their address only (no border-zone decision).
    address_only: int = 0
    #: Reports of this import linked with another report into one event.
    linked: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return self.__dict__.copy()


def import_file(
    store: IncidentStore,
    path: Path,
    context: Context,
    *,
    mapping: Mapping[str, str] | None = None,
    crs: str | int = 4326,
    chunk_rows: int = 50_000,
    on_progress: ProgressCallback | None = None,
    on_stored: ProgressCallback | None = None,
    on_wait: Callable[[], None] | None = None,
) -> ImportReport:
    """Import an incident file into ``store`` and assign what it added.

    The file is streamed (:func:`~geozone.incidents.io.open_incidents` with ``stream``):
    each piece is read and validated; on the SQL store its rows not stored yet (one query
    per piece) are judged from the piece itself and stored with their decisions in one
    transaction (:meth:`~geozone.store.sql.SqlIncidentStore.add_judged`: written once, never
    read back, never half stored), on a writer thread while the next piece is read and
    judged (one piece in flight, stored in file order; an error stops the import once the
    piece in flight is stored whole or not at all); another store stores them, then judges
    the rows it stored. Other stale incidents of the store are left to :func:`assign_stale` (a
    background job in the service), except after a resumed run, whose earlier run may have
    stopped between storing a piece and judging it (an earlier version of this function).

    Parameters
    ----------
    store
        The incident store.
    path
        CSV, GeoJSON, GeoPackage or Parquet (see :func:`geozone.incidents.io.read_incidents`).
    context
        Boundary sets and clusters to judge with.
    mapping, crs
        Column names and the CRS of the coordinates.
    chunk_rows
        Source rows per piece (and per transaction): memory grows with it, not with the file.
    on_progress
        Called with (rows done, rows in all) as the stored reports are linked into events:
        after each piece linked as the next is stored (a file in time order), then, once
        every piece is stored, for the rest in pieces of ``chunk_rows`` reports in order of
        detection, and at the end.
    on_stored
        Called with (rows stored, rows in all) once before the first chunk (the rows an
        earlier run stored, and the total) and after each chunk is stored (on the SQL store
        with its decisions, in one transaction): with ``on_progress``, the two phases of
        the work as two counts.
    on_wait
        Called once if linking must wait for another linker of the store (another import,
        ``geozone incidents link``) to finish: one links at a time
        (:meth:`~geozone.store.sql.SqlIncidentStore.linking`), and this import waits as
        :func:`~geozone.store.sql.write_wait` allows (None: until it is free).

    Raises
    ------
    StoreBusyError
        The store stayed locked by another writer or linker past the wait.
    ImportBatchError
        The same batch is being imported by another process or job (one run at a time), or
        its rows would pass the file's row count.
    """
    source = open_incidents(path, mapping=mapping, crs=crs, stream=True)
    digest = file_sha256(path)
    batch_id = batch_name(digest, crs=source.crs_key, columns=source.columns)
    # One run of a batch at a time: a second run of the same import is refused (named),
    # and a batch not done whose lock is free has stopped.
    with _import_lock(store, batch_id, str(path)):
        batch = store.begin_batch(batch_id, str(path), digest, source.n_rows)
        run = _ImportRun(store, context, source, batch_id, int(batch["rows_done"]))
        run.store_pieces(chunk_rows, on_stored, on_progress)
        run.link(batch["status"] == "done", chunk_rows, on_progress, on_wait)
        if batch["status"] != "done":
            whole = store.batch(batch_id) or {}  # rows_inserted adds up every run's chunks
            rows = int(whole.get("rows_inserted", run.stored))
            store.finish_batch(batch_id, rows, run.rejected, run.rejects)
        if run.start:
            run.assigned += assign_stale(store, context)
        return run.report(str(path))


@dataclass
class _ImportRun:
    """One run of an import batch: its two phases (store the pieces, link them), its counts."""

    store: IncidentStore
    context: Context
    source: IncidentSource
    batch_id: str
    start: int  # the source rows earlier runs of the batch stored
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    assigned: int = 0
    address_only: int = 0
    linked: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # the ids to link (not the SQL store)
    stamp: str = field(init=False)
    earlier: int = field(init=False, default=0)  # the last row id earlier runs stored (SQL)
    eager: bool = field(init=False, default=False)  # linking each piece as it is stored
    linked_upto: int | None = field(init=False, default=None)  # the last row id linked so
    linked_rows: int = field(init=False, default=0)  # the source rows linked so
    last_row: int = field(init=False, default=0)  # the last row id stored (SQL)
    planned: _Planned | None = field(init=False, default=None)  # worked out, not written

    def __post_init__(self) -> None:
        self.stamp = context_stamp(self.context)
        # This run's rows are those past the earlier runs' (linked in order of detection,
        # read by row id piece by piece: 8 bytes a row held, not a frame).
        if isinstance(self.store, SqlIncidentStore):
            self.earlier = self.last_row = batch_last_row(self.store, self.batch_id)

    def store_pieces(
        self,
        chunk_rows: int,
        on_stored: ProgressCallback | None,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        """Read, judge and store the source piece by piece, past the rows stored before.

        On the SQL store a piece is stored by one writer (:class:`_Writer`) while the next is
        read and judged: one piece in flight, stored in file order, each in its own
        transaction, as when stored in turn. While the pieces come in order of detection (a
        file in time order, or nearly: see :class:`_HoursStored`),
        each stored piece is linked as the next one is stored (:meth:`link` links the rest
        once every piece is stored), and a large file's pieces are stored from a process of
        their own meanwhile.
        """
        store, n_rows = self.store, self.source.n_rows
        if on_stored:
            on_stored(self.start, n_rows)
        writer = (
            _Writer(store, self.batch_id, self.stamp)
            if isinstance(store, SqlIncidentStore)
            else None
        )
        # A fresh run links its pieces as they are stored while they come in time order, or
        # nearly.
        self.eager = writer is not None and self.start == 0
        large = writer is not None and _writer_process(writer.store, n_rows)
        if writer is not None and self.eager and large:
            writer.use_process(True)  # its process starts as the first piece is read and judged
        stored_hours = _HoursStored()  # the hours of detection of the pieces linked so far
        # The pieces stored in turn: the link fields of each to link as the next is stored.
        flight: list[pd.DataFrame | None] = []
        stored: list[_ToLink] = []  # stored, to link as the next is stored

        def settle(done: _Stored | None) -> None:
            if done is None:
                return
            given = flight.pop(0) if flight else None
            if writer is not None:
                # Nothing else is in flight: the batch's last row is this piece's.
                first, last = self.last_row, batch_last_row(writer.store, self.batch_id)
                if given is not None and self.eager:
                    stored.append(_ToLink(done, (first, last), given))
                self.last_row = last
            self.stored += done.added.inserted
            self.duplicates += done.added.duplicates
            self.assigned += done.assigned
            if on_stored:
                on_stored(done.end, n_rows)
            if writer is None:
                self.pending.extend(done.ours)

        try:
            # Each piece is read and validated on a thread while the one before is judged
            # and linked (Arrow's reading and numpy's work release the GIL).
            for first, read in prefetched(self.source.pieces(chunk_rows, cut=self.start)):
                self.rejects += [r.__dict__ for r in read.rejects]
                self.rejected += len(read.rejected_lines)
                if first < self.start:  # stored by an earlier run: read again for its rejects
                    continue
                if read.address_only is not None and len(read.address_only):
                    # Before the located rows: a resumed piece finds these stored (duplicates).
                    # The piece in flight is stored first: one writer at a time, in file order.
                    settle(writer.wait() if writer is not None else None)
                    self.eager = False  # stored by address: linked with the rest
                    by_address = store_address_only(
                        store.engine, self.context, read.address_only, self.batch_id
                    )
                    self.address_only += by_address[0]
                incidents = read.incidents.reset_index(drop=True)
                end = first + read.n_rows
                if writer is not None:
                    # Judged first, then stored with the decisions in one transaction per piece.
                    judged = _judge_fresh(writer.store, self.context, incidents)
                    release_memory(heap=False)  # the index pages: the next piece maps its own
                    settle(writer.wait())
                    fresh = judged.fresh  # (a piece of rejected rows only may lack columns)
                    times = detections(fresh) if len(fresh) else pd.Series(dtype=object)
                    self.eager = self.eager and stored_hours.admit(times)
                    # A process of its own pays while linking goes alongside storing.
                    writer.use_process(self.eager and large)
                    writer.submit(judged, read.n_rows, end)
                    flight.append(fresh.reindex(columns=list(LINK_FIELDS)) if self.eager else None)
                    # The events worked out while the piece before was stored are written
                    # while the writer lays this one out (before it takes the write lock),
                    # then the piece before is linked while this one is stored.
                    self._write_planned(on_progress)
                    self._plan_stored(stored, on_progress)
                else:
                    added = store.add_incidents(incidents, self.batch_id, source_rows=read.n_rows)
                    count, ours = _assign_piece(
                        store, self.context, incidents, self.batch_id, self.stamp
                    )
                    settle(_Stored(added, ours, count, end))
            self._write_planned(on_progress)
            settle(writer.wait() if writer is not None else None)
            self._plan_stored(stored, on_progress)
            self._write_planned(on_progress)
        finally:
            if writer is not None:
                writer.close()  # a piece in flight is stored whole or not at all, then stop
            if self.planned is not None:  # stopped by an error: linked again on a resume
                self.planned.lock.close()
                self.planned = None

    def _plan_stored(
        self,
        stored: list[_ToLink],
        on_progress: ProgressCallback | None,
    ) -> None:
        """Work out the events of the stored pieces not linked yet, each with the reports near it.

        The last one's are written by :meth:`_write_planned` once the next piece is read,
        judged and handed to the writer, which lays that piece out before it takes SQLite's
        one write lock (~0.3 s a piece of 50,000: the events are written meanwhile); the
        store's linking lock is held from their read to that write.
        Only if the lock is free: if another linker holds it, this run's pieces from here
        on are linked once every piece is stored (:meth:`link`, which waits for it), and
        the import goes on storing.
        """
        while stored:
            self._write_planned(on_progress)  # a piece's events are read once those before are
            piece = stored.pop(0)
            lock = ExitStack()
            if piece.done.ours:
                try:
                    lock.enter_context(_linking(self.store, None, now=True))
                except StoreBusyError:
                    self.eager = False
                    stored.clear()
                    return
            # Held by the run from here (released unwritten if an error stops the import).
            self.planned = _Planned(piece, LinkPlan(), lock)
            if piece.done.ours:
                assert isinstance(self.store, SqlIncidentStore)  # linked so on the SQL store
                # Read under the lock: no other linker changes their events meanwhile.
                held = batch_reports(self.store, self.batch_id, *piece.rows, piece.given)
                self.planned.plan = plan_links(self.store, piece.done.ours, reports=held)

    def _write_planned(self, on_progress: ProgressCallback | None) -> None:
        """Write the events worked out for a stored piece, judge again its changed reports."""
        planned, self.planned = self.planned, None
        if planned is None:
            return
        piece = planned.piece
        with planned.lock:
            if piece.done.ours:  # (a piece of stored ids only has no events to write)
                plan = planned.plan
                self.linked += save_and_judge(self.store, self.context, plan, self.stamp).linked
        self.linked_upto, self.linked_rows = piece.rows[1], piece.done.end
        if on_progress:
            on_progress(piece.done.end, self.source.n_rows)

    def link(
        self,
        was_done: bool,
        chunk_rows: int,
        on_progress: ProgressCallback | None,
        on_wait: Callable[[], None] | None,
    ) -> None:
        """Link the run's reports not linked yet, once every piece is stored, in order of detection.

        Those past the pieces linked as they were stored (:meth:`store_pieces`). The events
        are those of linking the whole store at once, whatever the file's order or the
        pieces' size. An earlier run of a batch not done may have stopped before linking
        what it stored (each report stored as its own event): its rows are linked with this
        run's. ``linked`` counts the batch's reports in an event of two or more at the end.
        """
        store, n_rows = self.store, self.source.n_rows
        after = self.earlier if was_done else 0
        done = 0 if after < self.earlier else self.start  # earlier rows linked again: counted
        if self.linked_upto is not None:  # a fresh run linked its pieces up to this row
            after, done = self.linked_upto, self.linked_rows
        with _linking(store, on_wait):  # one linker at a time, for the whole phase
            for ids, held in _by_detection(store, self.batch_id, after, self.pending, chunk_rows):
                self.linked += link_and_judge(
                    store, self.context, ids, self.stamp, reports=held
                ).linked
                done = min(n_rows, done + len(ids))
                if on_progress:
                    on_progress(done, n_rows)
            if self.start:  # reports stored before events (migration 0007), not linked yet
                self.linked += link_stored(
                    store, self.context, chunk=chunk_rows, include_unfinished=False
                )
        if on_progress and done < n_rows:  # rows rejected or stored before: done too
            on_progress(n_rows, n_rows)
        if isinstance(store, SqlIncidentStore):
            # As the events stand once all is linked (a report linked as its piece was
            # stored may have joined another event since).
            self.linked = batch_linked(store, self.batch_id)

    def report(self, source: str) -> ImportReport:
        """Return what the run did."""
        return ImportReport(
            self.batch_id,
            source,
            self.source.n_rows,
            self.stored,
            self.duplicates,
            self.rejected,
            self.start,
            self.assigned,
            self.rejects,
            address_only=self.address_only,
            linked=self.linked,
        )


def _by_detection(
    store: IncidentStore,
    batch_id: str,
    after: int,
    pending: list[str],
    size: int,
) -> Iterator[tuple[list[str], pd.DataFrame | None]]:
    """Yield the reports of a batch to link, ``size`` at a time.

    On the SQL store: the rows batch ``batch_id`` stored past row ``after``, in order of
    detection (ties: by row id), held as row ids (8 bytes a report) and read as stored
    piece by piece (:func:`~geozone.store.events.reports_at`: linking reads each once).
    Another store: ``pending``, read by id.
    """
    if not isinstance(store, SqlIncidentStore):
        ids = list(dict.fromkeys(pending))
        for first in range(0, len(ids), max(1, size)):
            yield ids[first : first + size], None
        return
    rows = batch_rows_by_detection(store, batch_id, after)
    for first in range(0, len(rows), max(1, size)):
        held = reports_at(store, rows[first : first + size].tolist())
        yield held["external_id"].astype(str).tolist(), held


#: The share of a piece's reports that the pieces before it may have detected in the same
#: hours for the piece to be linked as it is stored (:class:`_HoursStored`).
_OVERLAP_SHARE = 0.1
#: Hours of detection counted (from 1970 to 2100; others are not counted).
_HOURS = 130 * 366 * 24


class _HoursStored:
    """The reports of an import's pieces linked so far, counted by hour of detection.

    Linking each piece as it is stored writes the events of linking the whole store at once
    whatever the order (:func:`~geozone.incidents.events.link_new`), but a piece whose
    reports fall among the times of the pieces before it reads and relinks their events
    again: cheap for a file in time order (an export) or nearly (a late report here and
    there; pieces of overlapping periods, as the synthetic generator writes them: ~0.02 of
    a piece detected in hours of the pieces before it), costly for one in another order
    (runs over the whole period, or random: 1.0 and more), which is linked once every piece
    is stored, in order of detection (each report read once). Hours, not days: at 50,000
    reports a day a piece in time order shares its first day with the piece before.
    """

    def __init__(self) -> None:
        self._counts = np.zeros(_HOURS, dtype=np.int32)  # ~4.6 MB
        self._latest: np.datetime64 | None = None

    @staticmethod
    def _times(times: pd.Series) -> NDArray[np.datetime64]:
        return pd.to_datetime(times, utc=True).dropna().to_numpy(dtype="datetime64[us]")

    @staticmethod
    def _hours(times: NDArray[np.datetime64]) -> NDArray[np.int64]:
        index = times.astype("datetime64[h]").astype(np.int64)
        return index[(index >= 0) & (index < _HOURS)]

    def admit(self, times: pd.Series) -> bool:
        """Count a piece (its reports' detection ``times``) if it falls among few stored.

        At most :data:`_OVERLAP_SHARE` of it detected before the latest report counted (in
        time order), or in the hours of as many counted reports. Returns whether it was.
        """
        detected = self._times(times)
        if not len(detected):
            return True
        hours = self._hours(detected)
        if self._latest is not None and (detected < self._latest).mean() > _OVERLAP_SHARE:
            among = int(self._counts[np.unique(hours)].sum())
            if among > _OVERLAP_SHARE * len(detected):
                return False
        np.add.at(self._counts, hours, 1)
        newest = detected.max()
        self._latest = newest if self._latest is None else max(self._latest, newest)
        return True


@dataclass
class _Stored:
    """A stored piece: what was added, the ids it stored and judged, its end in the file."""

    added: AddResult
    ours: list[str]
    assigned: int
    end: int


@dataclass
class _ToLink:
    """A stored piece to link as the next is stored: its rows' ids are in ``rows`` (a, b].

    ``given``: the link fields of its rows as they were handed to the writer.
    """

    done: _Stored
    rows: tuple[int, int]
    given: pd.DataFrame


@dataclass
class _Planned:
    """A stored piece whose events are worked out (``plan``), to write under ``lock``."""

    piece: _ToLink
    plan: LinkPlan
    lock: ExitStack  # the store's linking lock, held from the plan's read to its write


@dataclass
class _Judged:
    """A piece's rows not stored yet (``fresh``), judged (None: none is fresh).

    ``rows``: the piece's rows; ``piece``: the piece itself when none of it is fresh (it
    advances the batch's progress only).
    """

    fresh: pd.DataFrame
    rows: int
    units: pd.DataFrame | None = None
    clusters: pd.DataFrame | None = None
    piece: pd.DataFrame | None = None


def _judge_fresh(store: SqlIncidentStore, context: Context, incidents: pd.DataFrame) -> _Judged:
    """Judge the rows of a piece not stored yet (one query finds the stored ids).

    A re-import judges nothing again. (A row stored by another writer while this piece is
    judged, or by the piece before, still in flight, is skipped by the insert; the reader
    refuses an id repeated within the file.)
    """
    fresh = incidents
    if not incidents.empty:
        fresh = incidents[~incidents["external_id"].duplicated(keep="first")]
        known = store.known_ids(fresh["external_id"].tolist())
        if known:
            fresh = fresh[~fresh["external_id"].isin(known)]
        fresh = fresh.reset_index(drop=True)
    if fresh.empty:
        return _Judged(fresh, len(incidents), piece=incidents)
    result = assign(fresh, context.sets, context.territories)
    return _Judged(fresh, len(incidents), result.units, result.clusters)


def _store_judged(
    store: SqlIncidentStore,
    judged: _Judged,
    batch_id: str,
    stamp: str,
    source_rows: int,
) -> tuple[AddResult, list[str]]:
    """Store the judged new rows of a piece with their decisions, in one transaction.

    Inserted with their assignment and the batch's progress
    (:meth:`SqlIncidentStore.add_judged`); a piece with no new row advances the batch's
    progress only.

    Returns
    -------
    tuple of AddResult and list of str
        What was stored, and the external ids this piece stored.
    """
    if judged.units is None or judged.clusters is None:  # every row stored already
        piece = judged.fresh if judged.piece is None else judged.piece
        return store.add_incidents(piece, batch_id, source_rows=source_rows), []
    # Each stored as its own event: linking writes only the reports it links (not an event
    # row per new report).
    added, ours = store.add_judged(
        judged.fresh,
        judged.units,
        judged.clusters,
        batch_id,
        stamp=stamp,
        source_rows=source_rows,
        single=True,
        checked=True,  # validated by the reader, judged by the engine: not checked again
    )
    return AddResult(inserted=added.inserted, duplicates=judged.rows - added.inserted), ours


def _writer_process(store: SqlIncidentStore, rows: int) -> bool:
    """Tell whether an import of ``rows`` source rows stores its pieces from a process.

    From :attr:`~geozone.settings.Settings.import_process_rows` rows on, and for a store
    another process can open (not an in-memory SQLite database).
    """
    if rows < get_settings().import_process_rows:
        return False
    url = store.engine.url
    return url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")


#: The store of a writer process (:func:`_open_writer_store`).
_WRITER_STORE: SqlIncidentStore | None = None


def _open_writer_store(url: str, busy_timeout_s: float) -> None:
    """Open the store of a writer process, once (its initializer)."""
    global _WRITER_STORE
    _WRITER_STORE = SqlIncidentStore(create_store_engine(url, busy_timeout_s=busy_timeout_s))
    freeze_long_lived()  # its modules: the collector's passes over each piece's rows skip them


def _started() -> None:
    """Do nothing: a first task makes a process pool start its process."""


def _store_in_writer_process(
    wait: float | None, judged: _Judged, batch_id: str, stamp: str, source_rows: int
) -> tuple[AddResult, list[str]]:
    """Store a piece in a writer process, within the importing caller's write wait."""
    assert _WRITER_STORE is not None, "the writer process opens its store first"
    with write_wait(wait):
        return _store_judged(_WRITER_STORE, judged, batch_id, stamp, source_rows)


class _Writer:
    """Stores an import's judged pieces, one piece in flight, in order.

    On a thread of the importing process (SQLite and the drivers release the GIL as they
    write, but binding the rows holds it), or, while :meth:`use_process` says so, in a
    process of its own (spawned: a fresh interpreter with the store only, not the judging
    context, ~0.5 GB), which stores a piece while the importing process links the one
    before on the other core. A piece is stored in one transaction either way: an error
    raised there is raised here, and nothing of that piece is stored.
    """

    def __init__(self, store: SqlIncidentStore, batch_id: str, stamp: str) -> None:
        self.store = store
        self._batch_id = batch_id
        self._stamp = stamp
        self._process = False
        self._pool: Executor = self._start(process=False)
        self._flight: tuple[Future[tuple[AddResult, list[str]]], int] | None = None

    def _start(self, *, process: bool) -> Executor:
        if not process:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="geozone-import")
        url = self.store.engine.url.render_as_string(hide_password=False)
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_open_writer_store,
            initargs=(url, get_settings().store_busy_timeout_s),
        )

    def use_process(self, process: bool) -> None:
        """Store the next pieces from a process of their own, or from a thread.

        Between two pieces (none in flight): each is stored in its own transaction, by
        whichever writer.
        """
        if process == self._process or self._flight is not None:
            return
        self._pool.shutdown(wait=True)
        self._pool, self._process = self._start(process=process), process
        if process:  # started now (a fresh interpreter opening the store) while pieces are read
            self._pool.submit(_started)

    def submit(self, judged: _Judged, source_rows: int, end: int) -> None:
        """Store a piece (after :meth:`wait` returned the one before)."""
        if self._flight is not None:  # pragma: no cover - the caller waits first
            raise RuntimeError("a piece is in flight")
        batch_id, stamp = self._batch_id, self._stamp
        future: Future[tuple[AddResult, list[str]]]
        if self._process:  # the caller's write wait (geozone.store.write_wait) goes along
            future = self._pool.submit(
                _store_in_writer_process, WRITE_WAIT.get(), judged, batch_id, stamp, source_rows
            )
        else:  # in the caller's context: its write wait holds there too
            context = contextvars.copy_context()
            future = self._pool.submit(
                context.run, _store_judged, self.store, judged, batch_id, stamp, source_rows
            )
        self._flight = (future, end)

    def wait(self) -> _Stored | None:
        """Wait for the piece in flight to be stored; return it (None: none in flight).

        Raises what storing it raised (nothing of it is stored then).
        """
        if self._flight is None:
            return None
        future, end = self._flight
        self._flight = None
        added, ours = future.result()
        return _Stored(added, ours, len(ours), end)

    def close(self) -> None:
        """Let a piece in flight finish (stored whole or not at all); stop the writer."""
        flight, self._flight = self._flight, None
        if flight is not None:
            wait([flight[0]])
        self._pool.shutdown(wait=True)


def _assign_piece(
    store: IncidentStore, context: Context, incidents: Any, batch_id: str, stamp: str
) -> tuple[int, list[str]]:
    """Judge the rows of a piece that its batch stored, from the piece; save them.

    Returns
    -------
    tuple of int and list of str
        Incidents assigned, and the external ids the batch stored.
    """
    if incidents.empty:
        return 0, []
    ours = store.stored_by(batch_id, incidents["external_id"].tolist())
    if not ours:
        return 0, []
    if len(ours) < len(incidents):
        incidents = incidents[incidents["external_id"].isin(ours)].reset_index(drop=True)
    result = assign(incidents, context.sets, context.territories)
    return store.save_assignments(result.units, result.clusters, stamp=stamp), ours


def link_and_judge(
    store: IncidentStore,
    context: Context,
    external_ids: Sequence[str],
    stamp: str,
    *,
    reports: pd.DataFrame | None = None,
) -> LinkOutcome:
    """Link judged reports into events with the stored reports near them; judge again the changed.

    A report whose event changed its role (a cooperating report now, or before) is judged
    again with its event's first detector.

    ``reports``: the reports ``external_ids`` as stored, when the caller holds them
    (:func:`~geozone.incidents.events.link_new`).

    Returns
    -------
    LinkOutcome
        What linking did (``linked``: of ``external_ids``, the reports linked with another).
    """
    with _linking(store, None):  # linked and judged by one linker: no decision from a stale read
        outcome = link_new(store, external_ids, reports=reports)
        _judge_again(store, context, outcome.rejudge, stamp)
    return outcome


def save_and_judge(
    store: IncidentStore, context: Context, plan: LinkPlan, stamp: str
) -> LinkOutcome:
    """Write the events of ``plan`` and judge again the reports whose role changed.

    Under the linking lock held since :func:`~geozone.incidents.events.plan_links` made it.
    On the SQL store in one write transaction: the events are written, the reports whose
    role changed read back and judged as their events now stand, and their decisions
    written; no reader sees the new events with the decisions of the old ones, and the
    store's write lock is waited for once (an import's writer holds it while it stores the
    next piece: a second wait was ~0.4 s of each piece of 50,000).
    """
    with _linking(store, None):
        rejudge = plan.outcome.rejudge
        if not isinstance(store, SqlIncidentStore) or not rejudge:
            return save_plan(store, plan)  # (a plan is the SQL store's: save_plan says so)
        with store.write() as connection:
            write_events(connection, store.dialect, plan.events)
            _judge_again(store, context, rejudge, stamp, within=connection)
    return plan.outcome


def _judge_again(
    store: IncidentStore,
    context: Context,
    rejudge: list[str],
    stamp: str,
    *,
    within: Connection | None = None,
) -> None:
    """Judge reports ``rejudge`` again as their events stand (their events are written).

    ``within``: read and written in that open write transaction of the SQL store, the one
    that wrote the events; else in transactions of their own.
    """
    if not rejudge:
        return
    sql = store if isinstance(store, SqlIncidentStore) else None
    incidents = store.get_many(rejudge) if sql is None else sql.get_many(rejudge, within=within)
    if incidents.empty:
        return
    frame = judging_frame(store, incidents, within=within)
    result = assign(frame, context.sets, context.territories)
    # The events are written: their decisions must follow (in their transaction, or after).
    with write_wait(None) if within is None else nullcontext():
        if sql is None:
            store.save_assignments(result.units, result.clusters, stamp=stamp)
        else:
            sql.save_assignments(result.units, result.clusters, stamp=stamp, within=within)


def unlink_and_judge(
    store: IncidentStore,
    context: Context,
    a: str,
    b: str,
    *,
    by: str | None = None,
    note: str | None = None,
    on_wait: Callable[[], None] | None = None,
) -> tuple[bool, int]:
    """Keep that reports ``a`` and ``b`` are two events; relink them and judge the changed.

    Under the store's linking lock throughout (:func:`~geozone.incidents.events.unlink_pair`
    then the reports whose role changed judged again with their event's first detector).

    Returns
    -------
    tuple of bool and int
        Whether the decision is new, and the reports judged again.

    Raises
    ------
    InvalidParameterError, UnknownIncidentError
        As :func:`~geozone.incidents.events.unlink_pair`.
    """
    with _linking(store, on_wait):
        fresh, outcome = unlink_pair(store, a, b, by=by, note=note)
        with write_wait(None):  # the events are written: their decisions must follow
            return fresh, assign_ids(store, context, outcome.rejudge)


def link_stored(
    store: IncidentStore,
    context: Context,
    *,
    chunk: int = 50_000,
    on_progress: ProgressCallback | None = None,
    include_unfinished: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> int:
    """Link every stored report not linked yet, in chunks.

    Those are the reports stored before migration 0007 (no event) and, with
    ``include_unfinished``, those of import batches not done: an import stores each new
    report as its own event and links them once every piece is stored, so an import stopped
    in between leaves reports that look like single events (:func:`unfinished_imports`
    names those batches; they stay not done, for the same import to finish them, and are
    linked again by each call, until :func:`close_import` closes one). Linking is the same
    whatever the order or the chunks: the events are those of linking the whole store at
    once. Each chunk is linked against the stored reports near it, and its changed reports
    judged again. The store's linking lock is held throughout (``on_wait``: called once if
    another linker holds it; see :func:`import_file`).

    Returns
    -------
    int
        Reports linked with another: of each unfinished batch, its reports in an event of
        two or more; of the others, the reports written into such an event.
    """
    if not isinstance(store, SqlIncidentStore):
        return 0
    stamp = context_stamp(context)
    linked = done = 0
    with store.linking(on_wait=on_wait):
        for batch in unfinished_batches(store) if include_unfinished else []:
            linked += _link_batch(store, context, batch["batch_id"], stamp, chunk)
        while ids := unlinked_ids(store, chunk):
            linked += link_and_judge(store, context, ids, stamp).joined
            done += len(ids)
            if on_progress:
                on_progress(done, done + len(unlinked_ids(store, chunk)))
    return linked


def _import_lock(store: IncidentStore, batch_id: str, source: str) -> AbstractContextManager[None]:
    """Return the lock of a run of import batch ``batch_id`` (a SQL store's; else none)."""
    if isinstance(store, SqlIncidentStore):
        return store.import_lock(batch_id, source)
    return nullcontext()


def _linking(
    store: IncidentStore, on_wait: Callable[[], None] | None, *, now: bool = False
) -> AbstractContextManager[None]:
    """Return the linking lock of a SQL store (another store links in-process only).

    ``now``: taken now or :class:`~geozone.errors.StoreBusyError`.
    """
    if isinstance(store, SqlIncidentStore):
        return store.linking(on_wait=on_wait, now=now)
    return nullcontext()


def _link_batch(
    store: SqlIncidentStore, context: Context, batch_id: str, stamp: str, chunk: int
) -> int:
    """Link every report batch ``batch_id`` stored, in order of detection; count the linked."""
    linked = 0
    for ids, held in _by_detection(store, batch_id, 0, [], chunk):
        linked += link_and_judge(store, context, ids, stamp, reports=held).linked
    return linked


def close_import(
    store: IncidentStore,
    context: Context,
    batch_id: str,
    *,
    chunk: int = 50_000,
    on_wait: Callable[[], None] | None = None,
) -> int:
    """Link an unfinished import's stored reports once, then close its batch.

    For an import that will not be finished (e.g. the file was imported again with a
    corrected ``--crs``, which is another batch): its reports are linked as
    :func:`link_stored` links them, and the batch becomes ``closed``. Its stored rows are
    kept; :func:`unfinished_imports` no longer lists it and :func:`link_stored` leaves it;
    importing the same file again with the same options reopens and resumes it. The
    store's linking lock is held throughout (``on_wait``: see :func:`import_file`).

    Returns
    -------
    int
        The batch's reports in an event of two or more.

    Raises
    ------
    ImportBatchError
        No batch has the id, or it is not running (done, or closed already), or a run of it
        is in progress in another process or job: named.
    """
    if not isinstance(store, SqlIncidentStore):
        raise ImportBatchError(f"no import batch {batch_id!r}: this store keeps no batches")
    record = closable_batch(store.batch(batch_id), batch_id)
    # A run of the batch in progress is never closed under it: its lock is held meanwhile.
    running = store.import_lock(batch_id, str(record["source"]), then="close it")
    with running, store.linking(on_wait=on_wait):
        linked = _link_batch(store, context, batch_id, context_stamp(context), chunk)
        store.close_batch(batch_id)
    return linked


def import_batches(store: IncidentStore) -> list[dict[str, Any]]:
    """Return every import batch of ``store``, oldest first (empty: a store without batches).

    Each is a dict of ``batch_id``, ``source``, ``status`` ("running": not done, a run of it
    in progress; "stopped": not done, no run in progress; "done"; "closed": set aside by
    :func:`close_import`), the row counts and the times ``started_at``, ``updated_at`` and
    ``finished_at``.
    """
    if not isinstance(store, SqlIncidentStore):
        return []
    batches = store.batches()
    for batch in batches:
        if batch["status"] == "running" and not store.import_running(batch["batch_id"]):
            batch["status"] = "stopped"
    return batches


def unfinished_imports(store: IncidentStore) -> list[dict[str, Any]]:
    """Return the import batches of ``store`` that are not done, oldest first.

    Each is a dict of ``batch_id``, ``source``, ``rows_done``, ``rows_total`` and
    ``running`` (a run of it is in progress now; False: it stopped). Their reports may not
    be linked into events yet: :func:`link_stored` links them, and importing the same file
    again with the same options finishes a stopped batch.
    """
    return unfinished_batches(store) if isinstance(store, SqlIncidentStore) else []


def assign_ids(store: IncidentStore, context: Context, external_ids: Sequence[str]) -> int:
    """Judge the stored incidents ``external_ids`` (their stored values); save them.

    Returns
    -------
    int
        Incidents assigned (unknown ids and ids whose times are quarantined are left out).
    """
    if not external_ids:
        return 0
    incidents = store.get_many(list(external_ids))
    if incidents.empty:
        return 0
    result = assign(judging_frame(store, incidents), context.sets, context.territories)
    return store.save_assignments(result.units, result.clusters, stamp=context_stamp(context))


def batch_name(digest: str, *, crs: str, columns: Mapping[str, str]) -> str:
    """Name the import batch of a file read with given options.

    Parameters
    ----------
    digest
        The file's sha256.
    crs
        The CRS its coordinates were read in (``ReadResult.source_crs``).
    columns
        Which column gave each field (``ReadResult.columns``: the explicit mapping and the
        synonyms found).

    Returns
    -------
    str
        ``file:`` and 32 hex digits of a SHA-256 over the file's digest and the options, so
        that re-importing the file with a corrected CRS or mapping is a new batch.
    """
    options = json.dumps({"crs": crs, "columns": dict(sorted(columns.items()))})
    return "file:" + hashlib.sha256(f"{digest}\n{options}".encode()).hexdigest()[:32]


def assign_stale(
    store: IncidentStore,
    context: Context,
    *,
    chunk: int = 50_000,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Assign every stored incident whose assignment is missing or out of date.

    This is the background work after a context change (new boundary builds, changed
    clusters or rules): a request or an import judges only its own rows.

    Parameters
    ----------
    on_progress
        Called with (incidents done, incidents done + stale found in the next round).

    Returns
    -------
    int
        Incidents (re)assigned.
    """
    stamp = context_stamp(context)
    done = 0
    while ids := store.stale_ids(stamp, limit=chunk):
        incidents = judging_frame(store, store.get_many(ids))
        result = assign(incidents, context.sets, context.territories)
        done += store.save_assignments(result.units, result.clusters, stamp=stamp)
        if on_progress:
            on_progress(done, done + len(ids))
    return done


__all__ = [
    "ImportReport",
    "assign_ids",
    "assign_stale",
    "batch_name",
    "close_import",
    "context_stamp",
    "import_batches",
    "import_file",
    "link_and_judge",
    "link_stored",
    "save_and_judge",
    "unfinished_imports",
    "unlink_and_judge",
]
