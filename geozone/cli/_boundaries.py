"""CLI commands on boundary data: build, QA, import, unit search, locate, the demo."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from geozone import vntime
from geozone.assignment.rules import RULE_LABELS
from geozone.boundaries.importer import LevelFields
from geozone.boundaries.manifest import load_manifest, snapshot_days
from geozone.boundaries.sets import BoundarySet, available_sets
from geozone.cli._common import (
    DateOption,
    JsonOption,
    SetOption,
    app,
    boundary_set,
    check_output,
    console,
    err_console,
    parse_date,
    print_json,
)
from geozone.settings import Settings, get_settings

data_app = typer.Typer(help="Build, import and check boundary data.", no_args_is_help=True)
units_app = typer.Typer(help="Find administrative units.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(units_app, name="units")
T11 = (105.8064, 21.0387)


def _settings(data_dir: Path | None) -> Settings:
    settings = get_settings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings


def _build_all(settings: Settings, set_ids: list[str] | None, force: bool) -> list[dict[str, Any]]:
    from geozone.boundaries.build import build_set

    manifest = load_manifest(settings.manifest_path)
    entries = [manifest.get(i) for i in set_ids] if set_ids else list(manifest.sets.values())
    reports = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as progress:
        for entry in entries:
            task = progress.add_task(entry.id, total=8)

            def step(name: str, task: Any = task, set_id: str = entry.id) -> None:
                progress.update(task, description=f"{set_id}: {name}", advance=1)

            report = build_set(
                entry,
                settings.data_dir,
                settings.boundary_cache,
                display_simplify_deg=settings.display_simplify_deg,
                force=force,
                on_step=step,
            )
            step("location index")  # interior cores and their grid, kept next to the built set
            BoundarySet.load(entry.id, settings).write_index_files(settings.boundary_tolerance_m)
            progress.update(task, completed=8)
            reports.append(report.to_dict())
    return reports


@data_app.command("build")
def data_build(
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder of source archives (GEOZONE_DATA_DIR).")
    ] = None,
    set_id: Annotated[
        list[str] | None, typer.Option("--set", help="Build only these sets.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if inputs are unchanged.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Verify, read, repair and store the boundary sets as GeoParquet."""
    reports = _build_all(_settings(data_dir), set_id, force)
    if as_json:
        print_json(reports)
        return
    for report in reports:
        if report["skipped"]:
            console.print(f"{report['set_id']}: up to date ({report['output_dir']})")
            continue
        counts = ", ".join(f"{n} {level}s" for level, n in sorted(report["counts"].items()))
        seconds = sum(report["seconds"].values())
        console.print(
            f"{report['set_id']}: built {counts} in {seconds:.1f} s, "
            f"{len(report['repairs'])} geometries repaired -> {report['output_dir']}"
        )


@data_app.command("sets")
def data_sets(as_json: JsonOption = False) -> None:
    """List the built boundary sets with their validity and licence."""
    infos = available_sets()
    if as_json:
        print_json([info.__dict__ for info in infos])
        return
    table = Table("id", "valid from", "valid to", "as of", "licence", "title")
    for info in infos:
        table.add_row(
            info.id,
            str(info.valid_from),
            str(info.valid_to or "open"),
            info.as_of or "—",
            info.licence,
            info.title,
        )
    console.print(table)


@data_app.command("qa")
def data_qa(
    set_id: Annotated[str, typer.Argument(help="Boundary set id, e.g. vn2025.")],
    sliver_m2: Annotated[
        float, typer.Option(help="Overlaps/gaps below this area are slivers.")
    ] = 1000.0,
    as_json: JsonOption = False,
) -> None:
    """Report invalid geometry, overlaps, gaps, isolated and missing units."""
    from geozone.boundaries.qa import check_built

    with err_console.status(f"checking {set_id}…"):
        report = check_built(set_id, sliver_m2=sliver_m2)
    if as_json:
        print_json(report.to_dict())
    else:
        console.print("\n".join(report.summary_lines()), highlight=False)


