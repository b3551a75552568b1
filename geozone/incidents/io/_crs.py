"""Coordinate reference systems of incident files: names, keys and the way to WGS 84.

Any CRS pyproj knows can be read, by EPSG code or any pyproj input. VN-2000 (the national
datum) differs from WGS 84 by a 7-parameter Helmert shift (about 220 m in Hà Nội); pyproj
applies the EPSG transformation "VN-2000 to WGS 84" automatically. The VN-2000 systems in
the EPSG database are listed by :func:`vn2000_crs_codes`:

- 3405 VN-2000 / UTM zone 48N, 3406 VN-2000 / UTM zone 49N;
- 5896 TM-3 zone 481, 5897 TM-3 zone 482, 5898 TM-3 zone 491, 5899 TM-3 107-45;
- 9205 TM-3 103-00, 9206 TM-3 104-00, 9207 TM-3 104-30, 9208 TM-3 104-45, 9209 TM-3 105-30,
  9210 TM-3 105-45, 9211 TM-3 106-00, 9212 TM-3 106-15, 9213 TM-3 106-30, 9214 TM-3 107-00,
  9215 TM-3 107-15, 9216 TM-3 107-30, 9217 TM-3 108-15, 9218 TM-3 108-30 (the provincial
  TM-3 zones named by central meridian);
- 4756 is VN-2000 geographic (lon/lat on the VN-2000 datum).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pyproj import CRS, Transformer
from pyproj.database import query_crs_info
from pyproj.transformer import TransformerGroup

from geozone.errors import IncidentFileError


@lru_cache(maxsize=1)
def vn2000_crs_codes() -> dict[int, str]:
    """Return the EPSG codes of the VN-2000 coordinate systems in pyproj's database.

    Returns
    -------
    dict of int to str
        Code → name, sorted by code: the geographic system (4756), UTM 48N/49N (3405, 3406)
        and the TM-3 zones (5896-5899, 9205-9218), as listed in the module notes.
    """
    found = {
        int(info.code): info.name
        for info in query_crs_info(auth_name="EPSG")
        if info.name.startswith("VN-2000") and not info.deprecated
    }
    return dict(sorted(found.items()))


@lru_cache(maxsize=32)
def to_wgs84(source: str) -> Transformer | None:
    """Return the transformer from ``source`` to WGS 84 lon/lat (None when it is WGS 84)."""
    crs = CRS.from_user_input(source)
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return Transformer.from_crs(crs, 4326, always_xy=True)


@lru_cache(maxsize=32)
def operation(source: str) -> str:
    """Describe the best operation PROJ knows from ``source`` to WGS 84 (for notes)."""
    group = TransformerGroup(CRS.from_user_input(source), 4326, always_xy=True)
    if not group.transformers:
        return "no operation known"
    best = group.transformers[0]
    accuracy = f", accuracy {best.accuracy:g} m" if best.accuracy and best.accuracy > 0 else ""
    return f"{best.description}{accuracy}"


def crs_key(crs: Any) -> str:
    """Return a CRS as ``EPSG:<code>``, or as WKT when it has no code.

    Raises
    ------
    IncidentFileError
        When pyproj does not know ``crs``.
    """
    try:
        parsed = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError and others for bad input
        raise IncidentFileError(f"unknown coordinate reference system {crs!r}: {exc}") from None
    code = parsed.to_epsg()
    return f"EPSG:{code}" if code else parsed.to_wkt()
