"""Settings of the maps: the core's (:class:`geozone.settings.Settings`) plus the basemap.

Values come from environment variables prefixed ``GEOZONE_`` (``GEOZONE_TILES_URL``,
``GEOZONE_TILES_ATTRIBUTION``), then from defaults. Read them with :func:`get_map_settings`.
"""

from __future__ import annotations

from pydantic import Field

from geozone.settings import Settings, layer_getter


class MapSettings(Settings):
    """Runtime configuration of geozone's maps: the core's fields and these.

    Attributes
    ----------
    tiles_url
        Basemap tile URL template for the maps (``https://…/{z}/{x}/{y}.png``); none by
        default: the maps draw boundaries on a plain background and make no outside request.
    tiles_attribution
        Attribution of the tiles, shown on the map when ``tiles_url`` is set.
    """

    tiles_url: str | None = Field(default=None, pattern=r"^https?://[^\s]*\{z\}[^\s]*$")
    tiles_attribution: str | None = Field(default=None, max_length=500)


_get = layer_getter(MapSettings)


def get_map_settings() -> MapSettings:
    """Return the process-wide map settings, read once from the environment.

    ``get_settings.cache_clear()`` (:func:`geozone.settings.get_settings`) clears them too.
    """
    return _get()