def _parent_fields(specs: list[str]) -> list[LevelFields]:
    fields = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3 or parts[0] not in ("district", "province"):
            raise typer.BadParameter(f"--parent {spec!r}: expected LEVEL:CODE_FIELD:NAME_FIELD")
        fields.append(LevelFields(parts[0], parts[1], parts[2]))  # type: ignore[arg-type]
    return fields


@data_app.command("import")
def data_import(
    path: Annotated[Path, typer.Argument(help="Any OGR file: GeoPackage, Shapefile, GeoJSON…")],
    set_id: Annotated[
        str, typer.Option("--id", help="Id of the new set, or of the refinement (--register).")
    ],
    code: Annotated[str, typer.Option(help="Field with each feature's code.")],
    name: Annotated[str, typer.Option(help="Field with each feature's name.")],
    valid_from: Annotated[
        str | None,
        typer.Option(
            help="First day in force, YYYY-MM-DD (a new set; a refinement keeps its set's)."
        ),
    ] = None,
    level: Annotated[
        str, typer.Option(help="Level of the features: ward, district, province.")
    ] = "ward",
    unit_type: Annotated[
        str | None, typer.Option("--type", help="Field with the unit type.")
    ] = None,
    parent: Annotated[
        list[str] | None,
        typer.Option(
            help="Coarser level named by the features, LEVEL:CODE_FIELD:NAME_FIELD; "
            "repeat from the nearest to the coarsest (dissolved from the features)."
        ),
    ] = None,
    valid_to: Annotated[
        str | None, typer.Option(help="Last day in force (open if omitted).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title of the set.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="YYYY-MM or YYYY-MM-DD: when the layer's units stand, if it is one snapshot "
            "used for a longer period (answers for other days say so).",
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file.")] = None,
    register: Annotated[
        str | None,
        typer.Option(
            help="Refine this set with the layer's wards: matched to its register by name "
            "within their district (codes, names and validity stay the set's)."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write the features not imported (name, reason) to this CSV."),
    ] = None,
    supersede: Annotated[
        bool,
        typer.Option(
            "--supersede",
            help="Let a new set whose dates overlap a loaded set's replace it on those dates "
            "(the warning names what changes).",
        ),
    ] = False,
    licence: Annotated[str, typer.Option(help="Licence of the layer.")] = "unknown",
    attribution: Annotated[str, typer.Option(help="Attribution shown on maps and exports.")] = "",
    replace: Annotated[bool, typer.Option(help="Replace an earlier import of this id.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a user boundary layer: refine a set with ward geometry, or add a dated set.

    With ``--register SET`` (e.g. a GADM level-3 file and ``vn-legacy-districts``) the
    layer's wards refine SET; every feature that does not match one ward (unmatched,
    ambiguous, claimed twice) is listed by name in a report file and not imported. Without
    it the layer becomes a set of its own; when its dates overlap a loaded set, say so with
    ``--supersede``.
    """
    if report is not None:
        check_output(report, (".csv",), option="--report")
    settings = get_settings()
    fields = (LevelFields(level, code, name, unit_type), *_parent_fields(parent or []))  # type: ignore[arg-type]
    if register:
        _refine(
            path, fields, register, set_id, layer, licence, attribution, report, replace, as_json
        )
        return
    from geozone.boundaries.importer import ImportSpec, import_boundary_set

    if valid_from is None:
        raise typer.BadParameter("a new set needs --valid-from YYYY-MM-DD")
    if as_of is not None:
        try:
            snapshot_days(as_of)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--as-of") from None
    spec = ImportSpec(
        levels=fields,
        set_id=set_id,
        title=title or f"{path.name} (user supplied)",
        valid_from=parse_date(valid_from),
        valid_to=parse_date(valid_to) if valid_to else None,
        licence=licence,
        attribution=attribution,
        layer=layer,
        as_of=as_of,
    )
    protected = frozenset(load_manifest(settings.manifest_path).sets)
    with err_console.status(f"importing {path}…"):
        built = import_boundary_set(
            path,
            spec,
            settings.boundary_cache,
            protected=protected,
            replace=replace,
            supersede=supersede,
        )
    if as_json:
        print_json(built.to_dict())
        return
    counts = ", ".join(f"{n} {lv}s" for lv, n in sorted(built.counts.items()))
    for warning in built.warnings:
        console.print(f"warning: {warning}", style="yellow", highlight=False)
    console.print(
        f"{set_id}: imported {counts}, {len(built.repairs)} geometries repaired; "
        f"check it with `geozone data qa {set_id}`"
    )


def _refine(
    path: Path,
    fields: tuple[LevelFields, ...],
    register: str,
    refinement_id: str,
    layer: str | None,
    licence: str,
    attribution: str,
    report: Path | None,
    replace: bool,
    as_json: bool,
) -> None:
    """Refine ``register`` with a ward layer (see :mod:`geozone.boundaries.refine`)."""
    from geozone.boundaries.correspondence import ONFLOW_SETS, load_onflow_correspondence
    from geozone.boundaries.refine import LayerFields, refine_set

    by_level = {f.level: f for f in fields}
    if set(by_level) != {"ward", "district", "province"}:
        raise typer.BadParameter(
            "refining a set needs ward features naming their district and province: "
            "--level ward --parent district:CODE:NAME --parent province:CODE:NAME"
        )
    ward, district, province = by_level["ward"], by_level["district"], by_level["province"]
    layer_fields = LayerFields(
        ward.code,
        ward.name,
        district.code,
        district.name,
        province.code,
        province.name,
        ward.unit_type,
    )
    settings = get_settings()
    target = BoundarySet.load(register, settings)
    aliases = load_onflow_correspondence().aliases if register == ONFLOW_SETS[0] else {}
    with err_console.status(f"matching {path} to the wards of {register}…"):
        done = refine_set(
            path,
            layer_fields,
            target,
            settings.boundary_cache,
            refinement_id,
            layer=layer,
            licence=licence,
            attribution=attribution,
            aliases=aliases,
            report_to=report,
            replace=replace,
        )
    if as_json:
        print_json(done.to_dict())
        return
    summary = done.to_dict()
    methods = ", ".join(f"{n} {how}" for how, n in summary["matched_by"].items())
    skipped = sum(summary["not_imported"].values())
    console.print(
        f"{register} refined by {refinement_id}: {done.wards:,} wards from {done.features:,} "
        f"features ({methods}); {skipped:,} not imported, listed in {done.report_path}",
        highlight=False,
    )


@units_app.command("search")
def units_search(
    text: Annotated[str, typer.Argument(help="A name: 'quan hoa', 'Phường Nghĩa Đô', 'nghia do'.")],
    set_id: SetOption = None,
    on: DateOption = None,
    level: Annotated[str | None, typer.Option(help="province, district or ward.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Find units by name, ignoring case, diacritics, spaces and the type word.

    Without --date or --set, today's units are searched, and a name that no longer exists
    answers with the old unit, its validity and today's successors.
    """
    if set_id is None and on is None:
        _search_today(text, level, as_json)
        return
    bset = boundary_set(set_id, on)
    hits = bset.search(text, level=level)  # type: ignore[arg-type]
    notices = _dated_notices(bset, on)
    if as_json:
        print_json({"set": bset.id, "hits": [hit.to_dict() for hit in hits], "notices": notices})
        return
    if not hits:
        console.print(f"no unit named {text!r} in {bset.id}")
        raise typer.Exit(1)
    _print_hits(bset.id, text, hits)
    for notice in notices:
        console.print(notice, highlight=False)


def _dated_notices(bset: BoundarySet, on: str | None) -> list[str]:
    """Return what units named for ``--date`` rest on: the set's snapshot, as /locate says it.

    Without ``--date`` the set itself is asked for (``--set``), for no day: nothing to say.
    """
    from geozone.assignment.explain import snapshot_notice

    said = snapshot_notice(bset.info, parse_date(on)) if on is not None else None
    return [] if said is None else [said]


def _search_today(text: str, level: str | None, as_json: bool) -> None:
    """Search today's set; say where the units of that name went when it has none."""
    from geozone import vntime
    from geozone.address.gazetteer import Gazetteer
    from geozone.boundaries.lineage import search_units

    found = search_units(Gazetteer.load(), text, vntime.today(), level)  # type: ignore[arg-type]
    if as_json:
        print_json(found.to_dict())
        return
    for former in found.former:
        console.print(former.sentence(), highlight=False)
        console.print(
            f"  {former.unit.code} in {', '.join(former.parents) or 'the country'} "
            f"({former.set_id}, in force {former.valid_from} – {former.valid_to})",
            style="dim",
            highlight=False,
        )
    if found.hits:
        _print_hits(found.set_id, text, list(found.hits))
    elif not found.former:
        console.print(f"no unit named {text!r} today ({found.set_id}) nor before")
        raise typer.Exit(1)


def _print_hits(set_id: str, text: str, hits: list[Any]) -> None:
    table = Table("code", "name", "level", "province", "match", title=f"{set_id}: {text}")
    for hit in hits:
        table.add_row(
            hit.unit.code,
            hit.unit.full_name,
            hit.unit.level,
            hit.province,
            "exact" if hit.exact else "partial",
        )
    console.print(table)


@units_app.command("show")
def units_show(
    code: Annotated[str, typer.Argument(help="GSO code, e.g. 00160.")],
    set_id: SetOption = None,
    on: DateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one unit and its parents (with ``--date``, and what the set's names rest on)."""
    bset = boundary_set(set_id, on)
    chain = bset.chain(code)
    notices = _dated_notices(bset, on)
    if as_json:
        print_json(
            {
                "set": bset.id,
                "unit": chain[0].to_dict(),
                "chain": [u.to_dict() for u in chain],
                "notices": notices,
            }
        )
        return
    unit = chain[0]
    console.print(f"{unit.full_name} ({unit.code}), {unit.level} of {bset.id}")
    console.print("  in " + " > ".join(u.full_name for u in chain[1:]) if len(chain) > 1 else "")
    console.print(
        f"  area {unit.area_km2:.2f} km², geometry: {'yes' if unit.has_geometry else 'no'}"
    )
    console.print(f"  {bset.info.attribution_en}", style="dim")
    for notice in notices:
        console.print(notice, highlight=False)


def _lead_label(row: dict[str, Any], name: Callable[[str, str], str | None]) -> str:
    """Name a decision's lead unit as the sentences do: "Phường Nghĩa Đô (00160)"; none: —."""
    code = row["lead_unit"]
    if not code:
        return "—"
    found = name(str(row["cluster_id"]), str(code))
    return f"{found} ({code})" if found and found != code else str(code)


@app.command("locate")
def locate(
    lon: Annotated[float, typer.Argument(help="Longitude (EPSG:4326).")],
    lat: Annotated[float, typer.Argument(help="Latitude (EPSG:4326).")],
    on: DateOption = None,
    set_id: SetOption = None,
    tolerance: Annotated[float | None, typer.Option(help="Boundary tolerance in metres.")] = None,
    detected_by: Annotated[
        str | None,
        typer.Option(
            "--detected-by",
            help="The detecting unit: code, member id or name ('Phường Nghĩa Đô', 'nghia-do').",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Say which units hold a point, and each concerned cluster's lead unit and why.

    The answer is the API's ``GET /locate`` (same JSON with ``--json``): the point is judged
    on the set in force on ``--date`` by every cluster it concerns. With ``--set`` naming
    another set, only the location in that set is given (clusters are judged on the set in
    force on the incident's date). The notices follow (in ``notices`` with ``--json``): the
    set's snapshot when the date lies outside it, the clusters that do not apply that day.
    """
    from geozone.assignment.explain import snapshot_notice
    from geozone.assignment.points import judge_point
    from geozone.context import judging_context
    from geozone.store.decisions import unit_namer

    day = parse_date(on)
    context = judging_context()
    judged = judge_point(context, lon, lat, day, detected_by, tolerance)
    if set_id is not None and set_id != judged.get("set_id"):
        location = boundary_set(set_id, on).locate(lon, lat, tolerance).to_dict()
        note = (
            f"clusters not judged: {set_id} is not the set in force on {day.isoformat()} "
            f"({judged.get('set_id') or 'none'}); clusters are judged on that set"
        )
        judged = {**location, "detected_by": detected_by, "clusters": None, "note": note}
        # The named set's units as its snapshot has them, said as /locate says it.
        said = snapshot_notice(boundary_set(set_id, on).info, day)
        judged["notices"] = [said] if said is not None else []
    if as_json:
        print_json(judged)
        return
    console.print(judged["description"], highlight=False)
    if judged["clusters"] is None:
        console.print(judged["note"], highlight=False)
    name = unit_namer(context)
    for row in judged["clusters"] or ():
        lead = _lead_label(row, name)
        console.print(
            f"{row['cluster_id']}: {RULE_LABELS[row['rule']]}; chủ trì / lead: {lead}",
            highlight=False,
        )
        console.print(f"  {row['explanation_vi']}\n  {row['explanation_en']}", highlight=False)
    for notice in judged.get("notices") or ():
        console.print(notice, highlight=False)


@app.command("adjacency")
def adjacency_command(
    set_id: Annotated[str, typer.Argument(help="Boundary set id, e.g. vn2025.")],
    level: Annotated[
        str | None, typer.Option(help="province, district or ward (default: finest).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Export pairs' shared lines and junctions (.gpkg/.geojson)."
        ),
    ] = None,
    cross: Annotated[bool, typer.Option(help="Only pairs in different parents.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Units that share a boundary (length in metres), point contacts and junctions."""
    from geozone.clusters.adjacency import adjacency
    from geozone.report.exports import FORMATS, write_layers

    if output is not None:
        check_output(output, FORMATS)
    bset = BoundarySet.load(set_id)
    with err_console.status(f"measuring adjacency in {set_id}…"):
        found = adjacency(bset, level)  # type: ignore[arg-type]
    pairs = found.pairs[found.pairs["cross_parent"]] if cross else found.pairs
    if output is not None:
        lines = found.lines[found.lines["cross_parent"]] if cross else found.lines
        layers = {"shared_boundaries": lines, "junctions": found.junctions}
        if output.suffix.lower() != ".gpkg":
            layers = {"shared_boundaries": lines}
        write_layers(layers, output, bset.info.attribution)
    if as_json:
        print_json(
            {
                "set": set_id,
                "level": found.level,
                "tolerance_m": found.tolerance_m,
                "pairs": pairs.to_dict(orient="records"),
                "junctions": len(found.junctions),
            }
        )
        return
    console.print(
        f"{set_id} {found.level}s: {int((pairs['contact'] == 'line').sum()):,} pairs sharing a "
        f"boundary, {int((pairs['contact'] == 'point').sum()):,} point contacts, "
        f"{len(found.junctions):,} junctions (snapping tolerance {found.tolerance_m:g} m)"
        + (f" -> {output}" if output else "")
    )


@app.command("demo")
def demo(
    data_dir: Annotated[Path | None, typer.Option(help="Folder of source archives.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Build the boundary data if needed, print its QA summary and locate the T11 bridge."""
    from geozone.boundaries.qa import check_built

    settings = _settings(data_dir)
    built = _build_all(settings, None, force=False)
    checks = []
    for info in available_sets(settings):
        with err_console.status(f"checking {info.id}…"):
            checks.append(check_built(info.id, settings))
    located = [
        (day, BoundarySet.for_date(day, settings).locate(*T11, 150))
        for day in (date(2024, 5, 1), vntime.today())
    ]
    if as_json:
        print_json(
            {
                "sets": [{"set_id": r["set_id"], "skipped": r["skipped"]} for r in built],
                "qa": [check.to_dict() for check in checks],
                "t11": [
                    {"date": day.isoformat(), "lon": T11[0], "lat": T11[1], **where.to_dict()}
                    for day, where in located
                ],
            }
        )
        return
    for report in built:
        state = "up to date" if report["skipped"] else "built"
        console.print(f"{report['set_id']}: {state}")
    for check in checks:
        console.print("\n".join(check.summary_lines()), highlight=False)
    for day, where in located:
        console.print(f"T11 bridge {T11} on {day}: " + where.describe(), highlight=False)
