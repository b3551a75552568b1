"""Cluster review reports: ``GET /clusters/{cluster_id}/report`` (analyst role).

The same report as ``geozone report`` (:func:`geozone.report.review.cluster_report`), as JSON (the
default), a printable HTML page (:func:`maps.report.report_html`) or CSV: every table in a
zip, or one table with ``table=``. CSV files are UTF-8 with a byte-order mark (Excel) and say
on every row whether the data are synthetic and where the boundaries come from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import ClusterAnalystDep, ContextDep, StoreDep
from api.params import QueryDate
from api.problems import problems
from api.services import reports as service
from api.services.reports import ReportFormat
from geozone.errors import InvalidParameterError

if TYPE_CHECKING:
    pass

router = APIRouter(tags=["reports"])

_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON, an HTML page, a zip of CSV files or one CSV file.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/html": {"schema": {"type": "string"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.get(
    "/clusters/{cluster_id}/report",
    summary="A cluster's review report for a period",
    response_class=Response,
    responses={**_CONTENT, **problems(400, 401, 403, 404)},
)
def cluster_report_route(
    cluster_id: str,
    context: ContextDep,
    store: StoreDep,
    caller: ClusterAnalystDep,
    start: Annotated[
        QueryDate, Query(alias="from", description="First day YYYY-MM-DD, Vietnam time.")
    ],
    end: Annotated[QueryDate, Query(alias="to", description="Last day YYYY-MM-DD, included.")],
    fmt: Annotated[
        ReportFormat,
        Query(alias="format", description="json, html or csv (a zip of every table)."),
    ] = "json",
    table: Annotated[
        str | None,
        Query(max_length=40, description="With format=csv: only this table, as one CSV file."),
    ] = None,
    hotspots: Annotated[
        bool, Query(description="Add Gi* hotspots, named hotspots and the border effect.")
    ] = True,
    interactive_map: Annotated[
        bool, Query(alias="map", description="HTML: add the interactive map (screen only).")
    ] = True,
) -> Response:
    """Return the review of a cluster over a period, as JSON, HTML or CSV.

    Incidents by category and member, in and outside the border area, solved ratios
    ("31/35"), subjects, joint handling, membership changes, hotspots and the border effect.
    A cluster and the forms carried from it into the 2025 units are reported together
    (``hoa-do-phuc-vi`` and ``hoa-do-phuc-vi-vn2025`` give the same figures). Needs an analyst
    key.
    """
    from geozone.report import cluster_report

    if table is not None and fmt != "csv":
        raise InvalidParameterError("table= goes with format=csv")
    report = cluster_report(store, context, cluster_id, start, end, hotspots=hotspots)
    stem = f"{cluster_id}_{start.isoformat()}_{end.isoformat()}"
    if fmt == "json":
        return JSONResponse(report.to_json())
    if fmt == "html":
        from maps.report import report_html

        return HTMLResponse(report_html(report, context, interactive_map=interactive_map))
    if table is not None:
        return service.one_csv(report, table, stem)
    return Response(
        service.csv_zip(report),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{stem}.zip"'},
    )
