"""Settings of the web service: the maps' (:class:`maps.settings.MapSettings`) plus its own.

Values come from environment variables prefixed ``GEOZONE_`` (``GEOZONE_API_MAX_POINTS``,
``GEOZONE_CORS_ORIGINS``…), then from defaults. Read them with :func:`get_api_settings`; the
service's settings object is the whole: core, maps and these.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from geozone.settings import layer_getter
from maps.settings import MapSettings


class ApiSettings(MapSettings):
    """Runtime configuration of the web service: the core's and the maps' fields, and these.

    Attributes
    ----------
    api_store_busy_timeout_s
        How long a write request of the web service waits for another writer (an import
        job) before it is answered 503 with ``Retry-After``, in seconds; well under the time a
        proxy in front gives a request (often 60 s). Import jobs wait
        ``store_busy_timeout_s``.
    api_max_points
        Most points one ``POST /locate`` batch may hold (more is refused with 413).
    api_max_incidents
        Most incident records one ``POST /incidents`` body may hold.
    api_max_vertices
        Most vertices of a patrol zone polygon.
    api_max_body_bytes
        Largest request body the API reads, in bytes (larger ones get 413).
    api_max_upload_bytes
        Largest incident file ``POST /incidents/import`` accepts, in bytes.
    cors_origins
        Origins allowed to call the API from a browser (none by default).
    root_path
        The sub-path a reverse proxy serves the service at (e.g. ``/geozone``; none by
        default): every URL the service writes carries it (see :mod:`api.proxy`).
    trust_forwarded_prefix
        Take the sub-path from each request's ``X-Forwarded-Prefix`` header (only behind a
        proxy that sets it; ``geozone serve --production`` sets this).
    log_format
        ``text`` (uvicorn's lines) or ``json``: one JSON object a line, and one line per
        request with its method, path, status, duration and request id (``--production``).
    session_ttl_s
        How long a browser session opened at ``/login`` lasts, in seconds (default 8 hours,
        a working day); it is then asked for again.
    session_cookie_secure
        When the session cookie carries ``Secure``: ``auto`` (default) when the request came
        over https (as uvicorn sees it, ``X-Forwarded-Proto`` of a trusted proxy included),
        ``always``, or ``never``. Over plain http on loopback ``auto`` leaves it off, since a
        browser would not send a ``Secure`` cookie back over http from any other host.
    warm_maps_at_start
        Build every cluster map's incident table and hotspot layers in the background when
        the service starts (one after another, on one thread), so that the first analyst
        does not wait for them, and build the tables in use again when new data is stored
        (default on; ``GEOZONE_WARM_MAPS_AT_START=false`` turns it off).
    """

    api_store_busy_timeout_s: float = Field(default=5.0, gt=0.0, le=55.0)
    api_max_points: int = Field(default=10_000, ge=1, le=1_000_000)
    api_max_incidents: int = Field(default=10_000, ge=1, le=1_000_000)
    api_max_vertices: int = Field(default=5_000, ge=4, le=1_000_000)
    api_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1_024)
    api_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1_024)
    cors_origins: list[str] = Field(default_factory=list)
    root_path: str = ""
    trust_forwarded_prefix: bool = False
    log_format: Literal["text", "json"] = "text"
    session_ttl_s: int = Field(default=8 * 3600, ge=60, le=30 * 24 * 3600)
    session_cookie_secure: Literal["auto", "always", "never"] = "auto"
    warm_maps_at_start: bool = True

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, value: str) -> str:
        from api.proxy import clean_prefix

        cleaned = clean_prefix(value)
        if cleaned is None:
            raise ValueError(
                f"{value!r} is not a URL path prefix: give '' or '/segment[/segment…]' "
                "(letters, digits, '.', '_', '~', '-')"
            )
        return cleaned


_get = layer_getter(ApiSettings)


def get_api_settings() -> ApiSettings:
    """Return the process-wide settings of the web service, read once from the environment.

    ``get_settings.cache_clear()`` (:func:`geozone.settings.get_settings`) clears them too.
    """
    return _get()
