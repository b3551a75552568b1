"""Assignment of incident files on dask.distributed: many processes, many machines.

``geozone incidents assign IN -o OUT --engine dask`` cuts the file into parts that a process
reads alone (:meth:`~geozone.incidents.io.IncidentSource.partitions`: CSV spans of whole
records found on a light pass over line breaks and quotes, Parquet runs of row groups,
GeoPackage ranges of features; a Parquet dataset, a folder of ``.parquet`` files, is read
file after file with its rows numbered on), and runs one task per part on a dask.distributed
cluster:
read, validate, judge, write ``OUT/part-NNNNN.parquet`` (GeoParquet in the fixed schema of
:func:`~geozone.incidents.stream.assigned_schema`, so the parts are one dataset). A task
sends back only its ids, lines and rejects; the boundary sets, cores and cluster territories
are loaded once per worker process from the built cache (:func:`worker_context`), never
shipped with a task.

The answer is the local engine's, row for row: an incident is judged alone, and ids
repeated across parts are found on the client, in file order, with the same ledger as a
streamed read (:class:`~geozone.incidents.io._ids.IdLedger`): a later row is rejected naming
the first line, and the part that holds it is rewritten without it.

Several machines: start ``dask scheduler`` on one and ``dask worker tcp://HOST:8786`` on
each, with the same geozone version and either a shared boundary cache (``GEOZONE_CACHE_DIR``
on a shared disk) or a cache built on each (``geozone data build``); the input and the output
folder must be at the same path for all (a shared disk). Then ``--scheduler tcp://HOST:8786``.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geozone.clusters.model import Confirmation
from geozone.context import Context, release_memory
from geozone.errors import GeozoneError
from geozone.incidents.io import ReadResult, Reject, open_incidents
from geozone.incidents.io._ids import IdLedger
from geozone.incidents.io.read import reject_repeated
from geozone.incidents.stream import (
    DEFAULT_CHUNK_ROWS,
    MAX_KEPT_REJECTS,
    AssignSummary,
    decision_counts,
    judge_arrow,
)

ContextFactory = Callable[[], Context]


def judging_context_of(cache_dir: str | None, confirmations: tuple[Confirmation, ...]) -> Context:
    """Return the judging context of a worker: the built cache and the store's confirmations."""
    from geozone.context import load_context
    from geozone.settings import get_settings

    settings = get_settings()
    if cache_dir is not None:
        settings = settings.model_copy(update={"cache_dir": Path(cache_dir)})
    return load_context(settings, confirmations=confirmations)


_CONTEXTS: dict[Any, Context] = {}


def worker_context(factory: ContextFactory) -> Context:
    """Return the context of this process, loaded once per factory (once per worker).

    A task brings its own unpickled copy of the factory: a partial is known by its function
    and arguments, so every task of a run finds the context the first one loaded.
    """
    key: Any = factory
    if isinstance(factory, functools.partial):
        key = (factory.func, factory.args, tuple(sorted(factory.keywords.items())))
    if key not in _CONTEXTS:
        _CONTEXTS.clear()  # one run's context at a time
        _CONTEXTS[key] = factory()
    return _CONTEXTS[key]


@dataclass
class PartResult:
    """What one task sends back: its ids and lines, rejects and counts."""

    index: int
    n_rows: int
    ids: np.ndarray[Any, Any]
    lines: np.ndarray[Any, Any]
    rejects: list[Reject]
    cluster_rows: int
    review: int


def _part_path(output: Path, index: int) -> Path:
    return output / f"part-{index:05d}.parquet"


def _write_part(table: pa.Table, path: Path) -> tuple[int, int]:
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial)
    partial.replace(path)
    return decision_counts(table)


def run_part(
    index: int,
    source: str,
    crs: str | int,
    part: tuple[int, ...],
    output: str,
    tolerance: float | None,
    factory: ContextFactory,
    shift: int = 0,
) -> PartResult:
    """Read, validate, judge and write one part (a task on a worker).

    ``shift`` is the rows of the dataset's earlier files: lines are the dataset's rows.
    """
    opened = open_incidents(source, crs=crs, stream=True)
    read = opened.read_partition(part)
    if shift:
        incidents = read.incidents.set_axis(read.incidents.index + shift)
        rejects = [replace(r, line=r.line + shift) for r in read.rejects]
        read = replace(read, incidents=incidents, rejects=rejects)
    table = judge_arrow(read, worker_context(factory), tolerance)
    release_memory(heap=False)  # the index pages: the worker's next part maps its own
    cluster_rows, review = _write_part(table, _part_path(Path(output), index))
    ids = read.incidents["external_id"].to_numpy(object)
    lines = read.incidents.index.to_numpy(np.int64)
    return PartResult(index, read.n_rows, ids, lines, read.rejects, cluster_rows, review)


def drop_repeated(output: str, index: int, repeated: list[str]) -> tuple[int, int]:
    """Rewrite one part without the incidents whose ids an earlier part holds."""
    path = _part_path(Path(output), index)
    table = pq.read_table(path)
    keep = ~pd.Series(table.column("external_id").to_pylist()).isin(repeated).to_numpy(bool)
    kept = table.filter(keep)
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(kept, partial)
    partial.replace(path)
    frame = kept.select(["cluster_id", "review"]).to_pandas()
    return int(frame["cluster_id"].notna().sum()), int(frame["review"].fillna(False).sum())


