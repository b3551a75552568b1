"""Settings of the maps: the core's (:class:`geozone.settings.Settings`) plus the basemap.

Values come from environment variables prefixed ``GEOZONE_`` (``GEOZONE_BASEMAP``,
``GEOZONE_TILES_URL``, ``GEOZONE_TILES_ATTRIBUTION``), then from defaults. Read them with
:func:`get_map_settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from geozone.settings import Settings, layer_getter


class MapSettings(Settings):
    """Runtime configuration of geozone's maps: the core's fields and these.

    Attributes
    ----------
    tiles_url
        Basemap tile URL template for the maps (``https://…/{z}/{x}/{y}.png``); none by
        default: the maps draw boundaries on a plain background and make no outside request.
    tiles_attribution
        Attribution of the tiles (``tiles_url`` or ``basemap``), shown on the map.
    basemap
        A local basemap archive (``.pmtiles`` or ``.mbtiles``, raster or vector tiles) that
        geozone serves at ``/maps/basemap/{z}/{x}/{y}`` and draws under every map
        (:mod:`maps.basemap`); it takes precedence over ``tiles_url``. None by default.
    """

    tiles_url: str | None = Field(default=None, pattern=r"^https?://[^\s]*\{z\}[^\s]*$")
    tiles_attribution: str | None = Field(default=None, max_length=500)
    basemap: Path | None = None

    @field_validator("basemap")
    @classmethod
    def _archive_suffix(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in (".pmtiles", ".mbtiles"):
            raise ValueError(f"GEOZONE_BASEMAP must name a .pmtiles or .mbtiles file, not {value}")
        return value


_get = layer_getter(MapSettings)


def get_map_settings() -> MapSettings:
    """Return the process-wide map settings, read once from the environment.

    ``get_settings.cache_clear()`` (:func:`geozone.settings.get_settings`) clears them too.
    """
    return _get()
