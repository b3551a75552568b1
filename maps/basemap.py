"""An offline basemap: a local PMTiles or MBTiles archive, served by geozone itself.

A police network has no internet, so the maps never fetch tiles from a CDN. The setting
``GEOZONE_BASEMAP`` names an archive on the server (``.pmtiles`` or ``.mbtiles``, raster
tiles: PNG, JPEG, WebP; or vector tiles: MVT). The service answers
``GET /maps/basemap/{z}/{x}/{y}`` from it (:class:`BasemapArchive`) and the map pages draw it
under the overlays:

- raster tiles with Leaflet's own ``L.tileLayer``;
- vector tiles with protomaps-leaflet (npm ``protomaps-leaflet``, pinned in
  ``maps/package.json``, served from ``/maps/static/vendor``), which paints the Protomaps
  basemap schema (roads, water, buildings, places) on a canvas with no font or sprite
  download.

Without the setting the maps have no basemap, as before. Where to get an archive is in the
README ("Offline basemap"): e.g. ``pmtiles extract`` of the Protomaps daily planet build cut
to a province's bounding box, done once on a machine with internet and copied over.
"""

from __future__ import annotations

import gzip
import importlib
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import folium

from maps.elements import InlineBasemap, VectorBasemap, esc
from maps.errors import BasemapArchiveError

#: Content type of each tile format.
TILE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "pbf": "application/x-protobuf",
    "mvt": "application/x-protobuf",
}
#: URL template of the tiles as geozone serves them.
BASEMAP_URL = "/maps/basemap/{z}/{x}/{y}"
BASEMAP_NAME = "Bản đồ nền / Basemap"


@dataclass(frozen=True)
class BasemapSpec:
    """What a map page needs to draw a served basemap.

    Attributes
    ----------
    url
        Tile URL template (``{z}/{x}/{y}``).
    kind
        ``"raster"`` or ``"vector"`` (MVT).
    attribution
        Plain text.
    min_zoom, max_zoom
        Zoom levels the archive holds (deeper levels are drawn by over-zooming).
    inline
        For a standalone file (:func:`inline_basemap`): the tiles themselves, base64 by
        ``"z/x/y"`` (uncompressed); None for a served map.
    media_type
        The inline tiles' content type.
    """

    url: str
    kind: Literal["raster", "vector"]
    attribution: str
    min_zoom: int
    max_zoom: int
    inline: dict[str, str] | None = None
    media_type: str = ""


