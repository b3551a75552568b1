"""Helpers shared by the archive readers."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from geozone.errors import SourceFormatError
from geozone.text import nfc, split_unit_type

#: Columns every reader returns, in this order, plus ``geometry``.
UNIT_COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "full_name",
    "unit_type",
    "level",
    "parent_code",
    "province_code",
    "name_en",
    "in_register",
)


def read_json_member(zf: zipfile.ZipFile, member: str) -> Any:
    """Parse one JSON member of an open archive, naming it in any error."""
    try:
        return orjson.loads(zf.read(member))
    except KeyError:
        raise SourceFormatError(f"{zf.filename}: member {member!r} is missing") from None
    except orjson.JSONDecodeError as exc:
        raise SourceFormatError(f"{zf.filename}: member {member!r} is not JSON: {exc}") from None


def open_archive(archive: Path) -> zipfile.ZipFile:
    """Open a zip archive or raise :class:`SourceFormatError` naming it."""
    try:
        return zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise SourceFormatError(f"{archive} is not a zip archive") from None


def geometries_from_geojson(geometries: Sequence[dict[str, Any] | None]) -> np.ndarray:
    """Decode GeoJSON geometry objects in one vectorised call (None stays missing)."""
    encoded = [orjson.dumps(geom) if geom else None for geom in geometries]
    return shapely.from_geojson(encoded, on_invalid="warn")  # type: ignore[no-any-return]


def units_frame(
    records: Iterable[dict[str, Any]], geometry: Sequence[Any] | np.ndarray
) -> gpd.GeoDataFrame:
    """Assemble reader output: NFC text, the bare name and type split from the full name."""
    frame = pd.DataFrame.from_records(list(records))
    for column in ("name", "full_name", "unit_type", "name_en"):
        frame[column] = frame[column].map(
            lambda value: nfc(value) if isinstance(value, str) else None
        )
    split = frame["full_name"].map(split_unit_type)
    parsed_type = split.map(lambda pair: pair[0])
    # The type word that opens the full name is what people write ("Thành phố Hà Nội"), so it
    # wins over a source's own classification ("Thành phố Trung ương").
    frame["unit_type"] = parsed_type.where(parsed_type.notna(), frame["unit_type"])
    frame["name"] = split.map(lambda pair: pair[1])
    frame = frame.reindex(columns=list(UNIT_COLUMNS))
    return gpd.GeoDataFrame(frame, geometry=list(geometry), crs="EPSG:4326")
