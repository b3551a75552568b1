"""The persistent incident store: one interface, SQLite or PostgreSQL + PostGIS behind it.

>>> from geozone.store import IncidentQuery, open_store
>>> with open_store("sqlite:////tmp/incidents.sqlite") as store:  # doctest: +SKIP
...     store.add_incidents(frame)
...     page, total = store.query(IncidentQuery(bbox=(105.7, 20.9, 105.9, 21.1)))

:func:`open_store` chooses the backend by the URL's scheme (default: the ``store_url``
setting, ``GEOZONE_STORE_URL``, itself defaulting to SQLite in the cache folder) and upgrades
the schema to the newest migration before returning.
"""

from __future__ import annotations

from geozone.settings import Settings, get_settings
from geozone.store.base import (
    CLUSTER_COLUMNS,
    INCIDENT_COLUMNS,
    MAX_QUERY_LIMIT,
    RESULT_COLUMNS,
    UNIT_COLUMNS,
    AddResult,
    IncidentQuery,
    IncidentStore,
    assignment_stamp,
    is_among,
)

__all__ = [
    "CLUSTER_COLUMNS",
    "INCIDENT_COLUMNS",
    "MAX_QUERY_LIMIT",
    "RESULT_COLUMNS",
    "UNIT_COLUMNS",
    "AddResult",
    "IncidentQuery",
    "IncidentStore",
    "assignment_stamp",
    "is_among",
    "open_store",
]


def open_store(url: str | None = None, *, settings: Settings | None = None) -> IncidentStore:
    """Open the incident store at ``url`` and migrate its schema to the newest revision.

    Parameters
    ----------
    url
        ``sqlite:///path/to/file.sqlite`` (the folder is created) or
        ``postgresql+psycopg://user@host:port/db`` (PostGIS is enabled by the migration, with
        ``CREATE EXTENSION IF NOT EXISTS postgis``). Default: ``settings.store_url``.
    settings
        Where the default URL and the SQLite busy timeout come from; default
        :func:`~geozone.settings.get_settings`.

    Returns
    -------
    IncidentStore
        Use it as a context manager, or call ``close()``.

    Raises
    ------
    ConfigurationError
        The URL names an unsupported database.
    """
    from geozone.store.sql import SqlIncidentStore, create_store_engine, migrate

    settings = settings or get_settings()
    engine = create_store_engine(
        url or settings.store_url, busy_timeout_s=settings.store_busy_timeout_s
    )
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return SqlIncidentStore(engine)
