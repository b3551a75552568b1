"""One typed settings object for the whole project.

Values come from environment variables prefixed ``GEOZONE_`` (for example
``GEOZONE_DATA_DIR``), then from defaults. Use :func:`get_settings` to read them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geozone.resources import PROJECT_ROOT, data_path, default_cache_dir


def _default_data_dir() -> Path | None:
    candidate = PROJECT_ROOT.parent / "shared" / "data" / "boundaries"
    return candidate if candidate.is_dir() else None


class Settings(BaseSettings):
    """Runtime configuration of geozone.

    Attributes
    ----------
    data_dir
        Folder holding the source archives, one sub-folder per boundary set as named in the
        manifest. Defaults to ``../shared/data/boundaries`` beside the checkout when it exists.
    cache_dir
        Folder for built layers (GeoParquet); never committed. Defaults to ``.cache/geozone``
        in the checkout, or for an installed wheel to ``$XDG_CACHE_HOME/geozone`` (else
        ``~/.cache/geozone``).
    manifest_path
        The boundary source manifest (``data/boundaries/sources.toml`` in the checkout, or
        the copy an installed wheel carries).
    boundary_tolerance_m
        Distance in metres within which a point counts as lying on a boundary, so that every
        unit within it is reported as a candidate. Real boundaries are surveyed to metres, and
        GPS fixes are good to about 5-10 m.
    workers
        Threads a large batch of incidents is judged on (one cluster territory per thread,
        and the KD-tree searches within); default: the machine's CPU count. 1 keeps
        everything on the calling thread.
    display_simplify_deg
        Tolerance of the coverage-preserving simplification of the display layer, in degrees
        (1e-4 degree is about 10 m).
    store_url
        SQLAlchemy URL of the incident store (``GEOZONE_STORE_URL``): ``sqlite:///path`` for
        the embedded default or ``postgresql+psycopg://user@host:port/db`` for PostgreSQL +
        PostGIS. When unset it is ``sqlite:///<cache_dir>/geozone.sqlite``.
    store_busy_timeout_s
        How long a writer to the SQLite store waits for another writer's transaction to end
        before giving up, in seconds.
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
    tiles_url
        Basemap tile URL template for the maps (``https://…/{z}/{x}/{y}.png``); none by
        default: the maps draw boundaries on a plain background and make no outside request.
    tiles_attribution
        Attribution of the tiles, shown on the map when ``tiles_url`` is set.
    """

    model_config = SettingsConfigDict(env_prefix="GEOZONE_", extra="ignore")

    data_dir: Path | None = Field(default_factory=_default_data_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    manifest_path: Path = Field(default_factory=lambda: data_path("boundaries", "sources.toml"))
    boundary_tolerance_m: float = Field(default=10.0, ge=0.0, le=5_000.0)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    display_simplify_deg: float = Field(default=1e-4, gt=0.0, le=0.01)
    store_url: str = ""
    store_busy_timeout_s: float = Field(default=60.0, gt=0.0, le=3_600.0)
    api_store_busy_timeout_s: float = Field(default=5.0, gt=0.0, le=55.0)
    api_max_points: int = Field(default=10_000, ge=1, le=1_000_000)
    api_max_incidents: int = Field(default=10_000, ge=1, le=1_000_000)
    api_max_vertices: int = Field(default=5_000, ge=4, le=1_000_000)
    api_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1_024)
    api_max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1_024)
    cors_origins: list[str] = Field(default_factory=list)
    tiles_url: str | None = Field(default=None, pattern=r"^https?://[^\s]*\{z\}[^\s]*$")
    tiles_attribution: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _default_store_url(self) -> Settings:
        if not self.store_url:
            self.store_url = f"sqlite:///{self.cache_dir / 'geozone.sqlite'}"
        return self

    @property
    def boundary_cache(self) -> Path:
        """Folder of the built boundary sets."""
        return self.cache_dir / "boundaries"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
