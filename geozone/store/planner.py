"""What planners make through the service, kept in the store: patrol zones and clusters.

Migration ``0002`` creates ``patrol_zones``, ``0003`` ``cluster_definitions`` (the clusters
planners define; the committed ones are files in ``data/clusters``). :func:`define_planner_tables`
describes the two tables for queries; :class:`PlannerStore` reads and writes them over the
store's engine (:attr:`geozone.store.IncidentStore.engine`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from geozone.errors import InvalidParameterError, UnknownPatrolZoneError

_WRITE = "geozone_write"  # as geozone.store.sql: SQLite writes start with BEGIN IMMEDIATE


def define_planner_tables(metadata: sa.MetaData, dialect: str | None = None) -> None:
    """Add the tables of planners' records: ``patrol_zones``, ``cluster_definitions``.

    Migration 0002 makes the first, 0003 the second. With ``dialect="postgresql"`` the
    description includes the zone's PostGIS geometry column ``geom`` (MultiPolygon, EPSG:4326,
    generated from the GeoJSON text; migration 0008), which the store's own queries leave
    out: they read the text on every database.
    """
    # Here: the store's table types load on use (the geozone command does not need them).
    from geozone.store._tables import _ID, _JSON, UTCDateTime, generated_zone

    spatial = (
        generated_zone("geom", "geometry", "ix_patrol_zones_geom")
        if dialect == "postgresql"
        else []
    )
    sa.Table(
        "patrol_zones",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("geometry", sa.Text, nullable=False),
        sa.Column("units", _JSON, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Index("ix_patrol_zones_cluster_id", "cluster_id"),
        *spatial,
    )
    sa.Table(
        "cluster_definitions",
        metadata,
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("updated_by", sa.String(64)),
    )


class PlannerStore:
    """Patrol zones and the clusters planners defined, in the store database.

    Parameters
    ----------
    engine
        The engine of an incident store whose schema is migrated
        (:attr:`geozone.store.IncidentStore.engine` of a store :func:`geozone.store.open_store`
        opened).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata = sa.MetaData()
        define_planner_tables(metadata)
        self._zones = metadata.tables["patrol_zones"]
        self._clusters = metadata.tables["cluster_definitions"]

    def _write(self) -> Any:
        return self.engine.connect().execution_options(**{_WRITE: True})

    # -- patrol zones ------------------------------------------------------------------------
    def list_zones(self, cluster_id: str | None = None) -> list[dict[str, Any]]:
        """Return the patrol zones (of one cluster when given), by id."""
        z = self._zones
        statement = sa.select(z).order_by(z.c.id)
        if cluster_id is not None:
            statement = statement.where(z.c.cluster_id == cluster_id)
        with self.engine.connect() as connection:
            return [row._asdict() for row in connection.execute(statement)]

    def get_zone(self, zone_id: int) -> dict[str, Any]:
        """Return one patrol zone.

        Raises
        ------
        UnknownPatrolZoneError
            No zone has that id.
        """
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(self._zones).where(self._zones.c.id == zone_id)
            ).first()
        if row is None:
            raise UnknownPatrolZoneError(f"no patrol zone with id {zone_id}")
        return row._asdict()

    def add_zone(
        self,
        *,
        cluster_id: str,
        name: str,
        geometry: str,
        units: list[str],
        notes: str,
        created_by: str | None,
    ) -> dict[str, Any]:
        """Store a patrol zone (geometry as GeoJSON text); return it with its id."""
        now = datetime.now(UTC)
        with self._write() as connection, connection.begin():
            result = connection.execute(
                self._zones.insert().values(
                    cluster_id=cluster_id,
                    name=name,
                    geometry=geometry,
                    units=units,
                    notes=notes,
                    created_at=now,
                    updated_at=now,
                    created_by=created_by,
                )
            )
            zone_id = int(result.inserted_primary_key[0])
        return self.get_zone(zone_id)

    def update_zone(
        self,
        zone_id: int,
        *,
        cluster_id: str,
        name: str,
        geometry: str,
        units: list[str],
        notes: str,
    ) -> dict[str, Any]:
        """Replace a patrol zone's fields; return it.

        Raises
        ------
        UnknownPatrolZoneError
            No zone has that id.
        """
        z = self._zones
        with self._write() as connection, connection.begin():
            done = connection.execute(
                z.update()
                .where(z.c.id == zone_id)
                .values(
                    cluster_id=cluster_id,
                    name=name,
                    geometry=geometry,
                    units=units,
                    notes=notes,
                    updated_at=datetime.now(UTC),
                )
            )
            if done.rowcount == 0:
                raise UnknownPatrolZoneError(f"no patrol zone with id {zone_id}")
        return self.get_zone(zone_id)

    def delete_zone(self, zone_id: int) -> None:
        """Delete a patrol zone.

        Raises
        ------
        UnknownPatrolZoneError
            No zone has that id.
        """
        z = self._zones
        with self._write() as connection, connection.begin():
            done = connection.execute(z.delete().where(z.c.id == zone_id))
            if done.rowcount == 0:
                raise UnknownPatrolZoneError(f"no patrol zone with id {zone_id}")

    # -- clusters defined by planners --------------------------------------------------------
    def list_clusters(self) -> list[dict[str, Any]]:
        """Return the stored cluster definitions (``id``, ``definition``, times, keys), by id."""
        c = self._clusters
        with self.engine.connect() as connection:
            return [row._asdict() for row in connection.execute(sa.select(c).order_by(c.c.id))]

    def save_cluster(
        self, cluster_id: str, definition: dict[str, Any], saved_by: str | None
    ) -> dict[str, Any]:
        """Store a cluster definition (JSON-ready), inserting or replacing it; return the row.

        ``created_at`` / ``created_by`` are kept when the cluster exists; ``updated_at`` /
        ``updated_by`` are set on every save.

        Raises
        ------
        InvalidParameterError
            The id is empty or longer than 80 characters.
        """
        if not 1 <= len(cluster_id) <= 80:
            raise InvalidParameterError(f"cluster id {cluster_id!r} must be 1 to 80 characters")
        c = self._clusters
        now = datetime.now(UTC)
        with self._write() as connection, connection.begin():
            done = connection.execute(
                c.update()
                .where(c.c.id == cluster_id)
                .values(definition=definition, updated_at=now, updated_by=saved_by)
            )
            if done.rowcount == 0:
                connection.execute(
                    c.insert().values(
                        id=cluster_id,
                        definition=definition,
                        created_at=now,
                        updated_at=now,
                        created_by=saved_by,
                        updated_by=saved_by,
                    )
                )
            row = connection.execute(sa.select(c).where(c.c.id == cluster_id)).one()
        saved: dict[str, Any] = row._asdict()
        return saved
