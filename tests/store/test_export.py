"""Exports of stored incidents read back by GDAL (pyogrio) and Arrow: decisions as stored."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyogrio
import pytest

from geozone.assignment import ClusterTerritory
from geozone.clusters.model import Cluster
from geozone.context import Context
from geozone.errors import GeozoneError
from geozone.incidents.io import write_incidents
from geozone.incidents.pipeline import import_file
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.decisions import DECISION_COLUMNS, unit_namer
from geozone.store.export import export_incidents
from tests.fixtures.clusters import east_cluster, grid_context
from tests.fixtures.exports import expected_flat, flag, qgis_layers, read_back
from tests.fixtures.incidents import grid_incidents

ATTRIBUTION = "Ranh giới: lưới thử / test grid"


def two_clusters() -> Context:
    """The grid with its centre cluster and the east cluster (ward 2 is in both)."""
    context = grid_context()
    east = ClusterTerritory(Cluster.model_validate(east_cluster()), context.sets[0])
    context.territories.append(east)
    context.clusters[east.cluster.id] = east.cluster
    return context


@pytest.fixture
def filled(store: IncidentStore, tmp_path: Path) -> tuple[IncidentStore, Context]:
    context = two_clusters()
    frame = grid_incidents(400, 7, date(2024, 1, 1), date(2024, 12, 31))
    frame.insert(2, "detected_at", frame["occurred_at"])
    import_file(store, write_incidents(frame, tmp_path / "in.csv"), context)
    return store, context


def expected(store: IncidentStore, external_id: str, cluster: str | None = None) -> dict[str, Any]:
    """The flat columns of an incident, from ``store.get`` (what GET /incidents/{id} says)."""
    found = store.get(external_id)
    assert found is not None
    return expected_flat(found["clusters"], cluster)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".csv", ".geojson"])
def test_every_format_carries_each_incidents_decisions_as_stored(
    filled: tuple[IncidentStore, Context], tmp_path: Path, suffix: str
) -> None:
    store, context = filled
    path = tmp_path / f"out{suffix}"
    summary = export_incidents(
        store,
        IncidentQuery(),
        path,
        names=unit_namer(context),
        attribution=ATTRIBUTION,
        page_rows=64,  # pages end inside the file: 400 = 6 × 64 + 16
    )
    table = read_back(path)
    assert summary.incidents == len(table) == 400
    assert set(DECISION_COLUMNS) <= set(table.columns)
    assert table["external_id"].is_unique
    assert (table["attribution"] == ATTRIBUTION).all()
    assert {flag(v) for v in table["synthetic"]} == {True}
    names = {code: context.sets[0].full_names[code] for code in context.sets[0].full_names}
    several = 0
    for row in table.to_dict("records"):
        want = expected(store, row["external_id"])
        assert int(row["cluster_count"]) == want["n"]
        assert flag(row["review"]) == want["review"]
        if want["n"] == 0:
            assert row["cluster_id"] is None and row["lead_unit"] is None
            continue
        several += want["n"] > 1
        for name in ("cluster_id", "lead_unit", "rule", "explanation_vi", "explanation_en"):
            assert (row[name] or "") == want[name], (row["external_id"], name)
        assert (row["cooperating_units"] or "") == want["cooperating_units"]
        if want["n"] == 1 and row["lead_unit"] in names:
            assert row["lead_unit_name"] == names[row["lead_unit"]]
            assert row["lead_unit_name"] in row["explanation_vi"]
    assert several > 0  # incidents of ward 2 have a decision of each cluster
    assert summary.decisions == sum(expected(store, i)["n"] for i in table["external_id"])


def test_the_geopackage_holds_one_decision_row_per_incident_and_cluster(
    filled: tuple[IncidentStore, Context], tmp_path: Path
) -> None:
    store, context = filled
    path = tmp_path / "out.gpkg"
    summary = export_incidents(
        store, IncidentQuery(), path, names=unit_namer(context), attribution=ATTRIBUTION
    )
    assert summary.layers == ("incidents", "cluster_decisions")
    listed = {tuple(layer) for layer in pyogrio.list_layers(path)}
    assert listed == {("incidents", "Point"), ("cluster_decisions", None)}
    assert pyogrio.read_info(path, layer="incidents")["crs"] == "EPSG:4326"
    rows = read_back(path, "cluster_decisions")
    assert len(rows) == summary.decisions
    for row in rows.sample(60, random_state=1).to_dict("records"):
        found = store.get(row["external_id"])
        assert found is not None
        (stored,) = [r for r in found["clusters"] if r["cluster_id"] == row["cluster_id"]]
        for name in ("lead_unit", "rule", "explanation_vi", "explanation_en", "member_code"):
            assert row[name] == stored[name], name
        assert bool(row["review"]) == stored["review"] and bool(row["in_zone"]) == stored["in_zone"]
        assert (row["cooperating_units"] or "") == "; ".join(stored["cooperating"])
        assert (row["zone_units"] or "") == "; ".join(stored["zone_units"])


def test_with_a_cluster_the_columns_hold_that_clusters_decision(
    filled: tuple[IncidentStore, Context], tmp_path: Path
) -> None:
    store, context = filled
    path = tmp_path / "east.parquet"
    query = IncidentQuery(cluster_id="grid-east")
    summary = export_incidents(store, query, path, names=unit_namer(context), attribution="")
    table = read_back(path)
    assert summary.incidents == len(table) == store.count(query) > 0
    assert set(table["cluster_id"]) == {"grid-east"} and set(table["cluster_count"]) == {1}
    for row in table.to_dict("records"):
        want = expected(store, row["external_id"], "grid-east")
        assert (row["lead_unit"], row["rule"], bool(row["review"])) == (
            want["lead_unit"] or None,
            want["rule"],
            want["review"],
        )


def test_an_empty_selection_writes_empty_layers_and_a_bad_suffix_is_refused(
    store: IncidentStore, tmp_path: Path
) -> None:
    context = grid_context()
    for suffix in (".gpkg", ".parquet", ".csv", ".geojson"):
        path = tmp_path / f"none{suffix}"
        summary = export_incidents(
            store, IncidentQuery(), path, names=unit_namer(context), attribution=ATTRIBUTION
        )
        assert summary.incidents == 0 and len(read_back(path)) == 0
        if suffix != ".geojson":  # GDAL reads no fields from a GeoJSON without features
            assert set(DECISION_COLUMNS) <= set(read_back(path).columns)
    with pytest.raises(GeozoneError, match=r"out\.shp"):
        export_incidents(store, IncidentQuery(), tmp_path / "out.shp", names=None, attribution="")
    with pytest.raises(GeozoneError, match="does not exist"):
        export_incidents(
            store, IncidentQuery(), tmp_path / "no" / "x.gpkg", names=None, attribution=""
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the same file from either
def test_qgis_filters_the_exported_incidents_by_who_leads(
    filled: tuple[IncidentStore, Context], tmp_path: Path
) -> None:
    """QGIS opens the GeoPackage and a user's filter on the lead unit finds its incidents."""
    store, context = filled
    path = tmp_path / "out.gpkg"
    export_incidents(store, IncidentQuery(), path, names=unit_namer(context), attribution="A")
    table = read_back(path)
    single = table[table["cluster_count"].astype(int) == 1]
    lead = str(single["lead_unit"].mode()[0])
    name = str(single.loc[single["lead_unit"] == lead, "lead_unit_name"].iloc[0])
    layers = qgis_layers(
        ("ogr", f"{path}|layername=incidents", f"\"lead_unit\" = '{lead}'"),
        ("ogr", f"{path}|layername=incidents", f'"lead_unit_name" = \'{name}\' AND "review"'),
        ("ogr", f"{path}|layername=cluster_decisions", f"\"lead_unit\" = '{lead}'"),
    )
    incidents, named, decisions = layers
    assert incidents["valid"] and incidents["geometry"] == "Point"
    assert incidents["crs"] == "EPSG:4326" and incidents["count"] == len(table)
    assert set(DECISION_COLUMNS) <= set(incidents["fields"])
    assert incidents["subset_applied"]
    assert incidents["subset_count"] == int((table["lead_unit"] == lead).sum()) > 0
    reviewed = (table["lead_unit_name"] == name) & table["review"].map(flag)
    assert named["subset_count"] == int(reviewed.sum())
    assert decisions["valid"] and decisions["geometry"] == "NoGeometry"
    assert decisions["count"] == len(read_back(path, "cluster_decisions"))
    assert decisions["subset_count"] >= incidents["subset_count"]


