"""Planners' zones in the store: on PostGIS real geometry columns (what QGIS lists), equal to
the stored text; on SQLite the text alone, as before."""

from __future__ import annotations

import json
from datetime import date

import pytest
import shapely
import sqlalchemy as sa

from geozone.clusters.model import Confirmation
from geozone.store import IncidentStore
from geozone.store.planner import PlannerStore
from tests.fixtures.exports import qgis_layers
from tests.fixtures.grid import grid_point


def square(x_m: float, y_m: float, side_m: float) -> shapely.Polygon:
    corners = [(x_m, y_m), (x_m + side_m, y_m), (x_m + side_m, y_m + side_m), (x_m, y_m + side_m)]
    return shapely.Polygon([grid_point(x, y) for x, y in corners])


def geometry_columns(store: IncidentStore) -> dict[str, tuple[str, int, str]]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns "
                "WHERE f_table_schema = current_schema()"
            )
        ).all()
    return {row[0]: (row[1], int(row[2]), row[3]) for row in rows}


def gist_indexes(store: IncidentStore) -> set[tuple[str, str]]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT tablename, indexname FROM pg_indexes "
                "WHERE schemaname = current_schema() AND indexdef ILIKE '%USING gist%'"
            )
        ).all()
    return {(row[0], row[1]) for row in rows}


def test_zones_read_back_equal_and_are_geometry_columns_on_postgis(
    store: IncidentStore,
) -> None:
    planner = PlannerStore(store.engine)
    drawn = square(900, 900, 250)
    zone = planner.add_zone(
        cluster_id="grid-centre",
        name="Tổ tuần tra 1",
        geometry=json.dumps(shapely.geometry.mapping(drawn)),
        units=["00001", "00002"],
        notes="",
        created_by="test",
    )
    border = shapely.MultiPolygon([square(950, 0, 100), square(950, 1500, 100)])
    store.confirm_cluster(
        Confirmation("grid-centre-vn2025", date(2025, 7, 1), "test", None, border.wkt)
    )
    (listed,) = planner.list_zones()
    assert shapely.geometry.shape(json.loads(listed["geometry"])).equals(drawn)
    assert "geom" not in listed  # the store reads the text on every database
    (confirmed,) = store.confirmations()
    assert confirmed.zone is not None and shapely.from_wkt(confirmed.zone).equals(border)
    if store.engine.dialect.name != "postgresql":
        return
    columns = geometry_columns(store)
    assert columns["patrol_zones"] == ("geom", 4326, "MULTIPOLYGON")
    assert columns["cluster_confirmations"] == ("zone_geom", 4326, "MULTIPOLYGON")
    assert columns["incidents"] == ("geom", 4326, "POINT")
    assert {
        ("patrol_zones", "ix_patrol_zones_geom"),
        ("cluster_confirmations", "ix_cluster_confirmations_zone_geom"),
    } <= gist_indexes(store)
    with store.engine.connect() as connection:
        stored = connection.execute(
            sa.text("SELECT ST_AsBinary(geom), ST_SRID(geom) FROM patrol_zones WHERE id = :id"),
            {"id": zone["id"]},
        ).one()
        drawn_back = connection.execute(
            sa.text("SELECT ST_AsBinary(zone_geom) FROM cluster_confirmations")
        ).scalar_one()
    assert stored[1] == 4326
    assert shapely.from_wkb(bytes(stored[0])).equals(shapely.MultiPolygon([drawn]))
    assert shapely.from_wkb(bytes(drawn_back)).equals(border)
    # the column follows an edit of the zone; a bbox query finds it through the index
    moved = square(1900, 1900, 200)
    planner.update_zone(
        zone["id"],
        cluster_id="grid-centre",
        name="Tổ tuần tra 1",
        geometry=json.dumps(shapely.geometry.mapping(moved)),
        units=["00005"],
        notes="moved",
    )
    minx, miny, maxx, maxy = moved.bounds
    with store.engine.connect() as connection:
        hit = connection.execute(
            sa.text(
                "SELECT id FROM patrol_zones "
                "WHERE geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"
            ),
            {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy},
        ).scalars()
        assert list(hit) == [zone["id"]]


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_the_geometry_columns_go_with_a_downgrade(store_url: str) -> None:
    from alembic import command

    from geozone.store import open_store
    from geozone.store.sql import alembic_config

    with open_store(store_url) as store:
        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0007")  # 0010, 0009, then 0008
        assert "patrol_zones" not in geometry_columns(store)
        with store.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
        assert geometry_columns(store)["patrol_zones"] == ("geom", 4326, "MULTIPOLYGON")


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_qgis_connected_to_the_database_sees_the_zones(store: IncidentStore) -> None:
    """QGIS's PostgreSQL provider opens the zone tables as polygon layers in EPSG:4326."""
    planner = PlannerStore(store.engine)
    planner.add_zone(
        cluster_id="grid-centre",
        name="Tổ 2",
        geometry=json.dumps(shapely.geometry.mapping(square(900, 900, 250))),
        units=["00001"],
        notes="",
        created_by=None,
    )
    store.confirm_cluster(
        Confirmation("grid-centre-vn2025", date(2025, 7, 1), None, None, square(0, 0, 90).wkt)
    )
    url = store.engine.url
    connection = f"dbname='{url.database}' host={url.host} port={url.port} user='{url.username}'"
    zones, drawn = qgis_layers(
        ("postgres", f'{connection} table="public"."patrol_zones" (geom)', "\"name\" = 'Tổ 2'"),
        ("postgres", f'{connection} table="public"."cluster_confirmations" (zone_geom)', ""),
    )
    for layer in (zones, drawn):
        assert layer["valid"], layer
        assert layer["geometry"] == "MultiPolygon" and layer["crs"] == "EPSG:4326"
        assert layer["count"] == 1
    assert zones["subset_applied"] and zones["subset_count"] == 1
    assert {"name", "cluster_id", "units"} <= set(zones["fields"])
