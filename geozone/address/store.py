"""Incidents located by their address only, kept in the store beside the located ones.

Migration ``0005`` creates ``address_incidents``: the incident fields but the coordinates,
the address as written, its jurisdiction at the level the address gives
(:func:`geozone.address.incidents.address_jurisdiction`) and the review decisions of the
clusters it concerns (:func:`geozone.address.incidents.address_only_decisions`, as JSON).
They are kept apart from ``incidents`` on purpose: every map, hotspot and border-effect
query reads points, and an address-only incident has none; maps and reports count them
apart (:meth:`AddressIncidentStore.counts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from geozone.incidents.fields import INCIDENT_FIELDS
from geozone.vntime import start_of_day

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_WRITE = "geozone_write"  # as geozone.store.sql: SQLite writes start with BEGIN IMMEDIATE

#: The incident fields an address-only incident keeps (all but the coordinates).
FIELDS = tuple(spec for spec in INCIDENT_FIELDS if spec.kind != "coordinate")
#: Its jurisdiction columns.
JURISDICTION = (
    "set_id",
    "unit_code",
    "ward_code",
    "district_code",
    "province_code",
    "address_level",
)


def define_address_tables(metadata: sa.MetaData) -> None:
    """Add ``address_incidents`` (migration 0005) to ``metadata``."""
    from geozone.store._tables import UTCDateTime, incident_column

    sa.Table(
        "address_incidents",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        *(incident_column(spec) for spec in FIELDS),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("batch_id", sa.String(128)),
        *(sa.Column(name, sa.String(64)) for name in JURISDICTION),
        sa.Column("address_problem", sa.Text),
        sa.Column("candidates", _JSON),
        sa.Column("decisions", _JSON, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("external_id", name="uq_address_incidents_external_id"),
        sa.Index("ix_address_incidents_occurred_at", "occurred_at"),
        sa.Index("ix_address_incidents_unit_code", "unit_code"),
        sa.Index("ix_address_incidents_province_code", "province_code"),
        sa.Index("ix_address_incidents_batch_id", "batch_id"),
    )


class AddressIncidentStore:
    """Address-only incidents in the store database.

    Parameters
    ----------
    engine
        The engine of a migrated incident store (:attr:`geozone.store.IncidentStore.engine`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata = sa.MetaData()
        define_address_tables(metadata)
        self._table = metadata.tables["address_incidents"]

    def add(
        self,
        incidents: pd.DataFrame,
        units: pd.DataFrame,
        decisions: pd.DataFrame,
        batch_id: str | None = None,
    ) -> tuple[int, int]:
        """Store address-only incidents with their jurisdiction and decisions, in one go.

        An ``external_id`` already stored here or among the located incidents is a
        duplicate and is skipped (a resumed import stores nothing twice).

        Parameters
        ----------
        incidents
            Valid rows (``ReadResult.address_only``): the incident fields and ``address``.
        units, decisions
            :func:`~geozone.address.incidents.address_jurisdiction` and
            :func:`~geozone.address.incidents.address_only_decisions` of them.
        batch_id
            The import batch.

        Returns
        -------
        tuple of int
            Rows inserted, rows skipped as duplicates.
        """
        if not len(incidents):
            return 0, 0
        by_incident: dict[str, list[dict[str, Any]]] = {}
        for row in decisions.to_dict("records"):
            by_incident.setdefault(str(row.pop("external_id")), []).append(_plain(row))
        now = datetime.now(UTC)
        rows = []
        for incident, unit in zip(
            incidents.to_dict("records"), units.to_dict("records"), strict=True
        ):
            values = {spec.name: _plain(incident[spec.name]) for spec in FIELDS}
            values.update({name: unit[name] for name in JURISDICTION})
            values.update(
                address=incident["address"],
                batch_id=batch_id,
                address_problem=unit["address_problem"],
                candidates=unit["candidates"],
                decisions=by_incident.get(str(incident["external_id"]), []),
                resolved_at=now,
            )
            rows.append(values)
        located = sa.table("incidents", sa.column("external_id"))
        ids = [row["external_id"] for row in rows]
        writer = self.engine.connect().execution_options(**{_WRITE: True})
        with writer as connection, connection.begin():
            taken = set(
                connection.execute(
                    sa.select(located.c.external_id).where(located.c.external_id.in_(ids))
                ).scalars()
            )
            fresh = [row for row in rows if row["external_id"] not in taken]
            insert = sqlite_insert if connection.dialect.name == "sqlite" else postgresql_insert
            inserted = 0
            if fresh:
                result = connection.execute(
                    insert(self._table)
                    .on_conflict_do_nothing(index_elements=["external_id"])
                    .returning(self._table.c.id),
                    fresh,
                )
                inserted = len(result.all())
        return inserted, len(rows) - inserted

    def rows(
        self,
        *,
        cluster_id: str | None = None,
        cluster_ids: Sequence[str] | None = None,
        start: date | None = None,
        end: date | None = None,
    ) -> pd.DataFrame:
        """Return the stored address-only incidents, by id, each with its own event.

        The event columns (``event_id``, ``event_role``, ``event_confidence``) are those of
        :func:`geozone.incidents.linking.own_events`: an address-only incident is never
        linked, so they are given on reading rather than stored.

        Parameters
        ----------
        cluster_id, cluster_ids
            Only those a decision of this cluster (of one of these) concerns.
        start, end
            Only those that occurred on these days or between, inclusive, in Vietnam time.
        """
        table = self._table
        statement = sa.select(table).order_by(table.c.id)
        if start is not None:
            statement = statement.where(table.c.occurred_at >= start_of_day(start))
        if end is not None:
            statement = statement.where(table.c.occurred_at < start_of_day(end + timedelta(1)))
        with self.engine.connect() as connection:
            frame = pd.DataFrame([row._asdict() for row in connection.execute(statement)])
        if not frame.empty:
            from geozone.incidents.linking import own_events

            events = own_events(frame["external_id"])
            frame = pd.concat([frame, events.set_axis(frame.index)], axis=1)
        wanted = set(cluster_ids or ()) | ({cluster_id} if cluster_id is not None else set())
        if frame.empty or not (cluster_ids is not None or cluster_id is not None):
            return frame
        concerned = frame["decisions"].map(
            lambda found: any(d.get("cluster_id") in wanted for d in found or ())
        )
        return frame[concerned.to_numpy(bool)].reset_index(drop=True)

    def counts(self, **criteria: Any) -> dict[str, int]:
        """Count the address-only incidents by the level their address reached.

        ``address_only`` (all), ``ward``, ``district``, ``province``, ``unresolved``; the
        criteria are those of :meth:`rows`.
        """
        frame = self.rows(**criteria)
        counts = {"address_only": len(frame), "ward": 0, "district": 0, "province": 0}
        counts["unresolved"] = 0
        if len(frame):
            for level, n in frame["address_level"].fillna("unresolved").value_counts().items():
                counts[str(level)] = int(n)
        return counts


def _plain(value: Any) -> Any:
    """Return a frame cell as a plain Python value for the database (NaN/NaT as None)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


__all__: Sequence[str] = ["AddressIncidentStore", "define_address_tables"]
