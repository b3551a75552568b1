"""Readers of the boundary source archives, one module per layout.

Each reader returns a :class:`geopandas.GeoDataFrame` in EPSG:4326 with the columns of
:data:`UNIT_COLUMNS`; the build step repairs, checks and stores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from geozone.boundaries.sources._common import UNIT_COLUMNS
from geozone.boundaries.sources._dvhcvn import read_dvhcvn
from geozone.boundaries.sources._vn2025 import read_vn2025

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["UNIT_COLUMNS", "read_archive"]


def read_archive(layout: str, archive: Path) -> gpd.GeoDataFrame:
    """Read the units of ``archive`` written in ``layout`` ("vn2025" or "dvhcvn")."""
    readers = {"vn2025": read_vn2025, "dvhcvn": read_dvhcvn}
    return readers[layout](archive)