def assign_distributed(
    source: Path,
    output: Path,
    *,
    crs: str | int = 4326,
    tolerance: float | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    scheduler: str | None = None,
    workers: int | None = None,
    confirmations: tuple[Confirmation, ...] = (),
    cache_dir: Path | None = None,
    factory: ContextFactory | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_finish: Callable[[Any], None] | None = None,
) -> AssignSummary:
    """Judge every incident of a file on dask.distributed; write a GeoParquet dataset.

    Parameters
    ----------
    source
        Incident file (CSV, GeoJSON, GeoPackage, Parquet), or a Parquet dataset: a folder
        of ``.parquet`` files read in name order, whose lines are the dataset's rows
        (numbered on from one file to the next).
    output
        Folder of the dataset (``part-NNNNN.parquet`` in file order; replaced if it holds one).
    crs, tolerance
        As for :func:`geozone.incidents.stream.assign_file`.
    chunk_rows
        Rows per part (about: CSV parts are cut on bytes, Parquet parts on row groups).
    scheduler
        Address of a running scheduler; None starts a ``LocalCluster``.
    workers
        Processes of the local cluster (default: the machine's cores).
    confirmations, cache_dir
        What the workers judge with: the store's confirmations and the boundary cache
        (default: the settings' cache, which each worker must reach).
    factory
        Builds the context on a worker instead (a picklable function; for tests).
    on_progress
        Called with (parts done, parts in all) as parts finish.
    on_finish
        Called with the ``distributed.Client`` once every part is done, before the cluster
        closes (to ask the workers for figures, e.g. their peak memory).

    Raises
    ------
    GeozoneError
        dask.distributed is not installed (``pip install geozone[dask]``).
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise GeozoneError(
            "--engine dask needs dask.distributed: pip install 'geozone[dask]'"
        ) from None
    started = time.perf_counter()
    files = _dataset_files(source)
    parts: list[tuple[str, str | int, tuple[int, ...], int]] = []
    shift = 0
    for path in files:
        opened = open_incidents(path, crs=crs, stream=True)  # checks columns and CRS now
        parts += [(str(path), opened.crs, part, shift) for part in opened.partitions(chunk_rows)]
        shift += opened.n_rows if len(files) > 1 else 0
    if output.exists() and not output.is_dir():
        raise GeozoneError(f"{output} is a file; --engine dask writes a dataset folder")
    if output.is_dir():
        if any(p for p in output.iterdir() if not p.name.startswith(("part-", ".part-"))):
            raise GeozoneError(f"{output} holds other files; give a new or a dataset folder")
        shutil.rmtree(output)
    output.mkdir(parents=True)
    if factory is None:
        factory = functools.partial(
            judging_context_of, None if cache_dir is None else str(cache_dir), confirmations
        )
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"GEOZONE_WORKERS": "1"},  # a task judges on one thread: workers are the cores
        )
    client = Client(scheduler or cluster)  # type: ignore[no-untyped-call]
    summary = AssignSummary(output=str(output))
    try:
        futures = [
            client.submit(
                run_part,
                i,
                path,
                file_crs,
                part,
                str(output),
                tolerance,
                factory,
                shift,
                key=f"geozone-part-{i}-{time.time_ns()}",
                pure=False,
            )
            for i, (path, file_crs, part, shift) in enumerate(parts)
        ]
        waiting: dict[int, PartResult] = {}
        ledger = IdLedger()
        following = 0
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            result: PartResult = future.result()
            future.release()
            waiting[result.index] = result
            while following in waiting:  # ids are checked in file order
                _account(summary, waiting.pop(following), ledger, client, str(output))
                following += 1
                if on_progress:
                    on_progress(following, len(parts))
        if on_finish:
            on_finish(client)
    finally:
        client.close()  # type: ignore[no-untyped-call]
        if cluster is not None:
            cluster.close()
    summary.rejects.sort(key=lambda r: r.line)
    del summary.rejects[MAX_KEPT_REJECTS:]
    summary.seconds = time.perf_counter() - started
    return summary


def _dataset_files(source: Path) -> list[Path]:
    """Return the files of the input: the file, or a Parquet dataset's files in name order."""
    if not source.is_dir():
        return [source]
    files = sorted(p for p in source.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        raise GeozoneError(f"{source} is a folder without .parquet files (a dataset)")
    return files


def _account(
    summary: AssignSummary, result: PartResult, ledger: IdLedger, client: Any, output: str
) -> None:
    """Check one part's ids against the earlier parts' and count it."""
    incidents = pd.DataFrame({"external_id": result.ids}, index=pd.Index(result.lines))
    read = reject_repeated(ReadResult(incidents, result.rejects, result.n_rows), ledger)
    cluster_rows, review = result.cluster_rows, result.review
    if len(read.incidents) < len(incidents):
        kept = set(read.incidents["external_id"])
        repeated = [i for i in result.ids if i not in kept]
        cluster_rows, review = client.submit(
            drop_repeated, output, result.index, repeated, pure=False
        ).result()
    summary.read += read.n_rows
    summary.rejected += len(read.rejected_lines)
    summary.assigned += len(read.incidents)
    summary.cluster_rows += cluster_rows
    summary.review += review
    summary.pieces += 1
    summary.rejects += read.rejects


__all__ = [
    "assign_distributed",
    "drop_repeated",
    "judging_context_of",
    "run_part",
    "worker_context",
]
