"""Incident files in and out: CSV, GeoJSON, GeoPackage and (Geo)Parquet, validated by row.

- :mod:`~geozone.incidents.io.read`: :func:`read_incidents` and :func:`open_incidents` (a
  file whole or in pieces; columns found by name; any CRS converted to EPSG:4326);
- :mod:`~geozone.incidents.io.validate`: :func:`validate_incidents`, the vectorised check of
  every row against the field table (:mod:`geozone.incidents.fields`), with a
  :class:`Reject` (line, id, field, reason) per problem;
- :mod:`~geozone.incidents.io.frame`: :func:`incident_frame`, the canonical columns and
  dtypes, and :func:`iter_incidents`, the rows as :class:`~geozone.incidents.schema.Incident`;
- :mod:`~geozone.incidents.io.write`: :func:`write_incidents`, with synthetic markers.

Private helpers: ``_cells`` (cells as values, in the spellings of Vietnamese exports),
``_csv`` (CSV records on the file's bytes), ``_crs`` (CRS keys, VN-2000), ``_formats``
(suffixes and synthetic markers).
"""

from geozone.incidents.fields import INCIDENT_COLUMNS
from geozone.incidents.io._crs import vn2000_crs_codes
from geozone.incidents.io._formats import PARQUET_SYNTHETIC_KEY, SYNTHETIC_MARK, Format
from geozone.incidents.io.frame import incident_frame, iter_incidents
from geozone.incidents.io.read import (
    DEFAULT_SYNONYMS,
    ColumnMapping,
    IncidentSource,
    open_incidents,
    read_incidents,
)
from geozone.incidents.io.validate import VIETNAM_BBOX, ReadResult, Reject, validate_incidents
from geozone.incidents.io.write import write_incidents

__all__ = [
    "DEFAULT_SYNONYMS",
    "INCIDENT_COLUMNS",
    "PARQUET_SYNTHETIC_KEY",
    "SYNTHETIC_MARK",
    "VIETNAM_BBOX",
    "ColumnMapping",
    "Format",
    "IncidentSource",
    "ReadResult",
    "Reject",
    "incident_frame",
    "iter_incidents",
    "open_incidents",
    "read_incidents",
    "validate_incidents",
    "vn2000_crs_codes",
    "write_incidents",
]