def said_in_file(path: Path) -> dict[str, Any]:
    """What an export's own metadata holds of notices, read with pyarrow, SQLite, GDAL, JSON."""
    if path.suffix == ".parquet":
        schema = pq.read_schema(path).metadata  # what GeoPandas and geozone read
        footer = pq.ParquetFile(path).metadata.metadata  # the file's key-value metadata
        assert schema.get(b"geozone:notices") == footer.get(b"geozone:notices")
        assert b"geo" in schema  # still GeoParquet
        listed = schema.get(b"geozone:notices")
        return {"notices": None if listed is None else json.loads(listed)}
    if path.suffix == ".gpkg":
        with sqlite3.connect(path) as db:
            contents = dict(db.execute("SELECT table_name, description FROM gpkg_contents"))
        items = {
            layer: pyogrio.read_info(path, layer=layer)["layer_metadata"] or {}
            for layer in ("incidents", "cluster_decisions")
        }
        found = {layer: meta.get("GEOZONE_NOTICES") for layer, meta in items.items()}
        assert found["incidents"] == found["cluster_decisions"]
        assert contents["incidents"] == contents["cluster_decisions"]
        listed = found["incidents"]
        return {
            "notices": None if listed is None else json.loads(listed),
            "description": contents["incidents"],
        }
    if path.suffix == ".geojson":
        return {"notices": json.loads(path.read_text(encoding="utf-8")).get("notices")}
    return {"notices": None, "text": path.read_text(encoding="utf-8")}


