"""Map pages: their security headers and the hotspot layers of a keyed page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from geozone.context import Context
from geozone.errors import GeozoneError
from geozone.store import IncidentStore
from maps.settings import MapSettings

#: Headers of every map page and incident table.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page_headers(settings: MapSettings) -> dict[str, str]:
    """Return the map page headers; basemap tiles, when configured, are the one other origin."""
    if not settings.tiles_url:
        return PAGE_HEADERS
    parts = urlsplit(settings.tiles_url)
    origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"  # {s}: tile subdomains
    policy = PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {origin}"
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


def map_analytics(store: IncidentStore, context: Context, cluster_id: str) -> Any:
    """Return the hotspot layers of a keyed page, or None when they cannot be computed."""
    from maps.analytics_layers import cluster_analytics

    try:
        return cluster_analytics(store, context, cluster_id)
    except GeozoneError:
        return None
