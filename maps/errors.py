"""Errors raised by the map builders; all are geozone errors, so the CLI and the API report them.

They live here rather than in :mod:`geozone.errors` because the core never builds maps.
"""

from __future__ import annotations

from geozone.errors import DataNotFoundError, GeozoneError


class MapAssetsMissingError(DataNotFoundError):
    """Leaflet or a plugin is not installed in ``maps/node_modules`` (or is the wrong version).

    The message says which files are missing and how to install them
    (``npm ci --prefix maps`` or ``bash scripts/setup.sh``).
    """


class MapAssetError(GeozoneError):
    """A map element asks for a JavaScript or CSS file that geozone does not ship offline."""


class MapInputError(GeozoneError, ValueError):
    """A layer given to a map builder is unusable (missing column, wrong geometry, no CRS)."""


class BasemapArchiveError(DataNotFoundError):
    """The basemap archive named by ``GEOZONE_BASEMAP`` is missing or not a readable archive."""
