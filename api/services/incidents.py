"""Incidents: posted to the API or uploaded as files (validate, store, assign); as GeoJSON."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import shutil
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from api.errors import PayloadTooLargeError
from api.jobs import MAX_REPORTED_REJECTS, Job
from api.scopes import Units, in_scope
from api.services.common import records
from geozone.context import Context
from geozone.errors import StoreBusyError
from geozone.incidents.io import validate_incidents
from geozone.incidents.pipeline import (
    assign_ids,
    context_stamp,
    import_file,
    link_and_judge,
    unlink_and_judge,
)
from geozone.store import IncidentStore
from geozone.store.sql import write_wait

#: File suffixes :func:`geozone.incidents.io.read_incidents` reads.
IMPORT_SUFFIXES = (".csv", ".geojson", ".json", ".gpkg", ".parquet", ".geoparquet")


def incident_features(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return stored incidents (a query result) as GeoJSON Point features."""
    data = frame.drop(columns=["geometry"], errors="ignore")
    rows = records(data)
    return [
        {
            "type": "Feature",
            "id": row["external_id"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": row,
        }
        for row in rows
    ]


class OutsideScopeError(Exception):
    """Posted rows lie outside the key's scopes: nothing was stored (403 naming them)."""

    def __init__(self, rows: list[dict[str, Any]], scopes: tuple[str, ...]) -> None:
        self.rows, self.scopes = rows, scopes
        named = ", ".join(
            f"#{r['index']} {r['external_id']!r} ({r['unit_code'] or 'no unit'})" for r in rows[:10]
        )
        more = f" and {len(rows) - 10:,} more" if len(rows) > 10 else ""
        super().__init__(
            f"{len(rows):,} record(s) lie outside the key's scopes ({', '.join(scopes)}): "
            f"{named}{more}; nothing was stored"
        )


def outside_scope(
    context: Context,
    incidents: pd.DataFrame,
    units: Units,
    address_only: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """Return the validated rows a scope does not hold, judged as they would be stored.

    Located rows get their unit chain in the set in force on their date
    (:func:`geozone.assignment.jurisdiction.jurisdiction`, the assignment's own first step);
    address-only rows the unit their address names (an address that cannot be read holds
    no unit, so no scope holds it). Each row outside: ``index`` (the input line - 1),
    ``external_id``, ``set_id`` and ``unit_code`` (where it lies; None when nowhere).
    """
    from geozone.assignment.jurisdiction import jurisdiction

    judged: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    if len(incidents):
        judged.append((incidents, jurisdiction(incidents.reset_index(drop=True), context.sets)))
    if address_only is not None and len(address_only):
        judged.append((address_only, _address_units(context, address_only)))
    outside: list[dict[str, Any]] = []
    for frame, located in judged:
        lines = frame.index.to_numpy()
        for line, row in zip(lines, records(located), strict=True):
            if not in_scope(row, units):
                outside.append(
                    {
                        "index": int(line) - 1,
                        "external_id": row.get("external_id"),
                        "set_id": row.get("set_id"),
                        "unit_code": row.get("unit_code"),
                    }
                )
    return sorted(outside, key=lambda r: int(r["index"]))


def _address_units(context: Context, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the units address-only rows name (no unit when the sets cannot read addresses)."""
    from geozone.address.gazetteer import Gazetteer
    from geozone.address.incidents import address_jurisdiction
    from geozone.errors import GeozoneError

    try:
        gazetteer = Gazetteer.of_sets(context.sets)
    except GeozoneError:
        return pd.DataFrame(
            {"external_id": frame["external_id"].to_numpy(dtype=object), "set_id": None}
        )
    return address_jurisdiction(frame.reset_index(drop=True), gazetteer)


def post_incidents(
    store: IncidentStore,
    context: Context,
    records: list[Any],
    scope: tuple[Units, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Validate records, store the valid ones, assign them; report rejects by index.

    Each bad record is rejected alone with its index, the field and the reason (a record
    that is not a JSON object, or whose field holds an object or a list, included); the
    others are stored in one transaction, idempotently by ``external_id``, and judged: the
    request's own rows only (as stored: a duplicate keeps its stored values), so a request
    after a context change does not wait for the whole store to be judged again; the other
    stale incidents are reassigned by :func:`api.services.clusters.run_reassign`, a
    background job the route queues when any is left. When the store
    is too busy to assign them at once, they stay stored and the answer says their
    assignment is pending; when another linker (an import) holds the store's linking lock
    past the wait, they are stored and judged, not linked yet, and the answer says so
    (``geozone incidents link`` links them; the notices of the answers that count events
    say so until then).

    With ``scope`` (a scoped key's units and scopes), every valid record must lie in it.

    Raises
    ------
    StoreBusyError
        The store stayed locked by another writer past the wait: nothing was stored (503).
    OutsideScopeError
        Valid records lie outside ``scope``: nothing was stored (403 naming them).
    """
    shapes = [_shape_problem(record) for record in records]
    sound = [i for i, problem in enumerate(shapes) if problem is None]
    frame = pd.DataFrame.from_records([records[i] for i in sound], columns=_columns(records))
    result = validate_incidents(frame, lines=[i + 1 for i in sound], source="request body")
    if scope is not None:
        outside = outside_scope(context, result.incidents, scope[0], result.address_only)
        if outside:
            raise OutsideScopeError(outside, scope[1])
    valid = result.incidents.reset_index(drop=True)
    added = store.add_incidents(valid)
    note = None
    linked = 0
    ids = valid["external_id"].tolist()
    try:  # this request's rows only: other stale ones are the background job's
        assigned = assign_ids(store, context, ids)
    except StoreBusyError:
        note = "stored; the store was busy, so their assignment waits for the next write"
        assigned = 0
    else:
        try:  # linked to the stored reports near them in space and time (one event, one lead)
            linked = link_and_judge(store, context, ids, context_stamp(context)).linked
        except StoreBusyError:
            note = (
                "stored and judged; another process was linking reports into events (an "
                "import or 'geozone incidents link'), so these are not linked yet: "
                "'geozone incidents link' links them, and the answers' notices say so until then"
            )
    rejects = [
        {"index": r.line - 1, "external_id": r.external_id, "field": r.field, "reason": r.reason}
        for r in result.rejects
    ] + [
        {"index": i, "external_id": None, "field": field, "reason": reason}
        for i, problem in enumerate(shapes)
        if problem is not None
        for field, reason in [problem]
    ]
    if len(records) >= 1_000:
        release_memory()
    return {
        "received": len(records),
        "stored": added.inserted,
        "duplicates": added.duplicates,
        "assigned": assigned,
        "linked": linked,
        "note": note,
        "rejects": sorted(rejects, key=lambda r: int(r["index"])),
    }


def _shape_problem(record: Any) -> tuple[str, str] | None:
    """Return (field, reason) when a posted record is not an object of plain values."""
    if not isinstance(record, dict):
        return "record", f"not a JSON object but {type(record).__name__}"
    for name, value in record.items():
        if isinstance(value, dict | list):
            return str(name)[:64], f"holds a JSON {type(value).__name__}, not a value"
    return None


def _columns(records: list[Any]) -> list[str]:
    """Return the field names posted, in first-seen order (an empty frame keeps them)."""
    names: dict[str, None] = {}
    for record in records:
        if isinstance(record, dict):
            names.update(dict.fromkeys(map(str, record)))
    return list(names) or ["external_id", "occurred_at", "lon", "lat", "category"]


#: Prefix of the private folders uploads are copied to; the owning process id follows it.
UPLOAD_PREFIX = "geozone-import-"


def save_upload(source: BinaryIO, filename: str, max_bytes: int) -> Path:
    """Copy an uploaded file to a private temporary folder, refusing it past ``max_bytes``.

    The folder is named after this process (see :func:`remove_stale_uploads`) and removed
    on any failure, the client's disconnection included.

    Raises
    ------
    PayloadTooLargeError
        The file is larger than ``max_bytes``.
    """
    suffix = Path(filename or "upload.csv").suffix.lower()
    folder = Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-"))
    path = folder / f"upload{suffix}"
    written = 0
    try:
        with path.open("wb") as out:
            while chunk := source.read(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise PayloadTooLargeError(
                        f"the file is larger than the {max_bytes:,}-byte upload limit"
                    )
                out.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return path


def remove_stale_uploads(root: Path | None = None) -> int:
    """Remove the upload folders of processes that are gone (a crash left them); count them.

    Folders of live processes (another server on the machine importing now) are kept.
    """
    removed = 0
    for folder in Path(root or tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}*"):
        owner = folder.name.removeprefix(UPLOAD_PREFIX).split("-", 1)[0]
        if folder.is_dir() and not (owner.isdigit() and _alive(int(owner))):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def file_outside_scope(
    path: Path, context: Context, crs: str, units: Units, chunk_rows: int = 50_000
) -> tuple[list[dict[str, Any]], int]:
    """Return a file's valid rows outside a scope (the first ones) and how many there are.

    The file is read piece by piece; at most :data:`~api.jobs.MAX_REPORTED_REJECTS` rows
    are kept.

    Invalid rows are the import's to report; only rows the import would store are judged.
    """
    from geozone.incidents.io import open_incidents

    source = open_incidents(path, crs=crs, stream=True)
    kept: list[dict[str, Any]] = []
    total = 0
    for _, read in source.pieces(chunk_rows):
        found = outside_scope(context, read.incidents, units, read.address_only)
        total += len(found)
        for row in found[: MAX_REPORTED_REJECTS - len(kept)]:
            line = int(row.pop("index")) + 1  # the reader's line, as the import's rejects
            kept.append({"line": line, **row})
    return kept, total


def run_import(
    job: Job,
    path: Path,
    store: IncidentStore,
    context: Context,
    crs: str,
    scope: tuple[Units, tuple[str, ...]] | None = None,
) -> None:
    """Run :func:`geozone.incidents.pipeline.import_file` for a job, with progress and outcome.

    With ``scope`` (a scoped key's units and scopes) the file is read once first: when any
    valid row lies outside the scope the job fails naming them, and nothing is stored.
    """
    job.status = "running"

    def progress(done: int, total: int) -> None:
        job.rows_done, job.rows_total = done, total

    try:
        if scope is not None:
            outside, n_outside = file_outside_scope(path, context, crs, scope[0])
            if n_outside:
                job.status = "failed"
                job.error = (
                    f"{n_outside:,} row(s) lie outside the key's scopes "
                    f"({', '.join(scope[1])}); nothing was stored"
                )
                job.report = {
                    "source": job.source,
                    "stored": 0,
                    "outside_scope": outside,
                    "outside_scope_total": n_outside,
                }
                return
        with write_wait(None):  # a job waits the store's own busy timeout, not a request's
            # The job counts rows stored (and judged); linking, once every piece is
            # stored, follows while the job still runs.
            report = import_file(store, path, context, crs=crs, on_stored=progress)
        data = report.to_dict()
        data["source"] = job.source
        data["rejects_total"] = len(data["rejects"])  # all of them stay with the batch
        data["rejects"] = data["rejects"][:MAX_REPORTED_REJECTS]
        job.report = data
        job.rows_done = job.rows_total = report.rows
        job.status = "done"
    except Exception as exc:  # the job records every failure; the process goes on
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        job.finished_at = datetime.now(UTC)
        shutil.rmtree(path.parent, ignore_errors=True)
        release_memory()


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc ``malloc_trim``).

    An import reads a whole file into frames; once freed, glibc keeps most of those pages
    for later allocations, and the server's RSS stays at its peak. Trimming after each job
    lets RSS fall back (a no-op where the C library has no ``malloc_trim``).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def unlink_incidents(
    store: IncidentStore, context: Context, a: str, b: str, by: str, note: str | None
) -> dict[str, Any]:
    """Keep that incidents ``a`` and ``b`` are not one event; relink and judge their event(s).

    Raises
    ------
    UnknownIncidentError
        Either incident is not stored.
    InvalidParameterError
        ``a`` and ``b`` are the same incident.
    """
    fresh, judged = unlink_and_judge(store, context, a, b, by=by, note=note)
    events = {e: store.get(e) or {} for e in (a, b)}
    return {
        "unlinked": [a, b],
        "new": fresh,
        "judged_again": judged,
        "events": {
            e: {name: record.get(name) for name in ("event_id", "event_role", "event_confidence")}
            for e, record in events.items()
        },
    }


def page_notices(context: Context, frame: pd.DataFrame) -> list[str]:
    """Say, once, that rows of a page were judged on a snapshot set for days outside it.

    :func:`~geozone.assignment.points.snapshot_notices` of the page's rows (``GET
    /incidents``, the OGC items page): what ``GET /incidents/{id}`` says of each.
    """
    from geozone.assignment.points import set_periods_of, snapshot_notices

    return snapshot_notices([bset.info for bset in context.sets], set_periods_of(frame))


def incident_notices(context: Context, found: dict[str, Any]) -> list[str]:
    """Say what a stored incident's answer rests on and which clusters do not apply that day.

    :func:`~geozone.assignment.points.period_notices` of the incident's assignment, date and
    detecting unit (none before it is assigned): the boundary set's snapshot when the date
    lies outside it, and the clusters that decided nothing for it.
    """
    from geozone.assignment.points import period_notices
    from geozone.vntime import local_dates

    occurred = found.get("occurred_at")
    if found.get("assignment") is None or occurred is None:
        return []
    day = local_dates([occurred])[0].astype(date)
    return period_notices(
        context, found["assignment"], day, found.get("detected_by"), found["clusters"]
    )
