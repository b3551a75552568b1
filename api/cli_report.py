"""``geozone report``: write a cluster review report (HTML, JSON or CSV).

The command lives beside the web layer because its HTML page embeds a Folium map
(:mod:`maps.report`); the core CLI stays free of map imports. It joins the ``geozone`` app
through the ``geozone.commands`` entry points in pyproject.toml (:func:`register` adds it to
another app).

The output format is chosen by ``--format`` or else by the output's suffix; the report is
written as ``GET /clusters/{id}/report`` writes it (:mod:`api.services.reports`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from geozone import vntime


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
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print what was written as JSON on stdout (messages and progress: stderr).",
        ),
    ] = False,
) -> None:
    """Write the review of a cluster over a period: cases, subjects, solved, border area.

    Example: geozone report hoa-do-phuc-vi --from 2025-01-01 --to 2025-12-31 -o report.html
    """
    from rich.console import Console

    from api.services.reports import output_format, write_report
    from geozone.cli._common import check_output, print_json
    from geozone.clusters.registry import ClusterRegistry
    from geozone.context import judging_context
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.report import cluster_report
    from geozone.report.forms import cluster_forms, snapshot_notes
    from geozone.store import open_store
    from geozone.store.planner import PlannerStore

    console = Console(stderr=True)
    start, end = period_of(from_, to, year)
    chosen = output_format(output, fmt)
    # Before the work: a CSV report may be a folder (made if missing), the others a file.
    check_output(output, folder=chosen == "csv", make_parents=True)
    with (
        console.status(f"computing the report of {cluster_id} ({start} – {end})…"),
        open_store(store_url) as store,
    ):
        # The committed clusters and those planners defined through the API, as the service.
        registry = ClusterRegistry(judging_context(), PlannerStore(store.engine))
        for problem in registry.problems:
            console.print(f"warning: {problem}", style="yellow", highlight=False)
        context = registry.context
        result = cluster_report(store, context, cluster_id, start, end, hotspots=hotspots)
        written = write_report(result, context, output, chosen, map_=map_)
        # In the report's notes too: the store's, then a set used outside its snapshot.
        notices = unfinished_import_notices(store)
        notices += snapshot_notes(cluster_forms(context, cluster_id), start, end)
    figures = result.figures
    for notice in notices:
        console.print(notice, style="yellow", highlight=False, markup=False)
    if as_json:
        print_json(
            {
                "cluster": cluster_id,
                "from": start.isoformat(),
                "to": end.isoformat(),
                "format": chosen,
                "files": [str(path) for path in written],
                "headline_vi": figures["headline_vi"],
                "headline_en": figures["headline_en"],
                "synthetic": bool(result.synthetic),
                "notices": notices,
            }
        )
        return
    console.print(figures["headline_vi"], highlight=False)
    console.print(figures["headline_en"], style="dim", highlight=False)
    if result.synthetic:
        console.print("SYNTHETIC DATA: the report says so on every page and file.", style="red")
    where = output if chosen != "csv" or output.suffix.lower() == ".zip" else output / "*.csv"
    console.print(f"wrote {len(written)} file(s): {where}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``geozone`` app."""
    app.command("report")(report)


__all__ = ["period_of", "register", "report"]
