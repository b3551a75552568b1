"""The incident file formats, chosen by suffix, and how a file says it is synthetic."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from geozone.errors import IncidentFileError

Format = Literal["csv", "geojson", "gpkg", "parquet"]

#: The format of each file suffix (lower case).
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}

#: Metadata key of GeoParquet files marking synthetic content.
PARQUET_SYNTHETIC_KEY = b"geozone:synthetic"
#: Word opening the GeoPackage layer identifier/description of synthetic content.
SYNTHETIC_MARK = "SYNTHETIC"


def format_of(path: Path) -> Format:
    """Return the format of ``path`` by its suffix.

    Raises
    ------
    IncidentFileError
        For a suffix no format has.
    """
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise IncidentFileError(
            f"{path}: unknown incident file type {path.suffix!r}; "
            f"expected one of {', '.join(sorted(SUFFIXES))}"
        )
    return kind
