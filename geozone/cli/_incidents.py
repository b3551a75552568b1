"""CLI commands on incidents: generate synthetic ones, assign a file without a store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer

from geozone.cli._common import JsonOption, check_output, console, err_console, print_json
from geozone.cli._io import FORMAT_SUFFIXES, StdoutSpool, input_file, is_stdio, output_file
from geozone.vntime import VIETNAM_TZ

if TYPE_CHECKING:
    from geozone.context import Context
    from geozone.store import IncidentQuery, IncidentStore

incidents_app = typer.Typer(
    help="Incidents: generate, assign, import, link, list, export, import batches.",
    no_args_is_help=True,
)
#: The suffixes of incident files (read and written by geozone.incidents.io).
INCIDENT_SUFFIXES = (".csv", ".geojson", ".json", ".gpkg", ".parquet", ".geoparquet")
#: The suffixes ``incidents export`` writes.
EXPORT_SUFFIXES = INCIDENT_SUFFIXES
_FORMATS = "|".join(FORMAT_SUFFIXES)
InputFormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help=f"Format of standard input when SOURCE is -: {_FORMATS} (default: sniffed from "
        "its first bytes).",
    ),
]


@incidents_app.command("generate")
def incidents_generate(
    n: Annotated[int, typer.Option("-n", min=1, max=10_000_000, help="How many incidents.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File: .csv, .geojson, .gpkg, .parquet.")
    ],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same file.")] = 0,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-07-01",
    end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD.")] = "2026-06-30",
    as_json: JsonOption = False,
) -> None:
    """Write SYNTHETIC incidents (clustered at real places, labelled synthetic on every row)."""
    from geozone.context import judging_context
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents

    check_output(output, INCIDENT_SUFFIXES)
    context = judging_context()
    begin = datetime.fromisoformat(start).replace(tzinfo=VIETNAM_TZ)
    finish = datetime.fromisoformat(end).replace(tzinfo=VIETNAM_TZ, hour=23, minute=59)
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    legacy = next((b for b in context.sets if b.id == "vn-legacy-districts"), None)
    with err_console.status(f"generating {n:,} synthetic incidents…"):
        frame = generate_incidents(
            n, seed, boundaries=current, clusters=carried, start=begin, end=finish, legacy=legacy
        )
        write_incidents(frame, output)
    if as_json:
        print_json({"written": len(frame), "seed": seed, "synthetic": True, "output": str(output)})
        return
    console.print(f"wrote {len(frame):,} SYNTHETIC incidents (seed {seed}) to {output}")


def row_progress(unit: str = "rows") -> Any:
    """Return a progress display counting ``unit`` (rows, parts), with the time left (rich).

    Each task is one phase of the work (its description says which); the display is on
    standard error, so standard output keeps only the result.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _stored(progress: Any, stored: Any, judged: Any, done: int, total: int) -> None:
    """Count the rows stored; the judging task gets its total first, its clock with a piece."""
    progress.update(stored, completed=done, total=total)
    task = next(task for task in progress.tasks if task.id == judged)
    if task.total is None:
        # The first call: the total, and the rows an earlier run stored (a resumed import).
        progress.update(judged, completed=done, total=total)
    elif not task.started:
        progress.start_task(judged)  # a piece is stored: judging starts now


def _name(path: Path) -> str:
    return "standard input" if is_stdio(path) else path.name


def _check_stdout(output: Path, as_json: bool) -> None:
    if is_stdio(output) and as_json:
        raise typer.BadParameter(
            "-o - writes the data to standard output: drop --json (the summary goes to stderr)"
        )


def say_notices(notices: list[str]) -> None:
    """Print the store's notices (an unfinished import) on standard error, never stdout."""
    for notice in notices:
        err_console.print(notice, style="yellow", highlight=False, markup=False)


