"""One typed settings object for the whole project.

Values come from environment variables prefixed ``GEOZONE_`` (for example
``GEOZONE_DATA_DIR``), then from defaults. Use :func:`get_settings` to read them.

:class:`Settings` holds the core's fields. A layer above the core subclasses it with its own
fields (the maps' basemap, the web service's limits) and reads the whole with a getter made by
:func:`layer_getter`, so that each process has one typed settings object; clearing
:func:`get_settings` (``get_settings.cache_clear()``) clears those getters too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

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
    link_distance_m, link_minutes
        The default window within which reports of one category by two different members
        are linked as one event (:mod:`geozone.incidents.linking` says why 300 m and
        120 minutes).
    import_process_rows
        Files of this many source rows or more are stored by ``geozone incidents import``
        from a writer process of its own while their pieces are linked as they are stored (in
        time order, or in runs of time), so that the importing process links each piece as
        the next is stored, on the other core (a process starts in about a second and holds
        ~0.5 GB: smaller files, and pieces linked once all are stored, are stored from a
        thread).
    link_windows
        Windows of clusters whose members log differently, by cluster id:
        ``GEOZONE_LINK_WINDOWS='{"gia-lam": [1000, 180]}'`` (metres, minutes).
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
    link_distance_m: float = Field(default=300.0, gt=0.0, le=5_000.0)
    link_minutes: float = Field(default=120.0, gt=0.0, le=1_440.0)
    link_windows: dict[str, tuple[float, float]] = Field(default_factory=dict)
    import_process_rows: int = Field(default=150_000, ge=1)

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


S = TypeVar("S", bound=Settings)


def layer_getter(cls: type[S]) -> Callable[[], S]:
    """Return a getter of the process-wide settings of a layer above the core.

    Parameters
    ----------
    cls
        A subclass of :class:`Settings` adding the layer's fields (same ``GEOZONE_`` prefix).

    Returns
    -------
    Callable[[], S]
        Reads ``cls()`` from the environment once, and again whenever :func:`get_settings`
        was cleared since (``get_settings.cache_clear()``), so one call clears every layer.
    """
    held: list[tuple[Settings, S]] = []

    def getter() -> S:
        core = get_settings()
        if not held or held[0][0] is not core:
            held[:] = [(core, cls())]
        return held[0][1]

    return getter
