"""Cluster review reports written out: the format of a file, CSV tables zipped, one table.

Used by ``GET /clusters/{id}/report`` and by ``geozone report`` (:mod:`api.cli_report`), so
that both write a report the same way. Output formats, chosen by the caller or else by the
output's suffix:

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
import tempfile
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Literal

from fastapi.responses import Response

from geozone.errors import InvalidParameterError

if TYPE_CHECKING:
    from geozone.context import Context
    from geozone.report import ClusterReport

ReportFormat = Literal["json", "html", "csv"]
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


def one_csv(report: ClusterReport, table: str, stem: str) -> Response:
    """Return one table as a CSV file (UTF-8 with BOM, CRLF, synthetic and attribution columns).

    Raises
    ------
    InvalidParameterError
        The report has no table of that name (the known ones are listed).
    """
    if table not in report.tables:
        known = ", ".join(report.tables)
        raise InvalidParameterError(f"no table {table!r} in this report; tables: {known}")
    with tempfile.TemporaryDirectory(prefix="geozone-report-") as folder:
        written = {path.stem: path for path in report.write_csv(Path(folder))}
        body = written[table].read_bytes()
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}_{table}.csv"'},
    )