class BasemapArchive:
    """A tile archive opened read-only: ``tile(z, x, y)`` returns its bytes or None.

    Parameters
    ----------
    path
        A ``.pmtiles`` or ``.mbtiles`` file.

    Raises
    ------
    BasemapArchiveError
        The file is missing or not a readable PMTiles / MBTiles archive (named).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise BasemapArchiveError(
                f"basemap archive {self.path} does not exist (GEOZONE_BASEMAP)"
            )
        self._lock = threading.Lock()
        suffix = self.path.suffix.lower()
        if suffix == ".pmtiles":
            self._open_pmtiles()
        elif suffix == ".mbtiles":
            self._open_mbtiles()
        else:
            raise BasemapArchiveError(
                f"basemap archive {self.path} must be a .pmtiles or .mbtiles file"
            )

    # -- PMTiles ---------------------------------------------------------------------------

    def _open_pmtiles(self) -> None:
        # the pmtiles package has no type hints: its modules are used as Any
        pm: Any = importlib.import_module("pmtiles.reader")
        tiles: Any = importlib.import_module("pmtiles.tile")
        Compression, TileType = tiles.Compression, tiles.TileType  # noqa: N806

        self._file = self.path.open("rb")
        try:
            reader = pm.Reader(pm.MmapSource(self._file))
            header = reader.header()
            meta = reader.metadata()
        except Exception as exc:  # the library raises bare errors on a bad file
            self._file.close()
            raise BasemapArchiveError(
                f"basemap archive {self.path} is not a PMTiles file: {exc}"
            ) from exc
        self._reader: Any = reader
        kind = header["tile_type"]
        names = {
            TileType.MVT: "pbf",
            TileType.PNG: "png",
            TileType.JPEG: "jpg",
            TileType.WEBP: "webp",
        }
        if kind not in names:
            raise BasemapArchiveError(
                f"basemap archive {self.path}: tile type {kind} is not supported"
            )
        self.format = names[kind]
        self.gzipped = header["tile_compression"] == Compression.GZIP
        self.min_zoom, self.max_zoom = int(header["min_zoom"]), int(header["max_zoom"])
        self.attribution = str(meta.get("attribution") or "") if isinstance(meta, dict) else ""
        self._get: Callable[[int, int, int], bytes | None] = reader.get

    # -- MBTiles ---------------------------------------------------------------------------

    def _open_mbtiles(self) -> None:
        try:
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
            meta = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
            zooms = self._db.execute(
                "SELECT min(zoom_level), max(zoom_level) FROM tiles"
            ).fetchone()
        except sqlite3.Error as exc:
            raise BasemapArchiveError(
                f"basemap archive {self.path} is not an MBTiles file: {exc}"
            ) from exc
        fmt = str(meta.get("format", "png")).lower()
        if fmt not in TILE_TYPES:
            raise BasemapArchiveError(
                f"basemap archive {self.path}: tile format {fmt!r} is not supported"
            )
        self.format = "pbf" if fmt in ("pbf", "mvt") else fmt
        self.gzipped = False  # decided per tile (MBTiles vector tiles are usually gzipped)
        self.min_zoom = int(zooms[0] if zooms[0] is not None else 0)
        self.max_zoom = int(zooms[1] if zooms[1] is not None else 0)
        self.attribution = str(meta.get("attribution") or "")

        def get(z: int, x: int, y: int) -> bytes | None:
            row = self._db.execute(  # MBTiles rows are TMS: y counts from the south
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
            return None if row is None else bytes(row[0])

        self._get = get

    # -- tiles -----------------------------------------------------------------------------

    @property
    def kind(self) -> Literal["raster", "vector"]:
        """``"vector"`` for MVT tiles, ``"raster"`` for images."""
        return "vector" if self.format == "pbf" else "raster"

    @property
    def media_type(self) -> str:
        """The tiles' content type."""
        return TILE_TYPES[self.format]

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, bool] | None:
        """Return a tile's bytes and whether they are gzip-compressed, or None when absent."""
        if not (0 <= z <= 30 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            return None
        with self._lock:
            data = self._get(z, x, y)
        if not data:
            return None
        return data, self.gzipped or data[:2] == b"\x1f\x8b"

    def spec(self, url: str = BASEMAP_URL, attribution: str | None = None) -> BasemapSpec:
        """Return what a page needs to draw this archive served at ``url``."""
        return BasemapSpec(
            url=url,
            kind=self.kind,
            attribution=attribution or self.attribution or BASEMAP_NAME,
            min_zoom=self.min_zoom,
            max_zoom=self.max_zoom,
        )


#: Most bytes of tiles a standalone file carries; deeper zoom levels are left out beyond.
INLINE_MAX_BYTES = 30 * 1024 * 1024
#: Most tiles of one zoom level looked up for a standalone file.
INLINE_MAX_LEVEL_TILES = 4_096


def tile_range(bounds: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    """Return the columns and rows (XYZ) of the tiles covering lon/lat ``bounds`` at ``z``."""
    import math

    minx, miny, maxx, maxy = bounds
    n = 1 << z

    def column(lon: float) -> int:
        return min(n - 1, max(0, int((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        rad = math.radians(max(-85.0511, min(85.0511, lat)))
        return min(n - 1, max(0, int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n)))

    return range(column(minx), column(maxx) + 1), range(row(maxy), row(miny) + 1)


def inline_basemap(
    archive: BasemapArchive,
    bounds: tuple[float, float, float, float],
    *,
    attribution: str | None = None,
    max_bytes: int = INLINE_MAX_BYTES,
) -> BasemapSpec:
    """Return the archive's tiles over ``bounds`` (lon/lat) to carry inside a standalone file.

    A file opened from disk cannot read an archive beside it (browsers refuse ``file://``
    fetches), so the tiles go into the page itself, zoom level by zoom level from the
    archive's shallowest, until the next level would pass ``max_bytes``; deeper zooms are
    then drawn by over-zooming the deepest level carried.

    Raises
    ------
    BasemapArchiveError
        No tile of the archive covers ``bounds``.
    """
    import base64

    tiles: dict[str, str] = {}
    total, deepest = 0, None
    for z in range(archive.min_zoom, archive.max_zoom + 1):
        columns, rows = tile_range(bounds, z)
        if len(columns) * len(rows) > INLINE_MAX_LEVEL_TILES:
            break
        level: dict[str, bytes] = {}
        for x in columns:
            for y in rows:
                found = archive.tile(z, x, y)
                if found is not None:
                    data, gzipped = found
                    level[f"{z}/{x}/{y}"] = ungzip(data) if gzipped else data
        size = sum(len(data) for data in level.values())
        if total + size > max_bytes:
            break
        tiles.update((k, base64.b64encode(v).decode("ascii")) for k, v in level.items())
        total += size
        if level:
            deepest = z
    if deepest is None:
        raise BasemapArchiveError(
            f"the basemap {archive.path} has no tile over {bounds} within the size a "
            f"standalone file carries ({max_bytes:,} bytes)"
        )
    spec = archive.spec(url=INLINE_URL, attribution=attribution)
    return BasemapSpec(
        url=INLINE_URL,
        kind=spec.kind,
        attribution=spec.attribution,
        min_zoom=spec.min_zoom,
        max_zoom=deepest,
        inline=tiles,
        media_type=archive.media_type,
    )


#: The pseudo URL of inline tiles (answered in the page by ``GZ.inlineBasemap``).
INLINE_URL = "gz-inline:{z}/{x}/{y}"


def standalone_basemap(
    path: Path | None, units: Any, attribution: str | None = None
) -> BasemapSpec | None:
    """Return the basemap a standalone map of ``units`` carries (None without ``path``).

    ``path`` is ``GEOZONE_BASEMAP``; the tiles over the units' bounds (and a margin of a
    tenth of their size) go inline (:func:`inline_basemap`).
    """
    if path is None:
        return None
    minx, miny, maxx, maxy = (float(v) for v in units.total_bounds)
    pad = 0.1 * max(maxx - minx, maxy - miny, 0.005)
    bounds = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    return inline_basemap(open_basemap(path), bounds, attribution=attribution)


_OPEN: dict[Path, BasemapArchive] = {}
_OPEN_LOCK = threading.Lock()


def open_basemap(path: Path | str) -> BasemapArchive:
    """Return the archive at ``path``, opened once per process."""
    key = Path(path).resolve()
    with _OPEN_LOCK:
        if key not in _OPEN:
            _OPEN[key] = BasemapArchive(key)
        return _OPEN[key]


def ungzip(data: bytes) -> bytes:
    """Return gzip-compressed tile bytes decompressed."""
    return gzip.decompress(data)


def add_basemap(m: folium.Map, spec: BasemapSpec, *, max_zoom: int) -> None:
    """Draw a served basemap under the map's overlays (raster: L.tileLayer; vector: MVT).

    A spec with ``inline`` tiles (a standalone file) is drawn by ``GZ.inlineBasemap``.
    """
    attribution = esc(spec.attribution)
    if spec.inline is not None:
        InlineBasemap(
            {
                "kind": spec.kind,
                "tiles": spec.inline,
                "media_type": spec.media_type,
                "maxDataZoom": spec.max_zoom,
                "maxZoom": max_zoom,
                "attribution": attribution,
                "flavor": "light",
                "lang": "vi",
            }
        ).add_to(m)
        return
    if spec.kind == "raster":
        folium.TileLayer(
            tiles=spec.url,
            attr=attribution,
            name=BASEMAP_NAME,
            control=False,
            max_zoom=max_zoom,
            max_native_zoom=spec.max_zoom,
            min_zoom=0,
        ).add_to(m)
        return
    options: dict[str, Any] = {
        "url": spec.url,
        "maxDataZoom": spec.max_zoom,
        "maxZoom": max_zoom,
        "attribution": attribution,
        "flavor": "light",
        "lang": "vi",
    }
    VectorBasemap(options).add_to(m)
