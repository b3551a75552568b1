"""``geozone report``: write a cluster review report (HTML, JSON or CSV).

The command lives beside the web layer because its HTML page embeds a Folium map
(:mod:`maps.report`); the core CLI stays free of map imports. It joins the ``geozone`` app
through the ``geozone.commands`` entry points in pyproject.toml (:func:`register` adds it to
another app).

Output formats, chosen by ``--format`` or else by the output's suffix:

- ``.html`` / ``.htm``: one self-contained printable page (static SVG map for print, the
  interactive map on screen);
- ``.json``: the report's data (figures, notes, every table with its labels);
- ``.zip``: one CSV per table and ``summary.csv``, zipped;
- a folder (no suffix, or an existing folder): the same CSV files written into it.

A ``.csv`` file name is refused: a report has several tables.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from geozone import vntime
from geozone.errors import InvalidParameterError

if TYPE_CHECKING:
    from geozone.context import Context
    from geozone.report.review import ClusterReport

ReportFormat = Literal["html", "json", "csv"]
_FORMATS: dict[str, ReportFormat] = {"html": "html", "json": "json", "csv": "csv"}
_SUFFIXES: dict[str, ReportFormat] = {
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".zip": "csv",
}


def output_format(output: Path, given: str | None) -> ReportFormat:
    """Return the format to write ``output`` in: ``given``, else inferred from the suffix.

    Raises
    ------
    InvalidParameterError
        For an unknown format, or a suffix that names none (``.csv`` included: a report has
        several tables; give a folder or a ``.zip``).
    """
    if given is not None:
        if given.lower() not in _FORMATS:
            raise InvalidParameterError(f"format {given!r} is not one of html, json, csv")
        return _FORMATS[given.lower()]
    suffix = output.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if not suffix or output.is_dir():
        return "csv"
    if suffix == ".csv":
        raise InvalidParameterError(
            f"{output.name}: a report has several tables; write CSV to a folder (-o out/) "
            "or a .zip (-o report.zip)"
        )
    raise InvalidParameterError(
        f"cannot tell the format of {output.name}: use .html, .json, .zip or a folder, "
        "or give --format"
    )


def csv_zip(report: ClusterReport) -> bytes:
    """Return the report's CSV files (:meth:`ClusterReport.write_csv`) as a zip archive."""
    buffer = io.BytesIO()
    with TemporaryDirectory(prefix="geozone-report-") as folder:
        files = report.write_csv(folder)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, arcname=path.name)
    return buffer.getvalue()


def write_report(
    report: ClusterReport, context: Context, output: Path, fmt: ReportFormat, *, map_: bool = True
) -> list[Path]:
    """Write ``report`` to ``output`` in ``fmt``; return the files written.

    Parameters
    ----------
    report
        The computed report.
    context
        The context it was computed with (the HTML map needs the members' geometry).
    output
        A file (html, json, a csv ``.zip``) or a folder (csv).
    fmt
        ``"html"``, ``"json"`` or ``"csv"``.
    map_
        Include the interactive map in the HTML page (the static map is always drawn).
    """
    if fmt == "csv" and output.suffix.lower() != ".zip":
        return report.write_csv(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        output.write_bytes(csv_zip(report))
    elif fmt == "json":
        text = json.dumps(report.to_json(), ensure_ascii=False, indent=2)
        output.write_text(text + "\n", encoding="utf-8")
    else:
        from maps.report import report_html

        output.write_text(report_html(report, context, interactive_map=map_), encoding="utf-8")
    return [output]


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date YYYY-MM-DD", param_hint=option) from None


def period_of(
    from_: str | None, to: str | None, year: int | None, today: date | None = None
) -> tuple[date, date]:
    """Return the report period from ``--from``/``--to`` or ``--year``.

    ``--year`` alone gives the calendar year; ``--to`` defaults to today (the end of the
    year with ``--year``); ``--from`` is required without ``--year``.

    Raises
    ------
    typer.BadParameter
        A date is malformed, both ``--year`` and ``--from`` are given, or neither.
    """
    start, end = _day(from_, "--from"), _day(to, "--to")
    if year is not None:
        if start is not None:
            raise typer.BadParameter("give --year or --from, not both", param_hint="--year")
        start = date(year, 1, 1)
        end = end or date(year, 12, 31)
    if start is None:
        raise typer.BadParameter("give the first day with --from YYYY-MM-DD (or --year)")
    return start, end or today or vntime.today()


def report(
    cluster_id: Annotated[
        str, typer.Argument(help="Cluster id, e.g. hoa-do-phuc-vi (its carried forms included).")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="report.html, report.json, report.zip (CSV) or a folder (CSV)."
        ),
    ],
    from_: Annotated[
        str | None, typer.Option("--from", help="First day YYYY-MM-DD (Vietnam time).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day YYYY-MM-DD, included (default today).")
    ] = None,
    year: Annotated[
        int | None, typer.Option("--year", min=1945, max=2100, help="A calendar year instead.")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html, json or csv (default: from the output's suffix)."),
    ] = None,
    hotspots: Annotated[
        bool, typer.Option(help="Add Gi* hotspots, named hotspots and the border effect.")
    ] = True,
    map_: Annotated[
        bool, typer.Option("--map/--no-map", help="Interactive map in the HTML page.")
    ] = True,
    store_url: Annotated[
        str | None, typer.Option("--store-url", "--store", help="Store URL (GEOZONE_STORE_URL).")
    ] = None,
) -> None:
    """Write the review of a cluster over a period: cases, subjects, solved, border area.

    Example: geozone report hoa-do-phuc-vi --from 2025-01-01 --to 2025-12-31 -o report.html
    """
    from rich.console import Console

    from api.cluster_registry import ClusterRegistry
    from geozone.context import judging_context
    from geozone.report.review import cluster_report
    from geozone.store import open_store
    from geozone.store.api_tables import ApiStore

    console = Console(stderr=True)
    start, end = period_of(from_, to, year)
    chosen = output_format(output, fmt)
    with (
        console.status(f"computing the report of {cluster_id} ({start} – {end})…"),
        open_store(store_url) as store,
    ):
        # The committed clusters and those planners defined through the API, as the service.
        registry = ClusterRegistry(judging_context(), ApiStore(store.engine))  # type: ignore[attr-defined]
        for problem in registry.problems:
            console.print(f"warning: {problem}", style="yellow", highlight=False)
        context = registry.context
        result = cluster_report(store, context, cluster_id, start, end, hotspots=hotspots)
        written = write_report(result, context, output, chosen, map_=map_)
    figures = result.figures
    console.print(figures["headline_vi"], highlight=False)
    console.print(figures["headline_en"], style="dim", highlight=False)
    if result.synthetic:
        console.print("SYNTHETIC DATA: the report says so on every page and file.", style="red")
    where = output if chosen != "csv" or output.suffix.lower() == ".zip" else output / "*.csv"
    console.print(f"wrote {len(written)} file(s): {where}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``geozone`` app."""
    app.command("report")(report)


__all__ = ["csv_zip", "output_format", "period_of", "register", "report", "write_report"]