def test_an_export_carries_the_notices_of_an_unfinished_import_in_its_metadata(
    store: IncidentStore, tmp_path: Path
) -> None:
    """GeoParquet key, GeoPackage description and item, GeoJSON member; none once closed."""
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.pipeline import close_import, unfinished_imports
    from tests.fixtures.imports import stopped_import

    context = grid_context()
    stopped_import(store, tmp_path, context)
    notices = unfinished_import_notices(store)
    assert len(notices) == 1 and "Unfinished import (stopped): file " in notices[0]
    names = unit_namer(context)
    for suffix in (".parquet", ".gpkg", ".geojson", ".csv"):
        path = tmp_path / f"stopped{suffix}"
        summary = export_incidents(store, IncidentQuery(), path, names=names, attribution="A")
        assert summary.incidents == 301 and summary.notices == tuple(notices), suffix
        said = said_in_file(path)
        if suffix == ".csv":  # no place for them: the CLI says them on stderr and in --json
            assert said["notices"] is None and "Unfinished import" not in said["text"]
            continue
        assert said["notices"] == notices, suffix
        if suffix == ".gpkg":  # the attribution, then one notice a line
            assert said["description"] == f"A\n{notices[0]}"
        assert len(read_back(path)) == 301

    [batch] = unfinished_imports(store)
    close_import(store, context, batch["batch_id"])
    for suffix in (".parquet", ".gpkg", ".geojson"):
        path = tmp_path / f"closed{suffix}"
        summary = export_incidents(store, IncidentQuery(), path, names=names, attribution="A")
        assert summary.notices == ()
        said = said_in_file(path)
        assert said["notices"] is None, suffix  # no empty key or member
        if suffix == ".gpkg":
            assert said["description"] == "A"