@incidents_app.command("assign")
def incidents_assign(
    source: Annotated[
        Path,
        typer.Argument(
            help="Incident file (CSV, GeoJSON, GPKG, Parquet), or - for standard input (its "
            "format: --input-format, else sniffed); with --engine dask also a folder of files "
            "or a Parquet dataset."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Assigned file: .parquet, .gpkg, .csv, or - for standard output (with "
            "--format) (--engine dask: a GeoParquet dataset folder).",
        ),
    ],
    crs: Annotated[
        str, typer.Option(help="CRS of the input coordinates, e.g. EPSG:3405.")
    ] = "EPSG:4326",
    tolerance: Annotated[float | None, typer.Option(help="Boundary tolerance in metres.")] = None,
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows",
            min=1,
            help="Rows read, judged and written at a time: memory grows with it, not with "
            "the file.",
        ),
    ] = 40_000,  # geozone.incidents.stream.DEFAULT_CHUNK_ROWS
    engine: Annotated[
        str,
        typer.Option(help="local (this process, streamed) or dask (dask.distributed)."),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="--engine dask: address of a running scheduler (tcp://host:8786)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="--engine dask: processes of a local cluster (default: cores)."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Format written to standard output with -o -: parquet, gpkg or csv."
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            "--input-format",
            help=f"Format of standard input when SOURCE is -: {_FORMATS} (default: sniffed "
            "from its first bytes).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Judge every incident of a file (unit chain, border zones, lead unit) and write the result.

    The file is read, judged and written in pieces of --chunk-rows rows, so any size runs
    in flat memory; the result is the one a whole read gives, row for row. Each row is judged
    as a report of its own: reports are linked into events only in the store (incidents
    import), where a cooperating report is judged with its event's earliest detection, so its
    lead there may differ (incidents export gives the store's). With - as SOURCE
    or as --output the data comes from standard input or goes to standard output (the
    summary then goes to standard error), e.g.
    ``cat in.csv | geozone incidents assign - -o - --format parquet > out.parquet``.
    """
    from geozone.incidents.stream import OUTPUT_SUFFIXES

    if engine not in ("local", "dask"):
        raise typer.BadParameter(f"--engine {engine!r}: use local or dask")
    if engine == "local" and (scheduler or workers):
        raise typer.BadParameter("--scheduler and --workers go with --engine dask")
    if engine == "dask" and (is_stdio(output) or is_stdio(source)):
        raise typer.BadParameter("--engine dask reads and writes files, not - (stdin/stdout)")
    _check_stdout(output, as_json)
    spool = StdoutSpool(output, fmt, formats=("parquet", "gpkg", "csv"))
    if engine == "dask":
        check_output(output, folder=True, make_parents=True)
    elif not is_stdio(output):
        check_output(output, OUTPUT_SUFFIXES)
    summary: Any
    if engine == "dask":
        from geozone.context import stored_confirmations
        from geozone.incidents.distributed import assign_distributed

        with row_progress("parts") as progress:  # the engine counts parts of the file
            task = progress.add_task(f"assigning {source.name} on dask.distributed", total=None)
            summary = assign_distributed(
                source,
                output,
                crs=crs,
                tolerance=tolerance,
                chunk_rows=chunk_rows,
                scheduler=scheduler,
                workers=workers,
                confirmations=stored_confirmations(),
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    else:
        from geozone.context import tune_malloc_for_batch
        from geozone.incidents.stream import assign_file
        from geozone.settings import get_settings

        tune_malloc_for_batch(get_settings().workers)  # before the pipeline's threads start
        with (
            input_file(source, input_format, option="--input-format") as path,
            ThreadPoolExecutor(1, thread_name_prefix="geozone-context") as loading,
        ):
            # The boundary sets load and their indexes are made while the first piece of the
            # file is read and validated.
            ready = loading.submit(_prepared_context, chunk_rows, tolerance)
            with output_file(spool) as target, row_progress() as progress:
                task = progress.add_task(f"assigning {_name(source)}", total=None)
                summary = assign_file(
                    path,
                    target,
                    ready.result,
                    crs=crs,
                    tolerance=tolerance,
                    chunk_rows=chunk_rows,
                    on_progress=lambda done, total: progress.update(
                        task, completed=done, total=total
                    ),
                )
    data = summary.to_dict()
    if as_json:
        print_json(data)
        return
    out = err_console if is_stdio(output) else console
    out.print(
        f"{summary.assigned:,} incidents assigned, {summary.rejected:,} rows rejected, "
        f"{summary.cluster_rows:,} cluster decisions ({summary.review:,} to review) "
        f"-> {'standard output' if is_stdio(output) else output}",
        highlight=False,
    )
    for reject in summary.rejects[:20]:
        err_console.print(
            f"  line {reject.line}: {reject.field}: {reject.reason}",
            style="yellow",
            highlight=False,
        )


def _prepared_context(chunk_rows: int, tolerance: float | None) -> Any:
    """Return the judging context with the indexes pieces of ``chunk_rows`` rows use."""
    from geozone.context import freeze_long_lived, judging_context, prepare_for

    context = judging_context(private=True)  # the command's own: no copies of its polygons
    prepare_for(context, chunk_rows, tolerance)
    freeze_long_lived()  # kept for the command's life: the collector's passes skip it
    return context


def _say_waiting() -> None:
    """Say on standard error that linking waits for another linker of the store."""
    err_console.print(
        "another process is linking reports into events in this store (an import or "
        "'geozone incidents link'): one links at a time; waiting for it to finish…",
        style="yellow",
        highlight=False,
    )


@incidents_app.command("import")
def incidents_import(
    source: Annotated[
        Path,
        typer.Argument(
            help="Incident file (CSV, GeoJSON, GPKG, Parquet), or - for standard input."
        ),
    ],
    crs: Annotated[str, typer.Option(help="CRS of the coordinates, e.g. EPSG:3405.")] = "EPSG:4326",
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    chunk_rows: Annotated[
        int,
        typer.Option("--chunk-rows", min=1, help="Rows read, stored and judged per transaction."),
    ] = 50_000,
    fmt: InputFormatOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a file's incidents (valid rows; rejects reported), then assign them. Resumable.

    The file is streamed in pieces of --chunk-rows rows; each piece's new rows are judged from
    the piece and stored with their decisions in one transaction (other stale incidents are
    left to the reassignment job), then linked into events. The progress shows the rows
    stored (judged) and the rows done (linked) as two counted tasks. With - as SOURCE the
    file is read from standard input (``--format``, else sniffed), e.g.
    ``geozone incidents import - --format csv < in.csv``; a re-run with the same bytes
    resumes as a file would.

    A row without coordinates but with an address (column ``address`` or ``địa chỉ``) is
    located by its address only: its jurisdiction at the level the address gives, and a
    review decision "address only: no border-zone decision" for each cluster it concerns.
    """
    from geozone.context import (
        freeze_long_lived,
        prepare_for,
        store_context,
        tune_malloc_for_batch,
    )
    from geozone.incidents.pipeline import import_file
    from geozone.settings import get_settings
    from geozone.store import open_store

    tune_malloc_for_batch(get_settings().workers)  # before the pipeline's threads start
    with input_file(source, fmt) as path, open_store(store_url) as store:
        with err_console.status("preparing the boundary indexes…"):
            context = store_context(store, private=True)  # no polygon copies for other threads
            prepare_for(context, chunk_rows)  # before the bars: the first piece's ETA stays true
            freeze_long_lived()  # kept for the command's life: the collector's passes skip it
        with row_progress() as progress:
            stored = progress.add_task(f"storing and judging {_name(source)}", total=None)
            judged = progress.add_task(f"linking {_name(source)}", total=None, start=False)
            report = import_file(
                store,
                path,
                context,
                crs=crs,
                chunk_rows=chunk_rows,
                on_stored=lambda done, total: _stored(progress, stored, judged, done, total),
                on_progress=lambda done, total: progress.update(
                    judged, completed=done, total=total
                ),
                on_wait=_say_waiting,
            )
    if is_stdio(source):
        report.source = "-"
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"{_name(source) if is_stdio(source) else source}: {report.stored:,} stored, "
        f"{report.duplicates:,} already there, "
        f"{report.rejected:,} rejected, {report.assigned:,} assigned"
        + (f" (resumed at row {report.resumed_from:,})" if report.resumed_from else ""),
        highlight=False,
    )
    if report.linked:
        console.print(
            f"  {report.linked:,} linked with a report by another member as one event "
            "(event_id shared; the earliest detection leads)"
        )
    if report.address_only:
        console.print(
            f"  {report.address_only:,} without coordinates located by their address only: "
            "jurisdiction at the level the address gives, no border-zone decision (review)"
        )
    for reject in report.rejects[:20]:
        err_console.print(
            f"  line {reject['line']}: {reject['field']}: {reject['reason']}",
            style="yellow",
            highlight=False,
        )


@incidents_app.command("link")
def incidents_link(
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Link the stored reports not linked yet into events.

    Imports and POST /incidents link their own reports; this links the others: those
    stored before events existed, and those of an import that is not done (it stopped
    before it linked, or is still running: said which). Each such import is named, with how
    to finish it. In chunks, each against the stored reports near it; the reports whose role changed
    are judged again (the earliest detection leads).
    """
    from rich.markup import escape

    from geozone.context import store_context
    from geozone.incidents.pipeline import link_stored, unfinished_imports
    from geozone.store import open_store

    with open_store(store_url) as store, row_progress("linking stored reports") as progress:
        task = progress.add_task("link", total=None)
        linked = link_stored(
            store,
            store_context(store),
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_wait=_say_waiting,
        )
        # Listed once linked: an import that was linking when this began has ended since.
        unfinished = unfinished_imports(store)
    if as_json:
        print_json({"linked": linked, "unfinished_imports": unfinished})
        return
    for batch in unfinished:
        said = f"import {batch['batch_id']} of {escape(str(batch['source']))}"
        read = f"{batch['rows_done']:,} of {batch['rows_total']:,} rows read"
        if batch["running"]:
            console.print(
                f"{said} is running in another process or job ({read}): the reports it has "
                "stored are linked now; it links the rest itself when it has stored them."
            )
            continue
        rest = "finish it" if batch["rows_done"] >= batch["rows_total"] else "store the rest"
        console.print(
            f"{said} stopped before it was done ({read}): its stored reports are linked "
            f"now. Import the same file again with the same --crs and columns to {rest}, or "
            f"close it if it will not be finished: geozone incidents batches --close "
            f"{batch['batch_id']}."
        )
    console.print(f"{linked:,} stored reports linked with another as one event")


@incidents_app.command("batches")
def incidents_batches(
    close: Annotated[
        str | None,
        typer.Option(
            "--close",
            metavar="BATCH_ID",
            help="Link the stored reports of this unfinished import once, then close it "
            "(stored rows kept; importing the same file again reopens it).",
        ),
    ] = None,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the import batches of the store, or close an unfinished one.

    A batch is ``running`` (a run of it is in progress), ``stopped`` (not done, and no run
    in progress), ``done`` or ``closed``. An import that will not be finished (the file was
    imported again with a corrected --crs or columns, which is another batch) stays listed
    as unfinished by every output and linked again by every ``incidents link``: ``--close
    BATCH_ID`` links its reports once and closes it. A batch whose run is in progress is
    not closed (an error says so).
    """
    from geozone.store import open_store

    with open_store(store_url) as store:
        if close is not None:
            _close_batch(store, close, as_json)
            return
        batches = _batch_rows(store)
    if as_json:
        print_json({"batches": batches})
        return
    _print_batches(batches)


def _batch_rows(store: Any) -> list[dict[str, Any]]:
    from geozone.incidents.pipeline import import_batches

    keys = ("batch_id", "source", "status", "rows_done", "rows_total", "started_at")
    return [{key: batch[key] for key in (*keys, "finished_at")} for batch in import_batches(store)]


def _print_batches(batches: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("batch", "source", "status", "rows read", "started", "finished")
    table.title = f"{len(batches):,} import batches"
    for batch in batches:
        table.add_row(
            batch["batch_id"],
            str(batch["source"]),
            batch["status"],
            f"{batch['rows_done']:,} of {batch['rows_total']:,}",
            _local_time(batch["started_at"]),
            _local_time(batch["finished_at"]),
            style="yellow" if batch["status"] in ("running", "stopped") else None,
        )
    console.print(table)


def _local_time(moment: datetime | None) -> str:
    """Write a stored time in Vietnam time, to the second ("" for none)."""
    return "" if moment is None else moment.astimezone(VIETNAM_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _close_batch(store: Any, batch_id: str, as_json: bool) -> None:
    from rich.markup import escape

    from geozone.context import store_context
    from geozone.incidents.pipeline import close_import

    with row_progress("linking the batch's reports") as progress:
        progress.add_task("link", total=None)
        linked = close_import(store, store_context(store), batch_id, on_wait=_say_waiting)
    batch = store.batch(batch_id)
    if as_json:
        print_json({"closed": batch_id, "source": batch["source"], "linked": linked})
        return
    console.print(
        f"import {batch_id} of {escape(str(batch['source']))} closed "
        f"({batch['rows_done']:,} of {batch['rows_total']:,} rows read, stored rows kept): "
        f"{linked:,} of its reports linked with another as one event"
    )


@incidents_app.command("unlink")
def incidents_unlink(
    first: Annotated[str, typer.Argument(help="External id of one report.")],
    second: Annotated[str, typer.Argument(help="External id of the other report.")],
    by: Annotated[str | None, typer.Option(help="Who decides (kept with the decision).")] = None,
    note: Annotated[str | None, typer.Option(help="Why they are two events.")] = None,
    store_url: Annotated[
        str | None, typer.Option("--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Keep that two reports linked as one event are two events (a planner's decision).

    The pair is never linked again, by later imports either; their event is relinked
    without it and the reports whose role changed are judged again.
    """
    from geozone.context import store_context
    from geozone.incidents.pipeline import unlink_and_judge
    from geozone.store import open_store

    with open_store(store_url) as store:
        fresh, judged = unlink_and_judge(
            store, store_context(store), first, second, by=by, note=note, on_wait=_say_waiting
        )
        events = {e: (store.get(e) or {}).get("event_id") for e in (first, second)}
    data = {"unlinked": [first, second], "new": fresh, "judged_again": judged, "events": events}
    if as_json:
        print_json(data)
        return
    console.print(
        f"{first} and {second} are two events"
        + ("" if fresh else " (already decided)")
        + f": {', '.join(f'{e} in {v}' for e, v in events.items())}; "
        f"{judged} judged again"
    )


def _query(
    bbox: str | None,
    start: str | None,
    end: str | None,
    category: list[str] | None,
    unit: str | None,
    cluster: str | None,
    zone_only: bool,
    limit: int,
    offset: int,
) -> Any:
    from geozone.store import IncidentQuery

    box = tuple(float(v) for v in bbox.split(",")) if bbox else None
    if box is not None and len(box) != 4:
        raise typer.BadParameter("--bbox takes minlon,minlat,maxlon,maxlat")
    when = [
        datetime.fromisoformat(v).replace(tzinfo=VIETNAM_TZ) if v else None for v in (start, end)
    ]
    return IncidentQuery(
        bbox=box,
        start=when[0],
        end=when[1],
        categories=tuple(category) if category else None,
        unit_code=unit,
        cluster_id=cluster,
        in_border_zone=True if zone_only else None,
        limit=limit,
        offset=offset,
    )


@incidents_app.command("list")
def incidents_list(
    bbox: Annotated[str | None, typer.Option(help="minlon,minlat,maxlon,maxlat.")] = None,
    start: Annotated[
        str | None, typer.Option(help="From (YYYY-MM-DD[THH:MM]), Vietnam time.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Before (YYYY-MM-DD[THH:MM]).")] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="Category code or label (repeatable).")
    ] = None,
    unit: Annotated[
        str | None, typer.Option(help="Unit code (ward, district or province).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster id.")] = None,
    zone_only: Annotated[
        bool, typer.Option("--border-zone", help="Only incidents in a border zone.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    store_url: Annotated[str | None, typer.Option("--store", help="Store URL.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List stored incidents matching the filters (a page, with the total).

    An unfinished import is named on standard error (and in ``notices`` with ``--json``):
    its reports may be counted as separate events until it is finished or linked; so is the
    snapshot notice of a boundary set that judged a listed row for a day outside its
    snapshot (a 2015 incident on vn-legacy-districts, about 02/2023), as ``GET /incidents``.
    """
    from rich.table import Table

    from geozone.assignment.points import set_periods_of, snapshot_notices
    from geozone.boundaries.sets import available_sets
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.store import open_store

    query = _query(bbox, start, end, category, unit, cluster, zone_only, limit, offset)
    with open_store(store_url) as store:
        frame, total = store.query(query)
        notices = unfinished_import_notices(store)
    notices += snapshot_notices(available_sets(), set_periods_of(frame))
    say_notices(notices)
    if as_json:
        records = pd.DataFrame(frame.drop(columns="geometry")).to_dict(orient="records")
        print_json({"total": total, "offset": offset, "incidents": records, "notices": notices})
        return
    table = Table("id", "time", "category", "unit", "synthetic", title=f"{total:,} incidents")
    for _, item in frame.iterrows():
        table.add_row(
            str(item["external_id"]),
            str(item["occurred_at"]),
            str(item["category"]),
            str(item.get("unit_code") or ""),
            "yes" if item["synthetic"] else "",
        )
    console.print(table)


@incidents_app.command("export")
def incidents_export(
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help=".gpkg, .geojson, .parquet or .csv, or - for standard output (with --format).",
        ),
    ],
    cluster: Annotated[
        str | None,
        typer.Option(help="Cluster id: its incidents, with that cluster's decision only."),
    ] = None,
    unit: Annotated[str | None, typer.Option(help="Unit code.")] = None,
    start: Annotated[str | None, typer.Option(help="From (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Before (YYYY-MM-DD).")] = None,
    store_url: Annotated[str | None, typer.Option("--store", help="Store URL.")] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"Format written to standard output with -o -: {_FORMATS}."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Export stored incidents with their assignment and cluster decisions (lead unit).

    One row per incident with flat decision columns (cluster_id, lead_unit, lead_unit_name,
    cooperating_units, rule, review, explanation_vi/en, cluster_count: see the README); a
    GeoPackage also holds the table cluster_decisions, one row per incident and cluster.
    Pages of 10,000 incidents are read in the order stored and written as they come, so
    memory holds one page; GeoJSON is written whole. Synthetic flag and attribution kept.
    With ``-o -`` the file goes to standard output (the summary to standard error), e.g.
    ``geozone incidents export -o - --format csv | head``. An unfinished import is named on
    standard error (and in ``notices`` with ``--json``), and in the file's metadata except a
    CSV's (GeoParquet ``geozone:notices``, the GeoPackage layers' description and
    ``GEOZONE_NOTICES`` item, GeoJSON ``notices``): the same notices, said as the export began,
    with the snapshot notice of a boundary set that judged a selected row for a day outside
    its snapshot (a 2015 incident on vn-legacy-districts, about 02/2023), as ``GET /incidents``.
    """
    from geozone.context import judging_context
    from geozone.store import open_store
    from geozone.store.decisions import unit_namer
    from geozone.store.export import export_incidents

    _check_stdout(output, as_json)
    if not is_stdio(output):
        check_output(output, EXPORT_SUFFIXES)
    destination = output
    spool = StdoutSpool(output, fmt, formats=("gpkg", "geojson", "parquet", "csv"))
    output = spool.path
    query = _query(None, start, end, None, unit, cluster, False, 10_000, 0)
    context = judging_context()
    attribution = context.attribution
    with open_store(store_url) as store, row_progress() as bar:
        task = bar.add_task(f"exporting to {_name(destination)}", total=None)
        summary = export_incidents(
            store,
            query,
            output,
            names=unit_namer(context),
            attribution=attribution,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            notices=_snapshot_notices(store, query, context),
        )
    notices = list(summary.notices)  # those the file holds
    spool.finish()
    say_notices(notices)
    if as_json:
        print_json(
            {
                "output": str(destination),
                "format": output.suffix.lower()[1:],
                "incidents": summary.incidents,
                "decisions": summary.decisions,
                "layers": list(summary.layers),
                "notices": notices,
            }
        )
        return
    out, where = (err_console, "standard output") if is_stdio(destination) else (console, output)
    out.print(
        f"exported {summary.incidents:,} incidents ({summary.decisions:,} cluster decisions) "
        f"to {where}",
        highlight=False,
    )


def _snapshot_notices(store: IncidentStore, query: IncidentQuery, context: Context) -> list[str]:
    """Return the snapshot notice of the sets that judged the rows ``query`` selects."""
    from geozone.assignment.points import snapshot_notices
    from geozone.store.sql import SqlIncidentStore

    if not isinstance(store, SqlIncidentStore):
        return []
    return snapshot_notices([bset.info for bset in context.sets], store.set_periods(query))


__all__ = ["incidents_app"]
